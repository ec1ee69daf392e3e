"""The analytic finite model honours ``security.key_from_both_bases`` as the link blocks do."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from quaykey.network.links.statistical import block_key_bits
from quaykey.physics.counts import expected_counts
from quaykey.physics.keyrate import key_rate
from quaykey.physics.keyrate.gains import decoy_source
from quaykey.physics.keyrate.rates import finite_rate
from quaykey.physics.params import load_preset


def _with(params, both: bool):  # type: ignore[no-untyped-def]
    return replace(params, security=replace(params.security, key_from_both_bases=both))


@pytest.mark.parametrize("loss_db", [28.0, 32.0, 36.0])
@pytest.mark.parametrize("both", [True, False])
def test_finite_rate_matches_the_statistical_block(loss_db: float, both: bool) -> None:
    """Same parameters, same counts: the analytic key equals the statistical block's."""
    params = _with(load_preset("micius-2017", loss_db=loss_db), both)
    src = decoy_source(params)
    pulses = 3e10
    counts = expected_counts(params, pulses)
    block_bits, _ = block_key_bits(params, counts, reconciler=None)  # nominal f, as analytic
    probs, mus = np.array(src.probabilities), np.array(src.intensities)
    rate, _, _, bits = finite_rate(
        params, float(counts.n_x.sum()), src.basis_probability_x, probs, mus
    )
    assert bits == block_bits
    assert rate * pulses == pytest.approx(block_bits, abs=2.0)  # two keys, each floored


def test_micius_finite_rate_counts_both_bases() -> None:
    micius = load_preset("micius-2017", loss_db=32.0)
    assert micius.security.key_from_both_bases  # the preset's own setting
    both = key_rate(micius, "finite", block_bits=1e6)
    one = key_rate(_with(micius, False), "finite", block_bits=1e6)
    assert both.optimal_parameters["q_x"] == decoy_source(micius).basis_probability_x == 0.5
    # symmetric BB84 keeps both bases' bits: more key than the best one-basis setting
    assert both.secret_key_rate_bps > one.secret_key_rate_bps > 0
    fixed = _with(micius, True)
    src = decoy_source(fixed)
    at_half = finite_rate(fixed, 1e6, 0.5, np.array(src.probabilities), np.array(src.intensities))
    at_other = finite_rate(fixed, 1e6, 0.9, np.array(src.probabilities), np.array(src.intensities))
    assert at_half == at_other  # q_x is the source's passive choice, not a free setting
