"""No analytic key-rate model ever beats the repeaterless bounds (PLOB, TGW).

PLOB (Pirandola et al., Nat. Commun. 8, 15043, 2017) bounds every point-to-point protocol
by -log2(1 - eta) secret bits per channel use, eta the channel transmittance. Our models
must respect it for the channel alone, and also for channel times detector efficiency
(every security proof used here attributes the detector loss to the channel).
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quaykey.physics.keyrate import key_rate, plob_bound, system_transmittance, tgw_bound
from quaykey.physics.params import Detector, LinkParams, SecurityParams, load_preset

_SETTINGS = {
    "derandomize": True,  # fixed examples: the same run every time
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow],
}


@st.composite
def links(draw: st.DrawFn) -> LinkParams:
    preset = draw(st.sampled_from(["gys", "lim2014", "backbone"]))
    distance = draw(st.floats(min_value=0.0, max_value=300.0))
    detector = Detector(
        efficiency=draw(st.floats(min_value=0.01, max_value=1.0)),
        dark_count_probability=draw(st.floats(min_value=0.0, max_value=1e-4)),
        afterpulse_probability=draw(st.floats(min_value=0.0, max_value=0.05)),
        misalignment_error=draw(st.floats(min_value=0.0, max_value=0.08)),
    )
    security = SecurityParams(
        error_correction_efficiency=draw(st.floats(min_value=1.0, max_value=1.5))
    )
    return replace(load_preset(preset, distance_km=distance), detector=detector, security=security)


def _check(params: LinkParams, model: str, block_bits: float | None = None) -> None:
    r = key_rate(params, model, block_bits=block_bits)
    eta_channel = r.channel_transmittance
    assert r.secret_key_rate_per_pulse >= 0.0
    assert r.secret_key_rate_per_pulse <= plob_bound(eta_channel)
    assert r.secret_key_rate_per_pulse <= plob_bound(system_transmittance(params))
    assert r.plob_bound_per_pulse <= r.tgw_bound_per_pulse or eta_channel == 0.0
    assert r.tgw_bound_per_pulse == tgw_bound(eta_channel)


@settings(max_examples=60, **_SETTINGS)
@given(params=links(), model=st.sampled_from(["asymptotic", "vacuum-weak", "bbm92"]))
def test_fast_models_never_exceed_plob(params: LinkParams, model: str) -> None:
    _check(params, model)


@settings(max_examples=25, **_SETTINGS)
@given(params=links())
def test_three_intensity_never_exceeds_plob(params: LinkParams) -> None:
    _check(params, "three-intensity")


@settings(max_examples=8, **_SETTINGS)
@given(params=links(), exponent=st.integers(min_value=4, max_value=12))
def test_finite_never_exceeds_plob(params: LinkParams, exponent: int) -> None:
    _check(params, "finite", block_bits=10.0**exponent)
