"""What a channel hands to the application, and the ``aes`` key state of one direction."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["ReceivedMessage", "Session"]


@dataclass(frozen=True)
class ReceivedMessage:
    """A verified, decrypted message (``repr`` shows its size, not its content)."""

    msg_type: str
    payload: bytes
    protection: str
    sender: str
    seq: int
    ts_ms: int

    def __repr__(self) -> str:
        return (
            f"ReceivedMessage({self.msg_type!r}, {self.protection}, from={self.sender!r},"
            f" seq={self.seq}, {len(self.payload)} B)"
        )


@dataclass
class Session:
    """An ``aes`` key in use in one direction."""

    key_ids: tuple[str, ...]
    key: bytes = dataclasses.field(repr=False)
    uses: int = 0
    created: float = 0.0
    #: last sequence number sent under the key (sender) or accepted under it (receiver)
    last_seq: int = 0
    #: sequence numbers accepted under the key (receiver; at most ``rekey_messages``)
    seqs: set[int] = dataclasses.field(default_factory=set, repr=False)
