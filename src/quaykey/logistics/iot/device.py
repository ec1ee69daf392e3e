"""Sensor frames: DCSA events sealed with AES-256-GCM under a per-device QKD key.

A frame on the wire (MQTT topic ``quaykey/iot/<device_id>/<kind>``)::

    b"QKT1" | header length (2 bytes, big-endian) | header | ciphertext || 16-byte tag

The header is canonical JSON ``{"ctr", "dev", "kid", "kind"}``: device ID, the key ID
the gateway took from its KME when it provisioned the device, the device's message
counter and the kind (``reefer`` or ``door``). The GCM nonce is the counter
(4 zero bytes ‖ 8-byte big-endian counter: the deterministic construction of
NIST SP 800-38D, Sec. 8.2.1, with the fixed field zero because each device has its own
key); the associated data is everything before the ciphertext plus the topic, so a frame
moved to another device's topic fails. The gateway accepts a counter only above the
highest it accepted from that device, so a replayed frame (or an MQTT QoS 1 duplicate)
is refused.

Why AES-GCM rather than a one-time MAC (:class:`quaykey.mac.OneTimeMac`): a one-time MAC
is information-theoretically secure but spends 32 bytes of fresh key per frame and gives
no confidentiality; a reefer reporting every 15 minutes (ISO 10368 practice) for a 4-day
dwell would need ~12 kB of QKD key installed per device. AES-256-GCM needs one 32-byte
key per device for up to 2^32 frames (SP 800-38D, Sec. 8.3) and also hides the readings;
its security is computational, and AES-256 keeps a 128-bit margin against Grover search.

Examples
--------
>>> import datetime as dt
>>> cred = DeviceCredentials("reefer-001", "6f1c3c2e-0000-4000-8000-000000000001", bytes(32))
>>> sensor = ReeferSensor(cred, "MSKU9070323", setpoint_c=-18.0, seed=1)
>>> topic, frame = sensor.frame(dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
>>> topic, frame[:4], open_frame(topic, frame, cred.key).header.counter
('quaykey/iot/reefer-001/reefer', b'QKT1', 1)
"""

from __future__ import annotations

import datetime as dt
import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from quaykey.errors import TelemetryRejectedError
from quaykey.logistics.dcsa import Publisher, iot_door_event, reefer_measurement
from quaykey.logistics.dcsa.canonical import canonical_json

__all__ = [
    "DEVICE_KEY_BYTES",
    "KINDS",
    "TOPIC_FILTER",
    "TOPIC_PREFIX",
    "DeviceCredentials",
    "DoorSensor",
    "FrameHeader",
    "OpenedFrame",
    "ReeferSensor",
    "device_topic",
    "open_frame",
    "read_header",
    "seal_frame",
]

MAGIC = b"QKT1"
DEVICE_KEY_BYTES = 32
#: Frame kinds and the DCSA Event Domain 3.1.0 schema of their payload.
KINDS = {"reefer": "reeferEvent", "door": "iotEvent"}
TOPIC_PREFIX = "quaykey/iot"
#: What the gateway subscribes to.
TOPIC_FILTER = f"{TOPIC_PREFIX}/+/+"
_MAX_COUNTER = 2**32  # SP 800-38D Sec. 8.3: at most 2^32 invocations per key
_MAX_HEADER = 1024


def device_topic(device_id: str, kind: str, prefix: str = TOPIC_PREFIX) -> str:
    """The MQTT topic a device publishes ``kind`` frames on (``prefix``: one per site when
    several gateways share a broker)."""
    return f"{prefix}/{device_id}/{kind}"


@dataclass(frozen=True)
class DeviceCredentials:
    """What provisioning installs in a device: its ID, the key's ID and the key itself."""

    device_id: str
    key_id: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) != DEVICE_KEY_BYTES:
            raise ValueError(f"key must be {DEVICE_KEY_BYTES} bytes, got {len(self.key)}")
        if not self.device_id or "/" in self.device_id or "+" in self.device_id:
            raise ValueError(
                f"device_id must be non-empty without '/' or '+', got {self.device_id!r}"
            )


