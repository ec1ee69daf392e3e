"""Offline audit of a ledger folder or one replica file: ``quaykey ledger verify``.

The audit needs no key material and trusts nothing in the files but the participants' public
keys in ``ledger.json``. It reads each ``<name>.sqlite`` read-only (not through pymerkle, whose
trees refuse a file with missing rows) and checks, per replica:

1. rows are contiguous (a deleted row leaves a gap) and each stored leaf hash is the RFC 9162
   leaf hash of the stored entry (an edit that forgot the hash);
2. each entry is canonical RFC 8785 JSON, claims its own position (``index``), chains to the
   previous entry (``previousEntryChecksum``), matches its document checksum, and uses MAC key
   IDs never used before;
3. every tree head the participant signed verifies (ML-DSA-65) and equals the Merkle root that
   the replica's entries give today.

Across replicas it checks that their histories are consistent (an RFC 9162 consistency proof
from each shorter replica to each longer one, and a per-entry majority to name the odd copy),
and that no signer has signed two heads that no single history explains (equivocation).

Each problem is a :class:`Finding` naming the replica, the entry index (1-based) and what is
wrong; :attr:`AuditReport.first` is the first bad entry.

References
----------
RFC 9162, Secs. 2.1.1 (leaf and node hashes), 2.1.4 (consistency proofs), 4.10 (tree heads);
RFC 8785; FIPS 204.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA65PublicKey
from pymerkle import InmemoryTree, InvalidProof, verify_consistency

from quaykey.errors import LedgerIntegrityError
from quaykey.logistics.dcsa.canonical import checksum, sha256_hex
from quaykey.logistics.ledger.entry import GENESIS, parse_entry
from quaykey.logistics.ledger.heads import verify_head
from quaykey.logistics.ledger.heads_file import read_heads
from quaykey.logistics.ledger.ledger import MANIFEST, read_manifest

__all__ = ["AuditReport", "Finding", "audit"]


@dataclass(frozen=True)
class Finding:
    """One problem: which replica, which entry (1-based; ``None`` if not one entry), what."""

    replica: str
    index: int | None
    problem: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"replica": self.replica, "index": self.index, "problem": self.problem}


@dataclass
class AuditReport:
    """What :func:`audit` checked and found."""

    path: str
    ledger_id: str | None = None
    sizes: dict[str, int] = field(default_factory=dict)
    heads_checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if nothing was found."""
        return not self.findings

    @property
    def first(self) -> Finding | None:
        """The finding with the lowest entry index (entry-less findings last)."""
        if not self.findings:
            return None
        return min(self.findings, key=lambda f: (f.index is None, f.index or 0))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the ``--json`` output)."""
        first = self.first
        return {
            "ok": self.ok,
            "path": self.path,
            "ledgerId": self.ledger_id,
            "replicas": self.sizes,
            "headsChecked": self.heads_checked,
            "firstBadEntry": first.as_dict() if first else None,
            "findings": [f.as_dict() for f in self.findings],
            "warnings": self.warnings,
        }


@dataclass
class _Replica:
    name: str
    raws: list[bytes]
    tree: InmemoryTree

    def root(self, size: int) -> bytes:
        return bytes(self.tree.get_root(size))


def _leaf_hash(raw: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + raw).digest()


def _read_rows(path: Path) -> list[tuple[int, bytes, bytes]]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT id, entry, hash FROM leaf ORDER BY id").fetchall()
    finally:
        con.close()
    return [(int(i), _as_bytes(e), _as_bytes(h)) for i, e, h in rows]


def _as_bytes(value: object) -> bytes:
    """A column as bytes, whatever type an edit left in it (SQLite columns are untyped)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if value is None:
        return b""
    return str(value).encode("utf-8")


def _check_entry(
    name: str, pos: int, raw: bytes, prev: bytes | None, ledger_id: str | None, seen: dict[str, int]
) -> list[Finding]:
    try:
        entry = parse_entry(raw, pos)
    except LedgerIntegrityError as exc:
        return [Finding(name, pos, str(exc))]
    body, out = entry["body"], []
    if body["index"] != pos:
        out.append(
            Finding(name, pos, f"entry at position {pos} says index {body['index']} "
                    "(entries reordered or deleted)")
        )  # fmt: skip
    if ledger_id is not None and body["ledgerId"] != ledger_id:
        out.append(Finding(name, pos, f"entry belongs to ledger {body['ledgerId']!r}"))
    if body["documentChecksum"] != checksum(body["document"]):
        out.append(Finding(name, pos, "document does not match its documentChecksum (edited)"))
    expected = GENESIS if prev is None else sha256_hex(prev)
    if body["previousEntryChecksum"] != expected:
        out.append(
            Finding(name, pos, f"previousEntryChecksum does not match entry {pos - 1} "
                    "(hash chain broken: an entry was edited, deleted or moved)")
        )  # fmt: skip
    for mac in entry["macs"]:
        key_id = str(mac.get("keyId"))
        if key_id in seen:
            out.append(
                Finding(name, pos, f"MAC key ID {key_id} already used by entry {seen[key_id]}")
            )
        seen.setdefault(key_id, pos)
    return out


