"""A multi-party ledger: every participant's replica, pairwise MACs, gossiped signed heads.

The folder of a ledger holds ``ledger.json`` (the manifest: ledger ID, participants and their
ML-DSA-65 public keys) and, per participant, ``<name>.sqlite`` and ``<name>.heads.json``
(:class:`~quaykey.logistics.ledger.replica.Replica`). :meth:`Ledger.record` has one author write
an entry, tag it for every other participant with one-time MACs on QKD key, and deliver it to
every replica, each of which checks its own tag before appending. :meth:`Ledger.gossip` has
every participant sign its tree head and hand it to every other, which checks it against its
own history. No consensus protocol: a participant that lies is caught, not outvoted.

In one process this class plays all participants (tests, the demo); deployed, each participant
runs its own :class:`Replica` and the deliveries travel over the network.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA65PrivateKey, MLDSA65PublicKey

from quaykey.logistics.ledger.entry import make_body, seal
from quaykey.logistics.ledger.heads import load_public_key, public_key_b64
from quaykey.logistics.ledger.keys import KeySource
from quaykey.logistics.ledger.replica import Replica

__all__ = ["FORMAT", "MANIFEST", "Ledger", "read_manifest"]

MANIFEST = "ledger.json"
FORMAT = "quaykey-ledger/1"


def read_manifest(directory: str | os.PathLike[str]) -> tuple[str, dict[str, MLDSA65PublicKey]]:
    """Ledger ID and participants' public keys from ``directory/ledger.json``.

    Raises
    ------
    FileNotFoundError
        If there is no manifest.
    ValueError
        If it is not a quaykey ledger manifest.
    """
    path = Path(directory) / MANIFEST
    data = json.loads(path.read_text("utf-8"))
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} manifest")
    keys = {n: load_public_key(p["publicKey"]) for n, p in data["participants"].items()}
    return str(data["ledgerId"]), keys


class Ledger:
    """All replicas of one ledger, driven in one process.

    Parameters
    ----------
    directory
        The ledger folder (created).
    ledger_id
        Name of the ledger (e.g. the bill of lading number).
    keys
        Each participant's :class:`~quaykey.logistics.ledger.keys.KeySource`; its keys name
        the participants.
    signing_keys
        Each participant's ML-DSA-65 key; generated if omitted (and then not stored).

    Examples
    --------
    >>> import tempfile
    >>> from quaykey.logistics.ledger.keys import SharedKeys
    >>> shared = SharedKeys()
    >>> names = ["carrier", "shipper", "bank"]
    >>> led = Ledger(tempfile.mkdtemp(), "EBL-1", {n: shared.source(n) for n in names})
    >>> led.record("carrier", "NOTE", {"text": "booking confirmed"})
    1
    >>> heads = led.gossip()
    >>> len({h["rootHash"] for h in heads}), led.replicas["bank"].size
    (1, 1)
    >>> led.close()
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        ledger_id: str,
        keys: Mapping[str, KeySource],
        signing_keys: Mapping[str, MLDSA65PrivateKey] | None = None,
    ) -> None:
        if len(keys) < 2:
            raise ValueError("keys must name at least two participants")
        self.directory = Path(directory)
        self.ledger_id = ledger_id
        self._keys = dict(keys)
        signing = dict(signing_keys or {})
        for name in self._keys:
            signing.setdefault(name, MLDSA65PrivateKey.generate())
        self.public_keys = {n: signing[n].public_key() for n in self._keys}
        self.directory.mkdir(parents=True, exist_ok=True)
        self._write_manifest()
        self.replicas = {
            n: Replica(self.directory, n, ledger_id=ledger_id, signing_key=signing[n])
            for n in self._keys
        }

    def __repr__(self) -> str:
        return f"Ledger({self.ledger_id!r}, participants={sorted(self.replicas)})"

    def _write_manifest(self) -> None:
        path = self.directory / MANIFEST
        if path.exists():
            ledger_id, keys = read_manifest(self.directory)
            old = {n: public_key_b64(k) for n, k in keys.items()}
            if ledger_id != self.ledger_id or old != {
                n: public_key_b64(k) for n, k in self.public_keys.items()
            }:
                raise ValueError(
                    f"{path} names other participants or keys; pass the same signing_keys "
                    "to reopen a ledger"
                )
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "ledgerId": self.ledger_id,
            "hashAlgorithm": "sha256 (RFC 9162 Merkle tree)",
            "signatureAlgorithm": "ML-DSA-65 (FIPS 204)",
            "macAlgorithm": "Wegman-Carter one-time MAC over GF(2^128), 32-byte QKD key per tag",
            "participants": {
                n: {"publicKey": public_key_b64(k)} for n, k in self.public_keys.items()
            },
        }
        path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", "utf-8")

    @property
    def participants(self) -> list[str]:
        """Participant names, sorted."""
        return sorted(self.replicas)

    def close(self) -> None:
        """Close every replica."""
        for replica in self.replicas.values():
            replica.close()

    def record(
        self,
        author: str,
        record_type: str,
        document: dict[str, Any],
        at: dt.datetime | None = None,
    ) -> int:
        """Have ``author`` append ``document`` and deliver it to every replica; return its index.

        Raises
        ------
        ValueError
            If ``author`` is not a participant.
        AuthenticationError, LedgerIntegrityError
            If any replica refuses the entry; then no replica appends it.
        """
        if author not in self.replicas:
            raise ValueError(f"author must be one of {self.participants}, got {author!r}")
        mine = self.replicas[author]
        previous = mine.raw(mine.size) if mine.size else None
        body = make_body(
            index=mine.size + 1, ledger_id=self.ledger_id, author=author,
            record_type=record_type, document=document, previous=previous, at=at,
        )  # fmt: skip
        raw = seal(body, [n for n in self.replicas if n != author], self._keys[author])
        checked = [(r, r.check(raw, self._keys[n])) for n, r in self.replicas.items()]
        for replica, entry in checked:
            replica.append_checked(raw, entry)
        return int(body["index"])

    def gossip(self, at: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Every participant signs its head and sends it to every other; return the heads.

        Raises
        ------
        EquivocationError
            If a head, new or kept from an earlier round, disagrees with a receiver's history.
        """
        for replica in self.replicas.values():
            replica.recheck_heads()
        heads = [r.sign_head(at) for r in self.replicas.values()]
        for head in heads:
            for name, replica in self.replicas.items():
                if name != head["signer"]:
                    replica.accept_head(head, self.public_keys[head["signer"]])
        return heads
