"""Cascade information reconciliation (two parties, all frames batched).

Bob drives the protocol; Alice only answers parity requests from her own bits. The sifted
key is cut into frames of ``frame_bits_len`` bits (the last one shorter) and every frame is
reconciled at once: each protocol round sends one request that covers all frames, so round
trips do not grow with the number of frames.

Protocol (all messages are 1-D numpy arrays; see :mod:`quaykey.postproc.reconcile.base`):

1. ``ask("setup", [version, shuffle_seed, frame_bits_len, total_bits, n_passes])``: Alice
   checks that ``total_bits`` equals her key length, derives the public permutation of every
   pass from ``shuffle_seed`` and replies with an empty array (nothing disclosed).
2. ``ask("parities", rows)``: ``rows`` is a flat int64 array of ``(frame, pass, start,
   stop)`` quadruples; Alice replies with one parity bit per row, the XOR of her bits at
   positions ``start .. stop - 1`` of that pass's public order of that frame.

Bob's side implements the optimised Cascade of Martinez-Mateo et al. (2015): block sizes of
the variant opt.(8) (or opt.(7)), 14 passes, the cascade effect (a corrected bit toggles the
parity of the blocks containing it in every started pass, which are then searched again),
sub-block reuse (parities learnt during binary searches are kept; a search descends free of
charge through sub-blocks whose parity is already known), and block-parity inference (the
parity of the last block of passes after the first follows from the frame parity).
Contradictory replies (a search that would flip a bit twice) end that frame as failed. The
hot loops are numba kernels in :mod:`quaykey.postproc.reconcile._cascade_kernels`.

References
----------
.. [1] J. Martinez-Mateo, C. Pacher, M. Peev, A. Ciurana, V. Martin, "Demystifying the
   information reconciliation protocol Cascade", Quantum Inf. Comput. 15, 453 (2015),
   arXiv:1407.3257 (Sec. 4 and 5; block-size rules of opt.(7) and opt.(8)).
.. [2] G. Brassard, L. Salvail, "Secret-key reconciliation by public discussion",
   EUROCRYPT '93, LNCS 765, 410 (1994).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from quaykey.postproc.reconcile import _cascade_kernels as _k
from quaykey.postproc.reconcile.base import Ask, ReconcileResult

__all__ = [
    "CASCADE_VARIANTS",
    "CascadeAlice",
    "CascadeBob",
    "cascade_block_sizes",
]

#: Variants understood by :func:`cascade_block_sizes` (names of Martinez-Mateo et al. 2015).
CASCADE_VARIANTS: tuple[str, ...] = ("opt8", "opt7", "original")

_PROTOCOL_VERSION = 1
_SETUP_LEN = 5
_MAX_PASSES = 64
#: Longest frame that gets packed range masks (14.2 MB of masks at 2^16 bits, 14 passes;
#: they grow with the square of the frame length).
_MASK_MAX_FRAME_BITS = 2**16


def cascade_block_sizes(
    qber: float, frame_bits_len: int = 2**14, variant: str = "opt8"
) -> tuple[int, ...]:
    """Top-level block size of every pass for a frame of ``frame_bits_len`` bits.

    Parameters
    ----------
    qber
        Estimated quantum bit error rate, in (0, 0.5).
    frame_bits_len
        Frame length in bits (``>= 1``).
    variant
        ``"opt8"``: k1 = 2^⌈α⌉ with α = log2(1/Q) − 1/2, k2 = 2^⌈(α + 12)/2⌉, k3 = n/4
        (4096 at n = 2^14), then n/2, 14 passes. ``"opt7"``: k1 = 2^⌈log2(1/Q)⌉, k2 = 4·k1,
        then n/2, 14 passes. ``"original"``: Brassard–Salvail, k1 = ⌈0.73/Q⌉ doubling, 4
        passes.

    Returns
    -------
    tuple of int
        One block size per pass, each clipped to ``[1, ceil(n/2)]``.

    Raises
    ------
    ValueError
        If ``qber`` is not in (0, 0.5), ``frame_bits_len < 1`` or ``variant`` is unknown.

    Example
    -------
    >>> cascade_block_sizes(0.01)[:4]
    (128, 1024, 4096, 8192)

    References
    ----------
    Martinez-Mateo et al., QIC 15 (2015), arXiv:1407.3257, Sec. 5 (opt.(7), opt.(8)).
    """
    _check_qber(qber)
    if int(frame_bits_len) != frame_bits_len or frame_bits_len < 1:
        raise ValueError(f"frame_bits_len must be an integer >= 1, got {frame_bits_len!r}")
    n = int(frame_bits_len)
    if variant == "opt8":
        alpha = math.log2(1.0 / qber) - 0.5
        sizes = [2 ** math.ceil(alpha), 2 ** math.ceil((alpha + 12.0) / 2.0), -(-n // 4)]
        sizes += [-(-n // 2)] * (14 - len(sizes))
    elif variant == "opt7":
        k1 = 2 ** math.ceil(math.log2(1.0 / qber))
        sizes = [k1, 4 * k1] + [-(-n // 2)] * 12
    elif variant == "original":
        k1 = math.ceil(0.73 / qber)
        sizes = [k1, 2 * k1, 4 * k1, 8 * k1]
    else:
        raise ValueError(f"variant must be one of {CASCADE_VARIANTS}, got {variant!r}")
    cap = max(1, (n + 1) // 2)
    return tuple(max(1, min(int(k), cap)) for k in sizes)


def _check_qber(qber: float) -> None:
    if not (isinstance(qber, int | float | np.floating) and 0.0 < float(qber) < 0.5):
        raise ValueError(f"qber must be a number in (0, 0.5), got {qber!r}")


def _check_bits(bits: NDArray[np.uint8], name: str) -> NDArray[np.uint8]:
    arr = np.asarray(bits)
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D uint8 array, got {arr.dtype} with {arr.ndim} dims")
    if arr.size < 1:
        raise ValueError(f"{name} must hold at least one bit")
    if arr.max() > 1:
        raise ValueError(f"{name} must hold only 0/1 values")
    return arr


@dataclass(frozen=True, eq=False)
class _Layout:
    """Public geometry both parties derive from the setup message."""

    fstart: NDArray[np.int64]
    flen: NDArray[np.int64]
    perm_flat: NDArray[np.int32]
    inv_flat: NDArray[np.int32]
    perm_off: NDArray[np.int64]  # (frames, passes)
    masks: NDArray[np.int64]  # (rows, words): packed masks of long aligned ranges
    mask_base: NDArray[np.int64]  # (frames, passes, levels): first mask row, or -1

    @property
    def frame_bounds(self) -> tuple[tuple[int, int], ...]:
        return tuple((int(s), int(s + n)) for s, n in zip(self.fstart, self.flen, strict=True))


@lru_cache(maxsize=8)
def _class_orders(
    seed: int, length: int, n_passes: int, n_levels: int, n_words: int
) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int64] | None]:
    """The pass orders of frames of ``length`` bits, their interleaved inverses and their
    packed interval masks (``None`` when masks do not pay), read-only. Cached: with the
    fixed public seed every block's full-length frames reuse them."""
    perm, inv = _k.public_orders(seed, length, n_passes)
    masks = None
    if length >> _k.MASK_SHIFT and length <= _MASK_MAX_FRAME_BITS:
        masks = _k.build_masks(perm.reshape(-1), 0, length, n_passes, n_levels, n_words)
        masks.flags.writeable = False
    perm.flags.writeable = False
    inv.flags.writeable = False
    return perm, inv, masks


