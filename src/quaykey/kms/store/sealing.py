"""The KME master key file and AES-256-GCM sealing of key material at rest.

The implementation lives in the foundation module :mod:`quaykey.sealing`, so that the
applications' local state (:mod:`quaykey.logistics`) seals with the same code without
reaching into the KMS store.
"""

from __future__ import annotations

from quaykey.sealing import CANARY, Sealer, create_master_key, read_master_key

__all__ = ["CANARY", "Sealer", "create_master_key", "read_master_key"]
