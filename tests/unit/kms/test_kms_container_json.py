"""The fast path's key container bytes are what the pydantic model serialises to."""

from __future__ import annotations

import json
import secrets
import uuid

import pytest

from quaykey.kms.delivery import _container, container_json


@pytest.mark.parametrize("n, size", [(1, 32), (3, 64), (5, 1)])
def test_container_json_is_the_models_json_and_zeroes_the_keys(n: int, size: int) -> None:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    keys = [bytearray(secrets.token_bytes(size)) for _ in range(n)]
    copies = [bytearray(k) for k in keys]
    body = container_json(ids, keys)
    assert all(k == bytes(len(k)) for k in keys)  # zeroed
    expected = _container(ids, copies).model_dump_json(exclude_none=True).encode()
    assert body == expected
    assert [k["key_ID"] for k in json.loads(body)["keys"]] == ids
