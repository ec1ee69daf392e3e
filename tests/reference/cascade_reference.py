"""Slow, obviously-correct pure-Python twins of the Cascade kernels.

``range_parities_reference`` is the twin of ``_cascade_kernels.range_parities`` and
``build_masks_reference`` of ``_cascade_kernels.build_masks``.

``public_orders_reference`` is the twin of ``_cascade_kernels.public_orders`` (SplitMix64
and Fisher-Yates on Python integers).

``ReferenceCascadeBob`` is the twin of ``_cascade_kernels.bob_plan`` and
``_cascade_kernels.bob_absorb`` together: it follows the same protocol and the same search
policy, but keeps Alice's disclosed parities in a plain dict keyed by
``(pass, start, length)`` and recomputes every mismatch from Bob's current bits when it
needs one, instead of maintaining packed sub-block trees incrementally. Feeding both the
same input must give the same request in every round (tests/unit/postproc/
test_cascade_kernels.py checks this).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from quaykey.postproc.reconcile.base import ReconcileResult
from quaykey.postproc.reconcile.cascade import _layout, cascade_block_sizes

__all__ = [
    "ReferenceCascadeBob",
    "build_masks_reference",
    "public_orders_reference",
    "range_parities_reference",
]

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _splitmix64(state: int) -> tuple[int, int]:
    state = (state + _GOLDEN) & _M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return state, z ^ (z >> 31)


def public_orders_reference(seed: int, length: int, n_passes: int) -> list[list[int]]:
    """Each pass's order: a Fisher-Yates shuffle of ``range(length)`` by SplitMix64."""
    state, _ = _splitmix64(((seed * _GOLDEN) & _M64) ^ length)
    orders = []
    for _ in range(n_passes):
        order = list(range(length))
        for i in range(length - 1, 0, -1):
            state, r = _splitmix64(state)
            j = r % (i + 1)
            order[i], order[j] = order[j], order[i]
        orders.append(order)
    return orders


def range_parities_reference(
    bits: NDArray[np.uint8],
    fstart: NDArray[np.int64],
    perm_flat: NDArray[np.int32],
    perm_off: NDArray[np.int64],
    req: NDArray[np.int64],
) -> NDArray[np.uint8]:
    """Parity of ``bits`` over each ``(frame, pass, start, stop)`` range, one bit at a time."""
    out = []
    for frame, pas, start, stop in req.tolist():
        parity = 0
        for i in range(start, stop):
            parity ^= int(bits[int(fstart[frame]) + int(perm_flat[int(perm_off[frame, pas]) + i])])
        out.append(parity)
    return np.array(out, dtype=np.uint8)