def _load_replica(path: Path, ledger_id: str | None, report: AuditReport) -> _Replica | None:
    name = path.stem
    try:
        rows = _read_rows(path)
    except sqlite3.Error as exc:
        report.findings.append(Finding(name, None, f"not a readable replica file: {exc}"))
        return None
    raws: list[bytes] = []
    seen: dict[str, int] = {}
    for pos, (row_id, raw, stored) in enumerate(rows, start=1):
        if row_id != pos and (pos == 1 or rows[pos - 2][0] != row_id - 1):
            gap = f"rows jump from {rows[pos - 2][0]} to {row_id}" if pos > 1 else "row 1 missing"
            report.findings.append(Finding(name, pos, f"entry {pos} missing ({gap}): deleted"))
        if stored != _leaf_hash(raw):
            report.findings.append(
                Finding(name, pos, "stored leaf hash does not match the entry bytes (edited)")
            )
        prev = raws[-1] if raws else None
        report.findings += _check_entry(name, pos, raw, prev, ledger_id, seen)
        raws.append(raw)
    tree = InmemoryTree()
    for raw in raws:
        tree.append_entry(raw)
    report.sizes[name] = len(raws)
    return _Replica(name, raws, tree)


def _first_difference(a: _Replica, b: _Replica) -> int | None:
    for pos, (x, y) in enumerate(zip(a.raws, b.raws, strict=False), start=1):
        if x != y:
            return pos
    return None


def _signed_sizes(
    rep: _Replica, heads: list[dict[str, Any]], key: MLDSA65PublicKey, report: AuditReport
) -> dict[int, str]:
    """Tree size -> signed root of the heads that verify; bad ones become findings."""
    sizes: dict[int, str] = {}
    for head in heads:
        report.heads_checked += 1
        size = head.get("treeSize")
        if head.get("signer") != rep.name or not isinstance(size, int):
            report.findings.append(Finding(rep.name, None, "own tree head names another signer"))
            continue
        try:
            verify_head(head, key)
        except LedgerIntegrityError as exc:
            report.findings.append(Finding(rep.name, None, str(exc)))
            continue
        sizes[size] = str(head["rootHash"])
    return sizes


def _check_own_heads(
    rep: _Replica,
    heads: list[dict[str, Any]],
    keys: dict[str, MLDSA65PublicKey],
    report: AuditReport,
) -> None:
    """The replica must still give every root its owner signed; report the first that fails.

    With heads at consecutive sizes, the first failing size ``k`` after a matching ``k - 1``
    pins the changed entry to ``k``.
    """
    good = 0
    for size, root in sorted(_signed_sizes(rep, heads, keys[rep.name], report).items()):
        if size > len(rep.raws):
            report.findings.append(
                Finding(rep.name, len(rep.raws) + 1, f"{rep.name} signed a head at size {size} but "
                        f"its replica holds {len(rep.raws)} entries (entries deleted)")
            )  # fmt: skip
            return
        if rep.root(size).hex() != root:
            pinned = size if good == size - 1 else None
            report.findings.append(
                Finding(rep.name, pinned, f"entries 1..{size} no longer give the root "
                        f"{rep.name} signed at size {size} (signed at size {good}: still matches)")
            )  # fmt: skip
            return
        good = size


def _check_cross(replicas: list[_Replica], report: AuditReport) -> None:
    longest = max((len(r.raws) for r in replicas), default=0)
    for pos in range(1, longest + 1):
        copies = Counter(r.raws[pos - 1] for r in replicas if len(r.raws) >= pos)
        if len(copies) < 2:
            continue
        majority, votes = copies.most_common(1)[0]
        holders = sum(copies.values())
        for r in replicas:
            if len(r.raws) >= pos and r.raws[pos - 1] != majority:
                report.findings.append(
                    Finding(r.name, pos, f"entry {pos} differs from the copy held by "
                            f"{votes} of {holders} replicas")
                )  # fmt: skip
    for a in replicas:
        for b in replicas:
            m, n = len(a.raws), len(b.raws)
            if a is b or m == 0 or m >= n:
                continue  # equal lengths: the per-entry majority above names the odd copy
            try:
                proof = b.tree.prove_consistency(m, n)
                verify_consistency(a.root(m), b.root(n), proof)
            except InvalidProof:
                report.findings.append(
                    Finding(a.name, _first_difference(a, b), f"no RFC 9162 consistency between "
                            f"{a.name} ({m} entries) and {b.name} ({n} entries)")
                )  # fmt: skip


