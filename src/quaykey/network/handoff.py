"""Hand-off of real link keys to a key-management layer (the ``key_sink`` of a simulation).

The network never imports the KMS: a sink is a plain callable, and
:func:`quaykey.kms.feed.link_key_sink` builds one that deposits into KMEs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["KeySink", "key_bytes"]

KeySink = Callable[[str, str, str, str, bytes], None]
"""``key_sink(link, node, peer, block_id, key_bytes)``: one end's copy of one block of key.

Called twice per block of real key (exact fidelity), once for each end, with the same
``block_id`` (``"<link>/<n>"``, ``n`` counting the link's blocks from 1) and the bytes
*that end's party* produced (:func:`key_bytes`): what
``KmeService.deposit_link_key(peer, block_id, key_bytes)`` of the KME at ``node`` needs.
"""


def key_bytes(bits: Any) -> bytes:
    """Pack a key's bits (uint8 array of 0/1) into bytes, most significant bit first.

    Only whole bytes are packed: the last ``len(bits) % 8`` bits are dropped rather than
    padded with zeros, so every byte handed over is secret key.

    Example
    -------
    >>> key_bytes(np.array([1, 0, 0, 0, 0, 0, 0, 1, 1, 1], dtype=np.uint8))
    b'\\x81'
    """
    arr = np.asarray(bits, dtype=np.uint8)
    whole = arr.size - arr.size % 8
    return np.packbits(arr[:whole]).tobytes()
