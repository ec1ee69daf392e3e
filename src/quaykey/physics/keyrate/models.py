"""The key-rate models as objects, and the registry :data:`KEYRATE_MODELS` of them by name.

Each model is a :class:`KeyRateModel`: a ``name``, a one-line ``description`` and
``rate(params, block_bits=..., optimise=...)``. Callers look a model up by name
(``KEYRATE_MODELS["finite"].rate(params, block_bits=1e6)``, or :func:`key_rate`) instead of
branching on the name.

``asymptotic``
    GLLP with infinitely many decoys: the single-photon yield and error rate are known
    exactly. Rate ``q {-Q_mu f h(E_mu) + Q_1 [1 - h(e_1)]}`` with ``Q_1 = Y_1 mu e^{-mu}``,
    optimised over the signal intensity ``mu`` (Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005),
    GLLP rate and channel model).
``vacuum-weak``
    The same rate with ``Y_1`` and ``e_1`` bounded from a vacuum and one weak decoy of the
    source's second intensity ``nu`` (Ma et al. 2005, vacuum + weak decoy bounds); ``mu``
    optimised.
``three-intensity``
    The asymptotic limit of ``finite``: Lim et al. (2014) bounds without fluctuations,
    ``q_x -> 1`` and ``p_mu1 -> 1``, optimised over ``mu1`` and ``mu2`` (``mu3`` fixed).
``finite``
    Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014): three intensities, a block
    of ``block_bits`` sifted X detections, optimised over ``{q_x, p_mu1, p_mu2, mu1, mu2}``
    (``mu3`` fixed, as in the paper). With ``security.key_from_both_bases`` (the Micius
    presets) the Z-basis bits are a key too, bounded with the bases' roles swapped, and
    ``q_x`` is the source's basis choice (Liao et al., Nature 549, 43 (2017)).

The GLLP models (``asymptotic``, ``vacuum-weak``) and ``bbm92`` count the sifted bits of
both bases already (their sifting factor ``q_x^2 + (1 - q_x)^2``); ``three-intensity`` is
the ``q_x -> 1`` limit, where the Z basis carries no key.
``bbm92``
    Entanglement-based BBM92 with a thermal SPDC source in the middle of the link (each arm
    carries half the channel loss): the thermal-source gain and QBER of Ma, Fung, Lo,
    PRA 76, 012307 (2007); the mean pair number is optimised.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from quaykey.physics.keyrate.gains import decoy_source
from quaykey.physics.keyrate.optimise import (
    FINITE_EXTRA_STARTS,
    MU_MAX,
    finite_start,
    finite_unpack,
    maximise_scalar,
    optimise_finite,
    optimise_three_intensity,
)
from quaykey.physics.keyrate.rates import (
    asymptotic_rate,
    bbm92_rate,
    finite_rate,
    three_intensity_rate,
    vacuum_weak_rate,
)
from quaykey.physics.keyrate.result import KeyRateResult, make_result
from quaykey.physics.params import DecoySource, LinkParams, SPDCSource

__all__ = [
    "KEYRATE_MODELS",
    "MODELS",
    "AsymptoticModel",
    "BBM92Model",
    "FiniteModel",
    "KeyRateModel",
    "ModelName",
    "ThreeIntensityModel",
    "VacuumWeakModel",
    "key_rate",
    "keyrate_model",
]

# An optimiser's point (its parameter vector), passed on to warm-start the next link.
Point = NDArray[np.float64] | None


class KeyRateModel(ABC):
    """A key-rate model: its name, a one-line description and the rate of a link.

    Attributes
    ----------
    name
        The key in :data:`KEYRATE_MODELS` (and the ``--model`` of ``quaykey link keyrate``).
    description
        One line: the protocol and the paper.
    needs_block_bits
        Whether :meth:`rate` needs ``block_bits`` (the block size ``n_X``).
    """

    name: str = ""
    description: str = ""
    needs_block_bits: bool = False

    def rate(
        self, params: LinkParams, *, block_bits: float | None = None, optimise: bool = True
    ) -> KeyRateResult:
        """Secret-key rate of ``params``, the source settings optimised (or the link's own).

        Raises
        ------
        ValueError
            For a missing or bad ``block_bits`` (models that need it), or a source the
            model cannot use.
        """
        return self.solve(params, self.check_block_bits(block_bits), optimise=optimise)[0]

    def check_block_bits(self, block_bits: float | None) -> float | None:
        """``block_bits`` as a float for a model that needs it (checked), else ``None``."""
        if not self.needs_block_bits:
            return None
        if block_bits is None:
            raise ValueError(
                f"block_bits (the block size n_X) is required for the {self.name} model"
            )
        if not (
            isinstance(block_bits, int | float) and math.isfinite(block_bits) and block_bits >= 10
        ):
            raise ValueError(f"block_bits must be a number >= 10, got {block_bits!r}")
        return float(block_bits)

    @abstractmethod
    def solve(
        self,
        params: LinkParams,
        block_bits: float | None,
        *,
        optimise: bool = True,
        warm: Point = None,
    ) -> tuple[KeyRateResult, Point]:
        """The result and the optimiser's point, starting from ``warm`` where it helps.

        ``block_bits`` is already checked (:meth:`check_block_bits`); a curve over distances
        passes each optimum on as the next ``warm`` start.
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class AsymptoticModel(KeyRateModel):
    """GLLP with infinitely many decoys (Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005))."""

    name = "asymptotic"
    description = "GLLP, infinitely many decoys (Ma et al. 2005)"

    def solve(
        self,
        params: LinkParams,
        block_bits: float | None,
        *,
        optimise: bool = True,
        warm: Point = None,
    ) -> tuple[KeyRateResult, Point]:
        source = decoy_source(params)
        mu = (
            maximise_scalar(lambda x: asymptotic_rate(params, x)[0], 1e-3, MU_MAX)
            if optimise
            else source.intensities[0]
        )
        rate, gain, qber = asymptotic_rate(params, mu)
        return make_result(params, self.name, rate, mu, {"mu": mu}, qber, gain, None), None


class VacuumWeakModel(KeyRateModel):
    """GLLP with vacuum + one weak decoy bounds (Ma et al. 2005); the signal ``mu`` optimised."""

    name = "vacuum-weak"
    description = "GLLP, vacuum + weak decoy bounds (Ma et al. 2005)"

    def solve(
        self,
        params: LinkParams,
        block_bits: float | None,
        *,
        optimise: bool = True,
        warm: Point = None,
    ) -> tuple[KeyRateResult, Point]:
        source = decoy_source(params)
        if len(source.intensities) < 2:
            raise ValueError("the vacuum-weak model needs a source with a weak decoy intensity")
        nu = source.intensities[1]
        if not nu > 0:
            raise ValueError(f"the weak decoy intensity (intensities[1]) must be > 0, got {nu}")
        mu = (
            maximise_scalar(lambda x: vacuum_weak_rate(params, x, nu)[0], 1.05 * nu, MU_MAX)
            if optimise
            else source.intensities[0]
        )
        rate, gain, qber = vacuum_weak_rate(params, mu, nu)
        opt = {"mu": mu, "nu": nu}
        return make_result(params, self.name, rate, mu, opt, qber, gain, None), None


def _three_intensities(source: DecoySource, model: str) -> tuple[float, float, float]:
    """The source's ``(mu1, mu2, mu3)``, checked to be an order the Lim et al. bounds use."""
    if len(source.intensities) != 3:
        raise ValueError(
            f"the {model} model needs exactly three intensities, got {source.intensities}"
        )
    mu1, mu2, mu3 = source.intensities
    if not (mu1 > mu2 + mu3 and mu2 > mu3 >= 0.0):
        raise ValueError(
            "intensities in an order the model cannot use: the "
            f"{model} model needs mu1 > mu2 + mu3 and mu2 > mu3 >= 0, got {source.intensities}"
        )
    return mu1, mu2, mu3


class ThreeIntensityModel(KeyRateModel):
    """Lim et al. (2014) bounds without fluctuations, ``q_x -> 1``, ``p_mu1 -> 1``."""

    name = "three-intensity"
    description = "three intensities, asymptotic limit of Lim et al. 2014"

    def solve(
        self,
        params: LinkParams,
        block_bits: float | None,
        *,
        optimise: bool = True,
        warm: Point = None,
    ) -> tuple[KeyRateResult, Point]:
        source = decoy_source(params)
        mu1, mu2, mu3 = _three_intensities(source, self.name)
        if optimise:
            start = warm if warm is not None and warm.size == 2 else np.array([mu1, 0.2])
            x = optimise_three_intensity(params, start)
        else:
            x = np.array([mu1, (mu2 - mu3) / (mu1 - 2 * mu3)])
        mus = [float(x[0]), mu3 + float(x[1]) * (float(x[0]) - 2 * mu3), mu3]
        rate, gain, qber = three_intensity_rate(params, mus)
        opt = {"q_x": 1.0, "p_mu1": 1.0, "mu1": mus[0], "mu2": mus[1], "mu3": mu3}
        return make_result(params, self.name, rate, mus[0], opt, qber, gain, None), x


class FiniteModel(KeyRateModel):
    """Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014): a block of ``n_X`` bits."""

    name = "finite"
    description = "three intensities, finite key of n_X bits (Lim et al. 2014)"
    needs_block_bits = True

    def solve(
        self,
        params: LinkParams,
        block_bits: float | None,
        *,
        optimise: bool = True,
        warm: Point = None,
    ) -> tuple[KeyRateResult, Point]:
        source = decoy_source(params)
        mu3 = _three_intensities(source, self.name)[2]
        if block_bits is None:
            raise ValueError("block_bits (the block size n_X) is required for the finite model")
        default = finite_start(source)
        if optimise:
            starts = [default, *FINITE_EXTRA_STARTS]
            is_warm = warm is not None and warm.size == 5
            if warm is not None and is_warm:
                starts.insert(0, warm)
            x = optimise_finite(params, block_bits, starts, first_is_warm=is_warm)
        else:
            x = default
        qx, probs, mu_arr = finite_unpack(x, mu3)
        if params.security.key_from_both_bases:  # the source's passive basis choice
            qx = source.basis_probability_x
        rate, gain, qber, _bits = finite_rate(params, block_bits, qx, probs, mu_arr)
        opt = {
            "q_x": qx,
            "p_mu1": float(probs[0]),
            "p_mu2": float(probs[1]),
            "p_mu3": float(probs[2]),
            "mu1": float(mu_arr[0]),
            "mu2": float(mu_arr[1]),
            "mu3": mu3,
        }
        result = make_result(params, self.name, rate, mu_arr[0], opt, qber, gain, block_bits)
        return result, x


class BBM92Model(KeyRateModel):
    """BBM92 with a thermal SPDC source in the middle (Ma, Fung, Lo, PRA 76, 012307 (2007))."""

    name = "bbm92"
    description = "BBM92, thermal SPDC source in the middle (Ma, Fung, Lo 2007)"

    def solve(
        self,
        params: LinkParams,
        block_bits: float | None,
        *,
        optimise: bool = True,
        warm: Point = None,
    ) -> tuple[KeyRateResult, Point]:
        if isinstance(params.source, SPDCSource):
            bsrc = params.source
        else:
            bsrc = SPDCSource(
                basis_probability_x=params.source.basis_probability_x,
                repetition_rate_hz=params.source.repetition_rate_hz,
            )
        if bsrc.statistics != "thermal":
            raise ValueError("the bbm92 model needs source.statistics = 'thermal'")
        pairs = replace(params, source=bsrc)
        lam = (
            maximise_scalar(lambda x: bbm92_rate(pairs, x)[0], 1e-5, 2.0)
            if optimise
            else bsrc.mean_pairs_per_pulse
        )
        rate, gain, qber = bbm92_rate(pairs, lam)
        opt = {"mean_pairs_per_pulse": lam}
        return make_result(pairs, self.name, rate, lam, opt, qber, gain, None), None


ModelName = Literal["asymptotic", "vacuum-weak", "three-intensity", "finite", "bbm92"]

KEYRATE_MODELS: dict[str, KeyRateModel] = {
    m.name: m
    for m in (
        AsymptoticModel(),
        VacuumWeakModel(),
        ThreeIntensityModel(),
        FiniteModel(),
        BBM92Model(),
    )
}
"""Every key-rate model by name, in the order the CLI lists them."""

MODELS: tuple[str, ...] = tuple(KEYRATE_MODELS)
"""The model names (the keys of :data:`KEYRATE_MODELS`)."""


def keyrate_model(model: str | KeyRateModel) -> KeyRateModel:
    """The model object of a name in :data:`KEYRATE_MODELS` (a model object is returned as is).

    Raises
    ------
    ValueError
        For an unknown name.

    Example
    -------
    >>> keyrate_model("finite").needs_block_bits
    True
    """
    if isinstance(model, KeyRateModel):
        return model
    found = KEYRATE_MODELS.get(model) if isinstance(model, str) else None
    if found is None:
        raise ValueError(f"unknown model {model!r}; choose one of: {', '.join(MODELS)}")
    return found


def key_rate(
    params: LinkParams,
    model: str | KeyRateModel = "asymptotic",
    *,
    block_bits: float | None = None,
    optimise: bool = True,
) -> KeyRateResult:
    """Secret-key rate of a link under one model, with the parameters optimised.

    Parameters
    ----------
    params
        The link (any preset, any distance or loss).
    model
        A name in :data:`KEYRATE_MODELS` (``asymptotic``, ``vacuum-weak``,
        ``three-intensity``, ``finite`` or ``bbm92``; see each model's class for its
        equations), or a :class:`KeyRateModel` object.
    block_bits
        Block size ``n_X`` (sifted X detections per block); required for ``finite``.
    optimise
        Optimise the source settings (default) or use those in ``params``.

    Returns
    -------
    KeyRateResult
        Rate per pulse and per second, optimal settings, PLOB and TGW bounds.

    Raises
    ------
    ValueError
        For an unknown ``model``, a missing or bad ``block_bits``, a source that the model
        cannot use, or intensities in an order the model cannot use.

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> r = key_rate(load_preset("gys", distance_km=50), "asymptotic")
    >>> r.secret_key_rate_per_pulse < r.plob_bound_per_pulse
    True

    References
    ----------
    Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005); Lim, Curty, Walenta, Xu, Zbinden,
    PRA 89, 022307 (2014); Ma, Fung, Lo, PRA 76, 012307 (2007).
    """
    return keyrate_model(model).rate(params, block_bits=block_bits, optimise=optimise)
