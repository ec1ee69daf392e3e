"""The fast path for GET enc_keys / dec_keys answers exactly like the FastAPI routes."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from kms_harness import LINE3

import quaykey.kms.app as kms_app
from quaykey.kms.pki import client_ssl_context


def raw(net, sae):
    cert, key = net.pki.sae(sae)
    node = net.config.saes[sae].node
    return httpx.Client(
        base_url=net.url(node) + "/api/v1/keys/",
        verify=client_ssl_context(net.pki.ca_cert, cert, key),
        timeout=10,
    )


@pytest.fixture
def net(make_net):
    return make_net("sqlite", **LINE3)


@pytest.fixture
def fast_hits(monkeypatch):
    """Count the requests the fast path answered."""
    hits: list[str] = []
    real = kms_app.try_fast

    async def counting(service, scope, send):
        done = await real(service, scope, send)
        if done:
            hits.append(scope["path"])
        return done

    monkeypatch.setattr(kms_app, "try_fast", counting)
    return hits


def settled(hits: list[str], n: int, timeout_s: float = 5.0) -> list[str]:
    """``hits`` once it has ``n`` entries (a hit is counted after its response is sent)."""
    deadline = time.monotonic() + timeout_s
    while len(hits) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return hits


def test_fast_path_round_trip(net, fast_hits):
    with raw(net, "alice") as m, raw(net, "alice2") as s:
        r = m.get("alice2/enc_keys", params={"number": "2", "size": "128"})
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        keys = r.json()["keys"]
        assert len(keys) == 2
        got = s.get("alice/dec_keys", params={"key_ID": keys[0]["key_ID"]})
        assert got.status_code == 200 and got.json() == {"keys": [keys[0]]}
        again = s.get("alice/dec_keys", params={"key_ID": keys[0]["key_ID"]})
        assert again.status_code == 400  # exactly once
    assert len(settled(fast_hits, 3)) == 3


@pytest.mark.parametrize(
    ("get_path", "params", "post_path", "body"),
    [
        ("alice2/enc_keys", {"number": "0"}, "alice2/enc_keys", {"number": 0}),
        ("alice2/enc_keys", {"size": "12"}, "alice2/enc_keys", {"size": 12}),
        ("nobody/enc_keys", {}, "nobody/enc_keys", {}),
        ("alice/enc_keys", {}, "alice/enc_keys", {}),
        (
            "alice/dec_keys",
            {"key_ID": "not-a-uuid"},
            "alice/dec_keys",
            {"key_IDs": [{"key_ID": "not-a-uuid"}]},
        ),
        ("alice/dec_keys", {"key_ID": str(uuid.uuid4())}, "alice/dec_keys", None),
    ],
)
def test_fast_path_errors_match_the_routes(net, fast_hits, get_path, params, post_path, body):
    with raw(net, "alice2" if "dec_keys" in get_path else "alice") as c:
        fast = c.get(get_path, params=params)
        if body is None:
            body = {"key_IDs": [{"key_ID": params["key_ID"]}]}
        routed = c.post(post_path, json=body)
    assert settled(fast_hits, 1) == ["/api/v1/keys/" + get_path]
    assert fast.status_code == routed.status_code
    assert fast.status_code in (400, 401, 503)
    assert fast.json() == routed.json()


@pytest.mark.parametrize(
    "query",
    ["number=abc", "number=1&number=2", "size=-8", "nummber=1", "number="],
)
def test_unusual_requests_go_to_the_routes(net, fast_hits, query):
    with raw(net, "alice") as c:
        r = c.get("alice2/enc_keys?" + query)
    assert fast_hits == []
    assert r.status_code in (200, 400)
