"""Sensors -> MQTT broker -> gateway -> carrier, with every key from real KMEs over mTLS.

The broker is the embedded amqtt one, and Debian's mosquitto as well when
QUAYKEY_TEST_MQTT_URL is set (``scripts/mqtt-test-broker.sh start``, as ``make test`` does).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sdk_helpers import RecordingKeySource

from conftest import KmsNet, start_net
from quaykey.errors import MasterKeyError
from quaykey.logistics.dcsa import validate
from quaykey.logistics.iot import (
    DeviceCredentials,
    DoorSensor,
    IotGateway,
    MqttPublisher,
    ReeferSensor,
    start_embedded_broker,
)
from quaykey.logistics.sdk import SecureChannel

SAES = {"terminal-gw": "a", "iot-fleet": "a", "carrier": "b"}
PAIRS = [("terminal-gw", "iot-fleet"), ("terminal-gw", "carrier")]
#: Valid ISO 6346 numbers (check digits verified), one per simulated container.
CONTAINERS = ["MSKU9070323", "CSQU3054383", "MSCU1234566", "APZU4812090", "KKFU6671914"]
T0 = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KmsNet]:
    """Gateway and device SAEs at the terminal's KME ``a``, the carrier at ``b``."""
    n = start_net(tmp_path_factory.mktemp("iot-kms"), saes=SAES, pairs=PAIRS)
    for _ in range(8):
        n.feed("a", "b", 1 << 16)
    yield n
    n.close()


@pytest.fixture(params=["amqtt", "mosquitto"])
def broker_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The embedded amqtt broker, then mosquitto when the test harness started one."""
    if request.param == "mosquitto":
        url = os.environ.get("QUAYKEY_TEST_MQTT_URL")
        if not url:
            pytest.skip("QUAYKEY_TEST_MQTT_URL not set (scripts/mqtt-test-broker.sh start)")
        yield url
        return
    with start_embedded_broker("127.0.0.1", 0) as url:
        yield url


class Site:
    """A gateway and the carrier's receiving channel, fresh state per test."""

    def __init__(self, net: KmsNet, tmp: Path) -> None:
        self.seen: list[bytes] = []
        # one topic prefix per test: tests may share one mosquitto (pytest -n 2)
        self.prefix = f"quaykey/iot/test-{secrets.token_hex(4)}"
        gw_kme = net.client("terminal-gw")
        uplink = SecureChannel(gw_kme, "carrier", state=tmp / "gw-uplink.db")
        self.gateway = IotGateway(
            RecordingKeySource(gw_kme, self.seen),
            uplink,
            state=tmp / "gateway.sqlite",
            device_sae="iot-fleet",
            topic_prefix=self.prefix,
        )
        self.carrier = SecureChannel(net.client("carrier"), "terminal-gw", state=tmp / "c.db")

    def provision_reefers(self, n: int) -> list[ReeferSensor]:
        out = []
        for i in range(n):
            box = CONTAINERS[i % len(CONTAINERS)]
            cred = self.gateway.provision(f"reefer-{i:03d}", equipment_reference=box)
            sensor = ReeferSensor(cred, box, setpoint_c=-18.0 + i, seed=i, topic_prefix=self.prefix)
            out.append(sensor)
        return out


@pytest.fixture
def site(net: KmsNet, tmp_path: Path) -> Iterator[Site]:
    s = Site(net, tmp_path)
    yield s
    s.gateway.close()


def test_telemetry_from_sensors_reaches_the_carrier_intact(site: Site, broker_url: str) -> None:
    reefers = site.provision_reefers(5)
    door_cred = site.gateway.provision("door-000", equipment_reference=CONTAINERS[0])
    door = DoorSensor(door_cred, CONTAINERS[0], topic_prefix=site.prefix)
    site.gateway.listen(broker_url)
    sent = []
    with MqttPublisher(broker_url) as pub:
        for k in range(4):
            at = T0 + dt.timedelta(minutes=15 * k)
            for s in reefers:
                event = s.reading(at)
                pub.publish(*s.seal(event))
                sent.append(event)
        door_event = door.frame(T0)
        pub.publish(*door_event)
    assert site.gateway.pump(21, timeout_s=30.0) == 21
    assert site.gateway.counters == {"forwarded.reefer": 20, "forwarded.door": 1}
    got = [site.carrier.receive_message(env) for env in site.gateway.outbox]
    reefer_events = [json.loads(m.payload) for m in got if m.msg_type == "telemetry"]
    for event in reefer_events:
        validate(event, "reeferEvent")  # the DCSA Reefer MEAS schema
    key = {e["metadata"]["eventID"]: e for e in sent}
    assert {e["metadata"]["eventID"]: e for e in reefer_events} == key  # intact, none lost
    assert {m.protection for m in got} == {"aes"}  # the default policy for telemetry and events
    assert [m.msg_type for m in got].count("event") == 1
    assert site.gateway.dead_letters() == []