def _explains(replicas: list[_Replica], head: dict[str, Any]) -> _Replica | None:
    size = head["treeSize"]
    for r in replicas:
        if len(r.raws) >= size and r.root(size).hex() == head["rootHash"]:
            return r
    return None


def _check_equivocation(
    replicas: list[_Replica], heads: list[tuple[str, dict[str, Any]]], report: AuditReport
) -> None:
    by_signer: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for holder, head in heads:
        by_signer.setdefault(head["signer"], []).append((holder, head))
    reported: set[tuple[str, int]] = set()
    for signer, seen in sorted(by_signer.items()):
        for holder1, h1 in seen:
            for holder2, h2 in seen:
                m, n = h1["treeSize"], h2["treeSize"]
                if m > n or (signer, m) in reported:
                    continue
                witness = _explains(replicas, h2)
                if witness is None or witness.root(m).hex() == h1["rootHash"]:
                    continue
                other = _explains(replicas, h1)
                index = _first_difference(witness, other) if other else None
                reported.add((signer, m))
                report.findings.append(
                    Finding(signer, index, f"equivocation: {signer} signed tree heads of two "
                            f"histories (size {m} held by {holder1}, size {n} held by {holder2})")
                )  # fmt: skip


def audit(path: str | Path) -> AuditReport:
    """Audit a ledger folder, or a single replica file (``<name>.sqlite``).

    Parameters
    ----------
    path
        A folder with ``ledger.json`` and replicas, or one replica file; the heads file
        ``<name>.heads.json`` and the manifest are looked up next to it.

    Returns
    -------
    AuditReport
        ``report.ok`` is True for an untouched ledger.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist or holds no replica.

    Examples
    --------
    >>> import tempfile
    >>> from quaykey.logistics.ledger import Ledger, SharedKeys
    >>> shared, folder = SharedKeys(), tempfile.mkdtemp()
    >>> led = Ledger(folder, "EBL-1", {n: shared.source(n) for n in ("carrier", "bank")})
    >>> led.record("carrier", "NOTE", {"text": "issued"}); _ = led.gossip(); led.close()
    1
    >>> report = audit(folder)
    >>> report.ok, report.sizes
    (True, {'bank': 1, 'carrier': 1})
    """
    target = Path(path)
    if not target.exists():
        raise FileNotFoundError(f"no such replica file or folder: {target}")
    folder = target if target.is_dir() else target.parent
    files = sorted(folder.glob("*.sqlite")) if target.is_dir() else [target]
    if not files:
        raise FileNotFoundError(f"no <name>.sqlite replica in {target}")
    report = AuditReport(path=str(target))
    keys: dict[str, MLDSA65PublicKey] = {}
    if (folder / MANIFEST).exists():
        report.ledger_id, keys = read_manifest(folder)
    else:
        report.warnings.append(f"no {MANIFEST} next to the replicas: signed heads not checked")
    replicas = [r for f in files if (r := _load_replica(f, report.ledger_id, report)) is not None]
    all_heads: list[tuple[str, dict[str, Any]]] = []
    for rep in replicas:
        own, received = read_heads(folder / f"{rep.name}.heads.json")
        if keys and rep.name not in keys:
            report.findings.append(Finding(rep.name, None, "replica of a non-participant"))
            continue
        if keys:
            _check_own_heads(rep, own, keys, report)
            all_heads += [(rep.name, h) for h in own]
            all_heads += [(rep.name, h) for h in received if _valid(h, keys, report)]
    _check_cross(replicas, report)
    _check_equivocation(replicas, all_heads, report)
    return report


def _valid(head: dict[str, Any], keys: dict[str, MLDSA65PublicKey], report: AuditReport) -> bool:
    report.heads_checked += 1
    signer = head.get("signer")
    if (
        not isinstance(signer, str)
        or signer not in keys
        or not isinstance(head.get("treeSize"), int)
    ):
        report.findings.append(Finding(str(signer), None, "received head of an unknown signer"))
        return False
    try:
        verify_head(head, keys[signer])
    except LedgerIntegrityError as exc:
        report.findings.append(Finding(signer, None, f"received {exc}"))
        return False
    return True
