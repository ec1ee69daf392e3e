"""No key bytes in logs, errors or reprs (raw, base64 and hex forms), as the KMS tests scan."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
from sdk_helpers import channel_pair

from quaykey.logistics.sdk import MessageRejectedError, decode_envelope


def test_no_key_material_in_logs_errors_or_reprs(
    kms, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[bytes] = []
    tx, rx = channel_pair(kms, tmp_path, seen=seen)
    texts: list[str] = [repr(tx), repr(rx), repr(tx.keys), repr(tx.store)]
    for msg_type in ("customs_decision", "edi", "customs_declaration", "telemetry"):
        env = tx.send(msg_type, b"payload for " + msg_type.encode())
        got = rx.receive_message(env)
        texts += [repr(got), str(got), repr(decode_envelope(env))]
        for bad in (env, env[:-1] + bytes([env[-1] ^ 1])):  # replay, then tamper
            with pytest.raises(MessageRejectedError) as info:
                rx.receive(bad)
            texts += [str(info.value), repr(info.value)]
    texts += [rec.getMessage() for rec in caplog.records]
    texts += [repr(tx.counters), repr(tx.queue_report())]
    assert len(seen) >= 6 and caplog.records
    blob = "\n".join(texts).lower()
    for key in seen:
        assert base64.b64encode(key).decode().lower() not in blob
        assert repr(key)[2:-1].lower() not in blob
        for i in range(max(1, len(key) - 7)):  # any 8 key bytes, in hex
            assert key[i : i + 8].hex() not in blob
