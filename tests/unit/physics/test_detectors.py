"""One detector model: the closed-form gains agree with the six-outcome PGF model."""

from __future__ import annotations

import numpy as np
import pytest

from quaykey.physics.detectors import (
    OUTCOME_DARK_WRONG,
    OUTCOME_DOUBLE,
    OUTCOME_NONE,
    OUTCOME_PHOTON_WRONG,
    click_probabilities,
    outcome_probabilities,
    single_photon_yield_and_error,
)
from quaykey.physics.params import Detector
from quaykey.physics.sources import PhotonDistribution

# Both are exact; they differ only by rounding: the closed form subtracts probabilities
# near 1 (absolute error a few 1e-16), the PGF model works with their complements.
RTOL = 1e-12
ATOL = 1e-14


def _gain_error(outcomes: np.ndarray) -> tuple[float, float]:
    gain = 1.0 - float(outcomes[OUTCOME_NONE])
    wrong = outcomes[OUTCOME_PHOTON_WRONG] + outcomes[OUTCOME_DARK_WRONG]
    err = float(wrong + 0.5 * outcomes[OUTCOME_DOUBLE])
    return gain, err


@pytest.mark.parametrize("eta", [1e-4, 0.01, 0.3, 1.0])
@pytest.mark.parametrize("p_dark", [0.0, 1e-6, 1e-3])
@pytest.mark.parametrize("e_d", [0.0, 0.015, 0.1])
def test_click_probabilities_are_the_outcome_model_for_coherent_light(
    eta: float, p_dark: float, e_d: float
) -> None:
    det = Detector(efficiency=1.0, dark_count_probability=p_dark, misalignment_error=e_d)
    ks = [0.6, 0.1, 0.002]
    gains, errs = click_probabilities(eta, ks, det)
    for k, g, e in zip(ks, gains, errs, strict=True):
        want_g, want_e = _gain_error(
            outcome_probabilities(PhotonDistribution(poisson_mean=eta * k), 1.0 - e_d, det)
        )
        assert g == pytest.approx(want_g, rel=RTOL, abs=ATOL)
        assert e == pytest.approx(want_e, rel=RTOL, abs=ATOL)


@pytest.mark.parametrize("eta", [1e-3, 0.2, 1.0])
@pytest.mark.parametrize("p_dark", [0.0, 1e-5])
def test_single_photon_yield_is_the_outcome_model_for_one_photon(eta: float, p_dark: float) -> None:
    det = Detector(efficiency=1.0, dark_count_probability=p_dark, misalignment_error=0.03)
    y1, e1 = single_photon_yield_and_error(eta, det)
    # one photon reaches a detector of efficiency eta
    at_eta = Detector(efficiency=eta, dark_count_probability=p_dark, misalignment_error=0.03)
    gain, err = _gain_error(outcome_probabilities(PhotonDistribution(pmf=(0.0, 1.0)), 0.97, at_eta))
    assert y1 == pytest.approx(gain, rel=RTOL, abs=ATOL)
    assert e1 * y1 == pytest.approx(err, rel=RTOL, abs=ATOL)
