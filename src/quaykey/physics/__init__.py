"""quaykey.physics: forward models of a QKD link, the fast sampler and analytic key rates.

The public surface, one import away::

    from quaykey.physics import load_preset, key_rate, simulate_link

* parameters: :class:`LinkParams` and its parts (:class:`DecoySource`,
  :class:`SPDCSource`, :class:`FibreChannel`, :class:`FreeSpaceChannel`,
  :class:`Detector`, :class:`SecurityParams`), :func:`load_preset`;
* analytic models and bounds (:mod:`quaykey.physics.keyrate`): :func:`key_rate`,
  :func:`key_rate_curve`, :func:`cutoff_distance_km`, :func:`expected_gains_and_qbers`,
  :func:`plob_bound`, :func:`tgw_bound`;
* the Monte-Carlo sampler (:mod:`quaykey.physics.sampler`): :func:`simulate_link`,
  :class:`LinkSample`, :class:`SampleStats`;
* attacks (:mod:`quaykey.physics.attacks`): :func:`parse_attack`,
  :class:`InterceptResend`, :class:`PhotonNumberSplitting`.

The parameter classes are imported eagerly (they are light). The key-rate models (scipy)
and the sampler (numba kernels) are imported on first use of one of their names, so that
``import quaykey.physics.params`` stays cheap for the layers that only pass parameters on.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from quaykey.physics.params import (
    DecoySource,
    Detector,
    FibreChannel,
    FreeSpaceChannel,
    LinkParams,
    SecurityParams,
    SPDCSource,
    load_preset,
)

if TYPE_CHECKING:
    from quaykey.physics.attacks import InterceptResend, PhotonNumberSplitting, parse_attack
    from quaykey.physics.keyrate import (
        cutoff_distance_km,
        expected_gains_and_qbers,
        key_rate,
        key_rate_curve,
        plob_bound,
        tgw_bound,
    )
    from quaykey.physics.sampler import LinkSample, SampleStats, simulate_link

__all__ = [
    "DecoySource",
    "Detector",
    "FibreChannel",
    "FreeSpaceChannel",
    "InterceptResend",
    "LinkParams",
    "LinkSample",
    "PhotonNumberSplitting",
    "SPDCSource",
    "SampleStats",
    "SecurityParams",
    "cutoff_distance_km",
    "expected_gains_and_qbers",
    "key_rate",
    "key_rate_curve",
    "load_preset",
    "parse_attack",
    "plob_bound",
    "simulate_link",
    "tgw_bound",
]

# name -> submodule that defines it (imported on first access)
_LAZY = {
    "InterceptResend": "attacks",
    "PhotonNumberSplitting": "attacks",
    "parse_attack": "attacks",
    "cutoff_distance_km": "keyrate",
    "expected_gains_and_qbers": "keyrate",
    "key_rate": "keyrate",
    "key_rate_curve": "keyrate",
    "plob_bound": "keyrate",
    "tgw_bound": "keyrate",
    "LinkSample": "sampler",
    "SampleStats": "sampler",
    "simulate_link": "sampler",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
