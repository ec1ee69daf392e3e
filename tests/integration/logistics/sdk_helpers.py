"""Helpers shared by the SDK integration tests (channels over the real KMEs of conftest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey

from quaykey.logistics.sdk import KmeKeySource, Policy, SecureChannel


class RecordingKeySource(KmeKeySource):
    """A KmeKeySource that remembers every key it obtained from the KME (for leak scans)."""

    def __init__(self, kme: Any, seen: list[bytes]) -> None:
        super().__init__(kme)
        self.seen = seen
        self.taken_ids: list[str] = []

    def take_many(self, peer: str, n_bytes: int) -> tuple[tuple[str, ...], bytes]:
        ids, key = super().take_many(peer, n_bytes)
        self.seen.append(key)
        self.taken_ids.extend(ids)
        return ids, key

    def take_parts(self, peer: str, parts: tuple[int, ...]) -> list[tuple[tuple[str, ...], bytes]]:
        out = super().take_parts(peer, parts)
        for ids, key in out:
            self.seen.append(key)
            self.taken_ids.extend(ids)
        return out

    def lookup_parts(
        self, peer: str, parts: list[tuple[tuple[str, ...], int | None]]
    ) -> list[bytes]:
        out = super().lookup_parts(peer, parts)  # lookup_many comes here too
        self.seen.extend(out)
        return out


def channel_pair(
    kms: Any,
    tmp: Path,
    sender: str = "terminal",
    receiver: str = "customs",
    policy: Policy | None = None,
    seen: list[bytes] | None = None,
    **rx_kw: Any,
) -> tuple[SecureChannel, SecureChannel]:
    """A sending and a receiving channel with ML-KEM keys, fresh SQLite state."""
    seen = [] if seen is None else seen
    kem = MLKEM768PrivateKey.generate()
    kt, kr = kms.client(sender), kms.client(receiver)
    tx = SecureChannel(
        kt, receiver, policy, state=tmp / f"{sender}.db", peer_mlkem_public=kem.public_key(),
        key_source=RecordingKeySource(kt, seen),
    )  # fmt: skip
    rx = SecureChannel(
        kr, sender, policy, state=tmp / f"{receiver}.db", mlkem_key=kem,
        key_source=RecordingKeySource(kr, seen), **rx_kw,
    )  # fmt: skip
    return tx, rx
