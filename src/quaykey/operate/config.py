"""Settings of ``quaykey up`` and the plan of its KMEs (which the CLI works out)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_START_UTC", "KmsPlan", "UpConfig"]

#: Simulated time zero: the evening of the Micius night Liao et al. 2017 report (first pass
#: over Xinglong ~16:47 UTC).
DEFAULT_START_UTC = datetime(2016, 12, 19, 16, 30, tzinfo=UTC)


@dataclass(frozen=True)
class KmsPlan:
    """Where the KMEs run and who talks to them.

    Attributes
    ----------
    nodes
        KME nodes (hub nodes of the network).
    links
        KMS links between KME nodes; each is fed with the key the network relays between
        the two nodes over its present route.
    saes
        SAE ID -> node of its KME.
    pairs
        SAE pairs that exchange keys.
    stock
        The KMS ``stock:`` section (``None``: no stock).
    key_bits
        The one key size served with a stock.
    """

    nodes: tuple[str, ...]
    links: tuple[tuple[str, str], ...]
    saes: dict[str, str]
    pairs: tuple[tuple[str, str], ...]
    stock: dict[str, Any] | None = None
    key_bits: int = 256


@dataclass(frozen=True)
class UpConfig:
    """How ``quaykey up`` runs.

    Attributes
    ----------
    state_dir
        PKI, operator token, KME databases, applications' state, ``operate.db``.
    network
        ``micius`` (beijing-shanghai with the satellite) or ``beijing-shanghai``.
    profile
        Traffic profile of the applications.
    speed
        Simulated network seconds per wall second.
    tick_wall_s
        Wall seconds per tick (one block per fibre link per tick: ``speed * tick_wall_s``
        simulated seconds).
    apps_speed
        Profile seconds per wall second of the applications.
    deposit_cap_bytes
        Most link key deposited per tick per KME pair (bounds the KMEs' SQLite writes).
    kme_pool_cap_bytes
        A KME link pool above this takes no more key (the excess is discarded and counted).
    pool_capacity_bits
        Capacity of each network link's pools.
    """

    state_dir: Path
    network: str = "micius"
    profile: str = "shanghai-day"
    speed: float = 60.0
    tick_wall_s: float = 1.0
    apps_speed: float = 1.0
    seed: int = 1
    start_utc: datetime = DEFAULT_START_UTC
    deposit_cap_bytes: int = 16384
    kme_pool_cap_bytes: int = 1 << 22
    pool_capacity_bits: int = 1 << 26
    kms: KmsPlan | None = None
    apps: bool = True
    route_pairs: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("speed", "tick_wall_s", "apps_speed"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"--{name.replace('_', '-')} must be > 0, got {v!r}")
        if self.deposit_cap_bytes < 64:
            raise ValueError(f"deposit cap must be >= 64 bytes, got {self.deposit_cap_bytes}")

    @property
    def tick_s(self) -> float:
        """Simulated seconds per tick."""
        return self.speed * self.tick_wall_s
