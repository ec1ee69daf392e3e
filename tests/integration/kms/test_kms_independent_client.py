"""The PyPI client ``etsi-qkd-014-client`` works unmodified against our KMEs over mTLS."""

from __future__ import annotations

import base64

import pytest
from etsi_qkd_014_client import QKD014Client
from etsi_qkd_014_client.data import DataError, DataKeyContainer, DataStatus
from kms_harness import LINE3


@pytest.mark.parametrize("slave", ["alice2", "carol"])  # same node, and relayed over 2 hops
def test_status_get_key_and_get_key_with_ids(make_net, backend, slave):
    net = make_net(backend, **LINE3)
    net.feed("a", "b", 2)
    net.feed("b", "c", 2)
    port_a = net.config.nodes["a"].port
    port_s = net.config.nodes[net.config.saes[slave].node].port
    ca = str(net.pki.ca_cert)
    mcert, mkey = (str(p) for p in net.pki.sae("alice"))
    scert, skey = (str(p) for p in net.pki.sae(slave))
    master = QKD014Client(f"127.0.0.1:{port_a}", mcert, mkey, ca)
    slave_client = QKD014Client(f"127.0.0.1:{port_s}", scert, skey, ca)

    code, status = master.get_status(slave)
    assert code == 200 and isinstance(status, DataStatus)
    assert status.master_sae_id == "alice" and status.slave_sae_id == slave

    code, one = master.get_key(slave)  # GET, no body
    assert code == 200 and isinstance(one, DataKeyContainer) and len(one.keys) == 1
    code, many = master.get_key(slave, number=3, size=512)  # POST
    assert code == 200 and len(many.keys) == 3
    assert all(len(base64.b64decode(k.key)) == 64 for k in many.keys)

    ids = [k.key_id for k in one.keys + many.keys]
    code, got = slave_client.get_key_with_key_IDs("alice", ids)
    assert code == 200
    assert [(k.key_id, k.key) for k in got.keys] == [
        (k.key_id, k.key) for k in one.keys + many.keys
    ]

    # consumed: a second fetch is a 400 Error the client can parse
    code, err = slave_client.get_key_with_key_IDs("alice", ids[:1])
    assert code == 400 and isinstance(err, DataError)
    assert err.message == "one or more keys specified are not found on KME"
    # 401 carries a JSON body too, so the client does not crash
    code, err = slave_client.get_status("mallory")  # pair not provisioned
    assert code == 401 and isinstance(err, DataError) and err.message
