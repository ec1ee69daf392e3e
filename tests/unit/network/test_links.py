"""The link-block seam: the physics layer's counts, the reconciler's leakage, both fidelities."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from quaykey.network.links.statistical import block_key_bits, error_correction_leak_bits
from quaykey.physics.counts import expected_counts
from quaykey.physics.keyrate import expected_gains_and_qbers
from quaykey.physics.params import DecoySource, load_preset
from quaykey.postproc.reconcile import RECONCILERS
from quaykey.postproc.verify import tag_bits_for
from quaykey.units import binary_entropy


@pytest.mark.parametrize("km", [2.0, 40.0, 80.0])
def test_expected_counts_are_the_physics_layers_gains_and_qbers(km: float) -> None:
    # One detection model: the link's counts per intensity are N p_k p_x^2 Q_k with the
    # gains and QBERs of quaykey.physics.keyrate (afterpulses on: backbone p_ap = 1 %).
    params = load_preset("backbone", distance_km=km)
    assert params.detector.afterpulse_probability == 0.01
    n = 1e9
    counts = expected_counts(params, n)
    src = params.source
    assert isinstance(src, DecoySource)
    px = src.basis_probability_x
    phys = expected_gains_and_qbers(params)
    for i, name in enumerate(src.names):
        gain, qber = phys[name]
        expected_n_x = n * src.probabilities[i] * px * px * gain
        assert counts.n_x[i] == pytest.approx(expected_n_x, rel=1e-12)
        assert counts.m_x[i] == pytest.approx(expected_n_x * qber, rel=1e-12)
        assert counts.n_z[i] == pytest.approx(
            n * src.probabilities[i] * (1 - px) ** 2 * gain, rel=1e-12
        )


def test_afterpulses_raise_the_vacuum_decoys_detections_as_the_sampler_does() -> None:
    # Next-gate afterpulses add p_ap x (mean real click probability) to every gate, the
    # vacuum's included: at 40 km the vacuum decoy sees ~10x its dark-count detections.
    # First-order expectation, computed independently: 1 + p_ap * D_mean / (2 p_d) with
    # D_mean = sum_k p_k (1 - exp(-eta mu_k)); 3 % tolerance for the neglected overlaps.
    params = load_preset("backbone", distance_km=40.0)
    quiet = replace(params, detector=replace(params.detector, afterpulse_probability=0.0))
    off = expected_counts(quiet, 1e9)
    on = expected_counts(params, 1e9)
    src = params.source
    assert isinstance(src, DecoySource)
    det = params.detector
    eta = params.channel.transmittance() * det.efficiency
    d_mean = sum(
        p * (1 - math.exp(-eta * mu))
        for p, mu in zip(src.probabilities, src.intensities, strict=True)
    )
    expected = 1 + det.afterpulse_probability * d_mean / (2 * det.dark_count_probability)
    assert expected > 5  # the effect is large at this distance
    assert on.n_x[2] / off.n_x[2] == pytest.approx(expected, rel=0.03)


def test_leak_is_the_reconcilers_measured_efficiency_plus_verification_tags() -> None:
    n, q, eps = 4e5, 0.02, 1e-15
    frames = math.ceil(n / 2**14)
    tags = frames * tag_bits_for(eps, frames) - math.log2(2 / eps)
    h = float(binary_entropy(q))
    assert error_correction_leak_bits(n, q, "cascade", eps) == pytest.approx(
        1.0426 * h * n + tags, rel=1e-12
    )
    # interpolated between measured points, held outside them
    assert RECONCILERS["cascade"].efficiency_at(0.015) == pytest.approx((1.0457 + 1.0426) / 2)
    assert RECONCILERS["cascade"].efficiency_at(0.001) == 1.0457
    assert error_correction_leak_bits(0.0, q) == 0.0
    with pytest.raises(ValueError, match="unknown reconciler"):
        error_correction_leak_bits(n, q, "winnow")


def test_block_key_bits_uses_the_reconciler_unless_asked_for_the_nominal_f() -> None:
    params = load_preset("backbone", distance_km=40.0)
    counts = expected_counts(params, 6.25e8 * 600)
    cascade, _ = block_key_bits(params, counts)
    nominal, _ = block_key_bits(params, counts, reconciler=None)  # preset f = 1.16
    ldpc, _ = block_key_bits(params, counts, reconciler="ldpc")
    assert nominal < ldpc < cascade
    assert np.isfinite(cascade)
