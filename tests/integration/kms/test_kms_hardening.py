"""Hardening against a hostile network: peer identity, request limits, strict queries, audit.

Every test talks to real KMEs over mutual TLS on loopback; raw requests go through a TLS
socket so that malformed or oversized requests reach the server exactly as written. Each
test is bounded in time (socket timeouts of a few seconds) and memory (bodies of at most a
few MiB are actually sent).
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest
from kms_harness import LINE3

from quaykey.kms.client import KmeClientError
from quaykey.kms.pki import client_ssl_context

SMALL_HTTP = {
    "max_body_bytes": 4096,
    "max_header_bytes": 2048,
    "max_header_count": 20,
    "header_timeout_s": 1.0,
    "max_connections_per_client": 4,
}


def tls_socket(net, node: str, cert_key: tuple[Path, Path], timeout_s: float = 5.0):
    """A connected, handshaken TLS socket to ``node``'s KME presenting ``cert_key``."""
    ctx = client_ssl_context(net.pki.ca_cert, *cert_key)
    port = net.config.nodes[node].port
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    s.settimeout(timeout_s)
    return s


def response(sock: ssl.SSLSocket, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP response from ``sock``."""
    r = http.client.HTTPResponse(sock, method=method)  # type: ignore[arg-type]
    r.begin()
    body = r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def json_error(status: int, headers: dict[str, str], body: bytes) -> dict:
    assert headers["content-type"].startswith("application/json"), (status, headers)
    doc = json.loads(body)
    assert isinstance(doc["message"], str) and doc["message"]
    return doc


@pytest.fixture
def net(make_net):
    n = make_net(**LINE3)
    n.feed("a", "b", 2)
    n.feed("b", "c", 2)
    return n


@pytest.fixture
def small(make_net):
    """A network whose KMEs have small HTTP limits."""
    return make_net(http=SMALL_HTTP, **LINE3)


# --- 1. a relaying KME checks the neighbour's KME ID ----------------------------------------


class _YesMan(BaseHTTPRequestHandler):
    """A rogue relay peer: acknowledges every reserve/confirm/void."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        out = json.dumps({"relay_id": body["relay_id"], "ok": True}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *_args: object) -> None:
        pass


def test_relay_refuses_neighbour_presenting_another_kmes_certificate(make_net):
    net = make_net(start=False, **LINE3)
    net.start("a", "c")
    # a rogue server on b's port, with c's genuine server certificate (same CA, right IP)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*net.pki.kme_server("c"))
    rogue = HTTPServer(("127.0.0.1", 0), _YesMan, bind_and_activate=False)
    rogue.socket.close()
    rogue.socket = ctx.wrap_socket(net.sockets.pop("b"), server_side=True)
    rogue.server_activate()
    t = threading.Thread(target=rogue.serve_forever, daemon=True)
    t.start()
    try:
        material = b"\x07" * 4096
        net.kmes["a"].service.deposit_link_key("b", "blk-1", material)
        with pytest.raises(KmeClientError) as e:
            net.client("alice").get_key("carol")
        assert e.value.status_code == 503
        events = [r.event for r in net.kmes["a"].service.store.audit_records()]
        assert "delivered_master" not in events
        assert "relay_void_sent" in events
    finally:
        rogue.shutdown()
        rogue.server_close()


# --- 2. request limits -----------------------------------------------------------------------


def test_body_over_the_limit_is_refused_before_it_is_read(small):
    s = tls_socket(small, "a", small.pki.sae("alice"))
    with s:
        s.sendall(
            b"POST /api/v1/keys/carol/enc_keys HTTP/1.1\r\nHost: a\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n" + b"{" * 1000
        )
        status, headers, body = response(s)  # old servers wait for the 1 GB body: timeout
    assert status == 413
    json_error(status, headers, body)


def test_chunked_body_over_the_limit_is_refused(small):
    s = tls_socket(small, "a", small.pki.sae("alice"))
    chunk = b"1000\r\n" + b" " * 0x1000 + b"\r\n"
    with s:
        s.sendall(
            b"POST /api/v1/keys/carol/enc_keys HTTP/1.1\r\nHost: a\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 3
        )
        status, headers, body = response(s)
    assert status == 413
    json_error(status, headers, body)


@pytest.mark.parametrize("shape", ["many", "large"])
def test_header_limits(small, shape):
    if shape == "many":
        extra = b"".join(b"X-H%d: v\r\n" % i for i in range(40))
    else:
        extra = b"X-Big: " + b"v" * 4000 + b"\r\n"
    s = tls_socket(small, "a", small.pki.sae("alice"))
    with s:
        s.sendall(b"GET /api/v1/keys/carol/status HTTP/1.1\r\nHost: a\r\n" + extra + b"\r\n")
        status, headers, body = response(s)
    assert status == 431
    json_error(status, headers, body)


def test_slow_headers_from_an_authenticated_client_time_out(small):
    s = tls_socket(small, "a", small.pki.sae("alice"), timeout_s=6.0)
    with s:
        s.sendall(b"GET /api/v1/keys/carol/status HTTP/1.1\r\nHost: a\r\n")
        t0 = time.monotonic()
        try:
            data = s.recv(4096)  # old servers keep the connection open: socket timeout
        except (ConnectionResetError, ssl.SSLError):
            data = b""
        assert time.monotonic() - t0 < 5.0
    assert data == b"" or data.startswith(b"HTTP/1.1 408")


def test_connections_per_client_are_capped(small):
    held = [tls_socket(small, "a", small.pki.sae("alice")) for _ in range(4)]
    try:
        extra = tls_socket(small, "a", small.pki.sae("alice"))
        with extra:
            extra.sendall(b"GET /api/v1/keys/carol/status HTTP/1.1\r\nHost: a\r\n\r\n")
            try:
                status, headers, body = response(extra)
            except (http.client.RemoteDisconnected, ConnectionResetError, ssl.SSLError):
                status = 0
        assert status == 503, "a fifth connection of one client must be refused"
        json_error(status, headers, body)
        # another client is still served
        assert small.client("alice2").status("alice").slave_SAE_ID == "alice"
    finally:
        for h in held:
            h.close()
    deadline = time.monotonic() + 5
    while True:  # once the held connections are gone, alice is served again
        try:
            assert small.client("alice").status("carol").master_SAE_ID == "alice"
            break
        except KmeClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# --- 3. repeated query parameters ----------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/keys/carol/enc_keys?size=128&size=256",
        "/api/v1/keys/carol/enc_keys?number=1&number=2",
        "/api/v1/keys/alice/dec_keys?key_ID={a}&key_ID={b}",
    ],
)
def test_repeated_query_parameter_is_refused(net, path):
    key = net.client("alice").get_key("carol", number=2)
    a, b = (k.key_ID for k in key.keys)
    sae = "carol" if "dec_keys" in path else "alice"
    cert = net.pki.sae(sae)
    node = net.config.saes[sae].node
    with httpx.Client(
        base_url=net.url(node), verify=client_ssl_context(net.pki.ca_cert, *cert), timeout=10
    ) as c:
        r = c.get(path.format(a=a, b=b))
    assert r.status_code == 400, r.text
    assert "message" in r.json()
    if "dec_keys" in path:  # nothing was consumed
        got = net.client("carol").get_key_with_key_ids("alice", [a, b])
        assert got == key


