"""A KME that does not answer counts as a KME short of key: the SDK fails closed."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from quaykey.errors import KeyShortageError, MessageQueuedError, MessageRejectedError
from quaykey.kms.client import KmeClient
from quaykey.logistics.sdk import Envelope, KeyLimits, KmeKeySource, SecureChannel


def _silent_kme(tmp_path: Path) -> KmeClient:
    """A client whose every key call times out (a KME on an overloaded relay path)."""
    from quaykey.kms.pki import init_dev_pki

    layout = init_dev_pki(tmp_path / "pki", ["a"], ["terminal"], {"a": "KME-A"})
    cert, key = layout.sae("terminal")

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("the read operation timed out", request=request)

    return KmeClient("https://kme.invalid", ca=layout.ca_cert, cert=cert, key=key,
                     transport=httpx.MockTransport(handler))  # fmt: skip


def _channel(tmp_path: Path) -> SecureChannel:
    kme = _silent_kme(tmp_path)
    keys = KmeKeySource(kme)
    keys._limits["customs"] = KeyLimits(32, 32, 128)  # Get status answered earlier
    return SecureChannel(kme, "customs", state=tmp_path / "t.db", sae_id="terminal",
                         key_source=keys)  # fmt: skip


def test_otp_queues_and_aes_is_refused_when_the_kme_does_not_answer(tmp_path: Path) -> None:
    ch = _channel(tmp_path)
    with pytest.raises(MessageQueuedError):
        ch.send("customs_decision", b"RELEASE")
    assert [m.payload for m in ch.store.queued("customs")] == [b"RELEASE"]
    with pytest.raises(KeyShortageError, match="did not answer"):
        ch.send("edi", b"BAPLIE", protection="aes")
    assert ch.counters["sent.aes"] == ch.counters["sent.otp"] == 0


def test_receiver_refuses_when_its_kme_does_not_answer(tmp_path: Path) -> None:
    rx = SecureChannel(_channel(tmp_path)._kme, "customs", state=tmp_path / "r.db",
                       sae_id="terminal")  # fmt: skip
    rx.keys._limits["customs"] = KeyLimits(32, 32, 128)  # type: ignore[attr-defined]
    env = Envelope("otp", "customs_decision", "customs", "terminal", 1,
                   int(time.time() * 1000), ("k1",), b"", b"", bytes(48))  # fmt: skip
    with pytest.raises(MessageRejectedError) as exc:
        rx.receive(env.encode())
    assert exc.value.reason == "key_rejected" and rx.counters["rejected.key_rejected"] == 1
