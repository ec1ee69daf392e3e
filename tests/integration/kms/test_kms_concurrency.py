"""Concurrent masters never share a key ID or key bytes, and the pools balance exactly."""

from __future__ import annotations

import base64
import os
import threading

from quaykey.kms.relay import MAC_KEY_BYTES

N_MASTERS = 8
# 8 concurrent masters x 500 requests each, as the issue asks (about 30 s on SQLite on a
# loaded 2-core machine); QUAYKEY_KMS_CONCURRENCY_N sets another count for a quick run.
N_REQUESTS = int(os.environ.get("QUAYKEY_KMS_CONCURRENCY_N", "500"))


def test_concurrent_masters_get_distinct_keys_and_pools_balance(make_net, backend):
    masters = [f"m{i}" for i in range(N_MASTERS)]
    # even masters pair with a slave on the same KME, odd ones with a slave one hop away
    slaves = {m: (f"s{i}", "a" if i % 2 == 0 else "b") for i, m in enumerate(masters)}
    saes = {m: ("a", "logistics") for m in masters} | {
        s: (n, "logistics") for s, n in slaves.values()
    }
    net = make_net(
        backend,
        nodes=["a", "b"],
        links=[("a", "b")],
        saes=saes,
        pairs=[(m, s) for m, (s, _) in slaves.items()],
    )
    size_bits = 256
    relayed_requests = (N_MASTERS // 2) * N_REQUESTS
    need = relayed_requests * (MAC_KEY_BYTES + size_bits // 8)
    block = 64 * 1024
    n_blocks = (2 * need) // block + 1
    net.feed("a", "b", n_blocks, block_bytes=block)
    sendable0 = net.kmes["a"].service.pools()["links"]["b"]["sendable_bytes"]
    receivable0 = net.kmes["b"].service.pools()["links"]["a"]["receivable_bytes"]

    results: dict[str, list[tuple[str, str]]] = {m: [] for m in masters}
    errors: list[BaseException] = []
    barrier = threading.Barrier(N_MASTERS)

    def run(master: str) -> None:
        try:
            client = net.client(master)
            slave = slaves[master][0]
            barrier.wait()
            for _ in range(N_REQUESTS):
                for k in client.get_key(slave).keys:
                    results[master].append((k.key_ID, k.key))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(m,)) for m in masters]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors[:3]

    all_ids = [kid for r in results.values() for kid, _ in r]
    all_keys = [key for r in results.values() for _, key in r]
    assert len(all_ids) == N_MASTERS * N_REQUESTS
    assert len(set(all_ids)) == len(all_ids), "a key ID was delivered twice"
    assert len(set(all_keys)) == len(all_keys), "key bytes were delivered twice"

    # link pool balance: exactly 32 + 32 bytes per relayed key, on both ends
    pa = net.kmes["a"].service.pools()
    pb = net.kmes["b"].service.pools()
    assert sendable0 - pa["links"]["b"]["sendable_bytes"] == need
    assert receivable0 - pb["links"]["a"]["receivable_bytes"] == need
    assert pa["held_keys"] == {"ready": (N_MASTERS // 2) * N_REQUESTS}
    assert pb["held_keys"] == {"ready": relayed_requests}

    # every slave gets exactly its master's keys, byte for byte
    for m, delivered in results.items():
        slave = slaves[m][0]
        sc = net.client(slave)
        for i in range(0, len(delivered), 128):
            chunk = delivered[i : i + 128]
            got = sc.get_key_with_key_ids(m, [kid for kid, _ in chunk])
            assert [(k.key_ID, k.key) for k in got.keys] == chunk
            assert all(len(base64.b64decode(k.key)) == size_bits // 8 for k in got.keys)
    assert net.kmes["a"].service.pools()["held_keys"] == {}
    assert net.kmes["b"].service.pools()["held_keys"] == {}

    delivered_master = sum(
        len(r.detail["key_IDs"])
        for n in ("a",)
        for r in net.kmes[n].service.store.audit_records()
        if r.event == "delivered_master"
    )
    assert delivered_master == N_MASTERS * N_REQUESTS
