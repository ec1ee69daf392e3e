"""The Cascade numba kernels agree exactly with their pure-Python twins."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from quaykey.postproc.reconcile import _cascade_kernels as kernels
from quaykey.postproc.reconcile.cascade import CascadeAlice, CascadeBob, _layout, _pack

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "reference"))
from cascade_reference import (
    ReferenceCascadeBob,
    build_masks_reference,
    public_orders_reference,
    range_parities_reference,
)


@pytest.mark.parametrize(
    ("seed", "length", "n_passes"), [(0, 1, 1), (5, 64, 3), (2**40 + 7, 1000, 4)]
)
def test_public_orders_match_reference(seed: int, length: int, n_passes: int) -> None:
    perm, inv = kernels.public_orders(seed, length, n_passes)
    assert perm.tolist() == public_orders_reference(seed, length, n_passes)
    for p in range(n_passes):  # the interleaved inverse undoes each order
        assert np.array_equal(inv[perm[p].astype(np.int64) * n_passes + p], np.arange(length))
    if length > 1 and n_passes > 1:
        assert not np.array_equal(perm[0], perm[1])


def _noisy_pair(n_bits: int, qber: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    alice = rng.integers(0, 2, n_bits, dtype=np.uint8)
    bob = alice ^ (rng.random(n_bits) < qber).astype(np.uint8)
    return alice, bob


@pytest.mark.parametrize("frame_bits_len", [64, 1000, 2**10, 2**12])
def test_range_parities_matches_reference(frame_bits_len: int) -> None:
    rng = np.random.default_rng(11)
    total = 3 * frame_bits_len + 37
    bits = rng.integers(0, 2, total, dtype=np.uint8)
    lay = _layout(5, frame_bits_len, total, n_passes=4)
    words = _pack(bits, lay)
    n_req = 300
    frame = rng.integers(0, lay.flen.size, n_req)
    start = rng.integers(0, lay.flen[frame])
    stop = start + 1 + rng.integers(0, lay.flen[frame] - start)
    # Half the rows are aligned power-of-two ranges: long ones take the packed-mask path.
    size = 2 ** rng.integers(0, 13, n_req)
    size = np.minimum(size, 2 ** np.floor(np.log2(lay.flen[frame]))).astype(np.int64)
    aligned_start = size * rng.integers(0, lay.flen[frame] // size)
    half = np.arange(n_req) % 2 == 0
    start = np.where(half, aligned_start, start)
    stop = np.where(half, aligned_start + size, stop)
    req = np.stack([frame, rng.integers(0, 4, n_req), start, stop], axis=1).astype(np.int64)
    got, status = kernels.range_parities(
        words, lay.masks, lay.mask_base, lay.fstart, lay.flen, lay.perm_flat,
        lay.perm_off, req,
    )  # fmt: skip
    assert status == 0
    want = range_parities_reference(bits, lay.fstart, lay.perm_flat, lay.perm_off, req)
    np.testing.assert_array_equal(got, want)
    if frame_bits_len >= 2**kernels.MASK_SHIFT:
        assert np.any(stop - start >= 2**kernels.MASK_SHIFT)  # the mask path was exercised


@pytest.mark.parametrize("length", [1024, 3000, 4096])
def test_build_masks_matches_reference(length: int) -> None:
    lay = _layout(8, length, length, n_passes=3)
    n_levels = length.bit_length() - 1 - kernels.MASK_SHIFT + 1
    n_words = -(-length // 64)
    got = kernels.build_masks(lay.perm_flat, 0, length, 3, n_levels, n_words)
    want = build_masks_reference(lay.perm_flat, 0, length, 3, n_levels, n_words, kernels.MASK_SHIFT)
    np.testing.assert_array_equal(got, want)


def test_pack_puts_bit_x_of_each_frame_at_word_x_over_64() -> None:
    rng = np.random.default_rng(4)
    bits = rng.integers(0, 2, 2 * 100 + 37, dtype=np.uint8)
    lay = _layout(1, 100, bits.size, n_passes=2)
    words = _pack(bits, lay)
    for f, (start, stop) in enumerate(lay.frame_bounds):
        for x in range(stop - start):
            assert (int(words[f, x >> 6]) >> (x & 63)) & 1 == bits[start + x]


class _Recorder:
    """Forwards requests to Alice, keeps every request, optionally corrupts replies."""

    def __init__(self, alice: CascadeAlice, tamper_rate: float = 0.0) -> None:
        self.alice = alice
        self.requests: list[np.ndarray] = []
        self.rng = np.random.default_rng(99)
        self.tamper_rate = tamper_rate

    def __call__(self, kind: str, payload: np.ndarray) -> np.ndarray:
        reply = self.alice.respond(kind, payload)
        if kind == "parities":
            self.requests.append(np.array(payload, copy=True))
            if self.tamper_rate:
                flips = self.rng.random(reply.size) < self.tamper_rate
                reply = reply ^ flips.astype(np.uint8)
        return reply


@pytest.mark.parametrize(
    ("qber", "frame_bits_len", "total", "variant", "tamper_rate"),
    [
        (0.03, 2**10, 3 * 2**10 + 300, "opt8", 0.0),  # full frames plus a short one
        (0.08, 2**9, 2 * 2**9, "opt7", 0.0),
        (0.05, 300, 700, "original", 0.0),  # blocks that are not powers of two
        (0.2, 2**8, 2**8 + 5, "opt8", 0.0),  # dense errors, tiny last frame
        (0.05, 2**11, 4 * 2**11, "opt8", 0.002),  # mask path; corrupted replies
        (0.05, 2**9, 4 * 2**9, "opt8", 0.03),  # contradictions: failed frames
    ],
)
def test_plan_and_absorb_match_reference_round_by_round(
    qber: float, frame_bits_len: int, total: int, variant: str, tamper_rate: float
) -> None:
    alice_bits, bob_bits = _noisy_pair(total, qber, seed=int(qber * 1000) + total)
    fast_ask = _Recorder(CascadeAlice(alice_bits), tamper_rate)
    fast = CascadeBob(bob_bits, qber, seed=3, frame_bits_len=frame_bits_len, variant=variant).run(
        fast_ask
    )
    slow_bob = ReferenceCascadeBob(
        bob_bits, qber, seed=3, frame_bits_len=frame_bits_len, variant=variant
    )
    slow = slow_bob.run(_Recorder(CascadeAlice(alice_bits), tamper_rate))
    assert len(fast_ask.requests) == len(slow_bob.requests)
    for fast_req, slow_req in zip(fast_ask.requests, slow_bob.requests, strict=True):
        np.testing.assert_array_equal(fast_req, slow_req)
    np.testing.assert_array_equal(fast.corrected, slow.corrected)
    assert fast.leaked_bits == slow.leaked_bits
    assert fast.round_trips == slow.round_trips
    assert fast.frame_bounds == slow.frame_bounds
    assert fast.failed_frames == slow.failed_frames
