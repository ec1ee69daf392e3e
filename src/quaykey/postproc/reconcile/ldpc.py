"""Rate-adaptive (blind) LDPC syndrome reconciliation over a binary symmetric channel.

Bob drives the protocol; Alice answers from her own frame only.

Protocol
--------
Both sides agree (through Bob's first request, which is public) on a mother code
``H`` (``m x n``, from :func:`~quaykey.postproc.reconcile.codes.build_code`), on ``d``
rate-adaptation positions ``D`` (the first ``d`` entries of the code's untainted puncturing
order) and on the key positions (the other ``n - d`` columns). The input is cut into frames
of ``k = n - d`` key bits. A shorter last frame of ``k_t`` bits uses a shorter code of the
same rate (the shortest length ``n_t >= 256`` on a grid of four steps per octave, ``2**j``
times 1, 1.25, 1.5 or 1.75, with ``n_t - d_t >= k_t``, same share ``d_t / n_t`` of
adaptation positions) and pads its unused key columns with known zeros (shortening, at
most about a fifth of them). The padded columns are spread evenly over the key columns,
which the code lists by degree, so the frame keeps the code's degree profile: padding the
last columns instead (every one of the highest degree) gave f = 1.39-1.45 for the last
frame at Q = 1.5 % against 1.15-1.19 spread (docs/benchmarks.md, LDPC). Short codes need
a larger f (see docs/validation.md, LDPC).

1. **Syndrome.** For each frame Bob chooses ``p0`` punctured positions (``D[:p0]``) so that
   the first attempt leaks ``m - p0 ~ f_start * k * h(Q)``; the other ``d - p0`` positions of
   ``D`` are shortened (known zeros). Alice fills the punctured positions with private random
   bits, computes the syndrome of her extended word and sends it (``m`` bits per frame).
2. **Decode.** Bob runs layered belief propagation with the syndrome as constraint: LLR
   ``+-log((1-Q)/Q)`` on his key bits, 0 on punctured positions, +-100 on known ones.
3. **Reveal** (blind rounds, Martinez-Mateo, Elkouss, Martin 2012). For each frame that did
   not converge, Bob asks Alice to reveal the next ``step ~ f_step * k * h(Q)`` positions in
   the frame's public reveal order: first the punctured positions (last punctured first,
   turning them into shortened ones), then key positions in a public pseudo-random order.
   Bob fixes those bits and decodes again (afresh by default; see ``restart_every``). All
   pending frames share one request per round; with ``schedule="frames"`` a frame instead
   asks as soon as its own attempt fails (with the others of its pool that failed
   meanwhile), while the other frames go on decoding: the same reveals and the same
   result for every frame, more but smaller requests, and no decoder lanes left idle
   waiting for the slowest frame of a round. After ``max_rounds`` reveal rounds a frame
   that still fails is reported in ``failed_frames`` and Bob keeps his own bits for it.
   A converged frame satisfies Alice's syndrome but may still (rarely) differ from her
   frame; the pipeline's verification hash catches that.

Mother-code rate: the highest Table I rate whose adaptation window reaches ``f_ceiling``
(:func:`choose_rate`). Memory: Bob holds ``8 * (n + n_edges)`` bytes per frame being decoded
(about 3.5 MB per frame at ``n = 2**16``), all pending frames at once.

Leak accounting
---------------
A frame leaks ``m - p0 + t`` bits, where ``t`` is the number of bits Alice revealed for it.
Reason: given Alice's key ``x``, the syndrome ``s = H_K x + H_P u`` depends on her ``p0``
private random punctured bits ``u`` only through ``H_P u``; untainted puncturing gives the
columns of ``H_P`` disjoint supports, so ``H_P`` has full column rank and
``H(s | x) = p0``; hence ``I(x; s) <= m - p0``. Revealing ``t`` further bits (punctured or
key) adds at most ``t``: ``I(x; s, revealed) <= m + t - (p0 - t_p) - t_p = m - p0 + t``
where ``t_p`` of the ``t`` are punctured bits (``H(s, u_revealed | x) = p0``). So
``leaked_bits = (syndrome bits sent) + (revealed bits sent) - sum(p0)``; this is what
Elkouss, Martinez-Mateo, Lancho, Martin (2010) call ``m - p`` for the rate-compatible code
plus the revealed symbols of blind reconciliation. Shortened positions carry known zeros
and leak nothing.

References
----------
D. Elkouss, A. Leverrier, R. Alléaume, J. J. Boutros, "Efficient reconciliation protocol for
discrete-variable quantum key distribution", ISIT 2009, arXiv:0901.2140.
D. Elkouss, J. Martinez-Mateo, D. Lancho, V. Martin, "Rate compatible protocol for
information reconciliation: an application to QKD", ITW 2010, arXiv:1006.2660.
J. Martinez-Mateo, D. Elkouss, V. Martin, "Blind reconciliation", QIC 12(9&10):791-812, 2012.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from quaykey.postproc.reconcile._ldpc_array import ArrayCode, decode_frames_array, gpu_module
from quaykey.postproc.reconcile._ldpc_kernels import layered_decode
from quaykey.postproc.reconcile._ldpc_pools import (
    LanePool,
    decode_frames,
    pool_width,
    split_frames,
)
from quaykey.postproc.reconcile.base import Ask, ReconcileResult
from quaykey.postproc.reconcile.codes import RATES, LdpcCode, build_code
from quaykey.units import binary_entropy

__all__ = [
    "DECODERS",
    "START_BY_QBER",
    "LdpcAlice",
    "LdpcBob",
    "choose_rate",
    "decode_syndrome",
    "start_efficiency",
]

#: Wire version of the syndrome request: 2 since the last frame's code lengths and padded
#: columns changed (a peer of another version is refused, not misread).
_VERSION = 2
_HEADER = 8  # version, n, rate (percent), seed, d, total bits, n_frames, k
#: LLR given to a bit both sides know (shortened, padded or revealed).
KNOWN_LLR = 100.0
#: Decoders: the scalar kernel's two rules, sum-product on many frames at once
#: (:mod:`._ldpc_lanes`: float32, 16 frames in SIMD lanes per thread, all CPUs), and
#: sum-product on a GPU through CuPy (:mod:`._ldpc_array`: float64, flooding; optional).
DECODERS = ("sum-product", "min-sum", "sum-product-lanes", "sum-product-gpu")
#: Schedules of the blind rounds: all pending frames per request, or each frame on its own.
SCHEDULES = ("rounds", "frames")
#: Planning QBER floor: rates and step sizes are chosen as if Q were at least this.
_Q_FLOOR = 0.005


#: First-attempt efficiency by QBER, used when ``f_start=None``: rows ``(qber_below,
#: f_start)``, the first row whose bound exceeds Q applies. Measured with the lanes decoder
#: on 2**16 codes (``f_step=0.02``, ``stall=6``): at Q = 2-4 % almost no frame converges at
#: f = 1.06, so starting there costs a failed attempt (about 30 iterations) on every frame;
#: starting at 1.10 cut the iterations per frame from 125-135 to 67-94 for +0.002-0.004 in
#: f. At 4 %, 1.10 rather than 1.08 gave 1.4-1.8x the throughput for +0.003 in f (128
#: frames, twice each; docs/benchmarks.md, LDPC).
START_BY_QBER: tuple[tuple[float, float], ...] = ((0.045, 1.10), (1.0, 1.06))


def start_efficiency(qber: float) -> float:
    """The first attempt's efficiency for a QBER, from :data:`START_BY_QBER`.

    Example
    -------
    >>> start_efficiency(0.02), start_efficiency(0.04), start_efficiency(0.08)
    (1.1, 1.1, 1.06)
    """
    for bound, f in START_BY_QBER:
        if qber < bound:
            return f
    return START_BY_QBER[-1][1]


def choose_rate(qber: float, f_ceiling: float, adapt_fraction: float) -> float:
    """Pick the mother-code rate for a QBER: the highest rate that can still reach ``f_ceiling``.

    A full frame of ``k = n - d`` key bits leaks between ``m - p_max`` (every adaptation
    position punctured) and ``m`` (every one shortened, i.e. all punctured bits revealed).
    Blind rounds climb from the first attempt towards ``m``; the rate chosen is the highest
    one with ``m >= f_ceiling * k * h(Q)``, so that reveals can reach efficiency
    ``f_ceiling`` before the punctured bits run out.

    Parameters
    ----------
    qber
        Expected QBER (planning value), in ``(0, 0.5)``.
    f_ceiling
        Efficiency the adaptation window must reach.
    adapt_fraction
        ``d / n``.

    Returns
    -------
    float
        One of :data:`~quaykey.postproc.reconcile.codes.RATES` (the lowest, 0.5, if none
        reaches ``f_ceiling``).

    Raises
    ------
    ValueError
        If ``qber`` is outside ``[0, 1]``.

    Example
    -------
    >>> choose_rate(0.05, 1.2, 0.1)
    0.65
    """
    if not 0.0 <= qber <= 1.0:
        raise ValueError(f"qber must be in [0, 1], got {qber!r}")
    need = f_ceiling * (1 - adapt_fraction) * float(binary_entropy(float(qber)))
    fitting = [r for r in RATES if (1 - r) >= need]
    return max(fitting) if fitting else RATES[0]


@dataclass(frozen=True)
class _Layout:
    """Public layout of one frame in the mother code."""

    key_cols: NDArray[np.int64]  # columns carrying this frame's key bits, in key order
    punctured: NDArray[np.int64]  # D[:p0]
    known: NDArray[np.int64]  # shortened D[p0:] and padding columns (value 0)
    reveal_order: NDArray[np.int64]  # columns Alice may be asked to reveal, in order


#: Layouts already made, by ``(id(code), d, k_frame, p0, seed)``; each entry keeps its code
#: alive, so an id is never reused while its entry exists.
_LAYOUTS: dict[tuple[int, int, int, int, int], tuple[LdpcCode, _Layout]] = {}


def _layout(code: LdpcCode, d: int, k_frame: int, p0: int, seed: int) -> _Layout:
    """The public layout of a frame; full frames share one (it depends only on the arguments).

    The arrays are shared between frames and calls, so they are read-only.
    """
    key = (id(code), int(d), int(k_frame), int(p0), int(seed))
    hit = _LAYOUTS.get(key)
    if hit is not None and hit[0] is code:
        return hit[1]
    adapt = code.puncture_order[:d]
    mask = np.ones(code.length, dtype=bool)
    mask[adapt] = False
    all_key = np.flatnonzero(mask).astype(np.int64)
    # A short frame keeps k_frame key columns evenly spaced in column order (columns are
    # ordered by degree), so the padded known zeros take every degree in proportion.
    keep = np.zeros(all_key.size, dtype=bool)
    keep[(np.arange(k_frame, dtype=np.int64) * all_key.size) // max(k_frame, 1)] = True
    key_cols = all_key[keep]
    pad = all_key[~keep]
    punctured = adapt[:p0]
    known = np.concatenate([adapt[p0:], pad])
    perm = np.random.default_rng([int(seed), 0x5EED, k_frame]).permutation(k_frame)
    reveal_order = np.concatenate([punctured[::-1], key_cols[perm]])
    arrays = [a.copy() for a in (key_cols, punctured, known, reveal_order)]
    for a in arrays:
        a.flags.writeable = False
    lay = _Layout(*arrays)
    if len(_LAYOUTS) >= 64:
        _LAYOUTS.clear()
    _LAYOUTS[key] = (code, lay)
    return lay


#: Shortest code used for a short last frame.
_MIN_TAIL_LENGTH = 256
#: Code lengths of a short last frame per octave: ``2**j * (4 + i) / 4``, i = 0..3.
_TAIL_STEPS = 4


def _tail_length(n: int, d: int, k_t: int) -> int:
    """Code length for a last frame of ``k_t`` key bits, when full frames use ``n`` and ``d``.

    The shortest length ``n_t`` from 256 on a grid of :data:`_TAIL_STEPS` steps per octave
    (``2**j`` times 1, 1.25, 1.5, 1.75) with ``n_t - round(d * n_t / n) >= k_t``, and at most
    ``n``. The grid bounds the padding a frame needs (unused key columns, known zeros) to
    about a fifth of its key columns; each length is a code built once and cached.

    Example
    -------
    >>> _tail_length(65536, 6554, 23592), _tail_length(8192, 819, 1000), _tail_length(1024, 102, 10)
    (28672, 1280, 256)
    """
    base = _MIN_TAIL_LENGTH
    while True:
        for i in range(_TAIL_STEPS):
            n_t = base * (_TAIL_STEPS + i) // _TAIL_STEPS
            if n_t >= n:
                return n
            if n_t - round(d * n_t / n) >= k_t:
                return n_t
        base *= 2


def _frame_codes(n: int, d: int, total: int) -> list[tuple[int, int, int, int]]:
    """Public frame plan: ``(start, stop, code_length, adapt_positions)`` per frame.

    Full frames use the ``n``-bit code with ``d`` adaptation positions. A shorter last frame
    of ``k_t`` bits uses the code of :func:`_tail_length`, ``d_t = round(d * n_t / n)``, and
    pads any unused key columns with known zeros; this keeps its leak near ``f k_t h(Q)``
    instead of ``m - p`` of the big code.
    """
    k = n - d
    plan = [(lo, lo + k, n, d) for lo in range(0, total - k + 1, k)]
    lo = len(plan) * k
    if lo < total:
        n_t = _tail_length(n, d, total - lo)
        plan.append((lo, total, n_t, round(d * n_t / n)))
    return plan


def _as_bits(bits: NDArray[Any], name: str) -> NDArray[np.uint8]:
    arr = np.asarray(bits)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of bits")
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise ValueError(f"{name} must contain only 0 and 1")
    return arr.astype(np.uint8, copy=True)


def decode_syndrome(
    code: LdpcCode,
    llr: NDArray[np.float64],
    syndromes: NDArray[np.uint8],
    *,
    max_iter: int = 60,
    decoder: str = "sum-product",
    alpha: float = 0.8,
    threads: int | None = None,
) -> tuple[NDArray[np.uint8], NDArray[np.bool_], NDArray[np.int64]]:
    """Layered belief-propagation decoding of a batch of words given their syndromes.

    Parameters
    ----------
    code
        The LDPC code.
    llr
        float64 ``(n_words, length)``: prior LLRs ``log P(0)/P(1)`` of each bit.
    syndromes
        uint8 ``(n_words, n_checks)``: the target syndromes.
    max_iter
        Maximum layered iterations per word (each visits every check once).
    decoder
        ``"sum-product"`` (default), ``"min-sum"`` (normalised by ``alpha``) or
        ``"sum-product-lanes"`` (float32 sum-product, many words at once on ``threads``
        threads; see :mod:`._ldpc_lanes`) or ``"sum-product-gpu"`` (float64 sum-product,
        flooding schedule, on a CUDA GPU through CuPy; see :mod:`._ldpc_array`).
    alpha
        Min-sum normalisation factor in ``(0, 1]``.
    threads
        Threads of ``"sum-product-lanes"`` (default: every CPU this process may use).

    Returns
    -------
    tuple
        ``(bits, converged, iterations)``: hard decisions ``(n_words, length)`` uint8,
        whether each word's decision satisfies its syndrome, and iterations used.

    Raises
    ------
    ValueError
        If shapes disagree with the code, ``max_iter < 1``, ``decoder`` is unknown or
        ``alpha`` is out of range.
    AcceleratorUnavailableError
        For ``"sum-product-gpu"`` without CuPy or without a CUDA GPU.

    Example
    -------
    >>> code = build_code(256, 0.5, seed=3)
    >>> x = np.zeros((1, 256), dtype=np.uint8); x[0, 7] = 1
    >>> llr = np.where(np.zeros((1, 256)) == 0, 3.0, 0.0)
    >>> bits, ok, _ = decode_syndrome(code, llr, code.syndrome(x))
    >>> bool(ok[0]), int(bits[0, 7])
    (True, 1)

    References
    ----------
    Hocevar, IEEE SiPS 2004 (layered schedule); Chen and Fossorier, IEEE Trans. Commun.
    50(3), 2002 (normalised min-sum).
    """
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter!r}")
    llr2 = np.ascontiguousarray(np.atleast_2d(llr), dtype=np.float64)
    syn2 = np.ascontiguousarray(np.atleast_2d(syndromes), dtype=np.uint8)
    if llr2.shape[1] != code.length or syn2.shape[1] != code.n_checks:
        raise ValueError("llr must have code.length columns and syndromes code.n_checks")
    if llr2.shape[0] != syn2.shape[0]:
        raise ValueError("llr and syndromes must have the same number of rows")
    if decoder == "sum-product-lanes":
        return decode_frames(
            code.check_ptr, code.check_var, llr2, syn2, max_iter=int(max_iter), threads=threads
        )
    if decoder == "sum-product-gpu":
        return decode_frames_array(
            code.check_ptr, code.check_var, llr2, syn2, max_iter=int(max_iter), xp=gpu_module()
        )
    msg = np.zeros((llr2.shape[0], code.n_edges), dtype=np.float64)
    bits, converged, iterations = layered_decode(
        code.check_ptr,
        code.check_var,
        llr2.copy(),
        msg,
        syn2,
        int(max_iter),
        decoder == "min-sum",
        float(alpha),
        True,
        0,
    )
    return bits, converged, iterations


class LdpcAlice:
    """Alice's side: answers ``"syndrome"`` and ``"reveal"`` requests from her own bits.

    Parameters
    ----------
    frame_bits
        Alice's sifted key bits (1-D, 0/1).
    rng
        Generator (or seed) for the private random bits put in punctured positions; default
        fresh OS entropy.

    Raises
    ------
    ValueError
        If ``frame_bits`` is not a 1-D 0/1 array; from :meth:`respond`, if a request is
        malformed, asks for an unknown kind, or is out of order.

    Example
    -------
    >>> rng = np.random.default_rng(1)
    >>> a = rng.integers(0, 2, 3000, dtype=np.uint8)
    >>> b = a ^ (rng.random(3000) < 0.03).astype(np.uint8)
    >>> alice = LdpcAlice(a, rng=2)
    >>> res = LdpcBob(b, 0.03, seed=5, code_length=4096).run(alice.respond)
    >>> res.failed_frames, bool(np.array_equal(res.corrected, a))
    ((), True)
    """

    def __init__(
        self,
        frame_bits: NDArray[np.uint8],
        *,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        self._bits = _as_bits(frame_bits, "frame_bits")
        self._rng = np.random.default_rng(rng)
        self._words: list[NDArray[np.uint8]] | None = None
        self._layouts: list[_Layout] = []
        self._revealed: NDArray[np.int64] = np.zeros(0, dtype=np.int64)

    def __repr__(self) -> str:
        return f"LdpcAlice(bits={self._bits.size}, frames={len(self._layouts)})"

    def respond(
        self, kind: str, payload: NDArray[np.int64] | NDArray[np.uint8]
    ) -> NDArray[np.int64] | NDArray[np.uint8]:
        """Answer one request.

        Parameters
        ----------
        kind
            ``"syndrome"`` (payload: the public header and ``p0`` per frame, see
            :class:`LdpcBob`) or ``"reveal"`` (payload: pairs ``frame, count``).
        payload
            int64 request parameters.

        Returns
        -------
        NDArray[np.uint8]
            The syndromes of all frames, concatenated; or the revealed bits, concatenated
            in request order.

        Raises
        ------
        ValueError
            For an unknown kind, a malformed or inconsistent payload, or a reveal before
            the syndrome request.
        """
        p = np.asarray(payload, dtype=np.int64)
        if p.ndim != 1:
            raise ValueError("payload must be a 1-D int64 array")
        if kind == "syndrome":
            return self._syndrome(p)
        if kind == "reveal":
            return self._reveal(p)
        raise ValueError(f"unknown request kind {kind!r}; expected 'syndrome' or 'reveal'")

    def _syndrome(self, p: NDArray[np.int64]) -> NDArray[np.uint8]:
        if p.size < _HEADER or int(p[0]) != _VERSION:
            raise ValueError("syndrome request header is malformed")
        n, rate_pct, seed, d, total, n_frames, k = (int(x) for x in p[1:_HEADER])
        p0s = p[_HEADER:]
        if total != self._bits.size:
            raise ValueError(f"request is for {total} bits but Alice holds {self._bits.size}")
        if not 64 <= n <= 2**20 or not 0 <= d < n or k != n - d:
            raise ValueError("syndrome request has inconsistent n, d, k")
        plan = _frame_codes(n, d, total)
        if n_frames != len(plan) or p0s.size != n_frames:
            raise ValueError("syndrome request has the wrong number of frames")
        words = []
        layouts = []
        syndromes = []
        for (lo, hi, n_f, d_f), p0 in zip(plan, p0s.tolist(), strict=True):
            code = build_code(n_f, rate_pct / 100.0, seed)
            if not 0 <= p0 <= min(d_f, code.n_untainted):
                raise ValueError("punctured counts must be in [0, min(d, untainted)]")
            lay = _layout(code, d_f, hi - lo, p0, seed)
            word = np.zeros(n_f, dtype=np.uint8)
            word[lay.key_cols] = self._bits[lo:hi]
            word[lay.punctured] = self._rng.integers(0, 2, lay.punctured.size, dtype=np.uint8)
            words.append(word)
            layouts.append(lay)
            syndromes.append(code.syndrome(word))
        self._words = words
        self._layouts = layouts
        self._revealed = np.zeros(n_frames, dtype=np.int64)
        return np.concatenate(syndromes)

    def _reveal(self, p: NDArray[np.int64]) -> NDArray[np.uint8]:
        if self._words is None:
            raise ValueError("a reveal request must follow a syndrome request")
        if p.size % 2:
            raise ValueError("reveal payload must be (frame, count) pairs")
        out = []
        for f, count in p.reshape(-1, 2).tolist():
            if not 0 <= f < len(self._layouts):
                raise ValueError(f"reveal asks for frame {f}, which does not exist")
            order = self._layouts[f].reveal_order
            start = int(self._revealed[f])
            if count < 1 or start + count > order.size:
                raise ValueError(f"reveal count {count} is out of range for frame {f}")
            out.append(self._words[f][order[start : start + count]])
            self._revealed[f] = start + count
        if not out:
            return np.zeros(0, dtype=np.uint8)
        return np.concatenate(out).astype(np.uint8)


class LdpcBob:
    """Bob's side of blind rate-adaptive LDPC reconciliation (see the module docstring).

    Parameters
    ----------
    frame_bits
        Bob's sifted key bits (1-D, 0/1), any length.
    qber
        Bob's estimate of the QBER, in ``[0, 0.5)``; sets the LLRs, the mother-code rate
        and the step sizes (planned with ``max(qber, 0.005)``).
    seed
        Public seed: selects the code construction and the public reveal order.
    code_length
        Mother-code length ``n``.
    rate
        Mother-code rate; default chosen by :func:`choose_rate`.
    adapt_fraction
        ``d / n``, the share of each frame used for puncturing/shortening.
    f_start
        Efficiency aimed at by the first decoding attempt; ``None``: from the QBER,
        :func:`start_efficiency`.
    f_step
        Extra efficiency revealed per blind round (``step = ceil(f_step * k * h(Q))``).
    f_ceiling
        Efficiency that revealing all punctured bits must reach; sets the default rate.
    max_rounds
        Maximum number of reveal rounds after the syndrome.
    max_iter
        Maximum BP iterations of a fresh decoding attempt (from the priors).
    round_iter
        Maximum BP iterations of a warm attempt, which continues from the previous
        attempt's posteriors and messages after a reveal (only when ``restart_every > 1``).
    restart_every
        Every this many rounds a still-failing frame is decoded afresh. The default, 1,
        decodes afresh after every reveal: warm continuation is faster but, on the 2**16
        codes at Q = 2 %, needed about 0.03 more efficiency (trapped states).
    stall
        An attempt gives up early when its count of unsatisfied checks has not reached a
        new minimum for this many iterations (0, the default: never). ``stall=20`` roughly
        halves decoding time but costs a reveal step on some frames (benchmark at n = 2**16:
        f at Q = 2 % rose from 1.114 to 1.116; one frame from 1.156 to 1.171).
    decoder
        One of :data:`DECODERS`. ``"sum-product-lanes"`` decodes all pending frames at once
        on ``threads`` threads (float32; much faster), fresh or warm alike.
        ``"sum-product-gpu"`` decodes them at once on a CUDA GPU (CuPy; fresh attempts
        only, so ``restart_every`` must be 1).
    threads
        Threads of ``"sum-product-lanes"`` (default: every CPU this process may use). The
        result does not depend on it.
    schedule
        ``"rounds"`` (default): every pending frame is decoded, then one request reveals
        more bits of all that failed. ``"frames"`` (``"sum-product-lanes"`` with
        ``restart_every=1`` only): a frame's reveal is asked as soon as its attempt fails,
        together with those of its decoder pool that failed meanwhile, and its next attempt
        joins the pool while the other frames keep decoding. Every frame gets the same
        reveals and the same result as with ``"rounds"`` (so the same leak); there are
        more round trips, and much less decoder time is spent on idle lanes.

    Raises
    ------
    ValueError
        For bits that are not 0/1, a QBER outside ``[0, 0.5)`` or parameters out of range.
    AcceleratorUnavailableError
        For ``decoder="sum-product-gpu"`` without CuPy or without a CUDA GPU (raised here,
        before anything is asked of Alice).

    Example
    -------
    >>> rng = np.random.default_rng(1)
    >>> a = rng.integers(0, 2, 5000, dtype=np.uint8)
    >>> b = a ^ (rng.random(5000) < 0.05).astype(np.uint8)
    >>> res = LdpcBob(b, 0.05, seed=9, code_length=4096).run(LdpcAlice(a, rng=3).respond)
    >>> bool(np.array_equal(res.corrected, a)), res.frame_bounds
    (True, ((0, 3686), (3686, 5000)))

    References
    ----------
    Elkouss, Martinez-Mateo, Lancho, Martin, arXiv:1006.2660 (puncturing and shortening);
    Martinez-Mateo, Elkouss, Martin, QIC 12:791 (2012) (blind reconciliation).
    """

    def __init__(
        self,
        frame_bits: NDArray[np.uint8],
        qber: float,
        seed: int,
        *,
        code_length: int = 2**16,
        rate: float | None = None,
        adapt_fraction: float = 0.1,
        f_start: float | None = 1.02,
        f_step: float = 0.015,
        f_ceiling: float = 1.2,
        max_rounds: int = 20,
        max_iter: int = 80,
        round_iter: int = 20,
        restart_every: int = 1,
        stall: int = 0,
        decoder: str = "sum-product",
        threads: int | None = None,
        schedule: str = "rounds",
    ) -> None:
        self._bits = _as_bits(frame_bits, "frame_bits")
        if not 0.0 <= qber < 0.5:
            raise ValueError(f"qber must be in [0, 0.5), got {qber!r}")
        if not 64 <= code_length <= 2**20:
            raise ValueError(f"code_length must be in [64, 2**20], got {code_length!r}")
        if not 0.0 < adapt_fraction < 0.5:
            raise ValueError(f"adapt_fraction must be in (0, 0.5), got {adapt_fraction!r}")
        if f_start is None:
            f_start = start_efficiency(max(float(qber), _Q_FLOOR))
        if f_start <= 0 or f_step <= 0 or f_ceiling < f_start:
            raise ValueError("f_start and f_step must be positive and f_ceiling >= f_start")
        if max_rounds < 0 or stall < 0 or min(max_iter, round_iter, restart_every) < 1:
            raise ValueError(
                "max_rounds and stall must be >= 0; max_iter, round_iter, restart_every >= 1"
            )
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
        if decoder == "sum-product-gpu" and restart_every != 1:
            raise ValueError("decoder 'sum-product-gpu' decodes fresh only: restart_every=1")
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        if schedule == "frames" and (decoder != "sum-product-lanes" or restart_every != 1):
            raise ValueError(
                "schedule 'frames' needs decoder 'sum-product-lanes' and restart_every=1"
            )
        self._schedule = schedule
        self._xp = gpu_module() if decoder == "sum-product-gpu" else None
        self._array_codes: dict[int, ArrayCode] = {}  # per code length, kept between rounds
        self._threads = threads
        self._qber = float(qber)
        self._seed = int(seed)
        self._n = int(code_length)
        self._delta = float(adapt_fraction)
        self._f_start = float(f_start)
        self._f_step = float(f_step)
        self._f_ceiling = float(f_ceiling)
        self._max_rounds = int(max_rounds)
        self._max_iter = int(max_iter)
        self._round_iter = int(round_iter)
        self._restart_every = int(restart_every)
        self._stall = int(stall)
        self._decoder = decoder
        q_plan = max(self._qber, _Q_FLOOR)
        self._rate = (
            choose_rate(q_plan, self._f_ceiling, self._delta) if rate is None else float(rate)
        )
        if round(self._rate, 2) not in RATES:
            raise ValueError(f"rate must be one of {RATES}, got {rate!r}")

    def __repr__(self) -> str:
        return (
            f"LdpcBob(bits={self._bits.size}, qber={self._qber:.4f}, n={self._n}, "
            f"rate={self._rate:.2f})"
        )

    def run(self, ask: Ask) -> ReconcileResult:
        """Reconcile with Alice through ``ask``.

        Parameters
        ----------
        ask
            ``reply = ask(kind, payload)``, delivering requests to :meth:`LdpcAlice.respond`.

        Returns
        -------
        ReconcileResult
            Corrected bits, exact leak (see the module docstring), round trips, frames and
            the frames that failed after every reveal round.

        Raises
        ------
        ValueError
            If Alice's replies have the wrong size or are not bits.
        """
        if self._bits.size == 0:
            return ReconcileResult(np.zeros(0, dtype=np.uint8), 0, 0, ())
        plan = self._plan_frames()
        syndromes = self._ask_syndromes(ask, plan)
        leaked = sum(s.size for s in syndromes) - int(plan.p0s.sum())
        round_trips = 1
        state = _Decoding.start(self._bits, plan, self._seed, self._qber, self._restart_every > 1)
        if self._schedule == "frames":
            more, trips, lost = self._run_by_frame(ask, state, plan, syndromes)
            return ReconcileResult(
                corrected=state.corrected,
                leaked_bits=leaked + more,
                round_trips=round_trips + trips,
                frame_bounds=plan.bounds,
                failed_frames=tuple(sorted(lost)),
            )
        pending = np.arange(len(plan.frames))
        failed: list[int] = []
        for round_no in range(self._max_rounds + 1):
            pending = self._decode_round(state, plan, syndromes, pending, round_no)
            if pending.size == 0:
                break
            if round_no == self._max_rounds:
                failed = pending.tolist()
                break
            room = np.array([state.layouts[f].reveal_order.size for f in pending])
            counts = np.minimum(plan.steps[pending], room - state.revealed[pending])
            exhausted = counts <= 0
            failed.extend(pending[exhausted].tolist())
            pending, counts = pending[~exhausted], counts[~exhausted]
            if pending.size == 0:
                break
            leaked += self._ask_reveal(ask, state, pending, counts)
            round_trips += 1
        return ReconcileResult(
            corrected=state.corrected,
            leaked_bits=leaked,
            round_trips=round_trips,
            frame_bounds=plan.bounds,
            failed_frames=tuple(sorted(failed)),
        )

    def _run_by_frame(
        self,
        ask: Ask,
        state: _Decoding,
        plan: _FramePlan,
        syndromes: list[NDArray[np.uint8]],
    ) -> tuple[int, int, list[int]]:
        """The ``"frames"`` schedule: ``(revealed bits, reveal requests, failed frames)``.

        Each code's frames are split between :class:`LanePool` s, one per thread. A pool's
        thread decodes until some lanes are idle, then (one request at a time, under a
        lock) asks for the reveals of its frames that failed and puts them back.
        """
        lock = threading.Lock()
        attempts = np.zeros(len(plan.frames), dtype=np.int64)
        tally = {"leaked": 0, "trips": 0}
        failed: list[int] = []
        jobs: list[_PoolJob] = []
        for n_f, code in plan.codes.items():
            group = [f for f, fr in enumerate(plan.frames) if fr[2] == n_f]
            priors = np.ascontiguousarray(np.stack([state.llr[f] for f in group]), np.float32)
            syn = np.ascontiguousarray(np.stack([syndromes[f] for f in group]), np.uint8)
            bits = np.zeros((len(group), n_f), dtype=np.uint8)
            ok = np.zeros(len(group), dtype=np.bool_)
            its = np.zeros(len(group), dtype=np.int64)
            for rows in split_frames(len(group), self._threads):
                pool = LanePool(
                    code.check_ptr,
                    code.check_var,
                    priors,
                    syn,
                    pool_width(rows.size),
                    max_iter=self._max_iter,
                    stall=self._stall,
                    bits=bits,
                    converged=ok,
                    iterations=its,
                )
                pool.push(rows.tolist())
                jobs.append((pool, group, priors, bits, ok))
        aborted = threading.Event()

        def work(
            job: _PoolJob,
        ) -> None:
            pool, group, priors, bits, ok = job
            while (pool.busy or pool.waiting) and not aborted.is_set():
                stopped = pool.run()
                again: list[int] = []
                counts: list[int] = []
                with lock:
                    try:
                        for i in stopped:
                            f = group[i]
                            if ok[i]:
                                lo, hi, _, _ = plan.frames[f]
                                state.corrected[lo:hi] = bits[i, state.layouts[f].key_cols]
                                continue
                            attempts[f] += 1
                            room = state.layouts[f].reveal_order.size - state.revealed[f]
                            if attempts[f] > self._max_rounds or room <= 0:
                                failed.append(f)
                                continue
                            again.append(i)
                            counts.append(min(int(plan.steps[f]), int(room)))
                        if again:
                            frames = np.array([group[i] for i in again], dtype=np.int64)
                            tally["leaked"] += self._ask_reveal(
                                ask, state, frames, np.array(counts, dtype=np.int64)
                            )
                            tally["trips"] += 1
                            for i in again:
                                priors[i] = state.llr[group[i]]
                    except BaseException:
                        aborted.set()
                        raise
                pool.push(again)

        if len(jobs) == 1:
            work(jobs[0])
        else:
            with ThreadPoolExecutor(max_workers=len(jobs)) as ex:
                list(ex.map(work, jobs))
        return tally["leaked"], tally["trips"], failed

    def _plan_frames(self) -> _FramePlan:
        """The public frame plan, codes, first punctured counts and reveal steps."""
        n = self._n
        d = round(self._delta * n)
        frames = _frame_codes(n, d, self._bits.size)
        h = float(binary_entropy(max(self._qber, _Q_FLOOR)))
        codes = {n_f: build_code(n_f, self._rate, self._seed) for _, _, n_f, _ in frames}
        p0s = np.empty(len(frames), dtype=np.int64)
        steps = np.empty(len(frames), dtype=np.int64)
        for f, (lo, hi, n_f, d_f) in enumerate(frames):
            kf = hi - lo
            code = codes[n_f]
            p_cap = min(d_f, code.n_untainted)
            p0s[f] = min(max(round(code.n_checks - self._f_start * kf * h), 0), p_cap)
            steps[f] = max(1, math.ceil(self._f_step * kf * h))
        return _FramePlan(n=n, d=d, frames=frames, codes=codes, p0s=p0s, steps=steps)

    def _ask_syndromes(self, ask: Ask, plan: _FramePlan) -> list[NDArray[np.uint8]]:
        """Send the public header and punctured counts; split Alice's syndromes by frame."""
        header = np.array(
            [
                _VERSION,
                plan.n,
                round(self._rate * 100),
                self._seed,
                plan.d,
                self._bits.size,
                len(plan.frames),
                plan.n - plan.d,
            ],
            dtype=np.int64,
        )
        reply = np.asarray(ask("syndrome", np.concatenate([header, plan.p0s])))
        sizes = [plan.codes[n_f].n_checks for _, _, n_f, _ in plan.frames]
        if reply.size != sum(sizes):
            raise ValueError(f"syndrome reply has {reply.size} bits, expected {sum(sizes)}")
        flat = _as_bits(reply, "syndrome reply")
        return np.split(flat, np.cumsum(sizes)[:-1])

    def _decode_round(
        self,
        state: _Decoding,
        plan: _FramePlan,
        syndromes: list[NDArray[np.uint8]],
        pending: NDArray[np.int64],
        round_no: int,
    ) -> NDArray[np.int64]:
        """Decode every pending frame once (batched per code); return those still failing."""
        fresh = round_no % self._restart_every == 0
        iters = self._max_iter if fresh else self._round_iter
        ok_all = np.zeros(pending.size, dtype=bool)
        for n_f, code in plan.codes.items():
            sel = np.flatnonzero([plan.frames[f][2] == n_f for f in pending.tolist()])
            if sel.size == 0:
                continue
            group = pending[sel].tolist()
            if state.warm and fresh and round_no:
                state.restart(group)  # a warm state can sit in a trapping set
            sub_post = np.stack([state.post[f] for f in group])
            sub_syn = np.stack([syndromes[f] for f in group])
            if self._decoder in ("sum-product-lanes", "sum-product-gpu"):
                bits, ok, post_out, msg_out = self._decode_many(
                    code, state, group, sub_post, sub_syn, iters
                )
                state.absorb(plan, group, post_out, msg_out, bits, ok)
                ok_all[sel] = ok
                continue
            sub_msg = (
                np.stack([state.msg[f] for f in group])
                if state.warm
                else np.zeros((len(group), code.n_edges))
            )
            bits, ok, _ = layered_decode(
                code.check_ptr,
                code.check_var,
                sub_post,
                sub_msg,
                sub_syn,
                iters,
                self._decoder == "min-sum",
                0.8,
                True,
                self._stall,
            )
            state.absorb(plan, group, sub_post, sub_msg, bits, ok)
            ok_all[sel] = ok
        return pending[~ok_all]

    def _decode_many(
        self,
        code: LdpcCode,
        state: _Decoding,
        group: list[int],
        sub_post: NDArray[np.floating[Any]],
        sub_syn: NDArray[np.uint8],
        iters: int,
    ) -> tuple[NDArray[np.uint8], NDArray[np.bool_], NDArray[Any], NDArray[Any]]:
        """One attempt of the many-frames decoders: ``(bits, ok, post, msg)`` to absorb."""
        if self._xp is not None:
            layout = self._array_codes.get(code.length)
            if layout is None:
                layout = ArrayCode.build(code.check_ptr, code.check_var, code.length, self._xp)
                self._array_codes[code.length] = layout
            bits, ok, _ = decode_frames_array(
                code.check_ptr,
                code.check_var,
                sub_post,
                sub_syn,
                max_iter=iters,
                stall=self._stall,
                xp=self._xp,
                layout=layout,
            )
            return bits, ok, sub_post, sub_post  # fresh attempts only: nothing to keep
        post32 = np.ascontiguousarray(sub_post, dtype=np.float32)
        msg32 = (
            np.ascontiguousarray(np.stack([state.msg[f] for f in group]), dtype=np.float32)
            if state.warm
            else None
        )
        bits, ok, _ = decode_frames(
            code.check_ptr,
            code.check_var,
            post32,
            sub_syn,
            max_iter=iters,
            stall=self._stall,
            threads=self._threads,
            warm_msg=msg32,
        )
        return bits, ok, post32, post32 if msg32 is None else msg32

    @staticmethod
    def _ask_reveal(
        ask: Ask, state: _Decoding, pending: NDArray[np.int64], counts: NDArray[np.int64]
    ) -> int:
        """Ask Alice to reveal ``counts`` more bits of each pending frame; return their number."""
        req = np.column_stack([pending, counts]).reshape(-1).astype(np.int64)
        reply = np.asarray(ask("reveal", req))
        if reply.size != int(counts.sum()):
            raise ValueError(f"reveal reply has {reply.size} bits, expected {counts.sum()}")
        values = _as_bits(reply, "reveal reply")
        state.fix_revealed(pending, counts, values)
        return int(values.size)


