"""Secure IoT sensors: reefer telemetry and door events over MQTT, per-device QKD keys.

Sensors (:class:`ReeferSensor`, :class:`DoorSensor`) seal DCSA events with AES-256-GCM
under a key the terminal's gateway took from its KME over ETSI GS QKD 014 at provisioning
(:meth:`IotGateway.provision`), and publish them to an MQTT broker (embedded amqtt:
:func:`start_embedded_broker`, or any broker by ``mqtt://host:port``). The gateway refuses
tampered, replayed, unknown-device and invalid frames (counted, kept in a SQLite
dead-letter table) and forwards the rest to the carrier with the secure-messaging SDK.
"""

from __future__ import annotations

from quaykey.errors import TELEMETRY_REJECT_REASONS, TelemetryRejectedError
from quaykey.logistics.iot.device import (
    DEVICE_KEY_BYTES,
    TOPIC_FILTER,
    TOPIC_PREFIX,
    DeviceCredentials,
    DoorSensor,
    FrameHeader,
    OpenedFrame,
    ReeferSensor,
    device_topic,
    open_frame,
    seal_frame,
)
from quaykey.logistics.iot.gateway import MESSAGE_TYPES, ForwardedEvent, IotGateway
from quaykey.logistics.iot.mqtt import (
    MqttPublisher,
    MqttSubscriber,
    parse_mqtt_url,
    start_embedded_broker,
)
from quaykey.logistics.iot.store import DeadLetter, DeviceRecord, GatewayStore

__all__ = [
    "DEVICE_KEY_BYTES",
    "MESSAGE_TYPES",
    "TELEMETRY_REJECT_REASONS",
    "TOPIC_FILTER",
    "TOPIC_PREFIX",
    "DeadLetter",
    "DeviceCredentials",
    "DeviceRecord",
    "DoorSensor",
    "ForwardedEvent",
    "FrameHeader",
    "GatewayStore",
    "IotGateway",
    "MqttPublisher",
    "MqttSubscriber",
    "OpenedFrame",
    "ReeferSensor",
    "TelemetryRejectedError",
    "device_topic",
    "open_frame",
    "parse_mqtt_url",
    "seal_frame",
    "start_embedded_broker",
]
