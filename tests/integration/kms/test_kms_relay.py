"""KME-to-KME relay over real mTLS: exact link-key accounting, tamper and replay rejection."""

from __future__ import annotations

import base64

import httpx
import pytest

from quaykey.errors import KmsBadRequestError, KmsUnauthorizedError
from quaykey.kms.client import KmeClientError
from quaykey.kms.pki import Identity, client_ssl_context
from quaykey.kms.relay import MAC_KEY_BYTES
from quaykey.kms.schemas import RelayReserve

LINE4 = {
    "nodes": ["a", "b", "c", "d"],
    "links": [("a", "b"), ("b", "c"), ("c", "d")],
    "saes": {"alice": ("a", "finance"), "dave": ("d", "finance")},
    "pairs": [("alice", "dave")],
}


def link_bytes(net, x, y):
    p = net.kmes[x].service.pools()["links"][y]
    return p["sendable_bytes"], p["receivable_bytes"]


def test_three_hop_relay_delivers_identical_keys_and_uses_each_link_exactly(make_net, backend):
    net = make_net(backend, **LINE4)
    for x, y in LINE4["links"]:
        net.feed(x, y, 1, block_bytes=8192)
    before = {(x, y): link_bytes(net, x, y) for x, y in LINE4["links"]}
    before |= {(y, x): link_bytes(net, y, x) for x, y in LINE4["links"]}
    c = net.client("alice").get_key("dave", number=4, size=1024)
    got = net.client("dave").get_key_with_key_ids("alice", [k.key_ID for k in c.keys])
    assert got == c
    used = MAC_KEY_BYTES + 4 * 1024 // 8
    for x, y in LINE4["links"]:
        s0, _ = before[(x, y)]
        _, r0 = before[(y, x)]
        s1, _ = link_bytes(net, x, y)
        _, r1 = link_bytes(net, y, x)
        assert (s0 - s1, r0 - r1) == (used, used), (x, y)
        # the other direction is untouched
        assert link_bytes(net, y, x)[0] == before[(y, x)][0]
    # intermediate nodes hold nothing
    assert net.kmes["b"].service.pools()["held_keys"] == {}
    assert net.kmes["c"].service.pools()["held_keys"] == {}


def test_failure_mid_path_voids_and_does_not_reuse_link_key(make_net):
    net = make_net(**LINE4)
    for x, y in LINE4["links"]:
        net.feed(x, y, 1, block_bytes=8192)
    net.stop("d")
    s0 = link_bytes(net, "a", "b")[0]
    with pytest.raises(KmeClientError) as e:
        net.client("alice").get_key("dave")
    assert e.value.status_code == 503
    for n in ("b", "c"):
        assert net.kmes[n].service.pools()["held_keys"] == {}
    # the link bytes spent on the failed relay are gone for good (never reused)
    assert s0 - link_bytes(net, "a", "b")[0] == MAC_KEY_BYTES + 32


def _sealed_hop(net):
    """A relay message a -> b sealed by a's service (consumes a's link bytes)."""
    svc = net.kmes["a"].service
    base = RelayReserve(
        relay_id="00000000-0000-4000-8000-000000000001",
        path=["a", "b"],
        hop=1,
        master_SAE_ID="alice",
        slave_SAE_IDs=["bob"],
        key_size=256,
        key_IDs=["00000000-0000-4000-8000-0000000000aa"],
        expires_at=0.0,
        segments=[],
        ciphertext="",
        tag="",
    )
    return svc._seal_hop(base, bytes(range(32)))


TWO = {
    "nodes": ["a", "b", "c"],
    "links": [("a", "b"), ("b", "c")],
    "saes": {"alice": ("a", "finance"), "bob": ("b", "finance")},
    "pairs": [("alice", "bob")],
}


def test_tampered_relay_is_rejected_and_replay_is_rejected(make_net):
    net = make_net(**TWO)
    net.feed("a", "b", 1)
    msg = _sealed_hop(net)
    b = net.kmes["b"].service
    ct = bytearray(base64.b64decode(msg.ciphertext))
    ct[0] ^= 1
    tampered = msg.model_copy(update={"ciphertext": base64.b64encode(bytes(ct)).decode()})
    r0 = link_bytes(net, "b", "a")[1]
    with pytest.raises(KmsBadRequestError):
        b.relay_reserve(Identity("kme", "a"), tampered)
    assert link_bytes(net, "b", "a")[1] == r0  # nothing consumed
    moved = msg.model_copy(update={"key_IDs": ["00000000-0000-4000-8000-0000000000bb"]})
    with pytest.raises(KmsBadRequestError):  # header is authenticated too
        b.relay_reserve(Identity("kme", "a"), moved)
    assert b.relay_reserve(Identity("kme", "a"), msg).ok
    with pytest.raises(KmsBadRequestError):  # replay: the segments are already used
        b.relay_reserve(Identity("kme", "a"), msg)


def test_relay_endpoint_requires_a_neighbour_kme_certificate(make_net):
    net = make_net(**TWO)
    net.feed("a", "b", 1)
    msg = _sealed_hop(net)
    b = net.kmes["b"].service
    for who in (Identity("sae", "alice"), Identity("kme", "c"), None):
        with pytest.raises(KmsUnauthorizedError):
            b.relay_reserve(who, msg)
    # over HTTPS: an SAE certificate is refused with 401
    ctx = client_ssl_context(net.pki.ca_cert, *net.pki.sae("alice"))
    with httpx.Client(base_url=net.url("b"), verify=ctx, timeout=5) as c:
        r = c.post("/kme/v1/relay/reserve", json=msg.model_dump())
    assert r.status_code == 401
