"""KmeKeySource: the take/lookup key interface over ETSI GS QKD 014, through real KMEs."""

from __future__ import annotations

import pytest

from quaykey.errors import KmeClientError
from quaykey.logistics.sdk import KmeKeySource


def test_take_and_lookup_give_the_same_fresh_key(kms) -> None:
    master, slave = KmeKeySource(kms.client("terminal")), KmeKeySource(kms.client("customs"))
    key_id, key = master.take("customs", 32)
    assert len(key) == 32
    assert slave.lookup("terminal", key_id) == key
    with pytest.raises(KmeClientError) as info:  # the KME hands a key to the slave once
        slave.lookup("terminal", key_id)
    assert info.value.status_code == 400
    other_id, other = master.take("customs", 32)
    assert other_id != key_id and other != key


def test_take_many_spans_several_keys(kms) -> None:
    master, slave = KmeKeySource(kms.client("terminal")), KmeKeySource(kms.client("customs"))
    ids, key = master.take_many("customs", 1000)  # KME keys hold at most 128 bytes
    assert len(key) == 1000 and len(ids) == 8 and len(set(ids)) == 8
    assert slave.lookup_many("terminal", ids, 1000) == key


def test_take_refuses_sizes_the_kme_does_not_serve(kms) -> None:
    src = KmeKeySource(kms.client("terminal"))
    for n in (0, 4, 129):
        with pytest.raises(ValueError, match="n_bytes"):
            src.take("customs", n)


def test_only_the_named_slave_may_look_up(kms) -> None:
    key_id, _ = KmeKeySource(kms.client("terminal")).take("customs", 16)
    with pytest.raises(KmeClientError) as info:
        KmeKeySource(kms.client("mallory")).lookup("terminal", key_id)
    assert info.value.status_code == 401
    assert len(KmeKeySource(kms.client("customs")).lookup("terminal", key_id)) == 16
