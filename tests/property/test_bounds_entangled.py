"""The two-photon (BBM92) link never beats what a chain with one middle node allows.

Key per pair-generation attempt (one coincidence window) is never above the coincidence
probability, nor above ``min(-log2(1 - eta_A), -log2(1 - eta_B))`` (Pirandola, Commun.
Phys. 2, 51 (2019): a repeater chain's capacity is its worst link's PLOB bound), with
``eta`` each arm's transmittance including the detectors (the stricter choice). Checked
over random links (hypothesis, derandomised) and at every point of every shared window of
the packaged Micius element sets.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quaykey.network.dual_downlink import (
    YIN2020_LINK,
    YIN2020_STATIONS,
    dual_profile,
    find_dual_windows,
)
from quaykey.network.orbit import satellites_from_entry
from quaykey.network.presets import load_satellite_preset
from quaykey.physics.entangled import (
    TwoPhotonLink,
    asymptotic_key_per_window,
    repeater_chain_bound,
    two_photon_counts,
)

_SETTINGS = {
    "derandomize": True,
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow],
    "max_examples": 300,
}

_ETA = st.floats(min_value=1e-9, max_value=0.999)


@st.composite
def two_photon_links(draw: st.DrawFn) -> TwoPhotonLink:
    return TwoPhotonLink(
        pair_rate_hz=draw(st.floats(min_value=1e3, max_value=1e10)),
        coincidence_window_s=draw(st.floats(min_value=1e-10, max_value=1e-7)),
        detector_efficiency=draw(st.floats(min_value=0.05, max_value=1.0)),
        noise_a_hz=draw(st.floats(min_value=0.0, max_value=1e6)),
        noise_b_hz=draw(st.floats(min_value=0.0, max_value=1e6)),
        visibility=draw(st.floats(min_value=0.8, max_value=1.0)),
        ec_inefficiency=draw(st.floats(min_value=1.0, max_value=1.5)),
    )


def _assert_bounds(link: TwoPhotonLink, eta_a: np.ndarray, eta_b: np.ndarray) -> None:
    counts = two_photon_counts(link, eta_a, eta_b)
    key = asymptotic_key_per_window(link, counts)
    assert np.all(key >= 0.0)
    assert np.all(key <= counts.p_coincidence)
    assert np.all(key <= repeater_chain_bound(eta_a, eta_b))
    assert np.all((counts.qber >= 0.0) & (counts.qber <= 0.5))
    assert np.all(counts.p_true <= counts.p_coincidence + 1e-18)


@settings(**_SETTINGS)
@given(link=two_photon_links(), eta_a=_ETA, eta_b=_ETA)
def test_key_per_attempt_below_coincidences_and_the_chain_bound(
    link: TwoPhotonLink, eta_a: float, eta_b: float
) -> None:
    _assert_bounds(link, np.array([eta_a]), np.array([eta_b]))


def test_a_perfect_source_and_lossless_arms_are_limited_by_the_chain_bound_only() -> None:
    # The bound is not vacuous: with high transmittance the model comes within a factor of it.
    link = TwoPhotonLink(pair_rate_hz=4e7, noise_a_hz=0, noise_b_hz=0, visibility=1.0)
    counts = two_photon_counts(link, 0.5, 0.5)
    key = asymptotic_key_per_window(link, counts)
    assert 0 < key[0] <= repeater_chain_bound(0.5, 0.5)[0]


@pytest.mark.slow
@pytest.mark.parametrize("index,start", [(0, datetime(2016, 12, 17, tzinfo=UTC)),
                                         (1, datetime(2021, 4, 26, tzinfo=UTC))])  # fmt: skip
def test_bounds_hold_at_every_point_of_every_shared_window(index: int, start: datetime) -> None:
    sat = satellites_from_entry(load_satellite_preset()["satellite"])[index]
    a, b = YIN2020_STATIONS["delingha"], YIN2020_STATIONS["nanshan"]
    windows = find_dual_windows(sat, a, b, start, start + timedelta(days=3))
    assert len(windows) >= 4  # day and night windows, two or so a day
    for link in (YIN2020_LINK, replace(YIN2020_LINK, noise_a_hz=0, noise_b_hz=0, visibility=1)):
        for w in windows:
            prof = dual_profile(sat, a, b, w, link)
            _assert_bounds(link, prof.counts.eta_a, prof.counts.eta_b)
