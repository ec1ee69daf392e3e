"""Key demands: which node pairs want end-to-end key, at what rate and priority.

Demands come from a topology's ``demands:`` section (:func:`demands_from_entries`) or the
command line (:func:`parse_demand`, ``SRC:DST:BITS_PER_S``). Each demand asks for
``key_bits`` of end-to-end key every ``interval_s`` seconds, relayed over one path or, with
``multipath``, as XOR shares over node-disjoint paths.

YAML::

    demands:
      - {src: customs-hq-beijing, dst: shanghai-customs, rate_bps: 4.27}
      - {src: bonded-warehouse, dst: shanghai-customs, key_bits: 256, interval_s: 60,
         multipath: true, priority: 1}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_INTERVAL_S", "Demand", "demands_from_entries", "parse_demand"]

#: How often a demand given as a rate asks for key.
DEFAULT_INTERVAL_S = 60.0


@dataclass(frozen=True)
class Demand:
    """Two nodes that want ``key_bits`` of end-to-end key every ``interval_s``.

    Parameters
    ----------
    src, dst
        Node names.
    key_bits
        Bits per request.
    interval_s
        Time between requests.
    multipath
        Relay as XOR shares over node-disjoint paths.
    priority
        Higher is served first when demands ask at the same instant.

    Example
    -------
    >>> Demand.from_rate("a", "b", 64000).key_bits
    3840000
    """

    src: str
    dst: str
    key_bits: int = 256
    interval_s: float = DEFAULT_INTERVAL_S
    multipath: bool = False
    priority: int = 0

    def __post_init__(self) -> None:
        if not self.src or not self.dst or self.src == self.dst:
            raise ValueError(f"a demand joins two different nodes, got {self.src!r}, {self.dst!r}")
        if not (isinstance(self.key_bits, int) and self.key_bits > 0):
            raise ValueError(f"demand key_bits must be a whole number > 0, got {self.key_bits!r}")
        if not (math.isfinite(self.interval_s) and self.interval_s > 0):
            raise ValueError(f"demand interval_s must be > 0, got {self.interval_s!r}")

    @classmethod
    def from_rate(
        cls,
        src: str,
        dst: str,
        rate_bps: float,
        multipath: bool = False,
        priority: int = 0,
        interval_s: float = DEFAULT_INTERVAL_S,
    ) -> Demand:
        """A demand of ``rate_bps`` bits per second, asked every ``interval_s``."""
        if not (math.isfinite(rate_bps) and rate_bps > 0):
            raise ValueError(f"demand rate must be > 0 bit/s, got {rate_bps!r}")
        bits = max(1, math.ceil(rate_bps * interval_s))
        return cls(src, dst, bits, interval_s, multipath, priority)

    @property
    def rate_bps(self) -> float:
        """Bits per second asked for."""
        return self.key_bits / self.interval_s

    @property
    def pair(self) -> tuple[str, str]:
        """``(src, dst)``."""
        return self.src, self.dst


def parse_demand(spec: str) -> Demand:
    """``"SRC:DST:BITS_PER_S"`` (optionally ``:multipath``) into a :class:`Demand`.

    Example
    -------
    >>> d = parse_demand("a:b:64000:multipath")
    >>> d.src, d.dst, d.rate_bps, d.multipath
    ('a', 'b', 64000.0, True)
    """
    parts = [p.strip() for p in spec.split(":")]
    if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != "multipath"):
        raise ValueError(f"{spec!r}: write a demand as SRC:DST:BITS_PER_S[:multipath]")
    try:
        rate = float(parts[2])
    except ValueError:
        raise ValueError(f"{spec!r}: BITS_PER_S must be a number, got {parts[2]!r}") from None
    return Demand.from_rate(parts[0], parts[1], rate, multipath=len(parts) == 4)


def _entry(i: int, entry: Mapping[str, Any]) -> Demand:
    if not isinstance(entry, Mapping) or "src" not in entry or "dst" not in entry:
        raise ValueError(f"demands[{i}] must be a mapping with 'src' and 'dst'")
    src, dst = str(entry["src"]), str(entry["dst"])
    multipath = bool(entry.get("multipath", False))
    priority = int(entry.get("priority", 0))
    try:
        if "rate_bps" in entry:
            interval = float(entry.get("interval_s", DEFAULT_INTERVAL_S))
            return Demand.from_rate(
                src, dst, float(entry["rate_bps"]), multipath, priority, interval
            )
        return Demand(
            src,
            dst,
            int(entry.get("key_bits", 256)),
            float(entry.get("interval_s", DEFAULT_INTERVAL_S)),
            multipath,
            priority,
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"demands[{i}] ({src} -> {dst}): {exc}") from None


def demands_from_entries(entries: Sequence[Mapping[str, Any]] | None) -> tuple[Demand, ...]:
    """Demands from a topology file's ``demands:`` list (ValueError naming the bad entry).

    Example
    -------
    >>> demands_from_entries([{"src": "a", "dst": "b", "rate_bps": 10}])[0].key_bits
    600
    """
    if entries is None:
        return ()
    if not isinstance(entries, list | tuple):
        raise ValueError("'demands' must be a list")
    return tuple(_entry(i, e) for i, e in enumerate(entries))