def _layout(seed: int, frame_bits_len: int, total_bits: int, n_passes: int) -> _Layout:
    n_full, rest = divmod(total_bits, frame_bits_len)
    lengths = [frame_bits_len] * n_full + ([rest] if rest else [])
    flen = np.asarray(lengths, dtype=np.int64)
    fstart = np.concatenate(([0], np.cumsum(flen)[:-1])).astype(np.int64)
    shift = _k.MASK_SHIFT
    max_len = max(lengths)
    n_levels = max(0, max_len.bit_length() - 1 - shift + 1)
    n_words = -(-max_len // 64)
    perms: list[NDArray[np.int32]] = []
    invs: list[NDArray[np.int32]] = []
    class_masks = []
    mask_row_of: dict[int, int] = {}
    offset_of: dict[int, int] = {}
    cursor = 0
    rows = 0
    for length in sorted(set(lengths)):
        class_perm, class_inv, built = _class_orders(seed, length, n_passes, n_levels, n_words)
        perms.append(class_perm.reshape(-1))
        offset_of[length] = cursor
        cursor += n_passes * length
        invs.append(class_inv)  # interleaved by bit: [x * n_passes + p]
        if built is not None:  # else too short to gain, or masks too large: scattered reads
            class_masks.append(built)
            mask_row_of[length] = rows
            rows += built.shape[0]
    perm_off = np.empty((len(lengths), n_passes), dtype=np.int64)
    for length, first in offset_of.items():
        perm_off[flen == length] = first + length * np.arange(n_passes)
    perm_flat = np.concatenate(perms)
    mask_base = np.full((len(lengths), n_passes, n_levels), -1, dtype=np.int64)
    pass_level = np.arange(n_passes)[:, None] * n_levels + np.arange(n_levels)[None, :]
    for length, first_row in mask_row_of.items():
        template = first_row + pass_level * (length >> shift)
        template[:, [length >> (shift + lv) == 0 for lv in range(n_levels)]] = -1
        mask_base[flen == length] = template
    masks = np.concatenate(class_masks) if class_masks else np.zeros((0, n_words), dtype=np.int64)
    return _Layout(
        fstart=fstart,
        flen=flen,
        perm_flat=perm_flat,
        inv_flat=np.concatenate(invs),
        perm_off=perm_off,
        masks=masks,
        mask_base=mask_base,
    )


def _pack(bits: NDArray[np.uint8], lay: _Layout) -> NDArray[np.int64]:
    """Bits packed per frame, 64 to a little-endian int64 word (bit x at word x >> 6)."""
    n_words = lay.masks.shape[1]
    padded = np.zeros((lay.flen.size, n_words * 64), dtype=np.uint8)
    n_full = int(np.count_nonzero(lay.flen == lay.flen[0]))
    if n_full:
        width = int(lay.flen[0])
        padded[:n_full, :width] = bits[: n_full * width].reshape(n_full, width)
    for f in range(n_full, lay.flen.size):
        start, length = int(lay.fstart[f]), int(lay.flen[f])
        padded[f, :length] = bits[start : start + length]
    packed = np.packbits(padded, axis=1, bitorder="little")
    return np.ascontiguousarray(packed).view("<i8").astype(np.int64, copy=False)


def _unpack(words: NDArray[np.int64], lay: _Layout) -> NDArray[np.uint8]:
    """Inverse of :func:`_pack`: the key as one uint8 array of 0/1."""
    per_frame = np.unpackbits(words.astype("<i8").view(np.uint8), axis=1, bitorder="little")
    n_full = int(np.count_nonzero(lay.flen == lay.flen[0]))
    width = int(lay.flen[0])
    parts = [per_frame[:n_full, :width].ravel()]
    parts += [per_frame[f, : int(lay.flen[f])] for f in range(n_full, lay.flen.size)]
    return np.concatenate(parts)


class CascadeAlice:
    """Alice's side of Cascade: answers parity requests from her own bits only.

    Parameters
    ----------
    frame_bits
        Alice's sifted key bits (1-D uint8, values 0/1), the whole key at once.

    Raises
    ------
    ValueError
        If ``frame_bits`` is not a non-empty 1-D uint8 array of 0/1 values.

    Example
    -------
    >>> import numpy as np
    >>> alice = CascadeAlice(np.zeros(8, dtype=np.uint8))
    >>> alice.respond("setup", np.array([1, 7, 8, 8, 2], dtype=np.int64)).size
    0
    >>> alice.respond("parities", np.array([0, 0, 0, 8], dtype=np.int64)).tolist()
    [0]
    """

    def __init__(self, frame_bits: NDArray[np.uint8]) -> None:
        self._bits = np.ascontiguousarray(_check_bits(frame_bits, "frame_bits"))
        self._layout: _Layout | None = None
        self._words = np.zeros((0, 0), dtype=np.int64)
        self._n_passes = 0

    def __repr__(self) -> str:
        return f"CascadeAlice(bits={self._bits.size}, set_up={self._layout is not None})"

    def respond(
        self, kind: str, payload: NDArray[np.int64] | NDArray[np.uint8]
    ) -> NDArray[np.int64] | NDArray[np.uint8]:
        """Answer one request from Bob.

        Parameters
        ----------
        kind
            ``"setup"`` (payload ``[version, shuffle_seed, frame_bits_len, total_bits,
            n_passes]``) or ``"parities"`` (payload: flat ``(frame, pass, start, stop)``
            quadruples).
        payload
            The request body, a 1-D int64 array.

        Returns
        -------
        numpy.ndarray
            Empty uint8 array for ``"setup"``; one uint8 parity bit per quadruple for
            ``"parities"``.

        Raises
        ------
        ValueError
            For an unknown kind, a malformed payload, a total length that differs from
            Alice's key, parities asked before setup, or a range outside a frame.
        """
        data = np.asarray(payload)
        if data.ndim != 1 or data.dtype.kind not in "iu":
            raise ValueError("payload must be a 1-D integer array")
        if kind == "setup":
            return self._setup(data.astype(np.int64, copy=False))
        if kind == "parities":
            return self._parities(data.astype(np.int64, copy=False))
        raise ValueError(f"unknown request kind {kind!r}; expected 'setup' or 'parities'")

    def _setup(self, data: NDArray[np.int64]) -> NDArray[np.uint8]:
        if data.size != _SETUP_LEN:
            raise ValueError(f"setup payload must hold {_SETUP_LEN} integers, got {data.size}")
        version, seed, frame_bits_len, total_bits, n_passes = (int(v) for v in data)
        if version != _PROTOCOL_VERSION:
            raise ValueError(f"unsupported Cascade protocol version {version}")
        if seed < 0:
            raise ValueError("shuffle seed must be non-negative")
        if frame_bits_len < 1:
            raise ValueError(f"frame_bits_len must be >= 1, got {frame_bits_len}")
        if total_bits != self._bits.size:
            raise ValueError(
                f"Bob announced {total_bits} bits but Alice holds {self._bits.size}; "
                "the two keys must have the same length"
            )
        if not 1 <= n_passes <= _MAX_PASSES:
            raise ValueError(f"n_passes must be in [1, {_MAX_PASSES}], got {n_passes}")
        self._layout = _layout(seed, frame_bits_len, total_bits, n_passes)
        self._words = _pack(self._bits, self._layout)
        self._n_passes = n_passes
        return np.zeros(0, dtype=np.uint8)

    def _parities(self, data: NDArray[np.int64]) -> NDArray[np.uint8]:
        lay = self._layout
        if lay is None:
            raise ValueError("parities requested before setup")
        if data.size % 4:
            raise ValueError("parities payload must be (frame, pass, start, stop) quadruples")
        req = np.ascontiguousarray(data.reshape(-1, 4))
        parities, status = _k.range_parities(
            self._words,
            lay.masks,
            lay.mask_base,
            lay.fstart,
            lay.flen,
            lay.perm_flat,
            lay.perm_off,
            req,
        )
        if status == 1:
            raise ValueError("parities request names a frame that does not exist")
        if status == 2:
            raise ValueError("parities request names a pass that does not exist")
        if status == 3:
            raise ValueError("parities request holds a range outside its frame")
        return parities


class CascadeBob:
    """Bob's side of Cascade: drives the protocol and corrects his own bits.

    Parameters
    ----------
    frame_bits
        Bob's sifted key bits (1-D uint8, values 0/1), the whole key at once.
    qber
        Estimated quantum bit error rate in (0, 0.5); sets the block sizes.
    seed
        Public shuffle seed (``>= 0``) sent to Alice in the setup request.
    frame_bits_len
        Frame length in bits (default 2^14, the paper's n); the last frame may be shorter.
    variant
        Block-size schedule, one of :data:`CASCADE_VARIANTS` (default ``"opt8"``).

    Raises
    ------
    ValueError
        If ``qber`` is not in (0, 0.5), ``frame_bits`` is not a non-empty 1-D uint8 array of
        0/1 values, ``seed`` is negative, ``frame_bits_len < 1`` or ``variant`` is unknown.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> a = rng.integers(0, 2, 5000, dtype=np.uint8)
    >>> b = a ^ (rng.random(5000) < 0.02).astype(np.uint8)
    >>> alice = CascadeAlice(a)
    >>> res = CascadeBob(b, qber=0.02, seed=7).run(alice.respond)
    >>> bool(np.array_equal(res.corrected, a)), res.frame_bounds
    (True, ((0, 5000),))

    References
    ----------
    Martinez-Mateo et al., QIC 15 (2015), arXiv:1407.3257.
    """

    def __init__(
        self,
        frame_bits: NDArray[np.uint8],
        qber: float,
        seed: int,
        *,
        frame_bits_len: int = 2**14,
        variant: str = "opt8",
    ) -> None:
        self._bits = _check_bits(frame_bits, "frame_bits")
        self._block_sizes = cascade_block_sizes(qber, frame_bits_len, variant)
        if int(seed) != seed or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self._seed = int(seed)
        self._frame_bits_len = int(frame_bits_len)
        self._variant = variant

    def __repr__(self) -> str:
        return (
            f"CascadeBob(bits={self._bits.size}, variant={self._variant!r}, "
            f"frame_bits_len={self._frame_bits_len}, passes={len(self._block_sizes)})"
        )

    def run(self, ask: Ask) -> ReconcileResult:
        """Reconcile Bob's bits with Alice's through ``ask``.

        Parameters
        ----------
        ask
            ``reply = ask(kind, payload)``, delivering a request to Alice (e.g.
            ``CascadeAlice.respond`` or an authenticated channel in front of it).

        Returns
        -------
        ReconcileResult
            Corrected bits, parity bits disclosed by Alice, round trips, frame bounds.
            ``failed_frames`` lists the frames whose parities contradicted each other (a
            search would have flipped a bit twice, which cannot happen with honest, intact
            replies); Bob stops working on such a frame. Cascade cannot see the residual
            errors of other frames, so a verification hash must follow.

        Raises
        ------
        ValueError
            If a reply has the wrong length or holds values other than 0/1.
        """
        lay = self._send_setup(ask)
        search = _Search.start(self._bits, lay, self._block_sizes)
        round_trips = 1
        leaked = 0
        while (n_req := search.plan(lay)) > 0:
            reply = self._ask_parities(ask, search.requests(n_req))
            round_trips += 1
            leaked += n_req
            search.absorb(lay, reply, n_req)
        return ReconcileResult(
            corrected=_unpack(search.words, lay),
            leaked_bits=leaked,
            round_trips=round_trips,
            frame_bounds=lay.frame_bounds,
            failed_frames=tuple(int(f) for f in np.flatnonzero(search.failed)),
        )

    def _send_setup(self, ask: Ask) -> _Layout:
        """Announce the public geometry; both sides derive the same layout from it."""
        n_passes = len(self._block_sizes)
        total = int(self._bits.size)
        lay = _layout(self._seed, self._frame_bits_len, total, n_passes)
        ask(
            "setup",
            np.array(
                [_PROTOCOL_VERSION, self._seed, self._frame_bits_len, total, n_passes],
                dtype=np.int64,
            ),
        )
        return lay

    @staticmethod
    def _ask_parities(ask: Ask, rows: NDArray[np.int64]) -> NDArray[np.uint8]:
        """Send one round of ``(frame, pass, start, stop)`` rows; check Alice's parities."""
        n_req = rows.shape[0]
        reply: NDArray[np.uint8] = np.asarray(ask("parities", rows.ravel()))
        if reply.shape != (n_req,):
            raise ValueError(f"Alice replied {reply.size} parities to {n_req} requests")
        if reply.dtype != np.uint8:
            reply = reply.astype(np.uint8)
        if reply.max() > 1:
            raise ValueError("Alice's parity reply holds values other than 0/1")
        return reply


@dataclass(eq=False)
class _Search:
    """Bob's working state of every frame's Cascade search, updated in place by the kernels.

    Block geometry per ``(frame, pass)``: ``block_size`` (clipped to a short last frame),
    ``n_blocks``, ``heap_slots`` per block (internal nodes only: single bits live in their
    parent), and the offsets of each pass's sub-block trees and blocks. The other arrays
    are the kernels' bookkeeping (see :mod:`._cascade_kernels`).
    """

    block_size: NDArray[np.int64]
    n_blocks: NDArray[np.int64]
    heap_slots: NDArray[np.int64]
    tree_offset: NDArray[np.int64]
    block_offset: NDArray[np.int64]
    tree: NDArray[np.int8]
    roots: NDArray[np.int8]
    words: NDArray[np.int64]
    marks: NDArray[np.int64]
    cur_pass: NDArray[np.int64]
    done: NDArray[np.uint8]
    starting: NDArray[np.uint8]
    total_parity: NDArray[np.uint8]
    bob_total: NDArray[np.uint8]
    cand_p: NDArray[np.int32]
    cand_b: NDArray[np.int32]
    cand_cnt: NDArray[np.int64]
    in_list: NDArray[np.uint8]
    eff: NDArray[np.int32]
    failed: NDArray[np.uint8]
    overflow: NDArray[np.uint8]
    req: NDArray[np.int64]
    pend: NDArray[np.int32]

    @classmethod
    def start(cls, bits: NDArray[np.uint8], lay: _Layout, block_sizes: tuple[int, ...]) -> _Search:
        """The state before the first round: no parity known, Bob's bits uncorrected."""
        n_passes = len(block_sizes)
        n_frames = lay.flen.size
        block_size = np.empty((n_frames, n_passes), dtype=np.int64)
        for f, m in enumerate(lay.flen):
            cap = max(1, (int(m) + 1) // 2)
            block_size[f] = [min(k, cap) for k in block_sizes]
        n_blocks = -(-lay.flen[:, None] // block_size)
        heap_slots = np.maximum(2, 2 ** np.ceil(np.log2(block_size)).astype(np.int64))
        sizes = (n_blocks * heap_slots).ravel()
        tree_offset = np.concatenate(([0], np.cumsum(sizes)[:-1])).reshape(n_frames, n_passes)
        blk = n_blocks.ravel()
        block_offset = np.concatenate(([0], np.cumsum(blk)[:-1])).reshape(n_frames, n_passes)
        total_blocks = int(blk.sum())
        words = _pack(bits, lay)  # Bob's working copy, corrected in place
        return cls(
            block_size=block_size,
            n_blocks=n_blocks,
            heap_slots=heap_slots,
            tree_offset=tree_offset,
            block_offset=block_offset,
            tree=np.zeros(int(sizes.sum()), dtype=np.int8),  # 0: parity unknown
            roots=np.zeros(total_blocks, dtype=np.int8),
            words=words,
            marks=np.zeros_like(words),
            cur_pass=np.full(n_frames, -1, dtype=np.int64),
            done=np.zeros(n_frames, dtype=np.uint8),
            starting=np.zeros(n_frames, dtype=np.uint8),
            total_parity=np.zeros(n_frames, dtype=np.uint8),
            bob_total=np.zeros(n_frames, dtype=np.uint8),
            cand_p=np.zeros(total_blocks, dtype=np.int32),
            cand_b=np.zeros(total_blocks, dtype=np.int32),
            cand_cnt=np.zeros(n_frames, dtype=np.int64),
            in_list=np.zeros(total_blocks, dtype=np.uint8),
            eff=_search_roots(lay, block_size, blk, block_offset, n_passes),
            failed=np.zeros(n_frames, dtype=np.uint8),
            overflow=np.zeros(n_frames, dtype=np.uint8),
            req=np.zeros((total_blocks, 4), dtype=np.int64),
            pend=np.zeros((total_blocks, 4), dtype=np.int32),
        )

    def requests(self, n_req: int) -> NDArray[np.int64]:
        """The ``(frame, pass, start, stop)`` rows written by the last :meth:`plan`."""
        return self.req[:n_req]

    def plan(self, lay: _Layout) -> int:
        """Correct what known parities locate; write the next requests; return their count."""
        return int(
            _k.bob_plan(
                self.marks,
                self.words,
                lay.fstart,
                lay.flen,
                lay.perm_flat,
                lay.inv_flat,
                lay.perm_off,
                self.block_size,
                self.n_blocks,
                self.heap_slots,
                self.tree_offset,
                self.block_offset,
                self.tree,
                self.roots,
                self.cur_pass,
                self.done,
                self.starting,
                self.total_parity,
                self.bob_total,
                self.cand_p,
                self.cand_b,
                self.cand_cnt,
                self.in_list,
                self.eff,
                self.failed,
                self.overflow,
                self.req,
                self.pend,
            )
        )

    def absorb(self, lay: _Layout, reply: NDArray[np.uint8], n_req: int) -> None:
        """Store Alice's parities for the last :meth:`plan`'s requests."""
        _k.bob_absorb(
            self.words,
            lay.masks,
            lay.mask_base,
            lay.fstart,
            lay.flen,
            lay.perm_flat,
            lay.perm_off,
            self.block_size,
            self.n_blocks,
            self.heap_slots,
            self.tree_offset,
            self.block_offset,
            self.tree,
            self.roots,
            self.cur_pass,
            self.starting,
            self.total_parity,
            self.bob_total,
            self.cand_p,
            self.cand_b,
            self.cand_cnt,
            self.in_list,
            self.overflow,
            self.req,
            self.pend,
            n_req,
            reply,
        )


def _search_roots(
    lay: _Layout,
    block_size: NDArray[np.int64],
    blocks_per_pass: NDArray[np.int64],
    block_offset: NDArray[np.int64],
    n_passes: int,
) -> NDArray[np.int32]:
    """Where each block's search stands: ``(node, first place, length)``, at its root.

    The root until a search descends, reset by flips. One row per block keeps it in one
    cache line.
    """
    n_blocks = int(blocks_per_pass.sum())
    eff = np.empty((n_blocks, 3), dtype=np.int32)
    eff[:, 0] = 1
    block_index = np.arange(n_blocks) - np.repeat(block_offset.ravel(), blocks_per_pass)
    block_k = np.repeat(block_size.ravel(), blocks_per_pass)
    eff[:, 1] = block_index * block_k
    frame_len = np.repeat(np.repeat(lay.flen, n_passes), blocks_per_pass)
    eff[:, 2] = np.minimum(block_k, frame_len - eff[:, 1])
    return eff
