"""Logistics applications: secure application entities (SAEs) on top of the KMS.

Applications get keys only the way a real SAE does, over ETSI GS QKD 014
(:mod:`quaykey.kms.client` and :mod:`quaykey.kms.schemas`).
"""
