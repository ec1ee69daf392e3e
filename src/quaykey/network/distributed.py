"""Network studies over dask.distributed: link blocks, sweep points and cuts as tasks.

A run's fibre links are independent of each other until their key reaches the pools, and
every block draws from its own seed (:func:`quaykey.network.links.runner.block_rng`, keyed
by link name and block index, never by worker). So the blocks of a simulation can be
computed anywhere, in any order, and replayed into the SimPy run
(:class:`~quaykey.network.sim.NetworkSimulation`, each runner's block replaced by the
outcomes computed for it) with the same result
as computing them in place:

1. :func:`link_jobs` lists, for each fibre link, the blocks the run will ask for and the
   attack each one meets (cuts and eavesdroppers are known before the run starts);
2. :func:`run_link_job` runs one link's blocks in order on a worker (the blocks of one
   link share the authentication pools of exact fidelity, so they stay in one task);
3. :func:`simulate` replays the outcomes through the simulation.

:func:`open_client` gives a ``distributed.Client``: an existing cluster's scheduler
(``tcp://HOST:8786``), a ``LocalCluster`` of worker processes on this machine, or none
(``workers=1``: everything runs in this process). :func:`map_tasks` runs a module-level
function over a list of items on whichever of the three it is given and returns the
results in the items' order. Every function sent to a worker is a module-level function
of this package, importable by the worker processes.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from quaykey.network.cost import block_cost_s
from quaykey.network.links.block import Attack, BlockOutcome, BlockWindow, Fidelity, LossProfile
from quaykey.network.links.runner import LinkRunner, make_block
from quaykey.network.links.statistical import link_model
from quaykey.network.report import SimulationReport
from quaykey.network.sim import KeySink, NetworkSimulation, PassKey, SimulationConfig
from quaykey.network.topology import Topology
from quaykey.physics.params import LinkParams

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "WORKER_CONFIG",
    "LinkJob",
    "LinkJobResult",
    "link_jobs",
    "map_tasks",
    "open_client",
    "run_link_job",
    "simulate",
    "warm_up",
]

#: Dask settings of the local cluster's workers. No statistical profiler sampling their
#: threads every 10 ms; and no ``MALLOC_TRIM_THRESHOLD_``, which dask sets by default and
#: which turns off glibc's adaptive mmap threshold: every large numpy array of a block was
#: then mapped and zeroed afresh, +60-70 % CPU per exact block (benchmarks/scaling.py).
WORKER_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.nanny.pre-spawn-environ": {
        "OMP_NUM_THREADS": 1,
        "MKL_NUM_THREADS": 1,
        "OPENBLAS_NUM_THREADS": 1,
    },
}

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class LinkJob:
    """The blocks of one fibre link in one run: one task.

    Attributes
    ----------
    name, params
        The link.
    fidelity, block_duration_s, seed
        The run's settings.
    attacks
        One entry per block, in order: the attack the block meets (``None``: none). Its
        length is the number of blocks the run asks of this link (a cut ends it early).
    """

    name: str
    params: LinkParams
    fidelity: Fidelity
    block_duration_s: float
    seed: int
    attacks: tuple[Attack | None, ...]

    @property
    def cost_s(self) -> float:
        """Estimated wall seconds (:func:`quaykey.network.cost.block_cost_s`)."""
        try:
            model = link_model(self.params, self.block_duration_s)
        except ValueError:
            model = None
        one = block_cost_s(self.params, model, self.fidelity, self.block_duration_s)
        return one * len(self.attacks)


@dataclass(frozen=True, eq=False)
class LinkJobResult:
    """A link's block outcomes, and the wall and CPU seconds the worker spent on them."""

    name: str
    outcomes: tuple[BlockOutcome, ...]
    wall_s: float
    cpu_s: float = 0.0


def run_link_job(job: LinkJob) -> LinkJobResult:
    """Run one link's blocks in order (a worker task; also callable in process).

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> job = LinkJob("a--b", load_preset("backbone", distance_km=40), "statistical",
    ...               600.0, 1, (None, None))
    >>> [o.end_s for o in run_link_job(job).outcomes]
    [600.0, 1200.0]
    """
    t0, c0 = time.perf_counter(), time.process_time()
    runner = LinkRunner(
        name=job.name,
        params=job.params,
        block=make_block(job.fidelity),
        block_duration_s=job.block_duration_s,
        block_seed=job.seed,
    )
    outcomes = tuple(runner.run_block(attack) for attack in job.attacks)
    return LinkJobResult(job.name, outcomes, time.perf_counter() - t0, time.process_time() - c0)


def warm_up() -> float:
    """Load the compiled kernels of an exact block in this process; its CPU seconds.

    A worker process pays this once, on its first exact block; a benchmark calls it on
    every worker first (``client.run(warm_up)``) to tell it from the blocks' own cost.
    """
    from quaykey.physics.params import load_preset

    c0 = time.process_time()
    params = load_preset("backbone", distance_km=5)
    LinkRunner("warm-up", params, make_block("exact"), 0.02, block_seed=0).run_block()
    return time.process_time() - c0


