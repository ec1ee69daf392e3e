"""Port and customs applications on top of the QKD key layer.

Applications get keys the way a real SAE does, over ETSI GS QKD 014 (``quaykey.kms.client``);
this package imports only ``quaykey.kms.client``, ``quaykey.kms.schemas`` and the foundation
(``errors``, ``mac``, ``units``).

``traffic``
    Traffic profiles (``shanghai-day``, ``ningbo-day``, ``ci``) as data, and a deterministic
    generator of timestamped message descriptors.
``budget``
    The key each protection class consumes for a profile, against a route's key rate.
"""

from __future__ import annotations
