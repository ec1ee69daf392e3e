"""Config validation, routing fallback and certificate identities."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from quaykey.kms.config import NetworkConfig
from quaykey.kms.pki import Identity, identity_from_der, init_dev_pki, issue_certificate


def net(**kw):
    base = {
        "nodes": {
            n: {"kme_id": n.upper(), "port": 1, "database_url": "sqlite://", "master_key_file": "k"}
            for n in "abcd"
        },
        "links": [["a", "b"], ["b", "c"], ["c", "d"]],
        "tenants": {"t": {}},
        "saes": {"s1": {"node": "a", "tenant": "t"}, "s2": {"node": "d", "tenant": "t"}},
        "pairs": [["s1", "s2"]],
    }
    base.update(kw)
    return NetworkConfig.model_validate(base)


def test_routes_default_to_fewest_hops_and_table_wins():
    n = net()
    assert n.route("a", "d") == ["b", "c", "d"]
    n2 = net(routes={"a": {"d": ["x", "d"]}})
    assert n2.route("a", "d") == ["x", "d"]
    s = n.settings_for("a")
    assert s.neighbours == frozenset({"b"}) and s.may_pair("s2", "s1")


@pytest.mark.parametrize(
    "bad",
    [
        {"links": [["a", "z"]]},
        {"links": [["a", "a"]]},
        {"saes": {"s1": {"node": "z", "tenant": "t"}}},
        {"saes": {"s1": {"node": "a", "tenant": "nope"}}, "pairs": []},
        {"pairs": [["s1", "ghost"]]},
    ],
)
def test_invalid_configs_raise(bad):
    with pytest.raises(ValueError):
        net(**bad)


def test_unknown_node_settings_raise():
    with pytest.raises(ValueError, match="not in the config"):
        net().settings_for("zz")


def test_identity_from_san_uri_then_cn(tmp_path):
    layout = init_dev_pki(tmp_path, ["a"], ["sae-1"])
    from cryptography import x509

    def der(path):
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        return cert.public_bytes(serialization.Encoding.DER)

    assert identity_from_der(der(layout.sae("sae-1")[0])) == Identity("sae", "sae-1")
    assert identity_from_der(der(layout.kme_client("a")[0])) == Identity("kme", "a")
    ca_key = serialization.load_pem_private_key((tmp_path / "ca.key").read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate(layout.ca_cert.read_bytes())
    _, cn_only = issue_certificate(
        ca_key, ca_cert, "legacy-sae", uri=None, server=False, client=True
    )  # type: ignore[arg-type]
    assert identity_from_der(cn_only.public_bytes(serialization.Encoding.DER)) == Identity(
        "sae", "legacy-sae"
    )
    assert identity_from_der(b"\x30\x03junk") is None
