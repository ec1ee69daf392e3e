"""One participant's replica of the ledger: a Merkle tree log in a SQLite file, plus heads.

Each replica stores the entries as the leaves of an RFC 9162 Merkle tree (pymerkle
``SqliteTree``, SHA-256 with the 0x00 leaf / 0x01 node prefixes of RFC 9162 Sec. 2.1.1) in
``<name>.sqlite`` and keeps ``<name>.heads.json``: the tree heads it signed (``own``) and those
it received by gossip (``received``). A PostgreSQL-backed tree is not implemented; the file
layout is what ``quaykey ledger verify`` reads.

:meth:`Replica.receive` admits an entry only if its one-time MAC to this participant verifies,
it extends the hash chain at the next index, its document checksum holds, and none of its key
IDs was seen before. :meth:`Replica.accept_head` admits a gossiped head only if its ML-DSA-65
signature verifies and it agrees with this replica's history and with every earlier head of
the same signer; otherwise it raises :class:`~quaykey.errors.EquivocationError`.

References
----------
RFC 9162 (Certificate Transparency 2.0), Secs. 2.1 (Merkle trees, inclusion and consistency
proofs) and 4.10 (signed tree heads).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA65PrivateKey, MLDSA65PublicKey
from pymerkle import ConsistencyProof, InclusionProof, SqliteTree

from quaykey.errors import AuthenticationError, EquivocationError, LedgerIntegrityError
from quaykey.logistics.dcsa.canonical import checksum, sha256_hex
from quaykey.logistics.ledger.entry import GENESIS, parse_entry, verify_mac
from quaykey.logistics.ledger.heads import sign_head, verify_head
from quaykey.logistics.ledger.heads_file import read_heads, write_heads
from quaykey.logistics.ledger.keys import KeySource

__all__ = ["Replica"]


class Replica:
    """A participant's copy of the ledger.

    Parameters
    ----------
    directory
        Folder holding ``<name>.sqlite`` and ``<name>.heads.json`` (created if missing).
    name
        The participant.
    ledger_id
        The ledger this replica belongs to; entries and heads of another ledger are refused.
    signing_key
        The participant's ML-DSA-65 key, needed only to :meth:`sign_head`.

    Examples
    --------
    >>> import tempfile
    >>> from quaykey.logistics.ledger.entry import make_body, seal
    >>> from quaykey.logistics.ledger.keys import SharedKeys
    >>> keys, folder = SharedKeys(), Path(tempfile.mkdtemp())
    >>> carrier = Replica(folder, "carrier", ledger_id="L")
    >>> bank = Replica(folder, "bank", ledger_id="L")
    >>> body = make_body(index=1, ledger_id="L", author="carrier", record_type="NOTE",
    ...                  document={"x": 1}, previous=None)
    >>> raw = seal(body, ["bank"], keys.source("carrier"))
    >>> carrier.receive(raw, keys.source("carrier")), bank.receive(raw, keys.source("bank"))
    (1, 1)
    >>> carrier.root() == bank.root()
    True
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        name: str,
        *,
        ledger_id: str,
        signing_key: MLDSA65PrivateKey | None = None,
    ) -> None:
        if not name or "/" in name or name.startswith("."):
            raise ValueError("name must be a plain participant name")
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.ledger_id = ledger_id
        self.path = folder / f"{name}.sqlite"
        self.heads_path = folder / f"{name}.heads.json"
        self._key = signing_key
        self._tree = SqliteTree(str(self.path))
        own, received = read_heads(self.heads_path)
        self._heads: dict[str, list[dict[str, Any]]] = {"own": own, "received": received}
        self._key_ids = {m["keyId"] for i in range(1, self.size + 1) for m in self.entry(i)["macs"]}

    def __repr__(self) -> str:
        return f"Replica(name={self.name!r}, size={self.size}, path={str(self.path)!r})"

    def close(self) -> None:
        """Close the SQLite connection."""
        self._tree.close()

    @property
    def size(self) -> int:
        """Number of entries."""
        return int(self._tree.get_size())

    def root(self, size: int | None = None) -> bytes:
        """Merkle root of the first ``size`` entries (all by default)."""
        return bytes(self._tree.get_root(size))

    def raw(self, index: int) -> bytes:
        """Stored bytes of entry ``index`` (1-based)."""
        if not 1 <= index <= self.size:
            raise ValueError(f"index must be in [1, {self.size}]")
        return bytes(self._tree.get_entry(index))

    def leaf(self, index: int) -> bytes:
        """RFC 9162 leaf hash of entry ``index``: SHA-256(0x00 || stored bytes)."""
        return bytes(self._tree.hash_buff(self.raw(index)))

    def entry(self, index: int) -> dict[str, Any]:
        """Decoded entry ``index``."""
        return parse_entry(self.raw(index), index)

    @property
    def own_heads(self) -> list[dict[str, Any]]:
        """Heads this participant signed, oldest first."""
        return list(self._heads["own"])

    @property
    def received_heads(self) -> list[dict[str, Any]]:
        """Heads received from other participants, oldest first."""
        return list(self._heads["received"])

    def _check_next(self, entry: dict[str, Any], raw: bytes) -> None:
        body = entry["body"]
        index = self.size + 1
        if body["index"] != index:
            raise LedgerIntegrityError(
                f"entry claims index {body['index']}, next is {index}", body["index"]
            )
        if body["ledgerId"] != self.ledger_id:
            raise LedgerIntegrityError(
                f"entry {index}: belongs to ledger {body['ledgerId']}", index
            )
        expected = GENESIS if index == 1 else sha256_hex(self.raw(index - 1))
        if body["previousEntryChecksum"] != expected:
            raise LedgerIntegrityError(f"entry {index}: does not chain to entry {index - 1}", index)
        if body["documentChecksum"] != checksum(body["document"]):
            raise LedgerIntegrityError(f"entry {index}: document checksum does not match", index)
        ids = [m["keyId"] for m in entry["macs"]]
        if len(set(ids)) != len(ids) or self._key_ids.intersection(ids):
            raise AuthenticationError(f"entry {index}: a MAC key ID was used before")

    def check(self, raw: bytes, keys: KeySource) -> dict[str, Any]:
        """Check that ``raw`` may be appended next, spending this participant's MAC key.

        The author's own replica skips the MAC check (it wrote the tags).

        Raises
        ------
        AuthenticationError
            If the MAC to this participant fails or a key ID is reused.
        LedgerIntegrityError
            If the entry is malformed, out of order, or breaks the chain.
        """
        entry = parse_entry(raw)
        self._check_next(entry, raw)
        if entry["body"]["author"] != self.name:
            verify_mac(entry, self.name, keys)
        return entry

    def append_checked(self, raw: bytes, entry: dict[str, Any]) -> int:
        """Append an entry that :meth:`check` passed; return its index."""
        if entry["body"]["index"] != self.size + 1:
            raise LedgerIntegrityError("entry was not checked against this replica's end")
        index = int(self._tree.append_entry(raw))
        self._key_ids.update(m["keyId"] for m in entry["macs"])
        return index

    def receive(self, raw: bytes, keys: KeySource) -> int:
        """:meth:`check` then :meth:`append_checked`; return the entry's index."""
        return self.append_checked(raw, self.check(raw, keys))

    def _save_heads(self) -> None:
        write_heads(self.heads_path, self._heads["own"], self._heads["received"])

    def sign_head(self, at: dt.datetime | None = None) -> dict[str, Any]:
        """Sign, record and return this replica's current tree head."""
        if self._key is None:
            raise ValueError(f"replica {self.name} has no signing key")
        head = sign_head(
            self._key, ledger_id=self.ledger_id, signer=self.name,
            tree_size=self.size, root_hash=self.root(), at=at,
        )  # fmt: skip
        self._heads["own"].append(head)
        self._save_heads()
        return head

    def accept_head(self, head: dict[str, Any], public_key: MLDSA65PublicKey) -> None:
        """Check a gossiped head against this replica and earlier heads of its signer; keep it.

        Raises
        ------
        LedgerIntegrityError
            If the signature fails or the head names another ledger.
        EquivocationError
            If the head disagrees with this replica's history or with another head of the
            same signer at the same size.
        """
        verify_head(head, public_key)
        signer, size = head["signer"], head["treeSize"]
        if head["ledgerId"] != self.ledger_id:
            raise LedgerIntegrityError(
                f"tree head of {signer}: belongs to ledger {head['ledgerId']}"
            )
        if size <= self.size and self.root(size).hex() != head["rootHash"]:
            raise EquivocationError(
                f"{signer} signed a root at size {size} that differs from {self.name}'s history",
                size,
            )
        for old in self._heads["received"]:
            same = old["signer"] == signer and old["treeSize"] == size
            if same and old["rootHash"] != head["rootHash"]:
                raise EquivocationError(f"{signer} signed two different roots at size {size}", size)
        if head not in self._heads["received"]:
            self._heads["received"].append(head)
            self._save_heads()

    def recheck_heads(self) -> None:
        """Check every kept head against this replica as it is now.

        A head larger than the replica was kept unchecked when it arrived; once the replica
        has grown to its size, it must match too.

        Raises
        ------
        EquivocationError
            If a kept head disagrees with this replica's history.
        """
        for head in self._heads["received"]:
            size = head["treeSize"]
            if size <= self.size and self.root(size).hex() != head["rootHash"]:
                raise EquivocationError(
                    f"{head['signer']} signed a root at size {size} that differs from "
                    f"{self.name}'s history",
                    size,
                )

    def prove_inclusion(self, index: int, size: int | None = None) -> InclusionProof:
        """RFC 9162 inclusion proof of entry ``index`` in the tree of ``size`` entries."""
        return self._tree.prove_inclusion(index, size)

    def prove_consistency(self, prior_size: int, later_size: int | None = None) -> ConsistencyProof:
        """RFC 9162 consistency proof between the trees of ``prior_size`` and ``later_size``."""
        return self._tree.prove_consistency(prior_size, later_size)
