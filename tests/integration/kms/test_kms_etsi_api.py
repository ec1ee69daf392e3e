"""ETSI GS QKD 014 conformance and key-lifecycle invariants against real mTLS KMEs."""

from __future__ import annotations

import base64
import ssl
import uuid

import httpx
import pytest
from kms_harness import LINE3

from quaykey.kms.client import KmeClientError
from quaykey.kms.pki import client_ssl_context

STATUS_FIELDS = {
    "source_KME_ID": str,
    "target_KME_ID": str,
    "master_SAE_ID": str,
    "slave_SAE_ID": str,
    "key_size": int,
    "stored_key_count": int,
    "max_key_count": int,
    "max_key_per_request": int,
    "max_key_size": int,
    "min_key_size": int,
    "max_SAE_ID_count": int,
}


def raw(net, sae):
    """A plain httpx client with the SAE's certificate (for raw requests)."""
    cert, key = net.pki.sae(sae)
    node = net.config.saes[sae].node if sae in net.config.saes else "a"
    c = httpx.Client(
        base_url=net.url(node), verify=client_ssl_context(net.pki.ca_cert, cert, key), timeout=10
    )
    return c


@pytest.fixture
def net(make_net, backend):
    n = make_net(backend, **LINE3)
    n.feed("a", "b", 2)
    n.feed("b", "c", 2)
    return n


def test_status_fields_and_identity_from_certificate(net):
    with raw(net, "alice") as c:
        r = c.get("/api/v1/keys/carol/status")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    for name, typ in STATUS_FIELDS.items():
        assert isinstance(body[name], typ), name
    assert body["master_SAE_ID"] == "alice"
    assert body["source_KME_ID"] == "KME-A" and body["target_KME_ID"] == "KME-C"
    assert body["stored_key_count"] <= body["max_key_count"]
    assert body["min_key_size"] <= body["key_size"] <= body["max_key_size"]


def test_get_key_all_forms_and_dec_keys_both_forms(net):
    with raw(net, "alice") as m, raw(net, "carol") as s:
        forms = [
            m.get("/api/v1/keys/carol/enc_keys"),
            m.get("/api/v1/keys/carol/enc_keys", params={"number": "3", "size": "512"}),
            m.post("/api/v1/keys/carol/enc_keys", json={}),
            m.post(
                "/api/v1/keys/carol/enc_keys",
                json={"number": 2, "size": 128, "extension_optional": [{"abc_max_age": 30}]},
            ),
        ]
        expected = [(1, 256), (3, 512), (1, 256), (2, 128)]
        all_ids = set()
        for r, (n, size) in zip(forms, expected, strict=True):
            assert r.status_code == 200, r.text
            keys = r.json()["keys"]
            assert len(keys) == n
            for k in keys:
                assert len(base64.b64decode(k["key"])) == size // 8
                assert str(uuid.UUID(k["key_ID"])) == k["key_ID"]
                all_ids.add(k["key_ID"])
        assert len(all_ids) == 7
        # slave: GET for one ID, POST for several; same bytes and IDs
        first = forms[0].json()["keys"][0]
        r = s.get("/api/v1/keys/alice/dec_keys", params={"key_ID": first["key_ID"]})
        assert r.status_code == 200 and r.json()["keys"] == [first]
        many = forms[1].json()["keys"]
        r = s.post(
            "/api/v1/keys/alice/dec_keys", json={"key_IDs": [{"key_ID": k["key_ID"]} for k in many]}
        )
        assert r.status_code == 200 and r.json()["keys"] == many


def test_second_fetch_is_400_and_delivers_nothing(net):
    m, s = net.client("alice"), net.client("alice2")
    key = m.get_key("alice2").keys[0]
    assert s.get_key_with_key_ids("alice", [key.key_ID]).keys[0].key == key.key
    with raw(net, "alice2") as c:
        r = c.get("/api/v1/keys/alice/dec_keys", params={"key_ID": key.key_ID})
    assert r.status_code == 400
    assert r.json() == {"message": "one or more keys specified are not found on KME"}


def test_wrong_slave_gets_401_and_key_stays_for_the_right_slave(net):
    m = net.client("alice")
    key = m.get_key("carol").keys[0]
    with raw(net, "mallory") as c:
        r = c.get("/api/v1/keys/alice/dec_keys", params={"key_ID": key.key_ID})
    assert r.status_code == 401
    assert "message" in r.json()
    got = net.client("carol").get_key_with_key_ids("alice", [key.key_ID])
    assert got.keys[0].key == key.key


def test_mixed_known_and_unknown_ids_deliver_and_delete_nothing(net):
    m, s = net.client("alice"), net.client("carol")
    keys = m.get_key("carol", number=2).keys
    ids = [keys[0].key_ID, str(uuid.uuid4()), keys[1].key_ID]
    with pytest.raises(KmeClientError) as e:
        s.get_key_with_key_ids("alice", ids)
    assert e.value.status_code == 400
    assert e.value.error.message == "one or more keys specified are not found on KME"
    got = s.get_key_with_key_ids("alice", [k.key_ID for k in keys])
    assert got.keys == keys


