"""The reliability campaign: attacks, faults and load, each figure held to what theory says.

``quaykey campaign run`` runs the scenarios of :data:`SCENARIOS` and prints one line per
figure: the count behind it, the value, the expectation and whether it held
(:mod:`quaykey.campaign.findings`). ``--size short`` is the version the test suite runs;
``--size full`` (``make campaign``) is the one ``docs/reliability.md`` reports.

Scenarios (module: what it attacks or breaks):

* :mod:`~quaykey.campaign.link_attacks`: honest blocks at the design QBER; intercept-resend
  from 0 to 100 % of pulses; photon-number splitting against decoy and non-decoy links; a man
  in the middle on the classical channel;
* :mod:`~quaykey.campaign.relay_attacks`: a compromised trusted node, single path and
  multipath;
* :mod:`~quaykey.campaign.satellite_cloud`: a satellite pass lost to cloud, in the network
  simulation;
* :mod:`~quaykey.campaign.kms_faults`: KME kill -9 inside relays; a partition between KMEs;
* :mod:`~quaykey.campaign.kms_abuse`: replayed ETSI requests; a full disk under the audit log;
* :mod:`~quaykey.campaign.kms_outages`: a fibre cut (the link key runs out); PostgreSQL
  restarted mid-load;
* :mod:`~quaykey.campaign.app_load`: the applications at twice the ``shanghai-day`` peak with
  hostile envelopes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from quaykey.campaign.app_load import app_load
from quaykey.campaign.findings import CampaignReport, Finding, ScenarioResult
from quaykey.campaign.kms_abuse import audit_disk_full, replay_etsi
from quaykey.campaign.kms_faults import kill_during_relay, partition
from quaykey.campaign.kms_outages import link_cut, postgres_restart
from quaykey.campaign.link_attacks import (
    honest_blocks,
    intercept_resend_sweep,
    man_in_the_middle,
    photon_number_splitting,
)
from quaykey.campaign.relay_attacks import compromised_node
from quaykey.campaign.satellite_cloud import cloud_pass

__all__ = ["SCENARIOS", "SIZES", "CampaignReport", "Finding", "ScenarioResult", "run_campaign"]

Scenario = Callable[[str, int, Callable[[str], None]], ScenarioResult]

#: Scenario name -> function ``(size, seed, progress) -> ScenarioResult``, in run order.
SCENARIOS: dict[str, Scenario] = {
    "honest": honest_blocks,
    "intercept-resend": intercept_resend_sweep,
    "pns": photon_number_splitting,
    "mitm": man_in_the_middle,
    "compromised-node": compromised_node,
    "cloud": cloud_pass,
    "replay-etsi": replay_etsi,
    "partition": partition,
    "fibre-cut": link_cut,
    "disk-full": audit_disk_full,
    "kill-9": kill_during_relay,
    "postgres-restart": postgres_restart,
    "load": app_load,
}
SIZES = ("short", "full")


def run_campaign(
    names: Sequence[str],
    size: str,
    seed: int,
    command: str,
    progress: Callable[[str], None] = lambda _msg: None,
) -> CampaignReport:
    """Run the scenarios ``names`` (all when empty) at ``size``; every figure in the report.

    Raises
    ------
    ValueError
        An unknown scenario name or size, naming ``--only`` or ``--size``.
    """
    if size not in SIZES:
        raise ValueError(f"--size must be one of {', '.join(SIZES)}, got {size!r}")
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ValueError(
            f"--only: unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    report = CampaignReport(size=size, seed=seed, command=command)
    for name in names or list(SCENARIOS):
        t0 = time.perf_counter()
        result = SCENARIOS[name](size, seed, progress)
        result.seconds = round(time.perf_counter() - t0, 1)
        report.scenarios.append(result)
    return report
