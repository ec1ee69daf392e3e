"""Channel loss in one place: the loss function, the trunk constants, transmittance checks."""

from __future__ import annotations

import pytest

from quaykey.physics.channels import (
    TRUNK_ATTENUATION_DB_PER_KM,
    TRUNK_FIXED_LOSS_DB,
    channel_loss_db,
    check_transmittance,
    fibre_loss_db,
    transmittance_segments,
)
from quaykey.physics.params import FibreChannel, FreeSpaceChannel, load_preset
from quaykey.units import db_to_transmittance


def test_fibre_loss_is_length_times_attenuation_plus_fixed() -> None:
    assert fibre_loss_db(100.0, 0.2) == pytest.approx(20.0, rel=1e-15)
    assert fibre_loss_db(70.0, TRUNK_ATTENUATION_DB_PER_KM, TRUNK_FIXED_LOSS_DB) == 19.5
    assert fibre_loss_db(0.0, 0.25, 2.0) == 2.0


@pytest.mark.parametrize("preset", ["gys", "lim2014", "backbone"])
@pytest.mark.parametrize("distance_km", [0.0, 37.5, 120.0])
def test_channel_loss_matches_the_channel_own_transmittance(
    preset: str, distance_km: float
) -> None:
    channel = load_preset(preset, distance_km).channel
    assert isinstance(channel, FibreChannel)
    assert channel_loss_db(channel) == channel.loss_db
    assert db_to_transmittance(channel_loss_db(channel)) == channel.transmittance()


def test_backbone_preset_is_the_trunk_fibre() -> None:
    channel = load_preset("backbone", 50).channel
    assert isinstance(channel, FibreChannel)
    assert channel.attenuation_db_per_km == TRUNK_ATTENUATION_DB_PER_KM
    assert channel.fixed_loss_db == TRUNK_FIXED_LOSS_DB


def test_free_space_loss_static_or_at_a_time() -> None:
    fixed = FreeSpaceChannel(loss_db=31.0)
    assert channel_loss_db(fixed) == 31.0
    assert channel_loss_db(fixed, time_s=5.0) == 31.0
    varying = FreeSpaceChannel(loss_db=30.0, loss_db_at=lambda t: 20.0 + t)
    assert channel_loss_db(varying) == 30.0
    assert channel_loss_db(varying, time_s=4.0) == 24.0
    segs = transmittance_segments(varying, 10, 10.0, time_step_s=0.5)
    assert [s.transmittance for s in segs] == [
        db_to_transmittance(channel_loss_db(varying, time_s=0.25 + 0.5 * i)) for i in range(2)
    ]


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), float("inf")])
def test_check_transmittance_refuses_values_outside_0_1(bad: float) -> None:
    with pytest.raises(ValueError, match="transmittance must be in"):
        check_transmittance(bad)
    assert check_transmittance(1) == 1.0