# --- 4. refused attempts are audited with the caller's identity ---------------------------


def _denials(net, node):
    return [
        r.detail for r in net.kmes[node].service.store.audit_records() if r.event == "access_denied"
    ]


def test_refused_attempts_are_audited_with_the_callers_identity(net):
    cases = [
        ("c", net.pki.sae("mallory"), "/api/v1/keys/alice/enc_keys", "sae:mallory"),
        ("a", net.pki.kme_client("b"), "/api/v1/keys/alice2/status", "kme:b"),
        ("a", net.pki.sae("stranger"), "/api/v1/keys/alice/status", "sae:stranger"),
        ("a", net.pki.sae("alice"), "/kme/v1/relay/confirm", "sae:alice"),
    ]
    for node, cert, path, who in cases:
        with httpx.Client(
            base_url=net.url(node), verify=client_ssl_context(net.pki.ca_cert, *cert), timeout=10
        ) as c:
            if path.startswith("/kme"):
                r = c.post(path, json={"relay_id": str(uuid.uuid4()), "path": ["b", "a"], "hop": 1})
            else:
                r = c.get(path)
        assert r.status_code == 401, (who, r.text)
        assert any(d.get("caller") == who for d in _denials(net, node)), who
    key = net.client("alice").get_key("carol").keys[0]
    with pytest.raises(KmeClientError):
        net.client("carol2").get_key_with_key_ids("alice", [key.key_ID])
    assert any(d.get("caller") == "sae:carol2" for d in _denials(net, "c"))


