"""Run a traffic profile's applications over ETSI 014 KMEs: real messages, scaled time, counts.

:class:`AppRunner` drives every flow of a :class:`~quaykey.logistics.traffic.TrafficProfile`
through :class:`~quaykey.logistics.sdk.SecureChannel` pairs (customs CUSDEC/CUSRES, terminal
EDI, DCSA events and reefer telemetry, eBL transfers recorded on a ledger with KME-keyed
one-time MACs), optionally injecting hostile envelopes, and reports per application and
class. ``quaykey apps run`` (``quaykey.cli.apps_run``) starts the KMEs and feeds them.
"""

from __future__ import annotations

from quaykey.logistics.run.attacks import ATTACK_KINDS
from quaykey.logistics.run.config import RunConfig, sae_pair
from quaykey.logistics.run.iot import IOT_ATTACK_KINDS, IotLane, device_sae
from quaykey.logistics.run.payloads import PayloadFactory, sdk_type
from quaykey.logistics.run.runner import IOT_TRANSPORT, AppRunner, TelemetryTransport
from quaykey.logistics.run.stats import ClassStats, CountingKeySource, RunStats, percentiles_ms

__all__ = [
    "ATTACK_KINDS",
    "IOT_ATTACK_KINDS",
    "IOT_TRANSPORT",
    "AppRunner",
    "ClassStats",
    "CountingKeySource",
    "IotLane",
    "PayloadFactory",
    "RunConfig",
    "RunStats",
    "TelemetryTransport",
    "device_sae",
    "percentiles_ms",
    "sae_pair",
    "sdk_type",
]
