"""The terminal's IoT gateway: provisions sensors from its KME, checks their frames, forwards.

The gateway is an SAE of the terminal's KME. To provision a device it calls ETSI GS QKD 014
*Get key* as master, naming the device's SAE (one SAE per device, or one fleet SAE for all
of them: ``device_sae``) as slave, and installs the 32-byte key in the device; it keeps
the key sealed in its state file (:class:`~quaykey.logistics.iot.store.GatewayStore`), so a
restarted gateway still accepts its devices' frames. A key ID is installed at most once.

Each MQTT frame is checked in order: header syntax and topic (``malformed``), device known
and key ID current (``unknown_device``), AES-256-GCM tag (``tampered``), counter above the
device's highest accepted (``replayed``), payload valid against the DCSA Event Domain 3.1.0
schema of its kind and about the device's own container (``invalid``). A refused frame is
counted under ``rejected.<reason>`` and kept in the SQLite dead-letter table with the
reason. An accepted event is sent to the carrier over the secure-messaging SDK
(:class:`~quaykey.logistics.sdk.SecureChannel`: message type ``telemetry`` for reefer
readings, ``event`` for door events, with the cargo's HS codes, so the policy decides the
class: ``aes`` by default) and the envelope handed to ``deliver``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quaykey.errors import (
    DcsaValidationError,
    KeyExhaustedError,
    KmsError,
    TelemetryRejectedError,
)
from quaykey.logistics.dcsa import validate
from quaykey.logistics.iot.device import (
    DEVICE_KEY_BYTES,
    KINDS,
    TOPIC_PREFIX,
    DeviceCredentials,
    open_frame,
    read_header,
)
from quaykey.logistics.iot.mqtt import MqttSubscriber
from quaykey.logistics.iot.store import DeadLetter, GatewayStore

if TYPE_CHECKING:
    from quaykey.logistics.sdk import KeySource, SecureChannel

__all__ = ["MESSAGE_TYPES", "ForwardedEvent", "IotGateway"]

log = logging.getLogger("quaykey.logistics.iot")

#: SDK message type (policy rule) of each frame kind.
MESSAGE_TYPES = {"reefer": "telemetry", "door": "event"}


@dataclass(frozen=True)
class ForwardedEvent:
    """An accepted frame: who sent it, and the envelope that went to the carrier."""

    device_id: str
    kind: str
    counter: int
    event_id: str
    envelope: bytes

    def __repr__(self) -> str:
        return (
            f"ForwardedEvent({self.kind}, {self.device_id!r}, ctr={self.counter},"
            f" envelope={len(self.envelope)} B)"
        )


class IotGateway:
    """Receive sensor frames over MQTT, verify them, forward DCSA events to the carrier.

    Parameters
    ----------
    keys : KeySource
        The gateway SAE's keys from its own KME (``KmeKeySource(kme_client)``).
    uplink : SecureChannel
        Channel from the gateway SAE to the carrier's SAE.
    state : path-like
        SQLite file of devices, counters and dead letters (``":memory:"`` for experiments).
    device_sae : str
        Slave SAE ID for device keys when :meth:`provision` names none.
    deliver : callable, optional
        Receives each envelope for the carrier (HTTP, MQTT, ...); by default envelopes are
        kept in :attr:`outbox`.
    topic_prefix : str
        Device topics are ``<topic_prefix>/<device_id>/<kind>`` (default ``quaykey/iot``).
    key_file : path-like, optional
        Sealing key of the device keys in ``state`` (default ``<state>.key``, made if missing).

    Examples
    --------
    With a running KME and the carrier's channel (``docs/apps.md``)::

        gw = IotGateway(KmeKeySource(kme), SecureChannel(kme, "carrier", state="gw.db"),
                        state="gateway.sqlite", device_sae="iot-fleet")
        cred = gw.provision("reefer-001", equipment_reference="MSKU9070323")
        sensor = ReeferSensor(cred, "MSKU9070323")
        gw.handle(*sensor.frame(now))          # -> ForwardedEvent
    """

    def __init__(
        self,
        keys: KeySource,
        uplink: SecureChannel,
        *,
        state: str | Path,
        device_sae: str,
        deliver: Callable[[bytes], None] | None = None,
        topic_prefix: str = TOPIC_PREFIX,
        key_file: str | Path | None = None,
    ) -> None:
        if not topic_prefix or "+" in topic_prefix or "#" in topic_prefix:
            raise ValueError(
                f"topic_prefix must be a topic without wildcards, got {topic_prefix!r}"
            )
        self.topic_prefix = topic_prefix.rstrip("/")
        self._keys = keys
        self.uplink = uplink
        self.device_sae = device_sae
        self.store = GatewayStore(state, key_file=key_file)
        self.outbox: list[bytes] = []
        self._deliver = deliver or self.outbox.append
        self._device_keys: dict[str, tuple[str, bytes]] = self.store.device_keys()
        self.counters: Counter[str] = Counter()
        self._subscriber: MqttSubscriber | None = None

    def __repr__(self) -> str:
        return f"IotGateway(devices={len(self._device_keys)}, counters={dict(self.counters)})"

    def provision(
        self,
        device_id: str,
        *,
        equipment_reference: str,
        hs_codes: Iterable[str] = (),
        slave_sae: str | None = None,
    ) -> DeviceCredentials:
        """Take a fresh key for a device from the KME and return what to install in it.

        Parameters
        ----------
        device_id : str
            The device's ID (MQTT topic segment).
        equipment_reference : str
            ISO 6346 number of the container the device is fitted to.
        hs_codes : iterable of str
            HS codes of the cargo (the SDK policy may ask a stronger class for them).
        slave_sae : str, optional
            The device's SAE at the KME (default ``device_sae``).

        Raises
        ------
        KmsError
            If the KME refuses (e.g. 503 when it is short of key; nothing is installed).
        ValueError
            If the KME hands out a key ID installed before.
        """
        from quaykey.logistics.identifiers import container_number

        equipment = container_number(equipment_reference, "equipment_reference")
        sae = slave_sae or self.device_sae
        key_id, key = self._keys.take(sae, DEVICE_KEY_BYTES)
        cred = DeviceCredentials(device_id, key_id, key)
        self.store.add_device(device_id, key_id, sae, equipment, tuple(hs_codes), key)
        self._device_keys[device_id] = (key_id, key)
        log.info("provisioned %s with key %s (slave SAE %s)", device_id, key_id, sae)
        return cred

    def handle(self, topic: str, frame: bytes) -> ForwardedEvent | None:
        """Check one frame and forward its event; a refused frame is counted and dead-lettered.

        Returns
        -------
        ForwardedEvent or None
            None when the frame was refused (see :attr:`counters` and :meth:`dead_letters`).
        """
        device_id: str | None = None
        try:
            try:
                device_id = read_header(topic, frame)[0].device_id
            except TelemetryRejectedError:
                device_id = None
            fwd = self.accept(topic, frame)
        except TelemetryRejectedError as exc:
            self.counters[f"rejected.{exc.reason}"] += 1
            row = self.store.dead_letter(topic, device_id, exc.reason, str(exc), frame)
            log.warning("dead letter %d: %s", row, exc)
            return None
        self.counters[f"forwarded.{fwd.kind}"] += 1
        return fwd

    def _opened(self, topic: str, frame: bytes) -> tuple[Any, dict[str, Any], str]:
        if topic.rsplit("/", 2)[0] != self.topic_prefix:
            raise TelemetryRejectedError("malformed", f"topic {topic!r} is not under our prefix")
        header = read_header(topic, frame)[0]
        installed = self._device_keys.get(header.device_id)
        if installed is None or installed[0] != header.key_id:
            raise TelemetryRejectedError(
                "unknown_device",
                f"device {header.device_id!r} with key {header.key_id} is not provisioned here",
            )
        opened = open_frame(topic, frame, installed[1])
        record = self.store.device(header.device_id)
        if record is None or record.key_id != header.key_id:
            raise TelemetryRejectedError("unknown_device", f"{header.device_id!r} not on record")
        return opened, opened.event, record.equipment_reference

    def accept(self, topic: str, frame: bytes) -> ForwardedEvent:
        """Like :meth:`handle`, but raise instead of dead-lettering.

        Raises
        ------
        TelemetryRejectedError
            With ``reason`` one of ``malformed``, ``unknown_device``, ``tampered``,
            ``replayed``, ``invalid``, ``forward_failed``.
        """
        opened, event, equipment = self._opened(topic, frame)
        h = opened.header
        try:
            validate(event, KINDS[h.kind], request_uri=f"/{topic}")
        except DcsaValidationError as exc:
            raise TelemetryRejectedError(
                "invalid", f"frame {h.counter} from {h.device_id!r}: {exc}"
            ) from exc
        if event["payload"].get("equipmentReference") != equipment:
            raise TelemetryRejectedError(
                "invalid", f"{h.device_id!r} reports for another container than {equipment}"
            )
        if not self.store.advance_counter(h.device_id, h.key_id, h.counter):
            raise TelemetryRejectedError(
                "replayed", f"counter {h.counter} of {h.device_id!r} is not above the last accepted"
            )
        record = self.store.device(h.device_id)
        hs_codes = record.hs_codes if record else ()
        try:
            envelope = self.uplink.send(MESSAGE_TYPES[h.kind], frame_payload(event), hs_codes)
        except (KeyExhaustedError, KmsError) as exc:
            raise TelemetryRejectedError("forward_failed", f"no key to the carrier: {exc}") from exc
        self._deliver(envelope)
        return ForwardedEvent(
            h.device_id, h.kind, h.counter, event["metadata"]["eventID"], envelope
        )

    def dead_letters(self, reason: str | None = None) -> list[DeadLetter]:
        """Refused frames with their reasons (optionally only ``reason``)."""
        return self.store.dead_letters(reason)

    # -- MQTT -----------------------------------------------------------------------------

    def listen(self, url: str, client_id: str | None = None) -> IotGateway:
        """Subscribe to every device topic under the prefix on the broker at ``url`` (before
        sensors publish); ``client_id`` is random unless given."""
        if self._subscriber is None:
            topics = f"{self.topic_prefix}/+/+"
            self._subscriber = MqttSubscriber(url, [topics], client_id=client_id)
            log.info("gateway listening on %s (%s)", url, topics)
        return self

    def pump(self, max_frames: int, *, timeout_s: float = 10.0, idle_s: float = 2.0) -> int:
        """Handle frames from the broker until ``max_frames`` arrived, ``timeout_s`` passed or
        nothing came for ``idle_s``; return how many frames were handled."""
        if self._subscriber is None:
            raise RuntimeError("call listen(url) before pump()")
        deadline = time.monotonic() + timeout_s
        handled = 0
        while handled < max_frames and time.monotonic() < deadline:
            got = self._subscriber.get(
                timeout_s=min(idle_s, max(deadline - time.monotonic(), 0.01))
            )
            if got is None:
                break
            self.handle(*got)
            handled += 1
        return handled

    def disconnect(self) -> None:
        """Leave the broker (the state database stays open)."""
        if self._subscriber is not None:
            self._subscriber.close()
            self._subscriber = None

    def close(self) -> None:
        """Leave the broker and close the state database."""
        self.disconnect()
        self.store.close()

    def __enter__(self) -> IotGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def frame_payload(event: dict[str, Any]) -> bytes:
    """The bytes forwarded to the carrier: the event's RFC 8785 canonical JSON."""
    from quaykey.logistics.dcsa.canonical import canonical_json

    return canonical_json(event)
