"""Where a profile's sites sit on the KME chain, and the key stock their remote pairs get.

Used by ``quaykey apps run`` (:mod:`quaykey.cli.apps_run`) and ``benchmarks/apps.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np

from quaykey.logistics.run import device_sae, sae_pair, sdk_type
from quaykey.logistics.traffic import TrafficProfile

__all__ = [
    "CHAIN",
    "LINK_KEY_BPS",
    "SITE_NODES",
    "STOCK_KEY_BITS",
    "StockPlan",
    "chain_for",
    "node_of",
    "profile_sites",
    "stock_plan",
    "use_chain",
]

#: Where each site of the shipped profiles has its SAE: the KME node.
SITE_NODES = {
    "yangshan-terminal": "shanghai",
    "waigaoqiao-terminal": "shanghai",
    "sipg-ops": "shanghai",
    "shanghai-customs": "shanghai",
    "bonded-warehouse": "shanghai",
    "customs-hq-beijing": "beijing",
    "ningbo-zhoushan-port": "ningbo",
}


#: The QKD chain the KMEs sit on (Hefei is a trusted relay node without SAEs). Ningbo, joined
#: to Shanghai as in the beijing-shanghai preset's Hangzhou Bay extension, is added in front
#: when a profile has a site there (:func:`chain_for`).
CHAIN = ("shanghai", "hefei", "beijing")

#: A KME chain set by :func:`use_chain` (``None``: the stand-in :data:`CHAIN`).
_CHAIN: ContextVar[tuple[str, ...] | None] = ContextVar("apps_chain", default=None)


@contextlib.contextmanager
def use_chain(chain: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """Within the block, :func:`chain_for` answers ``chain`` and :func:`node_of` puts a site
    that is a node of ``chain`` at its own KME (the trunk route of ``apps run --network``).

    Examples
    --------
    >>> with use_chain(("sipg-ops", "shanghai", "beijing", "customs-hq-beijing")):
    ...     chain_for(["sipg-ops"]), node_of("sipg-ops"), node_of("yangshan-terminal")
    (('sipg-ops', 'shanghai', 'beijing', 'customs-hq-beijing'), 'sipg-ops', 'shanghai')
    >>> chain_for(["sipg-ops"])
    ('shanghai', 'hefei', 'beijing')
    """
    if len(chain) < 2 or len(set(chain)) != len(chain):
        raise ValueError(f"a KME chain needs 2 or more distinct nodes, got {chain}")
    token = _CHAIN.set(tuple(chain))
    try:
        yield tuple(chain)
    finally:
        _CHAIN.reset(token)


def chain_for(sites: list[str]) -> tuple[str, ...]:
    """The KME chain for ``sites``: :data:`CHAIN`, with ``ningbo`` first if a site is there
    (or the chain of :func:`use_chain`, when one is set).

    Examples
    --------
    >>> chain_for(["sipg-ops", "ningbo-zhoushan-port"])
    ('ningbo', 'shanghai', 'hefei', 'beijing')
    """
    chain = _CHAIN.get()
    if chain is not None:
        missing = sorted({node_of(s) for s in sites} - set(chain))
        if missing:
            raise ValueError(f"sites at {', '.join(missing)}: not on the route {chain[0]} ->"
                             f" {chain[-1]}")  # fmt: skip
        return chain
    if any(SITE_NODES.get(s.removesuffix("-internal").removesuffix("-sensors")) == "ningbo"
           for s in sites):  # fmt: skip
        return ("ningbo", *CHAIN)
    return CHAIN


def profile_sites(profile: TrafficProfile) -> tuple[list[str], list[tuple[str, str]]]:
    """The SAE IDs of a profile's endpoints and the pairs that exchange messages.

    A flow inside one site gets a second SAE there (:func:`quaykey.logistics.run.sae_pair`).
    A site that sends telemetry also gets its sensors' SAE, ``<site>-sensors``, paired with
    it (the IoT gateway draws device keys for it).

    Raises
    ------
    ValueError
        A site with no node in :data:`SITE_NODES`.
    """
    ends = {sae_pair(e.src, e.dst) for f in profile.flows for e in f.endpoints}
    ends |= {(e.src, device_sae(e.src)) for f in profile.flows
             if sdk_type(f.message_type) == "telemetry" for e in f.endpoints}  # fmt: skip
    pairs = sorted({(min(a, b), max(a, b)) for a, b in ends})
    sites = sorted({s for p in pairs for s in p})
    unknown = sorted({e for f in profile.flows for x in f.endpoints for e in (x.src, x.dst)}
                     - set(SITE_NODES))  # fmt: skip
    if unknown:
        raise ValueError(f"--profile {profile.name}: no KME node for site(s) {', '.join(unknown)}")
    return sites, pairs


@dataclass(frozen=True)
class StockPlan:
    """The end-to-end key stock of a run's KMEs (``docs/kms.md``, "Key stock").

    Attributes
    ----------
    targets
        Keys kept per remote pair ``"<master>><slave>"`` (master SAE at its KME, slave SAE at
        another KME).
    refill_batch
        Keys per refill relay.
    refill_interval_s
        Seconds between refill passes.
    """

    targets: dict[str, int]
    refill_batch: int = 32
    refill_interval_s: float = 0.2

    def config(self) -> dict[str, Any]:
        """The ``stock:`` section of the KMS network file (other pairs: no stock)."""
        return {"enabled": True, "target_keys": 0, "targets": dict(self.targets),
                "refill_batch": self.refill_batch, "refill_interval_s": self.refill_interval_s,
                "ttl_s": 1800.0, "on_empty": "relay"}  # fmt: skip


#: Link key per link the exact blocks make (measured, ~3.0 kbit/s: ``docs/apps.md``).
LINK_KEY_BPS = 3000.0
STOCK_KEY_BITS = 256


def stock_plan(
    profile: TrafficProfile,
    speed: float,
    prefill_s: float,
    horizon_s: float = 5.0,
    link_bps: float = LINK_KEY_BPS,
) -> StockPlan:
    """A key stock for the remote pairs of ``profile`` run at ``speed``.

    Each pair's bound is what its flows take in ``horizon_s`` wall seconds at their peak
    hour (:func:`quaykey.logistics.budget.flow_key_bps` per flow and class; a CUSDEC counts
    its ``otp`` CUSRES answer too, in its own direction: the CUSDEC draws the answer's keys,
    ``SecureChannel.send(reply_bytes=...)``), in 256-bit keys, at least 32; together at most half of
    the link key the prefill makes (``link_bps`` per link, default ``LINK_KEY_BPS``: the
    slowest link of the route), scaled down in proportion,
    so the stock cannot take the key on-demand relays need. The batch is a quarter of the
    smallest bound, 16 to 128 keys.

    Examples
    --------
    >>> from quaykey.logistics.profiles import load_profile
    >>> plan = stock_plan(load_profile("ci"), speed=10, prefill_s=60)
    >>> sorted(plan.targets)
    ['customs-hq-beijing>sipg-ops', 'sipg-ops>customs-hq-beijing']
    >>> plan.targets['sipg-ops>customs-hq-beijing'] > plan.targets['customs-hq-beijing>sipg-ops']
    True
    """
    from quaykey.logistics.budget import KeyPolicy, flow_key_bps

    policy = KeyPolicy()
    answer_bytes = next((f.size.mean_bytes for f in profile.flows if f.message_type == "CUSRES"),
                        500.0)  # fmt: skip
    demand_bps: dict[tuple[str, str], float] = {}
    for f in profile.flows:
        peak_hz = f.mean_hz * max(f.shape.hourly)
        for e in f.endpoints:
            a, b = sae_pair(e.src, e.dst)
            if node_of(a) == node_of(b):
                continue
            rate_hz = peak_hz * e.share
            demand_bps[(a, b)] = demand_bps.get((a, b), 0.0) + flow_key_bps(
                f, f.protection, rate_hz, policy
            )
            if f.message_type == "CUSDEC":
                answer = rate_hz * (8.0 * answer_bytes + policy.mac_key_bits)
                demand_bps[(a, b)] += answer  # the CUSDEC draws its answer's keys
    keys = {p: max(32, int(np.ceil(bps * speed * horizon_s / STOCK_KEY_BITS)))
            for p, bps in demand_bps.items()}  # fmt: skip
    cap = int(link_bps * prefill_s / STOCK_KEY_BITS / 2)
    total = sum(keys.values())
    if total > cap > 0:
        keys = {p: max(16, n * cap // total) for p, n in keys.items()}
    batch = int(np.clip(min(keys.values(), default=64) // 4, 16, 128))
    return StockPlan({f"{a}>{b}": n for (a, b), n in sorted(keys.items())}, batch)


def node_of(sae: str) -> str:
    """The KME node of an SAE (a site, its ``-internal`` or ``-sensors`` SAE): the site's
    own node when the chain of :func:`use_chain` has one of its name, else :data:`SITE_NODES`."""
    site = sae.removesuffix("-internal").removesuffix("-sensors")
    chain = _CHAIN.get()
    if chain is not None and site in chain:
        return site
    return SITE_NODES[site]