def test_tampered_replayed_and_unknown_frames_are_dead_lettered(
    site: Site, broker_url: str
) -> None:
    (sensor,) = site.provision_reefers(1)
    site.gateway.listen(broker_url)
    topic, good = sensor.frame(T0)
    tampered = bytearray(sensor.frame(T0 + dt.timedelta(minutes=1))[1])
    tampered[-20] ^= 0x01  # one bit of ciphertext
    stranger = ReeferSensor(
        DeviceCredentials("reefer-999", "no-such-key", bytes(32)),
        CONTAINERS[1],
        topic_prefix=site.prefix,
    )
    forged_key = ReeferSensor(
        DeviceCredentials("reefer-000", sensor.credentials.key_id, secrets.token_bytes(32)),
        CONTAINERS[0],
        topic_prefix=site.prefix,
    )
    forged_key.counter = 100
    frames = [
        (topic, good),
        (topic, bytes(tampered)),
        (topic, good),  # replay
        stranger.frame(T0),  # unknown device
        forged_key.frame(T0),  # right device and key ID, wrong key
        (f"{site.prefix}/reefer-001/reefer", good),  # moved to another device's topic
        sensor.frame(T0 + dt.timedelta(minutes=2)),  # still accepted afterwards
    ]
    with MqttPublisher(broker_url) as pub:
        for t, f in frames:
            pub.publish(t, f)
    assert site.gateway.pump(len(frames), timeout_s=30.0) == len(frames)
    c = site.gateway.counters
    assert c["forwarded.reefer"] == 2
    assert (c["rejected.tampered"], c["rejected.replayed"], c["rejected.unknown_device"]) == (
        2,
        1,
        1,
    )
    assert c["rejected.malformed"] == 1
    letters = site.gateway.dead_letters()
    assert [d.reason for d in letters] == [
        "tampered",
        "replayed",
        "unknown_device",
        "tampered",
        "malformed",
    ]
    assert letters[1].frame == good and letters[2].device_id == "reefer-999"
    assert all(
        m.protection == "aes" for m in map(site.carrier.receive_message, site.gateway.outbox)
    )
    # a frame from outside this gateway's topic prefix (another site on a shared broker)
    assert site.gateway.handle("quaykey/iot/reefer-000/reefer", good) is None
    assert site.gateway.dead_letters()[-1].reason == "malformed"


def test_device_key_ids_never_reused_and_no_key_bytes_in_logs(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reefers = site.provision_reefers(6)
    ids = [s.credentials.key_id for s in reefers]
    assert len(set(ids)) == 6
    with pytest.raises(ValueError, match="already installed"):
        site.gateway.store.add_device("reefer-x", ids[0], "iot-fleet", CONTAINERS[0], ())
    for s in reefers:
        assert site.gateway.handle(*s.frame(T0)) is not None
    site.gateway.handle(*reefers[0].frame(T0)[:1], b"QKT1 junk")
    text = caplog.text + repr(site.gateway) + repr(reefers) + repr(site.gateway.dead_letters())
    assert all(i in caplog.text for i in ids)  # key IDs are logged ...
    keys = [s.credentials.key for s in reefers] + site.seen
    for k in keys:  # ... key bytes never, in any common encoding
        for shown in (k.hex(), k.hex().upper(), base64.b64encode(k).decode(), repr(k)):
            assert shown not in text


def test_strategic_cargo_forwarded_under_one_time_pad(site: Site) -> None:
    cred = site.gateway.provision(
        "reefer-pharma", equipment_reference=CONTAINERS[2], hs_codes=["3004.90"]
    )
    sensor = ReeferSensor(cred, CONTAINERS[2], setpoint_c=5.0, topic_prefix=site.prefix)
    fwd = site.gateway.handle(*sensor.frame(T0))
    assert fwd is not None
    assert site.carrier.receive_message(fwd.envelope).protection == "otp"


def test_a_sensor_reporting_for_another_container_is_refused(site: Site) -> None:
    (sensor,) = site.provision_reefers(1)
    sensor.equipment_reference = CONTAINERS[3]
    assert site.gateway.handle(*sensor.frame(T0)) is None
    assert [d.reason for d in site.gateway.dead_letters()] == ["invalid"]


def test_a_restarted_gateway_keeps_its_device_keys_sealed(
    net: KmsNet, site: Site, tmp_path: Path
) -> None:
    reefers = site.provision_reefers(3)
    first = reefers[0].frame(T0)
    assert site.gateway.handle(*first) is not None
    site.gateway.close()
    state = tmp_path / "gateway.sqlite"
    raw = state.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("gateway.sqlite-*"))
    for s in reefers:  # the state file holds the key IDs, never the key bytes in clear
        assert s.credentials.key_id.encode() in raw
        assert s.credentials.key not in raw and s.credentials.key.hex().encode() not in raw
    uplink = SecureChannel(net.client("terminal-gw"), "carrier", state=tmp_path / "gw-uplink.db")
    again = IotGateway(
        RecordingKeySource(net.client("terminal-gw"), site.seen),
        uplink,
        state=state,
        device_sae="iot-fleet",
        topic_prefix=site.prefix,
    )
    site.gateway = again  # the fixture closes it
    for s in reefers:  # every device is still known after the restart, with no new key
        assert again.handle(*s.frame(T0 + dt.timedelta(minutes=5))) is not None
    assert again.handle(*first) is None  # the counters were kept too ...
    assert again.dead_letters()[-1].reason == "replayed"  # ... the old frame is a replay
    (tmp_path / "gateway.sqlite.key").write_text(secrets.token_hex(32) + "\n")
    again.close()
    with pytest.raises(MasterKeyError):  # another sealing key opens nothing
        IotGateway(
            RecordingKeySource(net.client("terminal-gw"), site.seen),
            uplink,
            state=state,
            device_sae="iot-fleet",
            topic_prefix=site.prefix,
        )