def test_wrong_master_in_path_is_400_and_does_not_burn(net):
    key = net.client("alice").get_key("carol").keys[0]
    s = net.client("carol")
    with pytest.raises(KmeClientError) as e:
        s.get_key_with_key_ids("alice2", [key.key_ID])
    assert e.value.status_code == 400
    assert s.get_key_with_key_ids("alice", [key.key_ID]).keys == [key]


def test_client_without_certificate_fails_handshake(net):
    ctx = ssl.create_default_context(cafile=str(net.pki.ca_cert))
    with (
        pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)),
        httpx.Client(base_url=net.url("a"), verify=ctx, timeout=5) as c,
    ):
        c.get("/api/v1/keys/carol/status")


def test_unregistered_sae_and_kme_certificate_get_401(net):
    with raw(net, "stranger") as c:
        r = c.get("/api/v1/keys/carol/status")
    assert r.status_code == 401 and r.json()["message"] == "unauthorized"
    cert, key = net.pki.kme_client("b")
    ctx = client_ssl_context(net.pki.ca_cert, cert, key)
    with httpx.Client(base_url=net.url("a"), verify=ctx, timeout=5) as c:
        r = c.get("/api/v1/keys/carol/enc_keys")
    assert r.status_code == 401 and "message" in r.json()


def test_unknown_slave_400_unprovisioned_pair_401(net):
    with raw(net, "alice") as c:
        assert c.get("/api/v1/keys/nobody/status").status_code == 400
        r = c.get("/api/v1/keys/mallory/enc_keys")
        assert r.status_code == 401 and r.json()["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"size": 100}, "size shall be a multiple of 8"),
        (
            {"extension_mandatory": [{"abc_route_type": "direct"}]},
            "not all extension_mandatory parameters are supported",
        ),
        (
            {"extension_mandatory": [{"quaykey_route_type": "direct"}]},
            "not all extension_mandatory request options could be met",
        ),
        ({"number": 0}, None),
        ({"number": -1}, None),
        ({"number": 129}, None),
        ({"size": 8}, None),
        ({"size": 2048}, None),
        ({"number": "3"}, "bad request format"),
        ({"bogus": 1}, "bad request format"),
        ({"additional_slave_SAE_IDs": ["x", "y", "z"]}, None),
    ],
)
def test_bad_requests_are_400_with_message(net, body, message):
    with raw(net, "alice") as c:
        before = c.get("/api/v1/keys/carol/status").json()["stored_key_count"]
        r = c.post("/api/v1/keys/carol/enc_keys", json=body)
        assert r.status_code == 400, r.text
        assert isinstance(r.json()["message"], str)
        if message:
            assert r.json()["message"] == message
        assert c.get("/api/v1/keys/carol/status").json()["stored_key_count"] == before


def test_unknown_mandatory_extension_details(net):
    with raw(net, "alice") as c:
        r = c.post(
            "/api/v1/keys/carol/enc_keys",
            json={"extension_mandatory": [{"abc_route_type": "direct"}]},
        )
    assert r.json()["details"] == [
        {"extension_mandatory_unsupported": "abc_route_type is not supported"}
    ]


