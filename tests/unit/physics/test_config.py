"""THE ``--param`` parser and override application (:mod:`quaykey.physics.config`)."""

from __future__ import annotations

import pytest

from quaykey.physics.config import (
    apply_overrides,
    params_from_mapping,
    parse_param,
    parse_params,
    parse_value,
)
from quaykey.physics.params import load_preset


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("8e7", 8e7),
        ("1e-6", 1e-6),
        ("0.2", 0.2),
        ("3", 3),
        ("-1.5E3", -1500.0),
        ("0.1,0.05,0", (0.1, 0.05, 0)),
        ("[0.1, 0.05, 0]", (0.1, 0.05, 0)),
        ("[0.5]", (0.5,)),
        ("[]", ()),
        ("true", True),
        ("False", False),
        ("thermal", "thermal"),
        ("'quoted'", "quoted"),
        (" next-gate ", "next-gate"),
        ("a,b,c", ("a", "b", "c")),
    ],
)
def test_parse_value_reads_what_users_type(text: str, value: object) -> None:
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


def test_parse_param_and_params() -> None:
    assert parse_param("source.repetition_rate_hz=8e7") == ("source.repetition_rate_hz", 8e7)
    assert parse_params(["a.b=1", "a.b=2"]) == {"a.b": 2}  # the last wins
    assert parse_params(None) == {}
    for bad in ("detector.efficiency", "=0.2", ""):
        with pytest.raises(ValueError, match=r"^--param must look like group\.name=value"):
            parse_param(bad)


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("source.repetition_rate_hz", "8e7", 8e7),
        ("detector.dark_count_probability", "1e-6", 1e-6),
        ("source.intensities", "0.1,0.05,0", (0.1, 0.05, 0.0)),
        ("source.intensities", "[0.1, 0.05, 0]", (0.1, 0.05, 0.0)),
        ("source.names", "s,d,v", ("s", "d", "v")),
        ("detector.afterpulse_model", "lim2014", "lim2014"),
        ("channel.attenuation_db_per_km", "0.18", 0.18),
    ],
)
def test_text_values_are_read_by_the_type_of_their_field(
    key: str, text: str, expected: object
) -> None:
    p = apply_overrides(load_preset("gys", distance_km=50), {key: text})
    group, name = key.split(".")
    assert getattr(getattr(p, group), name) == expected


def test_parsed_and_text_values_give_the_same_link() -> None:
    base = load_preset("gys", distance_km=50)
    from_text = apply_overrides(base, parse_params(["source.intensities=0.6,0.1,0"]))
    from_list = apply_overrides(base, {"source.intensities": [0.6, 0.1, 0.0]})
    assert from_text == from_list


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("source.repetition_rate_hz", "abc", "--param source.repetition_rate_hz must be a number"),
        ("source.repetition_rate_hz", True, "--param source.repetition_rate_hz must be a number"),
        ("source.repetition_rate_hz", "-1", "--param source.repetition_rate_hz: repetition_rate"),
        ("source.repetition_rate_hz", "inf", "must be a finite number"),
        ("source.intensities", "abc", "--param source.intensities must be a list"),
        ("source.intensities", "0.1,x,0", r"--param source.intensities\[1\] must be a number"),
        ("source.probabilities", "0.5,0.2,0.2", "--param source.probabilities: .*sum to 1"),
        ("detector.nosuch", "1", "--param detector.nosuch: unknown parameter; detector has"),
        ("sauce.x", "1", "--param sauce.x: unknown parameter"),
        ("channel.loss_db_at", "1", "unknown parameter"),
        ("detector.afterpulse_model", 3, "--param detector.afterpulse_model must be a name"),
        ("detector.afterpulse_model", "x", "--param detector.afterpulse_model: afterpulse_model"),
    ],
)
def test_errors_name_the_flag_and_the_field(key: str, value: object, needle: str) -> None:
    with pytest.raises(ValueError, match=needle) as info:
        apply_overrides(load_preset("gys", distance_km=50), {key: value})
    assert "\n" not in str(info.value)


def test_config_mapping_errors_name_config() -> None:
    base = load_preset("gys", distance_km=50)
    # YAML reads 1e-6 (no dot) as text: the field's type still makes it a number
    p = params_from_mapping({"detector": {"dark_count_probability": "1e-6"}}, base)
    assert p.detector.dark_count_probability == 1e-6
    with pytest.raises(ValueError, match=r"^--config detector\.efficiency must be a number"):
        params_from_mapping({"detector": {"efficiency": "high"}}, base)
    with pytest.raises(ValueError, match=r"^--config: unknown parameter group .sauce."):
        params_from_mapping({"sauce": {"x": 1}}, base)


def test_with_overrides_is_the_same_path() -> None:
    base = load_preset("backbone", distance_km=70)
    assert base.with_overrides({"source.repetition_rate_hz": "8e7"}) == apply_overrides(
        base, {"source.repetition_rate_hz": 8e7}
    )
    with pytest.raises(ValueError, match=r"^detector\.nonsense: unknown parameter"):
        base.with_overrides({"detector.nonsense": 1})