@dataclass(frozen=True)
class FrameHeader:
    """The authenticated, unencrypted part of a frame."""

    device_id: str
    key_id: str
    counter: int
    kind: str


@dataclass(frozen=True)
class OpenedFrame:
    """A frame whose tag verified: its header and the decoded DCSA event."""

    header: FrameHeader
    event: dict[str, Any]

    def __repr__(self) -> str:
        h = self.header
        return f"OpenedFrame({h.kind}, {h.device_id!r}, ctr={h.counter})"


def _nonce(counter: int) -> bytes:
    return b"\x00" * 4 + counter.to_bytes(8, "big")


def _aad(prefix: bytes, topic: str) -> bytes:
    return prefix + topic.encode("utf-8")


def seal_frame(
    cred: DeviceCredentials,
    kind: str,
    counter: int,
    event: dict[str, Any],
    prefix: str = TOPIC_PREFIX,
) -> bytes:
    """Encrypt and authenticate one DCSA event as frame number ``counter`` of a device,
    bound to its topic under ``prefix``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    if not 1 <= counter < _MAX_COUNTER:
        raise ValueError(f"counter must be in [1, 2**32), got {counter}")
    header = canonical_json(
        {"ctr": counter, "dev": cred.device_id, "kid": cred.key_id, "kind": kind}
    )
    head = MAGIC + struct.pack(">H", len(header)) + header
    body = AESGCM(cred.key).encrypt(
        _nonce(counter),
        canonical_json(event),
        _aad(head, device_topic(cred.device_id, kind, prefix)),
    )
    return head + body


def read_header(topic: str, frame: bytes) -> tuple[FrameHeader, bytes, bytes]:
    """Parse a frame's header (unauthenticated yet): header, authenticated prefix, body.

    Raises
    ------
    TelemetryRejectedError
        ``malformed``: wrong magic, bad header, or a topic that does not match the header.
    """
    if len(frame) < 6 or frame[:4] != MAGIC:
        raise TelemetryRejectedError("malformed", f"frame on {topic!r} has no QKT1 header")
    (n,) = struct.unpack(">H", frame[4:6])
    if n > _MAX_HEADER or len(frame) < 6 + n + 16:
        raise TelemetryRejectedError("malformed", f"frame on {topic!r} is truncated")
    raw = frame[6 : 6 + n]
    try:
        doc = json.loads(raw)
        header = FrameHeader(str(doc["dev"]), str(doc["kid"]), int(doc["ctr"]), str(doc["kind"]))
        ok = set(doc) == {"ctr", "dev", "kid", "kind"} and canonical_json(doc) == raw
    except (ValueError, KeyError, TypeError) as exc:
        raise TelemetryRejectedError("malformed", f"frame on {topic!r}: bad header") from exc
    if (
        not ok
        or header.kind not in KINDS
        or topic.split("/")[-2:]
        != [
            header.device_id,
            header.kind,
        ]
    ):
        raise TelemetryRejectedError("malformed", f"frame header does not match topic {topic!r}")
    if not 1 <= header.counter < _MAX_COUNTER:
        raise TelemetryRejectedError("malformed", f"counter {header.counter} out of range")
    return header, frame[: 6 + n], frame[6 + n :]


def open_frame(topic: str, frame: bytes, key: bytes) -> OpenedFrame:
    """Verify and decrypt a frame with its device's key (no counter or schema check here).

    Raises
    ------
    TelemetryRejectedError
        ``malformed`` (see :func:`read_header`, or a payload that is not JSON) or
        ``tampered`` (the GCM tag fails: altered bytes, wrong key or wrong topic).
    """
    header, prefix, body = read_header(topic, frame)
    try:
        plain = AESGCM(key).decrypt(_nonce(header.counter), body, _aad(prefix, topic))
    except InvalidTag:
        raise TelemetryRejectedError(
            "tampered", f"tag of frame {header.counter} from {header.device_id!r} fails"
        ) from None
    try:
        event = json.loads(plain)
    except ValueError as exc:
        raise TelemetryRejectedError("malformed", "payload is not JSON") from exc
    if not isinstance(event, dict):
        raise TelemetryRejectedError("malformed", "payload is not a JSON object")
    return OpenedFrame(header, event)


class _Sensor:
    """A device holding its credentials and a strictly increasing frame counter."""

    kind = ""

    def __init__(
        self,
        credentials: DeviceCredentials,
        equipment_reference: str,
        *,
        topic_prefix: str = TOPIC_PREFIX,
    ) -> None:
        self.credentials = credentials
        self.topic_prefix = topic_prefix
        self.equipment_reference = equipment_reference
        self.counter = 0

    def __repr__(self) -> str:
        c = self.credentials
        return f"{type(self).__name__}({c.device_id!r}, key_id={c.key_id!r}, ctr={self.counter})"

    @property
    def topic(self) -> str:
        """The topic this sensor publishes on."""
        return device_topic(self.credentials.device_id, self.kind, self.topic_prefix)

    def seal(self, event: dict[str, Any]) -> tuple[str, bytes]:
        """Next frame for ``event``: ``(topic, frame bytes)``."""
        self.counter += 1
        return self.topic, seal_frame(
            self.credentials, self.kind, self.counter, event, self.topic_prefix
        )


class ReeferSensor(_Sensor):
    """A reefer's monitoring unit: DCSA Reefer ``MEAS`` events around a setpoint.

    Parameters
    ----------
    credentials : DeviceCredentials
        From :meth:`IotGateway.provision`.
    equipment_reference : str
        ISO 6346 number of the container.
    setpoint_c : float
        Set temperature, degrees Celsius.
    noise_c : float
        Standard deviation of the simulated reading around the setpoint.
    seed : int
        Seed of the simulated readings.
    publisher : Publisher, optional
        DCSA ``publisher`` of the events.
    topic_prefix : str
        Topic prefix of the site's gateway (default ``quaykey/iot``).
    """

    kind = "reefer"

    def __init__(
        self,
        credentials: DeviceCredentials,
        equipment_reference: str,
        *,
        setpoint_c: float = -18.0,
        noise_c: float = 0.3,
        seed: int = 0,
        publisher: Publisher | None = None,
        topic_prefix: str = TOPIC_PREFIX,
    ) -> None:
        super().__init__(credentials, equipment_reference, topic_prefix=topic_prefix)
        self.setpoint_c = setpoint_c
        self.noise_c = noise_c
        self.publisher = publisher
        self._rng = np.random.default_rng(seed)

    def reading(self, at: dt.datetime) -> dict[str, Any]:
        """One simulated DCSA Reefer ``MEAS`` event at ``at`` (timezone-aware)."""
        temperature_c = round(float(self.setpoint_c + self.noise_c * self._rng.normal()), 2)
        return reefer_measurement(
            self.equipment_reference,
            at,
            temperature_c=temperature_c,
            setpoint_c=self.setpoint_c,
            publisher=self.publisher,
        )

    def frame(self, at: dt.datetime) -> tuple[str, bytes]:
        """A reading sealed as the next frame: ``(topic, frame bytes)``."""
        return self.seal(self.reading(at))


class DoorSensor(_Sensor):
    """A container door sensor: DCSA IoT ``DETC``/``DRO`` (door opened) events.

    Parameters
    ----------
    credentials : DeviceCredentials
        From :meth:`IotGateway.provision`.
    equipment_reference : str
        ISO 6346 number of the container.
    """

    kind = "door"

    def frame(self, at: dt.datetime) -> tuple[str, bytes]:
        """A door-opened event sealed as the next frame: ``(topic, frame bytes)``."""
        return self.seal(iot_door_event(self.equipment_reference, at))
