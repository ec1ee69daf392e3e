"""No simulated block's estimated key rate ever beats the PLOB bound of its channel.

PLOB (Pirandola, Laurenza, Ottaviani, Banchi, Nat. Commun. 8, 15043 (2017)): no
point-to-point protocol distils more than -log2(1 - eta) secret bits per channel use over a
pure-loss channel of transmittance eta. The estimate checked here is the one
``quaykey link simulate`` reports (Lim et al. 2014 finite-key bound on the block's observed
counts), over random presets, distances, detectors, block sizes, attacks and seeds. Most
random examples give a rate of 0 (short blocks, long distances, attacks); the explicit
example below makes sure positive rates are exercised too.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quaykey.physics.attacks import InterceptResend, PhotonNumberSplitting
from quaykey.physics.keyrate import estimate_secret_key_rate
from quaykey.physics.params import FREE_SPACE_PRESETS, Detector, LinkParams, load_preset
from quaykey.physics.pulse_classes import bb84_class_probabilities
from quaykey.physics.sampler import simulate_link

MAX_CLICKS = 2_000_000  # keeps each example well under a second


@st.composite
def links(draw: st.DrawFn) -> LinkParams:
    preset = draw(st.sampled_from(["gys", "lim2014", "backbone", "micius-2017"]))
    if preset in FREE_SPACE_PRESETS:
        params = load_preset(preset, loss_db=draw(st.floats(min_value=0.0, max_value=50.0)))
    else:
        params = load_preset(preset, distance_km=draw(st.floats(min_value=0.0, max_value=250.0)))
    detector = Detector(
        efficiency=draw(st.floats(min_value=0.02, max_value=1.0)),
        dark_count_probability=draw(st.floats(min_value=0.0, max_value=1e-4)),
        afterpulse_probability=draw(st.floats(min_value=0.0, max_value=0.05)),
        misalignment_error=draw(st.floats(min_value=0.0, max_value=0.08)),
    )
    # balanced-ish bases give the finite-key bound enough test-basis events to be positive
    qx = draw(st.floats(min_value=0.5, max_value=0.75))
    return replace(params, detector=detector, source=replace(params.source, basis_probability_x=qx))


@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    params=links(),
    log10_pulses=st.floats(min_value=5.0, max_value=10.5),
    attack=st.sampled_from(
        [None, InterceptResend(1.0), InterceptResend(0.2), PhotonNumberSplitting()]
    ),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_estimated_rate_never_beats_plob(
    params: LinkParams, log10_pulses: float, attack: object, seed: int
) -> None:
    eta = params.channel.transmittance()
    p_click = 1.0 - float(bb84_class_probabilities(params, eta)[..., -1].sum())
    n = int(min(10**log10_pulses, MAX_CLICKS / max(p_click, 1e-12)))
    sample = simulate_link(params, n, np.random.default_rng(seed), attack=attack)  # type: ignore[arg-type]
    rate = estimate_secret_key_rate(sample, params)
    if rate is None:
        return
    plob = math.inf if eta >= 1.0 else -math.log2(1.0 - eta)
    assert 0.0 <= rate <= plob


def test_a_positive_estimate_is_below_plob() -> None:
    params = load_preset("lim2014", 25).with_overrides({"source.basis_probability_x": 0.5})
    sample = simulate_link(params, 3 * 10**8, np.random.default_rng(3))
    rate = estimate_secret_key_rate(sample, params)
    assert rate is not None and rate > 0
    assert rate < -math.log2(1.0 - params.channel.transmittance())
