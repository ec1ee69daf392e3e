"""The result of a key-rate model: :class:`KeyRateResult` and how a model builds one."""

from __future__ import annotations

from dataclasses import dataclass, field

from quaykey.physics.keyrate.bounds import plob_bound, tgw_bound
from quaykey.physics.params import LinkParams

__all__ = ["KeyRateResult", "make_result"]


@dataclass(frozen=True)
class KeyRateResult:
    """Secret-key rate of one link under one model.

    Attributes
    ----------
    model
        The model name (see :data:`MODELS`).
    distance_km
        Fibre length (0 for a free-space channel given only by loss).
    secret_key_rate_per_pulse
        Secret bits per pulse sent (per pair-generation attempt for ``bbm92``), >= 0.
    secret_key_rate_bps
        ``secret_key_rate_per_pulse * repetition_rate_hz``.
    optimal_signal_intensity
        The signal intensity ``mu`` (mean pairs per pulse for ``bbm92``) that maximises the
        rate, or the source's own when not optimised.
    optimal_parameters
        Every optimised parameter by name (e.g. ``q_x``, ``p_mu1``, ``mu2``).
    plob_bound_per_pulse, tgw_bound_per_pulse
        Repeaterless bounds for the channel transmittance (detector efficiency excluded).
    qber
        Error rate of the key (signal) detections at the optimum.
    gain
        Detection probability per signal pulse at the optimum (coincidence probability for
        ``bbm92``).
    channel_transmittance
        The channel's power transmittance (detector excluded).
    block_bits
        The block size ``n_X`` of the ``finite`` model (``None`` otherwise).
    """

    model: str
    distance_km: float
    secret_key_rate_per_pulse: float
    secret_key_rate_bps: float
    optimal_signal_intensity: float
    optimal_parameters: dict[str, float] = field(compare=False)
    plob_bound_per_pulse: float
    tgw_bound_per_pulse: float
    qber: float
    gain: float
    channel_transmittance: float
    block_bits: float | None = None

    def to_dict(self) -> dict[str, object]:
        """The result as a JSON-ready mapping whose keys carry units."""
        return {
            "model": self.model,
            "distance_km": self.distance_km,
            "secret_key_rate_per_pulse": self.secret_key_rate_per_pulse,
            "secret_key_rate_bps": self.secret_key_rate_bps,
            "optimal_signal_intensity": self.optimal_signal_intensity,
            "optimal_parameters": dict(self.optimal_parameters),
            "plob_bound_per_pulse": self.plob_bound_per_pulse,
            "tgw_bound_per_pulse": self.tgw_bound_per_pulse,
            "qber": self.qber,
            "gain_per_pulse": self.gain,
            "channel_transmittance": self.channel_transmittance,
            "block_bits": self.block_bits,
        }


def make_result(
    params: LinkParams,
    model: str,
    rate: float,
    mu: float,
    opt: dict[str, float],
    qber: float,
    gain: float,
    block_bits: float | None,
) -> KeyRateResult:
    """The result of ``model`` at its optimum: rate clipped at 0, bounds of the channel."""
    rate = max(float(rate), 0.0)
    t = float(params.channel.transmittance())
    return KeyRateResult(
        model=model,
        distance_km=params.distance_km,
        secret_key_rate_per_pulse=rate,
        secret_key_rate_bps=rate * params.source.repetition_rate_hz,
        optimal_signal_intensity=float(mu),
        optimal_parameters=opt,
        plob_bound_per_pulse=plob_bound(t),
        tgw_bound_per_pulse=tgw_bound(t),
        qber=float(qber),
        gain=float(gain),
        channel_transmittance=t,
        block_bits=block_bits,
    )