def build_masks_reference(
    perm_flat: NDArray[np.int32],
    class_off: int,
    length: int,
    n_passes: int,
    n_levels: int,
    n_words: int,
    mask_shift: int,
) -> NDArray[np.int64]:
    """Masks of aligned intervals, one Python int per mask, then cut into 64-bit words."""
    rows_per = length >> mask_shift
    out = np.zeros((n_passes * n_levels * rows_per, n_words), dtype=np.int64)
    for p in range(n_passes):
        order = [int(x) for x in perm_flat[class_off + p * length : class_off + (p + 1) * length]]
        for lv in range(n_levels):
            size = 2 ** (mask_shift + lv)
            for j in range(length // size):
                mask = sum(1 << x for x in order[j * size : (j + 1) * size])
                row = (p * n_levels + lv) * rows_per + j
                for w in range(n_words):
                    word = (mask >> (64 * w)) & (2**64 - 1)
                    out[row, w] = word - 2**64 if word >= 2**63 else word
    return out


class _Frame:
    def __init__(self, bits: list[int], perms: list[list[int]], sizes: list[int]) -> None:
        self.bits = bits
        self.perms = perms  # perms[p][i] = frame position read at place i of pass p
        self.sizes = sizes  # block size of each pass
        self.m = len(bits)
        self.cur_pass = -1
        self.done = False
        self.starting = False
        self.total_parity = 0
        self.known: dict[tuple[int, int, int], int] = {}  # (pass, start, length) -> Alice
        self.cand: list[tuple[int, int]] = []
        self.flipped: set[int] = set()
        self.failed = False
        self.in_list: set[tuple[int, int]] = set()

    def n_blocks(self, p: int) -> int:
        return -(-self.m // self.sizes[p])

    def block(self, p: int, b: int) -> tuple[int, int]:
        k = self.sizes[p]
        return b * k, min(k, self.m - b * k)

    def bob_parity(self, p: int, start: int, length: int) -> int:
        return sum(self.bits[self.perms[p][i]] for i in range(start, start + length)) % 2

    def odd(self, p: int, start: int, length: int) -> bool:
        return (self.known[(p, start, length)] ^ self.bob_parity(p, start, length)) == 1

    def push_if_odd(self, p: int, b: int) -> None:
        start, length = self.block(p, b)
        known = (p, start, length) in self.known
        if known and self.odd(p, start, length) and (p, b) not in self.in_list:
            self.in_list.add((p, b))
            self.cand.append((p, b))

    def flip(self, x: int) -> None:
        self.bits[x] ^= 1
        for q in range(self.cur_pass + 1):
            b = self.perms[q].index(x) // self.sizes[q]
            self.push_if_odd(q, b)


class ReferenceCascadeBob:
    """Pure-Python Bob with the same protocol and policy as ``CascadeBob``."""

    def __init__(
        self,
        frame_bits: NDArray[np.uint8],
        qber: float,
        seed: int,
        *,
        frame_bits_len: int = 2**14,
        variant: str = "opt8",
    ) -> None:
        self._bits = np.asarray(frame_bits, dtype=np.uint8)
        self._sizes = cascade_block_sizes(qber, frame_bits_len, variant)
        self._seed = seed
        self._frame_bits_len = frame_bits_len
        self.requests: list[NDArray[np.int64]] = []

    def run(self, ask: Callable[[str, Any], Any]) -> ReconcileResult:
        n_passes = len(self._sizes)
        total = int(self._bits.size)
        lay = _layout(self._seed, self._frame_bits_len, total, n_passes)
        ask("setup", np.array([1, self._seed, self._frame_bits_len, total, n_passes]))
        frames = []
        for s, m, offs in zip(lay.fstart, lay.flen, lay.perm_off, strict=True):
            perms = [lay.perm_flat[o : o + m].tolist() for o in offs]
            sizes = [max(1, min(k, (int(m) + 1) // 2)) for k in self._sizes]
            frames.append(_Frame(self._bits[s : s + m].tolist(), perms, sizes))
        round_trips, leaked = 1, 0
        while True:
            rows: list[tuple[int, int, int, int]] = []
            pend: list[tuple[int, int, int, int, int]] = []
            for f, fr in enumerate(frames):
                if not fr.done:
                    self._plan(f, fr, n_passes, rows, pend)
            if not rows:
                break
            req = np.array(rows, dtype=np.int64)
            self.requests.append(req.ravel())
            reply = ask("parities", req.ravel())
            round_trips += 1
            leaked += len(rows)
            self._absorb(frames, pend, [int(v) for v in reply])
        corrected = np.concatenate([np.array(fr.bits, dtype=np.uint8) for fr in frames])
        return ReconcileResult(
            corrected=corrected,
            leaked_bits=leaked,
            round_trips=round_trips,
            frame_bounds=lay.frame_bounds,
            failed_frames=tuple(f for f, fr in enumerate(frames) if fr.failed),
        )

    @staticmethod
    def _descend(fr: _Frame, p: int, b: int) -> tuple[int, int] | int:
        """Walk down known sub-blocks of an odd block: a bit position, or the odd node."""
        start, length = fr.block(p, b)
        while length > 1:
            half = (length + 1) // 2
            if (p, start, half) not in fr.known:
                return start, length
            if not fr.odd(p, start, half):
                start, half = start + half, length - half
            length = half
        return -1 - fr.perms[p][start]  # encoded bit position

    def _plan(self, f: int, fr: _Frame, n_passes: int, rows: list, pend: list) -> None:
        while True:
            while True:
                any_flip = False
                kept: list[tuple[int, int, int, int]] = []
                j = 0
                while j < len(fr.cand):
                    p, b = fr.cand[j]
                    j += 1
                    start, length = fr.block(p, b)
                    if not fr.odd(p, start, length):
                        fr.in_list.discard((p, b))
                        continue
                    where = self._descend(fr, p, b)
                    if isinstance(where, int):
                        fr.in_list.discard((p, b))
                        if -1 - where in fr.flipped:  # contradictory parities
                            fr.failed = fr.done = True
                            return
                        fr.flipped.add(-1 - where)
                        fr.flip(-1 - where)
                        any_flip = True
                        continue
                    kept.append((p, b, where[0], where[1]))
                fr.cand = [(p, b) for p, b, _, _ in kept]
                if not any_flip:
                    break
            if kept:
                best = min(range(len(kept)), key=lambda i: (kept[i][3], kept[i][0], i))
                pstar = kept[best][0]
                for p, _b, s, length in kept:
                    if p == pstar:
                        rows.append((f, p, s, s + (length + 1) // 2))
                        pend.append((f, 1, p, s, length))
                return
            if fr.cur_pass == n_passes - 1:
                fr.done = True
                return
            fr.cur_pass += 1
            p = fr.cur_pass
            nb = fr.n_blocks(p)
            n_ask = nb if p == 0 else nb - 1
            if n_ask == 0:
                fr.known[(p, 0, fr.m)] = fr.total_parity
                fr.push_if_odd(p, 0)
                continue
            for b in range(n_ask):
                s, length = fr.block(p, b)
                rows.append((f, p, s, s + length))
                pend.append((f, 0, p, s, length))
            fr.starting = True
            return

    @staticmethod
    def _absorb(frames: list[_Frame], pend: list, reply: list[int]) -> None:
        for (f, kind, p, s, length), a in zip(pend, reply, strict=True):
            fr = frames[f]
            if kind == 0:
                fr.known[(p, s, length)] = a
            else:
                half = (length + 1) // 2
                fr.known[(p, s, half)] = a
                fr.known[(p, s + half, length - half)] = fr.known[(p, s, length)] ^ a
        for fr in frames:
            if not fr.starting:
                continue
            fr.starting = False
            p = fr.cur_pass
            nb = fr.n_blocks(p)
            parities = [fr.known.get((p, *fr.block(p, b)), 0) for b in range(nb)]
            if p == 0:
                fr.total_parity = sum(parities) % 2
            else:
                fr.known[(p, *fr.block(p, nb - 1))] = fr.total_parity ^ sum(parities[: nb - 1]) % 2
            for b in range(nb):
                fr.push_if_odd(p, b)
