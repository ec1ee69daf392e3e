"""Faults injected into a network run: a fibre cut, or an eavesdropper from some hour on.

Specs are plain text, ``LINK@HOUR`` for a cut and ``LINK:ATTACK@HOUR`` for an
eavesdropper (``ATTACK`` as :func:`quaykey.physics.attacks.parse_attack` reads it). Errors
are ValueErrors that describe the spec; the command line adds the name of its flag.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from quaykey.network.links.block import Attack
from quaykey.physics.attacks import parse_attack

__all__ = ["Fault", "FaultKind", "check_within_run", "parse_cut", "parse_eve"]

FaultKind = Literal["cut", "eve"]


@dataclass(frozen=True)
class Fault:
    """A fault at ``at_s``: a fibre ``cut`` or an ``eve`` attack on ``link``.

    Example
    -------
    >>> Fault("cut", "a--b", 3600.0).at_hour
    1.0
    """

    kind: FaultKind
    link: str
    at_s: float
    attack: Attack | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("cut", "eve"):
            raise ValueError(f"fault kind must be 'cut' or 'eve', got {self.kind!r}")
        if not (math.isfinite(self.at_s) and self.at_s >= 0):
            raise ValueError(f"fault time must be >= 0 hours, got {self.at_s / 3600!r}")
        if self.kind == "eve" and self.attack is None:
            raise ValueError("an eavesdropper fault needs an attack")

    @property
    def at_hour(self) -> float:
        """When the fault strikes, in hours from the start of the run."""
        return self.at_s / 3600.0


def _hours(text: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{spec!r}: HOUR must be a number, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{spec!r}: HOUR must be >= 0, got {text!r}")
    return value


def parse_cut(spec: str) -> Fault:
    """``"LINK@HOUR"`` (e.g. ``"jinan--taian@6"``) into a cut :class:`Fault`.

    Example
    -------
    >>> parse_cut("jinan--taian@6").at_s
    21600.0
    """
    link, sep, hour = spec.rpartition("@")
    if not sep or not link.strip():
        raise ValueError(f"{spec!r}: write a cut as LINK@HOUR, e.g. jinan--taian@6")
    return Fault("cut", link.strip(), _hours(hour, spec) * 3600.0)


def parse_eve(spec: str) -> Fault:
    """``"LINK:ATTACK@HOUR"`` (e.g. ``"hefei--chaohu:intercept-resend:0.3@2"``).

    Example
    -------
    >>> f = parse_eve("hefei--chaohu:intercept-resend:0.3@2")
    >>> f.link, f.attack.fraction, f.at_s
    ('hefei--chaohu', 0.3, 7200.0)
    """
    m = re.fullmatch(r"\s*([^:@]+):([^@]+)@([^@]+)\s*", spec)
    if not m:
        raise ValueError(
            f"{spec!r}: write an eavesdropper as LINK:ATTACK@HOUR, "
            "e.g. hefei--chaohu:intercept-resend:0.3@2"
        )
    try:
        attack = parse_attack(m.group(2))
    except ValueError as exc:
        raise ValueError(f"{spec!r}: {str(exc).removeprefix('--eve: ')}") from None
    return Fault("eve", m.group(1).strip(), _hours(m.group(3), spec) * 3600.0, attack)


def check_within_run(fault: Fault, duration_s: float) -> None:
    """Refuse a fault that would strike after the end of the run (it would do nothing).

    Example
    -------
    >>> check_within_run(parse_cut("a--b@30"), 24 * 3600.0)
    Traceback (most recent call last):
    ...
    ValueError: 'a--b' at 30 h is after the end of the run (24 h)
    """
    if fault.at_s > duration_s:
        raise ValueError(
            f"{fault.link!r} at {fault.at_hour:g} h is after the end of the run "
            f"({duration_s / 3600:g} h)"
        )
