"""Sensor frames and the gateway's store, without KMEs or a broker."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest

from quaykey.errors import TelemetryRejectedError
from quaykey.logistics.iot import (
    DeviceCredentials,
    DoorSensor,
    GatewayStore,
    ReeferSensor,
    open_frame,
    parse_mqtt_url,
    seal_frame,
)

AT = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC)


@pytest.fixture
def cred() -> DeviceCredentials:
    return DeviceCredentials("reefer-001", "kid-0001", secrets.token_bytes(32))


def test_round_trip_and_counter_is_the_nonce(cred: DeviceCredentials) -> None:
    sensor = ReeferSensor(cred, "MSKU9070323", setpoint_c=-20.0, seed=3)
    frames = [sensor.frame(AT + dt.timedelta(minutes=k)) for k in range(3)]
    opened = [open_frame(t, f, cred.key) for t, f in frames]
    assert [o.header.counter for o in opened] == [1, 2, 3]
    temps = [o.event["payload"]["measurements"]["temperature"] for o in opened]
    assert all(abs(t + 20.0) < 0.3 * 5 for t in temps)  # 5 sigma of the simulated noise
    assert len({f for _, f in frames}) == 3
    assert b"MSKU9070323" not in frames[0][1]  # the reading is encrypted


def test_every_byte_of_a_frame_is_authenticated(cred: DeviceCredentials) -> None:
    topic, frame = DoorSensor(cred, "MSKU9070323").frame(AT)
    for i in range(len(frame)):
        bad = bytearray(frame)
        bad[i] ^= 0x04
        with pytest.raises(TelemetryRejectedError) as err:
            open_frame(topic, bytes(bad), cred.key)
        assert err.value.reason in {"malformed", "tampered"}


def test_wrong_key_topic_and_truncation_are_refused(cred: DeviceCredentials) -> None:
    topic, frame = DoorSensor(cred, "MSKU9070323").frame(AT)
    with pytest.raises(TelemetryRejectedError, match="tampered"):
        open_frame(topic, frame, secrets.token_bytes(32))
    with pytest.raises(TelemetryRejectedError, match="malformed"):
        open_frame("quaykey/iot/reefer-001/reefer", frame, cred.key)  # another kind's topic
    with pytest.raises(TelemetryRejectedError, match="malformed"):
        open_frame(topic, frame[:20], cred.key)


def test_bad_arguments_name_the_parameter(cred: DeviceCredentials) -> None:
    with pytest.raises(ValueError, match="key must be 32 bytes"):
        DeviceCredentials("d", "k", b"short")
    with pytest.raises(ValueError, match="device_id"):
        DeviceCredentials("a/b", "k", bytes(32))
    with pytest.raises(ValueError, match="counter"):
        seal_frame(cred, "door", 0, {})
    with pytest.raises(ValueError, match="kind"):
        seal_frame(cred, "gps", 1, {})
    with pytest.raises(ValueError, match="url"):
        parse_mqtt_url("tcp://localhost")


def test_key_bytes_never_in_repr(cred: DeviceCredentials) -> None:
    sensor = ReeferSensor(cred, "MSKU9070323")
    shown = repr(cred) + repr(sensor) + repr(open_frame(*sensor.frame(AT), cred.key))
    assert cred.key.hex() not in shown and repr(cred.key) not in shown
    assert "kid-0001" in shown


def test_store_keeps_counters_and_refuses_a_key_id_twice(tmp_path) -> None:
    path = tmp_path / "gw.sqlite"
    s = GatewayStore(path)
    s.add_device("reefer-001", "KID-1", "iot-fleet", "MSKU9070323", ("3004",))
    assert s.advance_counter("reefer-001", "KID-1", 5)
    assert not s.advance_counter("reefer-001", "KID-1", 5)
    assert not s.advance_counter("reefer-001", "other-key", 9)
    s.close()
    s = GatewayStore(path)  # a restart keeps the counter and the used key IDs
    assert s.device("reefer-001").last_counter == 5
    assert s.device("reefer-001").hs_codes == ("3004",)
    with pytest.raises(ValueError, match="already installed"):
        s.add_device("reefer-002", "kid-1", "iot-fleet", "MSKU9070323", ())
    s.add_device("reefer-001", "KID-2", "iot-fleet", "MSKU9070323", ())  # re-provisioned
    assert s.device("reefer-001").last_counter == 0
    assert [d.device_id for d in s.devices()] == ["reefer-001"]