def test_access_log_names_the_caller(make_net, caplog):
    caplog.set_level(logging.INFO, logger="quaykey.kms.access")
    net = make_net(start=False, **LINE3)
    net.start("a", access_log=True)
    net.client("alice").status("alice2")
    lines = [r.getMessage() for r in caplog.records if r.name == "quaykey.kms.access"]
    assert any("sae:alice" in m and "/status" in m and "200" in m for m in lines), lines


# --- 5. JSON error bodies everywhere, key IDs in any case ----------------------------------


def test_malformed_http_gets_a_json_error(net):
    s = tls_socket(net, "a", net.pki.sae("alice"))
    with s:
        s.sendall(b"GET /api/v1/keys/carol/status HTTP/1.1\r\nBad Header Line\r\n\r\n")
        status, headers, body = response(s)
    assert status == 400
    json_error(status, headers, body)


def test_head_requests_are_refused_with_the_json_error_headers(net):
    s = tls_socket(net, "a", net.pki.sae("alice"))
    with s:
        s.sendall(b"HEAD /api/v1/keys/carol/enc_keys HTTP/1.1\r\nHost: a\r\n\r\n")
        status, headers, body = response(s, "HEAD")
        s.sendall(b"GET /api/v1/keys/carol/enc_keys?size=7 HTTP/1.1\r\nHost: a\r\n\r\n")
        g_status, g_headers, g_body = response(s)
    assert status == 400 and body == b""
    assert headers["content-type"].startswith("application/json")
    assert int(headers["content-length"]) > 0
    assert g_status == 400
    json_error(g_status, g_headers, g_body)


def test_key_ids_are_accepted_in_upper_case(net):
    keys = net.client("alice").get_key("alice2", number=3).keys
    s = net.client("alice2")
    got = s.get_key_with_key_ids("alice", [keys[0].key_ID.upper()])  # GET: the fast path
    assert got.keys[0].key == keys[0].key
    mixed = keys[2].key_ID[:8].upper() + keys[2].key_ID[8:]
    got = s.get_key_with_key_ids("alice", [keys[1].key_ID.upper(), mixed])  # POST
    assert [k.key for k in got.keys] == [keys[1].key, keys[2].key]
    with pytest.raises(KmeClientError) as e:  # each key still only once, whatever the case
        s.get_key_with_key_ids("alice", [keys[0].key_ID])
    assert e.value.status_code == 400


# --- 6. no CDN -------------------------------------------------------------------------------


def test_docs_pages_are_off_and_load_nothing_from_a_cdn(net):
    with httpx.Client(
        base_url=net.url("a"),
        verify=client_ssl_context(net.pki.ca_cert, *net.pki.sae("alice")),
        timeout=10,
    ) as c:
        for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            r = c.get(path)
            assert r.status_code == 404, path
            assert "cdn" not in r.text.lower()
            assert r.headers["content-type"].startswith("application/json")
        assert c.get("/openapi.json").status_code == 200


# --- 7. owner-only state files ---------------------------------------------------------------


def test_database_master_key_and_private_keys_are_owner_only(net):
    net.client("alice").get_key("alice2")
    state = net.root / "state"
    files = [p for p in state.iterdir() if p.is_file()]
    assert any(p.name == "a.db" for p in files) and any(p.name == "a.db-wal" for p in files)
    files += list((net.root / "pki").glob("*.key"))
    for p in files:
        assert p.stat().st_mode & 0o077 == 0, f"{p.name} is readable by others"


# --- 9. liveness and readiness -------------------------------------------------------------


def test_healthz_and_readyz(net):
    import sqlite3

    with httpx.Client(
        base_url=net.url("a"),
        verify=client_ssl_context(net.pki.ca_cert, *net.pki.sae("alice")),
        timeout=10,
    ) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").json() == {"status": "ready"}
        before = len(net.kmes["a"].service.store.audit_records())
        db = net.root / "state" / "a.db"
        with sqlite3.connect(db) as conn:
            conn.execute(
                "CREATE TRIGGER audit_down BEFORE INSERT ON kms_audit "
                "BEGIN SELECT RAISE(ABORT, 'audit sink unavailable'); END"
            )
        r = c.get("/readyz")
        assert r.status_code == 503 and "message" in r.json()
        assert c.get("/healthz").status_code == 200
        with sqlite3.connect(db) as conn:
            conn.execute("DROP TRIGGER audit_down")
        assert c.get("/readyz").status_code == 200
        assert len(net.kmes["a"].service.store.audit_records()) == before  # probes leave no trace
