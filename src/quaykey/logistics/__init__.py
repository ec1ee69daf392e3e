"""Port and customs applications on top of the QKD key layer.

Applications get keys the way a real SAE does, over ETSI GS QKD 014 (``quaykey.kms.client``);
this package imports only ``quaykey.kms.client``, ``quaykey.kms.schemas`` and the foundation
(``errors``, ``mac``, ``units``); the import contract in ``pyproject.toml`` checks it.

``sdk``
    Secure messaging between SAEs: protection classes ``otp``, ``aes`` and ``hybrid``, the
    policy that chooses them, replay protection, the fail-closed ``otp`` queue.
``edifact``, ``identifiers``, ``customs``, ``terminal``
    UN/EDIFACT CUSDEC/CUSRES and SMDG BAPLIE/COPRAR/COARRI/CODECO, identifiers (ISO 6346,
    IMO, UN/LOCODE, HS), the customs decision.
``dcsa``, ``ledger``
    DCSA eBL/PINT, Track & Trace, Reefer and IoT payloads validated against DCSA's schemas;
    the multi-party Merkle log of trade records.
``traffic``
    Traffic profiles (``shanghai-day``, ``ningbo-day``, ``ci``) as data, and a deterministic
    generator of timestamped message descriptors.
``budget``
    The key each protection class consumes for a profile, against a route's key rate.
``iot``, ``visibility``
    Reefer and door sensors over MQTT with per-device QKD keys, the terminal's gateway that
    verifies and forwards their DCSA events; Track & Trace and EPCIS 2.0 events published
    to the subscribers of each shipment.
"""

from __future__ import annotations