#: One pool of the frame schedule: the pool, its code's frames (plan indices, by row), and
#: the priors, bits and converged flags it shares with the other pools of that code.
_PoolJob = tuple[LanePool, list[int], NDArray[np.float32], NDArray[np.uint8], NDArray[np.bool_]]


@dataclass(frozen=True, eq=False)
class _FramePlan:
    """Bob's public plan: frames ``(start, stop, code_length, adapt_positions)``, their
    codes by length, first punctured counts ``p0s`` and reveal steps."""

    n: int
    d: int
    frames: list[tuple[int, int, int, int]]
    codes: dict[int, LdpcCode]
    p0s: NDArray[np.int64]
    steps: NDArray[np.int64]

    @property
    def bounds(self) -> tuple[tuple[int, int], ...]:
        return tuple((lo, hi) for lo, hi, _, _ in self.frames)


@dataclass(eq=False)
class _Decoding:
    """Bob's decoding state of every frame: priors, layouts, reveals, corrected bits.

    Warm attempts keep each pending frame's decoder state (``post``, ``msg``) between
    rounds; fresh ones (the default) decode from the priors in a scratch state, and then
    ``post`` is the list of priors itself.
    """

    llr: list[NDArray[np.float64]]
    layouts: list[_Layout]
    revealed: NDArray[np.int64]
    corrected: NDArray[np.uint8]
    warm: bool
    post: list[NDArray[np.floating[Any]]]
    msg: list[NDArray[np.floating[Any]]]

    @classmethod
    def start(
        cls, bits: NDArray[np.uint8], plan: _FramePlan, seed: int, qber: float, warm: bool
    ) -> _Decoding:
        """Priors: ``+-log((1-Q)/Q)`` on key bits, 0 on punctured, known zeros elsewhere."""
        l_q = math.log((1 - max(qber, 1e-6)) / max(qber, 1e-6))
        llr: list[NDArray[np.float64]] = []
        layouts = []
        for f, (lo, hi, n_f, d_f) in enumerate(plan.frames):
            lay = _layout(plan.codes[n_f], d_f, hi - lo, int(plan.p0s[f]), seed)
            row = np.full(n_f, KNOWN_LLR)  # known zeros unless overwritten
            row[lay.punctured] = 0.0
            row[lay.key_cols] = l_q * (1.0 - 2.0 * bits[lo:hi])
            llr.append(row)
            layouts.append(lay)
        post: list[NDArray[np.floating[Any]]] = [row.copy() if warm else row for row in llr]
        return cls(
            llr=llr,
            layouts=layouts,
            revealed=np.zeros(len(plan.frames), dtype=np.int64),
            corrected=bits.copy(),
            warm=warm,
            post=post,
            msg=[np.zeros(plan.codes[n_f].n_edges) for _, _, n_f, _ in plan.frames] if warm else [],
        )

    def restart(self, frames: list[int]) -> None:
        """Start these frames' warm decoder state afresh from their priors."""
        for f in frames:
            self.post[f] = self.llr[f].copy()
            self.msg[f][:] = 0.0

    def absorb(
        self,
        plan: _FramePlan,
        group: list[int],
        sub_post: NDArray[np.floating[Any]],
        sub_msg: NDArray[np.floating[Any]],
        bits: NDArray[np.uint8],
        ok: NDArray[np.bool_],
    ) -> None:
        """Keep a decoding attempt: warm state, and the key bits of converged frames."""
        for i, f in enumerate(group):
            if self.warm:
                self.post[f] = sub_post[i]
                self.msg[f] = sub_msg[i]
            if ok[i]:
                lo, hi, _, _ = plan.frames[f]
                self.corrected[lo:hi] = bits[i, self.layouts[f].key_cols]

    def fix_revealed(
        self, frames: NDArray[np.int64], counts: NDArray[np.int64], values: NDArray[np.uint8]
    ) -> None:
        """Turn revealed bits into known ones (and shift a warm state by the same change)."""
        pos = 0
        for f, c in zip(frames.tolist(), counts.tolist(), strict=True):
            cols = self.layouts[f].reveal_order[self.revealed[f] : self.revealed[f] + c]
            new = KNOWN_LLR * (1.0 - 2.0 * values[pos : pos + c])
            if self.warm:
                self.post[f][cols] += new - self.llr[f][cols]
            self.llr[f][cols] = new
            self.revealed[f] += c
            pos += c
