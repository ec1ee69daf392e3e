"""Key material never leaks; keys are sealed at rest; the audit chain fails closed."""

from __future__ import annotations

import base64
import logging
import sqlite3
from pathlib import Path

import httpx
import pytest
from kms_harness import LINE3

from quaykey.errors import KmsError
from quaykey.kms.client import KmeClientError
from quaykey.kms.pki import client_ssl_context
from quaykey.kms.service import KmeService
from quaykey.kms.store import MasterKeyError, verify_audit_chain


def needles(raw: bytes) -> list[bytes]:
    """Forms in which a key could leak: raw bytes, base64, hex (key prefixes of 16 bytes)."""
    out = [raw, base64.b64encode(raw), raw.hex().encode(), raw.hex().upper().encode()]
    # also the first 16 bytes alone, in case a key was truncated in a message
    out += [raw[:16], base64.b64encode(raw[:15]), raw[:16].hex().encode()]
    return out


def test_no_key_material_in_logs_audit_errors_or_database(make_net, caplog):
    caplog.set_level(logging.DEBUG)
    net = make_net(**LINE3)
    link_blocks = net.feed("a", "b", 2) + net.feed("b", "c", 2)
    m, s = net.client("alice"), net.client("carol")
    keys = []
    errors: list[str] = []
    for slave_client, slave in ((s, "carol"), (net.client("alice2"), "alice2")):
        c = m.get_key(slave, number=3, size=512)
        keys += c.keys
        ids = [k.key_ID for k in c.keys]
        slave_client.get_key_with_key_ids("alice", ids)
        for bad in (
            lambda ids=ids, sc=slave_client: sc.get_key_with_key_ids("alice", ids),
            lambda ids=ids: net.client("mallory").get_key_with_key_ids("alice", ids),
            lambda: m.get_key("carol", size=100),
            lambda: m.get_key("carol", number=128, size=1024),
        ):
            with pytest.raises(KmeClientError) as e:
                bad()
            errors += [str(e.value), e.value.error.model_dump_json()]
    unclaimed = m.get_key("carol").keys  # stays in the database, sealed
    keys += unclaimed
    text = caplog.text.encode()
    audit = b"".join(
        repr(r).encode() + str(r.detail).encode()
        for n in net.kmes
        for r in net.kmes[n].service.store.audit_records()
    )
    reprs = "".join(repr(x) for x in (*keys, *net.kmes.values(), net.kmes["a"].service)).encode()
    blobs = b""
    for p in (net.root / "state").iterdir():
        if ".db" in p.name:
            blobs += p.read_bytes()
    assert blobs, "expected SQLite files"
    err = "".join(errors).encode()
    assert b"delivered_slave" in text  # the logs were captured
    for k in keys:
        raw = base64.b64decode(k.key)
        for needle in needles(raw):
            for name, hay in (("log", text), ("audit", audit), ("errors", err), ("repr", reprs)):
                assert needle not in hay, f"key material found in {name}"
            if len(needle) >= 16:
                assert needle not in blobs, "key material stored in clear"
    for block in link_blocks:
        for i in range(0, len(block) - 32, 1024):
            assert block[i : i + 32] not in blobs, "link key material stored in clear"


def test_audit_chain_verifies_and_detects_tampering(make_net):
    net = make_net(**LINE3)
    net.feed("a", "b", 1)
    net.feed("b", "c", 1)
    key = net.client("alice").get_key("carol").keys[0]
    net.client("carol").get_key_with_key_ids("alice", [key.key_ID])
    for n in net.kmes:
        verify_audit_chain(net.kmes[n].service.store.audit_records())
    events = [r.event for r in net.kmes["c"].service.store.audit_records()]
    assert events[-3:] == ["relay_reserved", "relay_confirmed", "delivered_slave"]
    db = net.root / "state" / "c.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE kms_audit SET detail = replace(detail, 'carol', 'eve') "
            "WHERE event = 'delivered_slave'"
        )
    with pytest.raises(KmsError):
        verify_audit_chain(net.kmes["c"].service.store.audit_records())


def test_unwritable_audit_log_refuses_delivery(make_net):
    net = make_net(**LINE3)
    m = net.client("alice")
    key = m.get_key("alice2").keys[0]
    before = m.status("alice2").stored_key_count
    db = net.root / "state" / "a.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER audit_down BEFORE INSERT ON kms_audit "
            "BEGIN SELECT RAISE(ABORT, 'audit sink unavailable'); END"
        )
    for call in (
        lambda: m.get_key("alice2"),
        lambda: net.client("alice2").get_key_with_key_ids("alice", [key.key_ID]),
    ):
        with pytest.raises(KmeClientError) as e:
            call()
        assert e.value.status_code == 503
    assert m.status("alice2").stored_key_count == before  # nothing consumed
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER audit_down")
    got = net.client("alice2").get_key_with_key_ids("alice", [key.key_ID])
    assert got.keys == [key]
    verify_audit_chain(net.kmes["a"].service.store.audit_records())


def test_wrong_or_missing_master_key_refuses_to_start(make_net):
    net = make_net(start=False, **LINE3)
    settings = net.settings("a")
    KmeService.from_settings(settings).close()  # first start writes the check value
    settings.master_key_file.write_text("00" * 32 + "\n")
    with pytest.raises(MasterKeyError):
        KmeService.from_settings(settings)
    settings.master_key_file.unlink()
    with pytest.raises(MasterKeyError):
        KmeService.from_settings(settings)


def test_tls_rejects_certificate_from_another_ca(make_net, tmp_path: Path):
    from quaykey.kms.pki import init_dev_pki

    net = make_net(**LINE3)
    other = init_dev_pki(tmp_path / "other", [], ["alice"])
    ctx = client_ssl_context(net.pki.ca_cert, *other.sae("alice"))
    with (
        pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)),
        httpx.Client(base_url=net.url("a"), verify=ctx, timeout=5) as c,
    ):
        c.get("/api/v1/keys/carol/status")