class _Replay:
    """A link's blocks computed beforehand, handed out in order as the run asks for them.

    Stands in for the seam's implementation in the simulation's :class:`LinkRunner`;
    refuses a block whose window is not the one computed (a bug in :func:`link_jobs`).
    """

    def __init__(self, outcomes: Sequence[BlockOutcome], fidelity: Fidelity) -> None:
        self.outcomes = list(outcomes)
        self.fidelity = fidelity
        self.next = 0

    def run(
        self,
        params: LinkParams,
        window: BlockWindow,
        rng: np.random.Generator,
        *,
        name: str = "",
        loss: LossProfile | None = None,
        attack: Attack | None = None,
    ) -> BlockOutcome:
        """The next computed block (see :class:`~quaykey.network.links.block.LinkBlock`)."""
        if self.next >= len(self.outcomes) or self.outcomes[self.next].end_s != window.end_s:
            raise RuntimeError(f"link {name!r}: no block computed for the window {window}")
        self.next += 1
        return self.outcomes[self.next - 1]


def _block_ends(block_s: float, until_s: float) -> list[float]:
    """Block end times as the simulation's clock reaches them (summed, as SimPy sums)."""
    ends: list[float] = []
    t = 0.0
    while True:
        t = t + block_s
        if t > until_s:
            return ends
        ends.append(t)


def link_jobs(topology: Topology, config: SimulationConfig) -> list[LinkJob]:
    """The blocks each fibre link runs in ``config``'s run, and the attack each meets.

    The rules are the simulation's: a block runs when it ends before its link's cut (a cut
    at the very end of a block loses it) and within the run; an attack applies to the
    blocks that start at or after it.
    """
    jobs = []
    ends = _block_ends(config.block_duration_s, config.duration_s)
    faults = [replace(f, link=topology.link(f.link).name) for f in config.faults]
    for link in topology.links:
        if link.kind != "fibre":
            continue
        mine = [f for f in faults if f.link == link.name]
        cut = min((f.at_s for f in mine if f.kind == "cut"), default=math.inf)
        eves = sorted((f for f in mine if f.kind == "eve"), key=lambda f: f.at_s)
        attacks: list[Attack | None] = []
        start = 0.0
        for end in ends:
            if end >= cut:
                break
            # The latest attack that struck by the block's start.
            attack = None
            for f in eves:
                if f.at_s <= start:
                    attack = f.attack
            attacks.append(attack)
            start = end
        jobs.append(
            LinkJob(
                link.name,
                link.params(),
                config.fidelity,
                config.block_duration_s,
                config.seed,
                tuple(attacks),
            )
        )
    return jobs


@contextmanager
def open_client(workers: int = 1, scheduler: str | None = None) -> Iterator[Client | None]:
    """A dask client for a study, closed (with its local cluster) afterwards.

    Parameters
    ----------
    workers
        Worker processes of a ``LocalCluster`` on this machine (one thread each). ``1``
        with no ``scheduler``: no cluster, the study runs in this process.
    scheduler
        Address of an existing cluster's scheduler (``tcp://HOST:8786``); ``workers`` is
        then ignored (the cluster has its own).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if scheduler is None and workers == 1:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler, timeout="30s") as client:
            yield client
        return
    import dask

    # No dashboard (the scheduler's small HTTP server takes another port if 8787 is used).
    with warnings.catch_warnings(), dask.config.set(WORKER_CONFIG):
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client


def map_tasks(
    client: Client | None,
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    costs: Sequence[float] | None = None,
) -> list[R]:
    """``[fn(x) for x in items]``, as dask tasks when there is a client.

    ``costs`` (one per item) submits the most expensive first, so that the longest tasks
    do not start last; the results come back in the items' order either way.

    Example
    -------
    >>> map_tasks(None, abs, [-1, 2, -3])
    [1, 2, 3]
    """
    if client is None:
        return [fn(x) for x in items]
    order = sorted(range(len(items)), key=lambda i: -costs[i]) if costs else range(len(items))
    order = list(order)
    futures = client.map(fn, [items[i] for i in order], pure=False)
    done = client.gather(futures)
    out: list[Any] = [None] * len(items)
    for i, result in zip(order, done, strict=True):
        out[i] = result
    return out


@dataclass(frozen=True)
class DistributedRun:
    """A simulation's report and what its tasks cost."""

    report: SimulationReport
    task_wall_s: tuple[float, ...]
    task_cpu_s: tuple[float, ...]
    blocks_s: float

    def to_dict(self) -> dict[str, Any]:
        """The report's mapping with the tasks' cost added under ``tasks``."""
        out = self.report.to_dict()
        out["tasks"] = {
            "count": len(self.task_wall_s),
            "work_s": sum(self.task_wall_s),
            "work_cpu_s": sum(self.task_cpu_s),
            "longest_s": max(self.task_wall_s, default=0.0),
            "blocks_wall_s": self.blocks_s,
        }
        return out


def simulate(
    topology: Topology,
    config: SimulationConfig,
    client: Client | None,
    satellite_passes: Mapping[str, Sequence[PassKey]] | None = None,
    key_sink: KeySink | None = None,
) -> DistributedRun:
    """Run the simulation with its fibre blocks computed as tasks (:func:`link_jobs`).

    The result equals ``NetworkSimulation(topology, config).run()`` (every block has its
    own seed), whatever runs the tasks; ``wall_s`` counts the tasks and the replay.
    """
    t0 = time.perf_counter()
    jobs = link_jobs(topology, config)
    results = map_tasks(client, run_link_job, jobs, costs=[j.cost_s for j in jobs])
    blocks_s = time.perf_counter() - t0
    sim = NetworkSimulation(topology, config, satellite_passes, key_sink=key_sink)
    for r in results:
        sim.runners[r.name].block = _Replay(r.outcomes, config.fidelity)
    report = sim.run()
    report = replace(report, wall_s=time.perf_counter() - t0)
    return DistributedRun(
        report, tuple(r.wall_s for r in results), tuple(r.cpu_s for r in results), blocks_s
    )
