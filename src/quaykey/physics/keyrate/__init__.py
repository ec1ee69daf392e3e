"""Analytic secret-key rates of a QKD link and the repeaterless bounds (PLOB, TGW).

The models are objects in a registry, :data:`KEYRATE_MODELS` (``asymptotic``,
``vacuum-weak``, ``three-intensity``, ``finite``, ``bbm92``; see
:mod:`quaykey.physics.keyrate.models` for each model's equations):
``KEYRATE_MODELS[name].rate(params, block_bits=..., optimise=...)``, or
:func:`key_rate` with the name.

Detection model shared by every model: the closed form of
:mod:`quaykey.physics.detectors` (:func:`click_probabilities`), two threshold detectors, one
per bit value, each with dark-count probability ``p_d`` per gate; photons reach the detector
side with total transmittance ``eta = eta_channel * eta_detector`` and hit the wrong detector
with probability ``e_d``; a double click is squashed to a random bit. Afterpulses follow the
link sampler (``afterpulse_model="next-gate"``, the default): a click not itself an
afterpulse makes the same detector click again, with probability ``p_ap``, in the next gate,
whatever Alice sent there. Every gate therefore sees an afterpulse background that depends
on the *mix* of intensities sent (their probabilities ``p_k``), not on its own intensity
(:func:`afterpulse_background`). ``afterpulse_model="lim2014"`` keeps Lim et al. (2014)'s
per-pulse approximation instead: detections ``D (1 + p_ap)``, errors ``+ p_ap D / 2``. Dead
time is not modelled (the background is that of dead time 0).

Sifting factor of the asymptotic BB84 models: ``q = q_x^2 + (1 - q_x)^2`` (both bases kept,
1/2 for the standard protocol). The finite and three-intensity models keep the X basis only.

The bounds ``plob_bound`` and ``tgw_bound`` take the transmittance of the *channel only*
(fibre or free space, without Bob's detector efficiency): that is the quantity the
repeaterless bounds are about, and every model here stays below it.

Modules: ``bounds`` (PLOB, TGW), ``gains`` (expected gains and QBERs of a link),
``rates`` (rate per pulse of each model at given settings), ``optimise`` (searches of the
source settings), ``models`` (the model objects and their registry), ``curves`` (rate over
fibre length, cutoff distance), ``observed`` (rates estimated from observed counts),
``result`` (:class:`KeyRateResult`).
"""

from __future__ import annotations

from quaykey.physics.detectors import (
    afterpulse_background,
    click_probabilities,
    single_photon_yield_and_error,
)
from quaykey.physics.keyrate.bounds import plob_bound, tgw_bound
from quaykey.physics.keyrate.curves import cutoff_distance_km, key_rate_curve
from quaykey.physics.keyrate.gains import expected_gains_and_qbers, system_transmittance
from quaykey.physics.keyrate.models import (
    KEYRATE_MODELS,
    MODELS,
    KeyRateModel,
    ModelName,
    key_rate,
    keyrate_model,
)
from quaykey.physics.keyrate.observed import (
    asymptotic_key_rate_estimate,
    estimate_secret_key_rate,
    observed_vacuum_weak_rate,
)
from quaykey.physics.keyrate.result import KeyRateResult

__all__ = [
    "KEYRATE_MODELS",
    "MODELS",
    "KeyRateModel",
    "KeyRateResult",
    "ModelName",
    "afterpulse_background",
    "asymptotic_key_rate_estimate",
    "click_probabilities",
    "cutoff_distance_km",
    "estimate_secret_key_rate",
    "expected_gains_and_qbers",
    "key_rate",
    "key_rate_curve",
    "keyrate_model",
    "observed_vacuum_weak_rate",
    "plob_bound",
    "single_photon_yield_and_error",
    "system_transmittance",
    "tgw_bound",
]
