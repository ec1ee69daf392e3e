"""Link key for ``quaykey apps run``: the KME chain's QKD links and the blocks that feed them.

* :func:`chain_topology`: the stand-in chain (Shanghai -- Hefei -- Beijing, 20 km fibre each,
  the backbone preset at 10 MHz), fed with *exact* blocks (sampled photons, real
  post-processing, two keys computed by the two parties).
* :func:`trunk_route`: a preset network's route between two sites (``beijing-shanghai``:
  the Shanghai port to Beijing customs, 33 hops), its links as the preset has them, fed with
  *statistical* blocks.
* :class:`LinkFeeder` runs consecutive blocks of each link through the link-block seam
  (:class:`quaykey.network.links.runner.LinkRunner`, :func:`~quaykey.network.links.runner.
  make_block`) and deposits each end's key in that end's KME
  (:func:`quaykey.kms.feed.link_key_sink`).
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from quaykey.cli.apps_sites import CHAIN
from quaykey.kms.feed import link_key_sink
from quaykey.network.handoff import key_bytes
from quaykey.network.links.block import Fidelity
from quaykey.network.links.runner import LinkRunner, make_block
from quaykey.network.topology import Topology, topology_from_dict

if TYPE_CHECKING:
    from quaykey.cli.apps_run import KmeLab

__all__ = ["ExactFeeder", "LinkFeeder", "chain_topology", "trunk_route"]

_COORDS = {
    "ningbo": (29.868, 121.544),
    "shanghai": (31.23, 121.47),
    "hefei": (31.82, 117.23),
    "beijing": (39.90, 116.40),
}


def chain_topology(
    chain: tuple[str, ...] = CHAIN, length_km: float = 20.0, repetition_rate_hz: float = 1e7
) -> Topology:
    """``chain`` (default Shanghai -- Hefei -- Beijing) as fibre links of ``length_km`` each.

    The links are short stand-ins (the real trunk has 33 hops): what matters here is that
    the key bytes are real post-processed key and that Shanghai -- Beijing needs a relay.
    """
    return topology_from_dict({
        "name": "apps-chain",
        "defaults": {"preset": "backbone",
                     "overrides": {"source.repetition_rate_hz": repetition_rate_hz}},
        "nodes": [{"name": n, "lat_deg": _COORDS[n][0], "lon_deg": _COORDS[n][1]} for n in chain],
        "links": [{"a": a, "b": b, "length_km": length_km} for a, b in itertools.pairwise(chain)],
    })  # fmt: skip


class LinkFeeder:
    """Link blocks of ``topology`` into the KMEs, in step with the run's scaled time.

    ``exact`` blocks hand each end the key its party computed. ``statistical`` blocks give
    only the amount of key the link's model makes (no photons, no post-processing): each
    block's ``key_bits // 8`` bytes are fresh random bytes from the OS, the same deposited at
    both ends, standing in for that key.

    Parameters
    ----------
    topology : Topology
        Its links' ends are KME nodes.
    lab : KmeLab
        The KMEs.
    block_s : float
        Link seconds per block.
    seed : int
        Seed of the blocks' randomness.
    fidelity : str
        ``exact`` or ``statistical`` (:func:`quaykey.network.links.runner.make_block`).
    """

    def __init__(
        self,
        topology: Topology,
        lab: KmeLab,
        block_s: float,
        seed: int,
        fidelity: Fidelity = "exact",
    ) -> None:
        if fidelity not in ("exact", "statistical"):
            raise ValueError(f"fidelity must be 'exact' or 'statistical', got {fidelity!r}")
        rng = np.random.default_rng(seed)
        self.block_s = block_s
        self.fidelity = fidelity
        self.runners = [
            LinkRunner(link.name, link.params(), make_block(fidelity), block_s,
                       np.random.default_rng(rng.integers(2**63)))
            for link in topology.links
        ]  # fmt: skip
        self.ends = {link.name: (link.a, link.b) for link in topology.links}
        self.sink = link_key_sink({n: k.service for n, k in lab.kmes.items()})
        self.link_s = 0.0
        self.compute_s = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def step(self) -> None:
        """One block on every link; each end's key into its own KME."""
        with self._lock:
            t0 = time.perf_counter()
            for r in self.runners:
                out = r.run_block()
                a, b = self.ends[r.name]
                if out.keys is not None:
                    ka, kb = key_bytes(out.keys[0]), key_bytes(out.keys[1])
                elif self.fidelity == "statistical" and not out.aborted:
                    ka = kb = secrets.token_bytes(out.key_bits // 8)
                else:
                    continue
                if ka:
                    self.sink(r.name, a, b, f"{r.name}/{r.blocks}", ka)
                    self.sink(r.name, b, a, f"{r.name}/{r.blocks}", kb)
            self.link_s += self.block_s
            self.compute_s += time.perf_counter() - t0

    def prefill(self, link_s: float) -> None:
        """Blocks covering ``link_s`` link seconds, as fast as the machine runs them."""
        for _ in range(int(np.ceil(link_s / self.block_s - 1e-9))):
            self.step()

    def start(self, speed: float) -> None:
        """Run blocks in a thread, one per ``block_s / speed`` wall seconds (or slower)."""

        def loop() -> None:
            next_due = time.monotonic() + self.block_s / speed
            while not self._stop.wait(max(0.0, next_due - time.monotonic())):
                self.step()
                next_due += self.block_s / speed

        self._thread = threading.Thread(target=loop, name="exact-feeder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the block in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def report(self) -> dict[str, Any]:
        """Link seconds run, compute seconds, and bytes deposited per link end."""
        c = self.sink.counters
        per_link: dict[str, int] = {}
        for (link, _node), n in c.deposited_bytes.items():
            per_link[link] = n  # both ends hold the same amount
        return {
            "fidelity": self.fidelity,
            "block_s": self.block_s,
            "link_s": self.link_s,
            "compute_s": round(self.compute_s, 3),
            "delivered_bytes": per_link,
            "rate_bps": {k: round(8 * v / self.link_s, 1) if self.link_s else 0.0
                         for k, v in per_link.items()},
        }  # fmt: skip


class ExactFeeder(LinkFeeder):
    """:class:`LinkFeeder` of exact blocks (the short chain's and the benchmarks' feed)."""

    def __init__(self, topology: Topology, lab: KmeLab, block_s: float, seed: int) -> None:
        super().__init__(topology, lab, block_s, seed, "exact")


def trunk_route(
    src: str, dst: str, network: str = "beijing-shanghai"
) -> tuple[Topology, dict[str, Any]]:
    """The preset ``network``'s route from site ``src`` to site ``dst`` as a chain topology,
    and the route's plan (capacity, hops, limiting links).

    The route is the one ``quaykey apps budget`` and ``quaykey network plan --route`` use
    (:func:`quaykey.cli.apps.route_capacity`): for ``sipg-ops`` -> ``customs-hq-beijing`` on
    ``beijing-shanghai``, 33 hops over the trunk's trusted nodes, its links with their real
    lengths and presets; its nodes are the route's, in order.
    """
    from quaykey.cli.apps import route_capacity
    from quaykey.network.presets import load_preset_topology

    full = load_preset_topology(network)
    plan = route_capacity(full, src, dst)
    (path, *_) = plan["paths"]
    nodes = tuple(full.node(n) for n in path)
    plan = {"network": network, "src": src, "dst": dst} | {
        k: plan[k] for k in ("capacity_bps", "hops", "limiting_links")
    }
    return Topology(f"{network}:{src}:{dst}", nodes, tuple(full.path_links(path))), plan
