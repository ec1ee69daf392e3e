"""Attack parsing, scenario weights and the PNS strategy's gain matching."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sps

from quaykey.physics.attacks import (
    InterceptResend,
    PhotonNumberSplitting,
    honest_scenarios,
    parse_attack,
)
from quaykey.physics.params import LinkParams, SPDCSource, load_preset


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("intercept-resend:0.3", InterceptResend(0.3)),
        ("intercept-resend", InterceptResend(1.0)),
        ("pns:1.0", PhotonNumberSplitting(1.0)),
        (" PNS:0 ", PhotonNumberSplitting(0.0)),
    ],
)
def test_parse_attack(spec: str, expected: object) -> None:
    assert parse_attack(spec) == expected


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("", "--eve"),
        ("beamsplitter:0.5", "unknown attack"),
        ("pns:abc", "not a number"),
        ("intercept-resend:1.5", r"\[0, 1\]"),
        ("intercept-resend:-0.1", r"\[0, 1\]"),
        ("pns:nan", r"\[0, 1\]"),
    ],
)
def test_parse_attack_rejects_bad_specs(spec: str, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        parse_attack(spec)
    assert "--eve" in str(info.value)


def test_spec_round_trips() -> None:
    for attack in (InterceptResend(0.25), PhotonNumberSplitting(1.0)):
        assert parse_attack(attack.spec) == attack


def test_fraction_is_validated() -> None:
    with pytest.raises(ValueError, match="fraction"):
        InterceptResend(2.0)
    with pytest.raises(ValueError, match="fraction"):
        PhotonNumberSplitting(-1.0)


@pytest.mark.parametrize(
    "attack", [InterceptResend(1.0), InterceptResend(0.3), PhotonNumberSplitting(0.6)]
)
@pytest.mark.parametrize("match", [True, False])
def test_scenario_weights_sum_to_one(attack: object, match: bool) -> None:
    params = load_preset("gys", 50)
    scen = attack.scenarios(params, 0, 0.1, match)  # type: ignore[attr-defined]
    assert math.isclose(sum(s.weight for s in scen), 1.0)
    assert len(honest_scenarios(params, 0, 0.1, match)) == 1


@pytest.mark.parametrize("distance_km", [40.0, 80.0, 150.0])
def test_pns_strategy_keeps_the_average_gain(distance_km: float) -> None:
    # independent computation: sum over photon numbers n of each intensity of the click
    # probability of the photons Eve forwards, against the honest Poisson click probability
    params = load_preset("gys", distance_km)
    eta_ch = params.channel.transmittance()
    eta_d = params.detector.efficiency
    st = PhotonNumberSplitting(1.0).strategy(params, eta_ch)
    assert st.gain_matched
    honest = attacked = 0.0
    for mu, p in zip(params.source.intensities, params.source.probabilities, strict=True):  # type: ignore[union-attr]
        honest += p * (1 - math.exp(-mu * eta_ch * eta_d))
        for n in range(1, 60):
            pn = sps.poisson.pmf(n, mu)
            if n == 1:
                attacked += p * pn * st.single_forward_probability * eta_d
            else:
                forwarded = 1 - (1 - eta_d) ** (n - 1)
                attacked += p * pn * st.multi_forward_probability * forwarded
    assert attacked == pytest.approx(honest, rel=1e-9)
    # at these distances Eve blocks every single photon
    assert st.single_forward_probability == 0.0


def test_pns_cannot_match_gain_at_zero_distance() -> None:
    st = PhotonNumberSplitting().strategy(load_preset("gys", 0), 1.0)
    assert not st.gain_matched and st.single_forward_probability == 1.0


def test_attacks_need_a_decoy_source() -> None:
    with pytest.raises(ValueError, match="DecoySource"):
        InterceptResend().scenarios(LinkParams(source=SPDCSource()), 0, 0.1, True)
