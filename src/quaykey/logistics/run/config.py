"""Settings of an applications run, and the SAE names of a message's two sites."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RunConfig", "sae_pair"]


@dataclass(frozen=True)
class RunConfig:
    """How long, how fast and how hostile a run is.

    Attributes
    ----------
    minutes
        Profile minutes to run.
    speed
        Profile seconds per wall second (``10``: ten times real time).
    start_s
        Profile time of day to start at (seconds since midnight; default 09:00, office hours).
    seed
        Seed of the traffic draw.
    attack_every
        Inject one hostile envelope after every ``attack_every`` messages (0: none), the
        kinds in turn (:data:`~quaykey.logistics.run.attacks.ATTACK_KINDS`).
    flush_interval_s
        Wall seconds between attempts to send queued ``otp`` messages.
    """

    minutes: float
    speed: float = 1.0
    start_s: float = 9 * 3600.0
    seed: int = 1
    attack_every: int = 0
    flush_interval_s: float = 0.25

    def __post_init__(self) -> None:
        if not (np.isfinite(self.minutes) and self.minutes > 0):
            raise ValueError(f"--minutes must be > 0, got {self.minutes!r}")
        if not (np.isfinite(self.speed) and self.speed > 0):
            raise ValueError(f"--speed must be > 0, got {self.speed!r}")
        if not (0 <= self.start_s < 86400):
            raise ValueError(f"start_s must be in [0, 86400), got {self.start_s!r}")
        if self.attack_every < 0:
            raise ValueError(f"attack_every must be >= 0, got {self.attack_every}")


def sae_pair(src: str, dst: str) -> tuple[str, str]:
    """The two SAE IDs of a message between sites ``src`` and ``dst``.

    A flow inside one site (``ningbo-day``'s terminal EDI, both ends ``ningbo-zhoushan-port``)
    runs between the site's SAE and a second SAE of the same site, ``<site>-internal``.

    Examples
    --------
    >>> sae_pair("sipg-ops", "customs-hq-beijing")
    ('sipg-ops', 'customs-hq-beijing')
    >>> sae_pair("ningbo-zhoushan-port", "ningbo-zhoushan-port")
    ('ningbo-zhoushan-port', 'ningbo-zhoushan-port-internal')
    """
    return (src, dst) if src != dst else (src, f"{dst}-internal")
