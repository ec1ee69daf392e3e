"""Application scenario: twice the ``shanghai-day`` peak through real KMEs, under attack.

The port and customs applications (:class:`quaykey.logistics.run.AppRunner`) send the
``shanghai-day`` profile's traffic from its busiest hour (20:00, the vessel-call peak) at
twice real time, through KMEs on a three-node chain ``a -- m -- b`` (HTTPS with mutual TLS,
SQLite): sites in Beijing at ``b``, every other site at ``a``, so that Shanghai–Beijing
traffic crosses the middle KME by relay. One hostile envelope follows every 25 messages
(tampered, replayed, reordered, wrongly keyed, in turn). Link key is deposited up front as
identical random bytes at both ends of each link: this scenario loads the KMEs and the
applications, not the QKD links (the links' own rate is what ``quaykey apps budget`` and
``docs/apps.md`` are about).

Held to: no server error, every hostile envelope rejected, no key ID used twice, p99
end-to-end latency reported per class.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from quaykey.campaign.findings import ScenarioResult
from quaykey.campaign.kms_faults import _workdir, add_twice, check_chains
from quaykey.kms.lab import KmeLab
from quaykey.logistics.profiles import load_profile
from quaykey.logistics.run import AppRunner, RunConfig
from quaykey.logistics.run.config import sae_pair

__all__ = ["LOAD_SPEED", "app_load"]

Progress = Callable[[str], None]

#: Profile seconds per wall second: twice the profile's rate.
LOAD_SPEED = 2.0
#: Wall seconds of load per size (10 minutes in full).
_WALL_S = {"short": 20.0, "full": 600.0}
_PEAK_START_S = 20 * 3600.0
_LINK_BYTES = {"short": 8 << 20, "full": 192 << 20}


def _node(site: str) -> str:
    return "b" if "beijing" in site else "a"


def app_load(size: str, seed: int, progress: Progress) -> ScenarioResult:
    """Run the applications at twice the peak with hostile envelopes mixed in."""
    wall_s = _WALL_S[size]
    profile = load_profile("shanghai-day")
    pairs = sorted({sae_pair(e.src, e.dst) for f in profile.flows for e in f.endpoints})
    saes = {s: _node(s) for p in pairs for s in p}
    res = ScenarioResult("load", "Twice the shanghai-day peak, with hostile envelopes")
    res.settings = {
        "profile": profile.name,
        "start": "20:00",
        "speed": LOAD_SPEED,
        "wall_s": wall_s,
        "attack_every": 25,
        "saes": len(saes),
    }
    with _workdir() as root:
        lab = KmeLab(root / "kms", ("a", "m", "b"), (("a", "m"), ("m", "b")), saes, pairs)
        try:
            _deposit(lab, _LINK_BYTES[size])
            clients = {s: lab.client(s) for s in saes}
            config = RunConfig(
                minutes=wall_s * LOAD_SPEED / 60.0,
                speed=LOAD_SPEED,
                start_s=_PEAK_START_S,
                seed=seed,
                attack_every=25,
            )
            runner = AppRunner(profile, clients, root / "apps", config, telemetry_transport=None)
            t0 = time.monotonic()
            try:
                report = runner.run(lambda t: progress(f"load: profile second {t:.0f}"))
            finally:
                runner.close()
            wall = time.monotonic() - t0
        finally:
            lab.close()
        chains = check_chains(lab)
    _findings(res, report, wall, chains)
    return res


def _deposit(lab: KmeLab, n_bytes: int) -> None:
    for u, v in (("a", "m"), ("m", "b")):
        for i in range(max(1, n_bytes >> 20)):
            material = secrets.token_bytes(min(n_bytes, 1 << 20))
            lab.kmes[u].service.deposit_link_key(v, f"load-{u}{v}-{i}", material)
            lab.kmes[v].service.deposit_link_key(u, f"load-{u}{v}-{i}", material)


def _findings(
    res: ScenarioResult, report: dict[str, Any], wall: float, chains: dict[str, int]
) -> None:
    sent = received = rejected = 0
    worst_p99 = 0.0
    for app, classes in report["applications"].items():
        for cls, st in classes.items():
            sent += st["sent"]
            received += st["received"]
            rejected += st["rejected"]
            if st.get("p99_ms") is not None:
                worst_p99 = max(worst_p99, float(st["p99_ms"]))
                res.settings[f"p99_ms {app}/{cls}"] = st["p99_ms"]
    attacks = report["attacks"]
    injected = sum(a["injected"] for a in attacks.values())
    accepted = sum(a["accepted"] for a in attacks.values())
    res.settings["messages_per_s"] = round(sent / wall, 1) if wall else 0.0
    res.add("messages sent at twice the peak", sent, "> 0", sent > 0, sent)
    res.add("honest messages rejected", rejected, "0", rejected == 0, sent)
    res.add("hostile envelopes accepted", accepted, "0", accepted == 0, injected)
    key = report["key_consumed"]
    twice = key["keys"] - key["distinct_key_ids"]
    res.add("key IDs used twice by the applications", twice, "0", twice == 0, key["keys"])
    add_twice(res, chains, key["keys"], "key IDs delivered twice by the KMEs")
    res.add(
        "worst p99 end-to-end latency of a class (ms)",
        round(worst_p99, 1),
        "reported",
        True,
        received,
    )
