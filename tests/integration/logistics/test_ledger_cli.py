"""`quaykey ledger verify` finds edits, deletions, reorderings and equivocation (acceptance)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA65PrivateKey
from typer.testing import CliRunner

from quaykey.cli.main import app
from quaykey.logistics.dcsa.canonical import canonical_json, checksum
from quaykey.logistics.ledger import Ledger, Replica, SharedKeys, make_body, seal

runner = CliRunner()


def _verify(path: Path) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = runner.invoke(app, ["ledger", "verify", str(path), "--json"])
    return result.exit_code, json.loads(result.output)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ledger") / "demo"
    result = runner.invoke(app, ["ledger", "demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def ledger_dir(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "ledger"
    shutil.copytree(pristine, copy)
    return copy


def _sql(path: Path, *statements: tuple[str, tuple]) -> None:  # type: ignore[type-arg]
    """Tamper with a replica the way an insider with file access would: drop the guards."""
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER IF EXISTS leaf_no_update")
    con.execute("DROP TRIGGER IF EXISTS leaf_no_delete")
    for sql, args in statements:
        con.execute(sql, args)
    con.commit()
    con.close()


def _row(path: Path, row_id: int) -> tuple[bytes, bytes]:
    con = sqlite3.connect(path)
    entry, digest = con.execute("SELECT entry, hash FROM leaf WHERE id = ?", (row_id,)).fetchone()
    con.close()
    return bytes(entry), bytes(digest)


def test_untouched_ledger_verifies(pristine: Path) -> None:
    code, report = _verify(pristine)
    assert code == 0, report
    assert report["ok"] and report["findings"] == []
    assert report["replicas"] == {
        n: 7 for n in ("bank", "carrier", "customs", "shipper", "terminal")
    }
    assert report["headsChecked"] > 0
    code, report = _verify(pristine / "customs.sqlite")
    assert code == 0 and report["ok"]
    text = runner.invoke(app, ["ledger", "verify", str(pristine)])
    assert text.exit_code == 0 and "OK" in text.output


def test_edited_entry_is_named(ledger_dir: Path) -> None:
    path = ledger_dir / "shipper.sqlite"
    raw, _ = _row(path, 4)
    forged = raw.replace(b"Rotterdam Trade Bank", b"Elsewhere Trade Bank")
    assert forged != raw
    _sql(path, ("UPDATE leaf SET entry = ? WHERE id = 4", (forged,)))
    code, report = _verify(ledger_dir)
    assert code == 1
    assert report["firstBadEntry"]["index"] == 4
    assert report["firstBadEntry"]["replica"] == "shipper"
    text = runner.invoke(app, ["ledger", "verify", str(ledger_dir)]).output
    assert "FAIL: first bad entry 4 (shipper)" in text


def test_careful_forgery_with_recomputed_hashes_is_named(ledger_dir: Path) -> None:
    """The forger also fixes the document checksum and the stored leaf hash."""
    path = ledger_dir / "bank.sqlite"
    entry = json.loads(_row(path, 2)[0])
    entry["body"]["document"]["transactions"][0]["recipient"]["partyName"] = "Someone Else Ltd"
    entry["body"]["documentChecksum"] = checksum(entry["body"]["document"])
    forged = canonical_json(entry)
    digest = hashlib.sha256(b"\x00" + forged).digest()
    _sql(path, ("UPDATE leaf SET entry = ?, hash = ? WHERE id = 2", (forged, digest)))
    code, report = _verify(ledger_dir)
    assert code == 1
    assert (report["firstBadEntry"]["replica"], report["firstBadEntry"]["index"]) == ("bank", 2)
    assert {
        "replica": "bank", "index": 2,
        "problem": "entry 2 differs from the copy held by 4 of 5 replicas",
    } in report["findings"]  # fmt: skip
    # Alone, the replica file still betrays itself: entry 3 no longer chains to entry 2, and
    # the heads the bank signed no longer match.
    code, alone = _verify(path)
    assert code == 1
    assert any(
        f["index"] == 3 and "previousEntryChecksum" in f["problem"] for f in alone["findings"]
    )
    assert any("no longer give the root" in f["problem"] for f in alone["findings"])


def test_edit_in_sql_that_leaves_text_in_the_blob_column_is_named(ledger_dir: Path) -> None:
    # SQLite's replace() turns the BLOB into TEXT; the audit must still read and name it.
    path = ledger_dir / "terminal.sqlite"
    sql = "UPDATE leaf SET entry = replace(entry, 'MSKU9070323', 'MSKU0000000') WHERE id = 3"
    _sql(path, (sql, ()))
    code, report = _verify(ledger_dir)
    assert code == 1
    assert (report["firstBadEntry"]["replica"], report["firstBadEntry"]["index"]) == ("terminal", 3)


def test_deleted_entry_is_named(ledger_dir: Path) -> None:
    path = ledger_dir / "customs.sqlite"
    _sql(path, ("DELETE FROM leaf WHERE id = 3", ()))
    code, report = _verify(path)
    assert code == 1
    assert report["firstBadEntry"]["index"] == 3
    assert "deleted" in report["firstBadEntry"]["problem"]


def test_deleted_last_entry_is_named_by_the_signed_head(ledger_dir: Path) -> None:
    path = ledger_dir / "terminal.sqlite"
    _sql(path, ("DELETE FROM leaf WHERE id = 7", ()))
    code, report = _verify(path)
    assert code == 1
    assert report["firstBadEntry"]["index"] == 7
    assert "holds 6 entries" in report["firstBadEntry"]["problem"]


def test_reordered_entries_are_named(ledger_dir: Path) -> None:
    path = ledger_dir / "carrier.sqlite"
    (e5, h5), (e6, h6) = _row(path, 5), _row(path, 6)
    _sql(
        path,
        ("UPDATE leaf SET entry = ?, hash = ? WHERE id = 5", (e6, h6)),
        ("UPDATE leaf SET entry = ?, hash = ? WHERE id = 6", (e5, h5)),
    )
    code, report = _verify(ledger_dir)
    assert code == 1
    assert report["firstBadEntry"]["index"] == 5
    assert "reordered" in report["firstBadEntry"]["problem"]


def test_equivocation_to_two_participants_is_named(tmp_path: Path) -> None:
    """The carrier shows history A to shipper, bank, terminal and history B to customs."""
    names = ("carrier", "shipper", "bank", "customs", "terminal")
    shared, folder = SharedKeys(), tmp_path / "ledger"
    carrier_key = MLDSA65PrivateKey.generate()
    led = Ledger(folder, "EBL-1", {n: shared.source(n) for n in names}, {"carrier": carrier_key})
    for i, author in enumerate(("carrier", "shipper", "bank")):
        led.record(author, "NOTE", {"n": i})
        led.gossip()
    # The carrier keeps a second, secret copy of its replica.
    shadow_dir = tmp_path / "shadow"
    shadow_dir.mkdir()
    shutil.copy(folder / "carrier.sqlite", shadow_dir / "carrier.sqlite")
    shadow = Replica(shadow_dir, "carrier", ledger_id="EBL-1", signing_key=carrier_key)
    real = led.replicas["carrier"]
    previous = real.raw(3)
    for doc, readers in (({"endorsee": "bank"}, ("carrier", "shipper", "bank", "terminal")),
                         ({"endorsee": "carrier"}, ("customs",))):  # fmt: skip
        body = make_body(index=4, ledger_id="EBL-1", author="carrier", record_type="EBL_ENDORSE",
                         document=doc, previous=previous)  # fmt: skip
        raw = seal(body, [n for n in names if n != "carrier"], shared.source("carrier"))
        if readers == ("customs",):
            shadow.receive(raw, shared.source("carrier"))
        for name in readers:
            led.replicas[name].receive(raw, shared.source(name))
    head_a, head_b = real.sign_head(), shadow.sign_head()
    for name in ("shipper", "bank", "terminal"):
        led.replicas[name].accept_head(head_a, carrier_key.public_key())
    led.replicas["customs"].accept_head(head_b, carrier_key.public_key())
    shadow.close()
    led.close()

    code, report = _verify(folder)
    assert code == 1
    assert report["firstBadEntry"]["index"] == 4
    equivocations = [f for f in report["findings"] if "equivocation" in f["problem"]]
    assert equivocations and equivocations[0]["replica"] == "carrier"
    assert equivocations[0]["index"] == 4


def test_edited_signed_head_is_caught(ledger_dir: Path) -> None:
    path = ledger_dir / "bank.heads.json"
    heads = json.loads(path.read_text())
    heads["own"][2]["rootHash"] = "00" * 32
    path.write_text(json.dumps(heads))
    code, report = _verify(ledger_dir)
    assert code == 1
    assert any(
        f["replica"] == "bank" and "signature does not verify" in f["problem"]
        for f in report["findings"]
    )


def test_bad_path_is_a_one_line_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ledger", "verify", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such replica file or folder" in result.output


def test_demo_refuses_a_non_empty_folder(pristine: Path) -> None:
    result = runner.invoke(app, ["ledger", "demo", "--out", str(pristine)])
    assert result.exit_code == 2
    assert "--out" in result.output and "not empty" in result.output