def test_malformed_json_and_bad_uuid(net):
    with raw(net, "carol") as c:
        r = c.post(
            "/api/v1/keys/alice/dec_keys",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 400 and r.json()["message"] == "bad request format"
        r = c.get("/api/v1/keys/alice/dec_keys", params={"key_ID": "not-a-uuid"})
        assert r.status_code == 400


def test_not_enough_link_key_is_503_and_consumes_nothing(make_net, backend):
    net = make_net(backend, **LINE3)
    net.feed("a", "b", 1, block_bytes=512)  # a sends with half a block: 256 bytes
    net.feed("b", "c", 1, block_bytes=512)
    m = net.client("alice")
    before = m.status("carol").stored_key_count
    pools_before = net.kmes["a"].service.pools()
    with pytest.raises(KmeClientError) as e:
        m.get_key("carol", number=8, size=512)  # 256 bytes of key + 32 tag bytes > 256
    assert e.value.status_code == 503
    assert net.kmes["a"].service.pools() == pools_before
    assert m.status("carol").stored_key_count == before
    # still serves a request that fits
    assert len(m.get_key("carol", number=1, size=512).keys) == 1


def test_peer_down_is_503_and_leaves_no_reservation(make_net, backend):
    net = make_net(backend, **LINE3)
    net.feed("a", "b", 2)
    net.feed("b", "c", 2)
    net.stop("c")
    with pytest.raises(KmeClientError) as e:
        net.client("alice").get_key("carol")
    assert e.value.status_code == 503
    assert net.kmes["b"].service.pools()["held_keys"] == {}


def test_multicast_each_slave_once_and_others_401(net):
    m = net.client("alice")
    c = m.get_key("carol", additional_slave_SAE_IDs=["bob", "carol2"], number=2)
    ids = [k.key_ID for k in c.keys]
    for slave in ("carol", "bob", "carol2"):
        assert net.client(slave).get_key_with_key_ids("alice", ids) == c
        with pytest.raises(KmeClientError) as e:
            net.client(slave).get_key_with_key_ids("alice", ids)
        assert e.value.status_code == 400
    with pytest.raises(KmeClientError) as e:
        net.client("alice2").get_key_with_key_ids("alice", ids)
    assert e.value.status_code in (400, 401)


def test_stored_key_count_drops_by_number(net):
    m = net.client("alice")
    s0 = m.status("alice2").stored_key_count
    m.get_key("alice2", number=5)
    assert m.status("alice2").stored_key_count == s0 - 5
    assert m.status("alice2").stored_key_count == s0 - 5


def test_urlencoded_sae_ids(make_net):
    spec = dict(LINE3)
    spec["saes"] = dict(LINE3["saes"]) | {"port/ops 1": ("a", "logistics")}
    spec["pairs"] = [*LINE3["pairs"], ("alice", "port/ops 1")]
    net = make_net(**spec)
    m = net.client("alice")
    key = m.get_key("port/ops 1").keys[0]
    assert net.client("port/ops 1").get_key_with_key_ids("alice", [key.key_ID]).keys == [key]


def test_ttl_expiry_on_every_kme(make_net):
    net = make_net(limits={"key_ttl_s": 1.0, "expiry_interval_s": 0.2}, **LINE3)
    net.feed("a", "b", 1)
    net.feed("b", "c", 1)
    m = net.client("alice")
    local = m.get_key("alice2").keys[0]
    remote = m.get_key("carol").keys[0]
    import time

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        held = [net.kmes[n].service.pools()["held_keys"] for n in ("a", "c")]
        if held == [{}, {}]:
            break
        time.sleep(0.2)
    assert held == [{}, {}]
    for sae, key in (("alice2", local), ("carol", remote)):
        with pytest.raises(KmeClientError) as e:
            net.client(sae).get_key_with_key_ids("alice", [key.key_ID])
        assert e.value.status_code == 400
    events = [r.event for r in net.kmes["c"].service.store.audit_records()]
    assert "keys_expired" in events


def test_quotas_answer_503_without_consuming(make_net):
    tenants = {
        "government": {"keys_outstanding": 3, "bits_per_minute": 10**9},
        "finance": {"keys_outstanding": 1000, "bits_per_minute": 1024},
        "logistics": {"keys_outstanding": 1000, "bits_per_minute": 10**9},
    }
    net = make_net(tenants=tenants, **LINE3)
    net.feed("a", "b", 1)
    net.feed("b", "c", 1)
    # keys outstanding (government: alice as master), same node and at the slave's KME
    m = net.client("alice")
    m.get_key("alice2", number=3)
    with pytest.raises(KmeClientError) as e:
        m.get_key("alice2")
    assert e.value.status_code == 503 and "quota" in e.value.error.message
    assert m.status("alice2").stored_key_count == 0
    remote = m.get_key("carol", number=3).keys
    s0 = net.kmes["a"].service.pools()["links"]["b"]["sendable_bytes"]
    with pytest.raises(KmeClientError) as e:
        m.get_key("carol")
    assert e.value.status_code == 503
    assert net.kmes["c"].service.pools()["held_keys"] == {"ready": 3}
    assert s0 - net.kmes["a"].service.pools()["links"]["b"]["sendable_bytes"] == 64  # spent, voided
    # a claimed key frees its slot
    net.client("carol").get_key_with_key_ids("alice", [remote[0].key_ID])
    assert len(m.get_key("carol").keys) == 1
    # bits per minute (finance: alice2 as master, 1024 bits)
    m2 = net.client("alice2")
    m2.get_key("alice", number=2, size=512)
    with pytest.raises(KmeClientError) as e:
        m2.get_key("alice", size=64)
    assert e.value.status_code == 503 and "rate" in e.value.error.message


def test_client_confirms_the_kme_id_from_the_server_certificate(net):
    from quaykey.kms.client import KmeClient, KmeIdentityError

    cert, key = net.pki.sae("alice")
    with KmeClient(
        net.url("a"), ca=net.pki.ca_cert, cert=cert, key=key, expected_kme_id="KME-A"
    ) as good:
        assert good.status("carol").source_KME_ID == "KME-A"
    with (
        KmeClient(
            net.url("a"), ca=net.pki.ca_cert, cert=cert, key=key, expected_kme_id="KME-C"
        ) as wrong,
        pytest.raises(KmeIdentityError),
    ):
        wrong.status("carol")
