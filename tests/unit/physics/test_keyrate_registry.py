"""The registry of key-rate model objects: names, lookup, and the same numbers as key_rate."""

from __future__ import annotations

import pytest

import quaykey.physics.keyrate as keyrate
from quaykey.physics.keyrate import (
    KEYRATE_MODELS,
    MODELS,
    KeyRateModel,
    cutoff_distance_km,
    key_rate,
    key_rate_curve,
    keyrate_model,
)
from quaykey.physics.params import load_preset

# every name physics/keyrate.py exported before it became a package
_OLD_PUBLIC = [
    "MODELS",
    "KeyRateResult",
    "ModelName",
    "afterpulse_background",
    "click_probabilities",
    "cutoff_distance_km",
    "expected_gains_and_qbers",
    "key_rate",
    "key_rate_curve",
    "observed_vacuum_weak_rate",
    "plob_bound",
    "single_photon_yield_and_error",
    "system_transmittance",
    "tgw_bound",
]


def test_package_keeps_every_old_public_name() -> None:
    for name in _OLD_PUBLIC:
        assert name in keyrate.__all__, name
        assert getattr(keyrate, name) is not None, name


def test_registry_keys_are_the_model_names() -> None:
    assert tuple(KEYRATE_MODELS) == MODELS
    for name, model in KEYRATE_MODELS.items():
        assert isinstance(model, KeyRateModel)
        assert model.name == name
        assert model.description.strip(), name
    assert [m for m, obj in KEYRATE_MODELS.items() if obj.needs_block_bits] == ["finite"]


@pytest.mark.parametrize("name", ["asymptotic", "vacuum-weak", "three-intensity", "bbm92"])
def test_model_object_gives_what_key_rate_gives(name: str) -> None:
    params = load_preset("gys", 50)
    by_object = KEYRATE_MODELS[name].rate(params)
    by_name = key_rate(params, name)
    assert by_object == by_name
    assert by_object.optimal_parameters == by_name.optimal_parameters
    assert key_rate(params, KEYRATE_MODELS[name]) == by_name


def test_finite_model_object_needs_and_uses_block_bits() -> None:
    params = load_preset("lim2014", 50)
    model = KEYRATE_MODELS["finite"]
    with pytest.raises(ValueError, match="block_bits"):
        model.rate(params)
    with pytest.raises(ValueError, match="block_bits"):
        model.rate(params, block_bits=5)
    # the preset's own (unoptimised) settings give key only for long blocks
    small = model.rate(params, block_bits=1e7, optimise=False)
    large = model.rate(params, block_bits=1e9, optimise=False)
    assert small.secret_key_rate_per_pulse < large.secret_key_rate_per_pulse
    assert large.secret_key_rate_per_pulse > 0
    assert (small.block_bits, large.block_bits) == (1e7, 1e9)
    assert large == key_rate(params, "finite", block_bits=1e9, optimise=False)


def test_unknown_model_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown model 'gllp'; choose one of: asymptotic"):
        keyrate_model("gllp")
    with pytest.raises(ValueError, match="unknown model"):
        key_rate(load_preset("gys", 10), "gllp")
    with pytest.raises(ValueError, match="unknown model"):
        key_rate_curve(load_preset("gys"), "gllp", [0.0])
    with pytest.raises(ValueError, match="unknown model"):
        cutoff_distance_km(load_preset("gys"), "gllp")
    assert keyrate_model(KEYRATE_MODELS["bbm92"]) is KEYRATE_MODELS["bbm92"]
