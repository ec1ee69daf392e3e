"""MQTT transport for the IoT sensors: an embedded amqtt broker and blocking clients.

amqtt (PyPI ``amqtt``, MIT) is asyncio-native; each object here runs its own event loop in
a daemon thread so that sensors, the gateway and tests can stay synchronous. Any MQTT
3.1.1 broker reachable by URL works the same way (``mqtt://host:port``), Debian's
``mosquitto`` included.

Examples
--------
>>> with start_embedded_broker("127.0.0.1", 0) as url:
...     with MqttSubscriber(url, ["demo/#"]) as sub, MqttPublisher(url) as pub:
...         pub.publish("demo/1", b"hello")
...         sub.get(timeout_s=5.0)
('demo/1', b'hello')
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import uuid
import warnings
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

__all__ = ["MqttPublisher", "MqttSubscriber", "parse_mqtt_url", "start_embedded_broker"]

log = logging.getLogger("quaykey.logistics.iot")

T = TypeVar("T")

#: Quality of service used for telemetry: at least once (MQTT 3.1.1 Sec. 4.3.2); the
#: gateway's per-device counter turns duplicates into counted replays.
QOS_AT_LEAST_ONCE = 1


def parse_mqtt_url(url: str) -> tuple[str, int]:
    """Host and port of an ``mqtt://host:port`` URL.

    Examples
    --------
    >>> parse_mqtt_url("mqtt://127.0.0.1:1883")
    ('127.0.0.1', 1883)
    >>> parse_mqtt_url("http://x:1")
    Traceback (most recent call last):
    ...
    ValueError: url must look like mqtt://host:port, got 'http://x:1'
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "mqtt" or not parts.hostname or port is None:
        raise ValueError(f"url must look like mqtt://host:port, got {url!r}")
    return parts.hostname, port


class _Loop:
    """An asyncio event loop in a daemon thread; ``run`` waits for a coroutine's result."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5.0)
        if not self._thread.is_alive():
            self.loop.close()


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def start_embedded_broker(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run an amqtt MQTT broker in this process; yield its ``mqtt://host:port`` URL.

    Parameters
    ----------
    host : str
        Address to listen on (loopback by default).
    port : int
        TCP port; 0 picks a free one.

    Anonymous clients are allowed and topics are not checked: the broker is a transport,
    authentication is end to end (each frame carries its device's AES-GCM tag).
    """
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be in [0, 65535], got {port}")
    from amqtt.broker import Broker

    port = port or _free_port(host)
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 0}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    runner = _Loop("amqtt-broker")

    async def _start() -> Broker:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            broker = Broker(config)
            await broker.start()
        return broker

    try:
        broker = runner.run(_start())
    except BaseException:
        runner.stop()
        raise
    url = f"mqtt://{host}:{port}"
    log.info("embedded MQTT broker on %s", url)
    try:
        yield url
    finally:
        with contextlib.suppress(Exception):
            runner.run(broker.shutdown(), timeout_s=10.0)
        runner.stop()


class _Client:
    """One connected amqtt client with its own loop thread."""

    def __init__(self, url: str, client_id: str | None = None) -> None:
        parse_mqtt_url(url)
        from amqtt.client import MQTTClient

        self.url = url
        self._loop = _Loop("mqtt-client")
        cid = client_id or f"quaykey-{uuid.uuid4().hex[:12]}"
        config = {"auto_reconnect": False, "default_qos": QOS_AT_LEAST_ONCE}

        async def _connect() -> MQTTClient:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                client = MQTTClient(client_id=cid, config=config)
                await client.connect(url)
            return client

        try:
            self._client = self._loop.run(_connect())
        except BaseException:
            self._loop.stop()
            raise

    def close(self) -> None:
        """Disconnect and stop the loop thread."""
        with contextlib.suppress(Exception):
            self._loop.run(self._client.disconnect(), timeout_s=5.0)
        self._loop.stop()


class MqttPublisher(_Client):
    """Publish byte payloads to an MQTT broker (QoS 1).

    Parameters
    ----------
    url : str
        ``mqtt://host:port``.
    client_id : str, optional
        MQTT client identifier (random by default).
    """

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish ``payload`` on ``topic`` and wait for the broker's PUBACK."""
        self._loop.run(self._client.publish(topic, payload, qos=QOS_AT_LEAST_ONCE))

    def __enter__(self) -> MqttPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MqttSubscriber(_Client):
    """Receive messages on topic filters from an MQTT broker (QoS 1).

    Parameters
    ----------
    url : str
        ``mqtt://host:port``.
    topics : list of str
        Topic filters (``+`` and ``#`` wildcards allowed).
    client_id : str, optional
        MQTT client identifier (random by default).
    """

    def __init__(self, url: str, topics: list[str], client_id: str | None = None) -> None:
        if not topics:
            raise ValueError("topics must name at least one topic filter")
        super().__init__(url, client_id)
        try:
            self._loop.run(self._client.subscribe([(t, QOS_AT_LEAST_ONCE) for t in topics]))
        except BaseException:
            self.close()
            raise

    def get(self, timeout_s: float = 1.0) -> tuple[str, bytes] | None:
        """The next ``(topic, payload)``, or None when nothing arrives within ``timeout_s``."""

        async def _next() -> tuple[str, bytes] | None:
            try:
                msg = await self._client.deliver_message(timeout_duration=timeout_s)
            except TimeoutError:
                return None
            if msg is None:
                return None
            return msg.topic, bytes(msg.data or b"")

        return self._loop.run(_next(), timeout_s=timeout_s + 30.0)

    def __enter__(self) -> MqttSubscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
