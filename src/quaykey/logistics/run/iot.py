"""Telemetry of a run over the IoT path: sensor -> MQTT -> the terminal's gateway -> SDK.

For each directed pair of sites that carries telemetry (reefer readings, door events) the
source site runs an :class:`~quaykey.logistics.iot.IotGateway` as its own SAE: device keys
are provisioned from the site's KME over ETSI GS QKD 014 (slave SAE :func:`device_sae`, at
the same KME), sensors publish sealed frames to the MQTT broker, and the gateway forwards
each accepted event over the run's SDK channel of that pair (so the receiver's channel sees
one ordered stream). Hostile frames (tampered, replayed, unknown device) can be injected.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from quaykey.logistics.iot import (
    DeviceCredentials,
    DoorSensor,
    IotGateway,
    MqttPublisher,
    ReeferSensor,
)
from quaykey.logistics.sdk import KeySource, SecureChannel

__all__ = ["EQUIPMENT", "IOT_ATTACK_KINDS", "IotLane", "device_sae", "iot_report", "is_door"]

#: Hostile MQTT frames, injected in turn, and the gateway's reason for each.
IOT_ATTACK_KINDS = {
    "mqtt_tampered": "tampered",
    "mqtt_replayed": "replayed",
    "mqtt_unknown_device": "unknown_device",
}

#: The container the run's sensors are fitted to (ISO 6346, check digit valid).
EQUIPMENT = "MSKU9070323"


def device_sae(site: str) -> str:
    """The SAE ID a site's sensors get their keys for (slave of the site's gateway).

    Examples
    --------
    >>> device_sae("yangshan-terminal")
    'yangshan-terminal-sensors'
    """
    return f"{site}-sensors"


def is_door(message_type: str) -> bool:
    """Whether a profile message type is a door event (DCSA IoT), not a reefer reading.

    Examples
    --------
    >>> is_door("DCSA IoT DETC"), is_door("DCSA Reefer MEAS")
    (True, False)
    """
    return "IoT" in message_type or "door" in message_type.lower()


class IotLane:
    """One site's gateway and sensors, forwarding over the SDK channel ``uplink``.

    Parameters
    ----------
    url : str
        MQTT broker (``mqtt://host:port``).
    keys : KeySource
        The gateway SAE's keys from its KME (device keys are drawn from it).
    uplink : SecureChannel
        The run's channel from the gateway's site to the receiving site.
    state : Path
        The gateway's SQLite file.

    Sensors are provisioned on first use, one per kind (``reefer``, ``door``) and cargo HS
    codes (the SDK policy classifies the forwarded event by the device's codes).
    """

    def __init__(self, url: str, keys: KeySource, uplink: SecureChannel, state: Path) -> None:
        src = uplink.sae_id
        self._out: list[bytes] = []
        self.prefix = f"quaykey/iot/{src}--{uplink.peer}"
        self.gateway = IotGateway(keys, uplink, state=state, device_sae=device_sae(src),
                                  deliver=self._out.append, topic_prefix=self.prefix)  # fmt: skip
        self.sensors: dict[tuple[str, tuple[str, ...]], ReeferSensor | DoorSensor] = {}
        self._last: tuple[str, bytes] | None = None
        self.lost = 0
        self.gateway.listen(url)
        self._pub = MqttPublisher(url)

    def _through(self, topic: str, frame: bytes) -> bytes | None:
        """Publish one frame, let the gateway handle it, return what it forwarded (or None)."""
        self._pub.publish(topic, frame)
        if self.gateway.pump(1, timeout_s=10.0, idle_s=10.0) == 0:
            self.lost += 1
            return None
        return self._out.pop() if self._out else None

    def sensor(self, kind: str, hs_codes: tuple[str, ...] = ()) -> ReeferSensor | DoorSensor:
        """The sensor of ``kind`` on cargo ``hs_codes``, provisioned from the KME on first use."""
        got = self.sensors.get((kind, hs_codes))
        if got is None:
            device_id = f"{kind}-{len(self.sensors) + 1:03d}"
            cred = self.gateway.provision(device_id, equipment_reference=EQUIPMENT,
                                          hs_codes=hs_codes)  # fmt: skip
            cls = DoorSensor if kind == "door" else ReeferSensor
            got = self.sensors[(kind, hs_codes)] = cls(cred, EQUIPMENT, topic_prefix=self.prefix)
        return got

    def carry(
        self, message_type: str, at: dt.datetime, hs_codes: tuple[str, ...] = ()
    ) -> bytes | None:
        """A sensor reports at ``at``; return the envelope the gateway sent, or None if refused."""
        sensor = self.sensor("door" if is_door(message_type) else "reefer", hs_codes)
        topic, frame = sensor.frame(at)
        self._last = (topic, frame)
        return self._through(topic, frame)

    def attack(self, kind: str, at: dt.datetime) -> bool:
        """Inject one hostile frame of ``kind`` (:data:`IOT_ATTACK_KINDS`); True if forwarded.

        ``mqtt_tampered`` flips one ciphertext byte of a fresh frame (the sensor's counter
        advances, as a frame altered on the way would), ``mqtt_replayed`` publishes the last
        genuine frame again, ``mqtt_unknown_device`` seals a frame under a key no KME issued.
        """
        if kind == "mqtt_tampered":
            topic, frame = self.sensor("reefer").frame(at)
            frame = frame[:-20] + bytes([frame[-20] ^ 0x01]) + frame[-19:]
        elif kind == "mqtt_replayed":
            if self._last is None:
                topic, frame = self.sensor("reefer").frame(at)
                self._through(topic, frame)  # a genuine frame first, to have one to replay
                self._last = (topic, frame)
            topic, frame = self._last
        elif kind == "mqtt_unknown_device":
            rogue = DeviceCredentials("rogue-001", "00000000-0000-4000-8000-000000000000",
                                      os.urandom(32))  # fmt: skip
            topic, frame = ReeferSensor(rogue, EQUIPMENT, topic_prefix=self.prefix).frame(at)
        else:
            raise ValueError(f"kind must be one of {sorted(IOT_ATTACK_KINDS)}, got {kind!r}")
        return self._through(topic, frame) is not None

    def counters(self) -> Counter[str]:
        """The gateway's counters (``forwarded.<kind>``, ``rejected.<reason>``)."""
        return Counter(self.gateway.counters)

    def dead_letters(self) -> int:
        """How many frames the gateway dead-lettered."""
        return len(self.gateway.dead_letters())

    def close(self) -> None:
        """Leave the broker and close the gateway's state."""
        self._pub.close()
        self.gateway.close()


def iot_report(url: str | None, lanes: Mapping[tuple[str, str], IotLane]) -> dict[str, Any]:
    """The IoT counters of a run: frames accepted, rejected by reason, dead letters."""
    total: Counter[str] = Counter()
    for lane in lanes.values():
        total.update(lane.counters())
    rejected = {
        k.split(".", 1)[1]: n for k, n in sorted(total.items()) if k.startswith("rejected.")
    }
    return {
        "broker": url,
        "gateways": sorted(f"{a}->{b}" for a, b in lanes),
        "frames_accepted": sum(n for k, n in total.items() if k.startswith("forwarded.")),
        "accepted_by_kind": {k.split(".", 1)[1]: n for k, n in sorted(total.items())
                             if k.startswith("forwarded.")},
        "rejected": rejected,
        "dead_letters": sum(lane.dead_letters() for lane in lanes.values()),
        "lost": sum(lane.lost for lane in lanes.values()),
    }  # fmt: skip
