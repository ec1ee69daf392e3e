"""What a run will cost in wall time, estimated before it starts (to refuse runaway runs).

Rough per-unit costs measured on the project's 2-core development machine: a statistical
block ~1 ms (counts, finite-key bound, SimPy bookkeeping); an exact block ~1.3 ns per pulse
sent (the sampler walks the pulse stream) plus ~1 us per sifted detection (sampling and
post-processing). Estimates are within a factor of a few; they exist to stop a run of
days from starting by mistake, not to predict it.
"""

from __future__ import annotations

import math

from quaykey.network.links.block import Fidelity
from quaykey.network.links.statistical import LinkModel
from quaykey.physics.params import LinkParams

__all__ = [
    "MAX_EXACT_DETECTIONS",
    "MAX_UNFORCED_S",
    "block_cost_s",
    "check_exact_size",
    "run_cost_s",
]

#: Longest estimated run started without being forced.
MAX_UNFORCED_S = 300.0
_STATISTICAL_BLOCK_S = 1e-3
_EXACT_PULSE_S = 1.3e-9
_EXACT_DETECTION_S = 1e-6


def block_cost_s(
    params: LinkParams,
    model: LinkModel | None,
    fidelity: Fidelity,
    block_duration_s: float | None = None,
) -> float:
    """Estimated wall seconds of one block whose expected counts are ``model``'s.

    Without a model (a source the counts model does not cover) only the pulses of a
    ``block_duration_s`` block are counted.

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> from quaykey.network.links.statistical import link_model
    >>> p = load_preset("backbone", distance_km=40)
    >>> block_cost_s(p, link_model(p, 600.0), "statistical")
    0.001
    """
    if fidelity == "statistical":
        return _STATISTICAL_BLOCK_S
    if model is None:
        if block_duration_s is None:
            raise ValueError("block_cost_s needs a model or a block duration")
        return params.source.repetition_rate_hz * block_duration_s * _EXACT_PULSE_S
    pulses = params.source.repetition_rate_hz * model.block_duration_s
    return pulses * _EXACT_PULSE_S + model.sifted_bits * _EXACT_DETECTION_S


def run_cost_s(blocks: list[tuple[LinkParams, LinkModel, int]], fidelity: Fidelity) -> float:
    """Estimated wall seconds of ``(params, model, n_blocks)`` for every link of a run."""
    total = sum(n * block_cost_s(p, m, fidelity) for p, m, n in blocks)
    return total if math.isfinite(total) else math.inf


#: Most sifted detections an exact block may be expected to hold (sampler memory).
MAX_EXACT_DETECTIONS = 50_000_000


def check_exact_size(name: str, model: LinkModel, block_duration_s: float) -> None:
    """Refuse an exact block expected to hold more detections than the sampler can keep."""
    if model.sifted_bits > MAX_EXACT_DETECTIONS:
        raise ValueError(
            f"exact fidelity: a {block_duration_s:g} s block of link {name!r} would hold "
            f"~{model.sifted_bits:.2g} sifted detections (limit {MAX_EXACT_DETECTIONS:.0e}); "
            "use shorter blocks, a lower source.repetition_rate_hz override, or the "
            "statistical fidelity"
        )
