"""Fuzzing a live KME: schemathesis from /openapi.json, and hypothesis on request bodies."""

from __future__ import annotations

import base64

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kms_harness import LINE3
from schemathesis import checks

from quaykey.kms.pki import client_ssl_context

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from kms_harness import Net, free_socket, load_network_config, write_network

    root = tmp_path_factory.mktemp("fuzz")
    socks = {n: free_socket() for n in LINE3["nodes"]}
    ports = {n: s.getsockname()[1] for n, s in socks.items()}
    cfg, layout = write_network(root, ports=ports, **LINE3)
    net = Net(root, cfg, load_network_config(cfg), layout, socks)
    net.start()
    net.feed("a", "b", 4, block_bytes=16384)
    net.feed("b", "c", 4, block_bytes=16384)
    yield net
    net.close()


def test_schemathesis_finds_no_500_and_no_off_schema_answer(live):
    cert, key = live.pki.sae("alice")
    with httpx.Client(
        base_url=live.url("a"), verify=client_ssl_context(live.pki.ca_cert, cert, key)
    ) as c:
        raw_schema = c.get("/openapi.json").json()
    assert set(raw_schema["paths"]) == {
        "/api/v1/keys/{slave_SAE_ID}/status",
        "/api/v1/keys/{slave_SAE_ID}/enc_keys",
        "/api/v1/keys/{master_SAE_ID}/dec_keys",
    }
    schema = schemathesis.openapi.from_dict(raw_schema)
    session = requests.Session()
    session.cert = (str(cert), str(key))
    session.verify = str(live.pki.ca_cert)
    seen: set[int] = set()

    @given(case=schema.as_strategy())
    @settings(
        max_examples=120,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case):
        response = case.call(
            base_url=live.url("a"),
            session=session,
            timeout=10,
            verify=str(live.pki.ca_cert),
            cert=(str(cert), str(key)),
        )
        seen.add(response.status_code)
        case.validate_response(response, checks=CHECKS)

    run()
    session.close()
    assert seen <= {200, 400, 401, 503}
    assert 400 in seen


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=8),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
key_request = st.fixed_dictionaries(
    {},
    optional={
        "number": st.one_of(st.integers(-3, 140), json_values),
        "size": st.one_of(st.sampled_from([8, 64, 72, 100, 256, 1024, 1032, 2048]), json_values),
        "additional_slave_SAE_IDs": st.one_of(
            st.lists(st.sampled_from(["carol2", "bob", "mallory", "nobody", "alice"]), max_size=3),
            json_values,
        ),
        "extension_mandatory": st.one_of(
            st.lists(
                st.dictionaries(
                    st.sampled_from(["quaykey_route_type", "abc_route_type"]),
                    st.sampled_from(["direct", "indirect", 3]),
                    max_size=1,
                ),
                max_size=2,
            ),
            json_values,
        ),
        "extension_optional": json_values,
        "unknown": json_values,
    },
)


def test_hypothesis_key_request_bodies_answer_200_or_400_and_keep_accounts(live):
    cert, key = live.pki.sae("alice")
    ctx = client_ssl_context(live.pki.ca_cert, cert, key)
    with httpx.Client(base_url=live.url("a"), verify=ctx, timeout=10) as c:

        @given(body=key_request)
        @settings(max_examples=80, deadline=None, database=None)
        def run(body):
            before = c.get("/api/v1/keys/alice2/status").json()["stored_key_count"]
            r = c.post("/api/v1/keys/alice2/enc_keys", json=body)
            assert r.status_code in (200, 400, 401), r.text
            after = c.get("/api/v1/keys/alice2/status").json()["stored_key_count"]
            payload = r.json()
            if r.status_code == 200:
                # JSON null is taken as "absent" (the default applies)
                n = 1 if body.get("number") is None else body["number"]
                size = 256 if body.get("size") is None else body["size"]
                assert len(payload["keys"]) == n
                assert all(len(base64.b64decode(k["key"])) == size // 8 for k in payload["keys"])
                assert before - after == n
            else:
                assert isinstance(payload["message"], str)
                assert after == before

        run()
