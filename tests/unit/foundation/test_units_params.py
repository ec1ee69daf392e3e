"""Foundation: unit conversions and parameter validation."""

from __future__ import annotations

import math

import pytest

from quaykey.physics.params import DecoySource, Detector, FibreChannel, load_preset
from quaykey.units import binary_entropy, db_to_transmittance, transmittance_to_db


def test_db_round_trip() -> None:
    for loss in (0.0, 3.0, 21.0, 47.5):
        assert transmittance_to_db(db_to_transmittance(loss)) == pytest.approx(loss)


def test_binary_entropy_known_values() -> None:
    assert binary_entropy(0.5) == pytest.approx(1.0)
    assert binary_entropy(0.0) == 0.0
    assert binary_entropy(0.01) == pytest.approx(0.0808, abs=1e-4)


@pytest.mark.parametrize(
    ("factory", "name"),
    [
        (lambda: FibreChannel(length_km=-1), "length_km"),
        (lambda: DecoySource(probabilities=(0.5, 0.6, -0.1)), "probabilities[2]"),
        (lambda: DecoySource(probabilities=(0.5, 0.2, 0.2)), "sum to 1"),
        (lambda: DecoySource(intensities=(0.1, 0.5, 0.0)), "strictly decreasing"),
        (lambda: Detector(efficiency=1.5), "efficiency"),
        (lambda: Detector(misalignment_error=0.7), "misalignment_error"),
        (lambda: load_preset("nope"), "unknown preset"),
    ],
)
def test_bad_parameters_name_the_problem(factory, name: str) -> None:
    with pytest.raises(ValueError, match=name.replace("[", r"\[").replace("]", r"\]")):
        factory()


def test_preset_loss() -> None:
    params = load_preset("gys", distance_km=100)
    assert params.channel.loss_db == pytest.approx(21.0)
    assert math.isclose(params.channel.transmittance(), 10**-2.1)


def test_overrides_name_unknown_parameter() -> None:
    params = load_preset("backbone", distance_km=70)
    assert params.with_overrides({"detector.efficiency": 0.2}).detector.efficiency == 0.2
    with pytest.raises(ValueError, match=r"detector\.nonsense"):
        params.with_overrides({"detector.nonsense": 1})


def test_list_parameters_reject_text_and_name_the_field() -> None:
    params = load_preset("gys", distance_km=50)
    with pytest.raises(ValueError, match=r"source\.intensities must be a list"):
        params.with_overrides({"source.intensities": "abc"})
    with pytest.raises(ValueError, match="intensities must hold numbers"):
        DecoySource(intensities=("a", "b", "c"))
    with pytest.raises(ValueError, match="probabilities must be a list"):
        DecoySource(probabilities="0.5,0.25,0.25")  # type: ignore[arg-type]
