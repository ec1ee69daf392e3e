"""numba kernels behind :mod:`quaykey.postproc.reconcile.cascade`.

Private module: the public wrappers in ``cascade.py`` validate every input; these kernels
trust their arguments. Each kernel has a slow pure-Python twin in
``tests/reference/cascade_reference.py`` and a test that the two agree.

Layout shared by the kernels (all frames of one reconciliation run at once):

* A *frame* ``f`` of ``flen[f]`` bits starts at ``fstart[f]`` in the key; the kernels
  read it packed, bit ``x`` at ``words[f, x >> 6] >> (x & 63)`` (Bob's ``marks`` flag the
  bits a search has corrected, in the same layout).
* Pass ``p`` of frame ``f`` reads the frame in the public order
  ``perm_flat[perm_off[f, p] : perm_off[f, p] + flen[f]]`` and cuts it into ``NB[f, p]``
  blocks of ``K[f, p]`` bits (the last block may be shorter). The inverse permutations are
  interleaved by bit, so that a flip reads one cache line for all passes:
  ``inv_flat[perm_off[f, 0] + x * n_passes + p]`` is the place of bit ``x`` in pass ``p``.
* Each block owns a binary tree of sub-blocks in heap order (root 1, children ``2h`` and
  ``2h + 1``; a node of ``L`` bits has a left child of ``(L + 1) // 2`` bits). The tree of
  block ``b`` starts at ``T_off[f, p] + b * S[f, p]`` in ``tree``, except its root, which
  lives in ``roots[blk_off[f, p] + b]`` (all roots of a frame side by side, so a flip does
  not touch a page per pass; bit 5 of a root says whether its children are known). A tree
  entry is ``0``
  while Alice's parity of that sub-block is unknown (so the array starts as lazily mapped
  zero pages and only the nodes touched cost memory), otherwise ``1 | A << 1 | M << 2``
  with ``A`` Alice's parity and ``M`` whether Bob's current parity differs from it. Single
  bits are not stored (except a one-bit block's root): a two-bit node keeps its left bit's
  state in bit 3 (known) and bit 4 (mismatch), which is all a search needs, because a bit
  whose parity Alice disclosed is correct after the search and is never flipped again.
* ``blk_off[f, p] + b`` indexes per-block flags (``in_list``); the candidate list of frame
  ``f`` (blocks whose root is odd) lives in ``cand_p``/``cand_b`` from ``blk_off[f, 0]``.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

__all__ = [
    "MASK_SHIFT",
    "bob_absorb",
    "bob_plan",
    "build_masks",
    "public_orders",
    "range_parities",
]


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, nogil=True)
def _splitmix64(state: np.uint64) -> tuple[np.uint64, np.uint64]:  # pragma: no cover
    """One step of SplitMix64 (Steele, Lea, Flood, OOPSLA 2014): (next state, output)."""
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return state, z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def public_orders(
    seed: int, length: int, n_passes: int
) -> tuple[NDArray[np.int32], NDArray[np.int32]]:  # pragma: no cover
    """The public order of every pass for frames of ``length`` bits, and the inverses.

    Returns ``perm`` of shape ``(n_passes, length)`` (Fisher-Yates shuffles driven by
    SplitMix64 from ``(seed, length)``; the modulo bias is below ``length / 2^64``) and the
    inverses interleaved by bit, ``inv[x * n_passes + p]`` = the place of bit ``x`` in
    pass ``p``."""
    state = np.uint64(seed) * _GOLDEN ^ np.uint64(length)
    state, _ = _splitmix64(state)
    perm = np.empty((n_passes, length), dtype=np.int32)
    inv = np.empty(length * n_passes, dtype=np.int32)
    for p in range(n_passes):
        for i in range(length):
            perm[p, i] = i
        for i in range(length - 1, 0, -1):
            state, r = _splitmix64(state)
            j = np.int64(r % np.uint64(i + 1))
            t = perm[p, i]
            perm[p, i] = perm[p, j]
            perm[p, j] = t
        for q in range(length):
            inv[np.int64(perm[p, q]) * n_passes + p] = q
    return perm, inv


#: Ranges of at least ``2**MASK_SHIFT`` bits that are aligned dyadic intervals of a pass's
#: order are computed from bit-packed words and a precomputed mask (W word operations
#: instead of ``stop - start`` scattered reads).
MASK_SHIFT = 10


@njit(cache=True, nogil=True)
def build_masks(
    perm_flat: NDArray[np.int32],
    class_off: int,
    length: int,
    n_passes: int,
    n_levels: int,
    n_words: int,
) -> NDArray[np.int64]:
    """Bit masks of every aligned interval of ``2**(MASK_SHIFT + lv)`` places of each pass.

    Row ``(p * n_levels + lv) * rows_per + j`` (``rows_per = length >> MASK_SHIFT``) is the
    mask, over frame positions packed 64 to a word, of places ``[j * L, (j + 1) * L)`` of
    pass ``p`` with ``L = 2**(MASK_SHIFT + lv)``; rows past ``length // L`` stay zero.
    """
    rows_per = length >> MASK_SHIFT
    masks = np.zeros((n_passes * n_levels * rows_per, n_words), np.int64)
    for p in range(n_passes):
        po = class_off + p * length
        for lv in range(n_levels):
            shift = MASK_SHIFT + lv
            top = (length >> shift) << shift
            base_row = (p * n_levels + lv) * rows_per
            for i in range(top):
                x = perm_flat[po + i]
                masks[base_row + (i >> shift), x >> 6] |= np.int64(1) << (x & 63)
    return masks


@njit(cache=True, nogil=True)
def _parity(
    words: NDArray[np.int64],
    masks: NDArray[np.int64],
    mask_base: NDArray[np.int64],
    f: int,
    p: int,
    perm_flat: NDArray[np.int32],
    po: int,
    s: int,
    e: int,
) -> int:
    """Parity of frame ``f`` over places ``[s, e)`` of pass ``p`` (order at ``po``)."""
    length = e - s
    if length >= (1 << MASK_SHIFT) and (length & (length - 1)) == 0 and s % length == 0:
        lv = 0
        t = length >> MASK_SHIFT
        while t > 1:
            t >>= 1
            lv += 1
        if lv < mask_base.shape[2] and mask_base[f, p, lv] >= 0:
            row = mask_base[f, p, lv] + s // length
            acc = np.int64(0)
            for w in range(words.shape[1]):
                acc ^= words[f, w] & masks[row, w]
            acc ^= acc >> 32
            acc ^= acc >> 16
            acc ^= acc >> 8
            acc ^= acc >> 4
            acc ^= acc >> 2
            acc ^= acc >> 1
            return int(acc & 1)
    # Scattered reads from the packed words: 8x less memory than one byte per bit.
    acc2 = np.int64(0)
    for i in range(po + s, po + e):
        x = perm_flat[i]
        acc2 ^= words[f, x >> 6] >> (x & 63)
    return int(acc2 & 1)


@njit(cache=True, nogil=True)
def range_parities(
    words: NDArray[np.int64],
    masks: NDArray[np.int64],
    mask_base: NDArray[np.int64],
    fstart: NDArray[np.int64],
    flen: NDArray[np.int64],
    perm_flat: NDArray[np.int32],
    perm_off: NDArray[np.int64],
    req: NDArray[np.int64],
) -> tuple[NDArray[np.uint8], int]:
    """Parity of a key over each requested range of a pass's public order.

    ``words`` is the key packed per frame (bit ``x`` of frame ``f`` at
    ``words[f, x >> 6] >> (x & 63)``). ``req`` has rows ``(frame, pass, start, stop)``; row
    ``r`` of the result is the XOR of the bits at frame positions
    ``perm_flat[perm_off[frame, pass] + i]`` for ``start <= i < stop``.
    The second result is 0, or 1 / 2 / 3 if a row names a frame / pass that does not exist
    or a range outside its frame (the parities are then not computed).
    """
    n_req = req.shape[0]
    n_frames = fstart.shape[0]
    n_passes = perm_off.shape[1]
    out = np.zeros(n_req, np.uint8)
    for r in range(n_req):
        f = req[r, 0]
        if f < 0 or f >= n_frames:
            return out, 1
        if req[r, 1] < 0 or req[r, 1] >= n_passes:
            return out, 2
        if req[r, 2] < 0 or req[r, 3] <= req[r, 2] or req[r, 3] > flen[f]:
            return out, 3
    for r in range(n_req):
        f = req[r, 0]
        p = req[r, 1]
        out[r] = _parity(
            words, masks, mask_base, f, p, perm_flat, perm_off[f, p], req[r, 2], req[r, 3]
        )
    return out, 0


@njit(cache=True, nogil=True)
def _push(
    f: int,
    q: int,
    b: int,
    blk_off: NDArray[np.int64],
    cand_p: NDArray[np.int32],
    cand_b: NDArray[np.int32],
    cand_cnt: NDArray[np.int64],
    in_list: NDArray[np.uint8],
    overflow: NDArray[np.uint8],
) -> None:
    slot = blk_off[f, q] + b
    if in_list[slot] == 0:
        end = blk_off[f + 1, 0] if f + 1 < blk_off.shape[0] else in_list.shape[0]
        c = blk_off[f, 0] + cand_cnt[f]
        if c >= end:
            # The list still holds entries dropped during this scan; bob_plan rebuilds it.
            overflow[f] = 1
            return
        in_list[slot] = 1
        cand_p[c] = q
        cand_b[c] = b
        cand_cnt[f] += 1


@njit(cache=True, nogil=True)
def _flip(
    f: int,
    x: int,
    words: NDArray[np.int64],
    fstart: NDArray[np.int64],
    flen: NDArray[np.int64],
    cur_pass: NDArray[np.int64],
    perm_off: NDArray[np.int64],
    inv_flat: NDArray[np.int32],
    K: NDArray[np.int64],
    S: NDArray[np.int64],
    T_off: NDArray[np.int64],
    blk_off: NDArray[np.int64],
    tree: NDArray[np.int8],
    roots: NDArray[np.int8],
    bob_total: NDArray[np.uint8],
    cand_p: NDArray[np.int32],
    cand_b: NDArray[np.int32],
    cand_cnt: NDArray[np.int64],
    in_list: NDArray[np.uint8],
    overflow: NDArray[np.uint8],
    eff: NDArray[np.int32],
) -> None:
    """Flip Bob's bit ``x`` of frame ``f`` and toggle every known sub-block containing it.

    This is the cascade effect: blocks of every started pass that contain ``x`` change
    parity; a block whose root turns odd joins the candidate list.
    """
    words[f, x >> 6] ^= np.int64(1) << (x & 63)
    bob_total[f] ^= 1
    m = flen[f]
    inv_base = perm_off[f, 0] + x * K.shape[1]
    for q in range(cur_pass[f] + 1):
        pos = inv_flat[inv_base + q]
        k = K[f, q]
        b = pos // k
        toff = T_off[f, q] + b * S[f, q]
        start = b * k
        length = min(k, m - start)
        slot = blk_off[f, q] + b
        eff[slot, 0] = 1  # the block's search restarts from its root
        eff[slot, 1] = start
        eff[slot, 2] = length
        h = 1
        while True:
            st = roots[slot] if h == 1 else tree[toff + h]
            if st == 0:
                break  # deeper nodes are unknown too: parities are learnt top-down
            st ^= 4
            if length == 2 and (st & 8) != 0 and pos == start:
                st ^= 16
            if h == 1:
                roots[slot] = st
                if (st & 4) != 0:
                    _push(f, q, b, blk_off, cand_p, cand_b, cand_cnt, in_list, overflow)
                if (st & 32) == 0:
                    break  # no sub-block parity known: leave the tree untouched
            else:
                tree[toff + h] = st
            if length <= 2:
                break
            half = (length + 1) // 2
            if pos < start + half:
                h = 2 * h
                length = half
            else:
                h = 2 * h + 1
                start += half
                length -= half
            if length == 1:
                break


@njit(cache=True, nogil=True)
def _rebuild(
    f: int,
    cur_pass: NDArray[np.int64],
    NB: NDArray[np.int64],
    T_off: NDArray[np.int64],
    S: NDArray[np.int64],
    blk_off: NDArray[np.int64],
    tree: NDArray[np.int8],
    roots: NDArray[np.int8],
    cand_p: NDArray[np.int32],
    cand_b: NDArray[np.int32],
    cand_cnt: NDArray[np.int64],
    in_list: NDArray[np.uint8],
    overflow: NDArray[np.uint8],
) -> None:
    """Rebuild frame ``f``'s candidate list from the block roots (after an overflow)."""
    overflow[f] = 0
    cand_cnt[f] = 0
    for q in range(cur_pass[f] + 1):
        for b in range(NB[f, q]):
            in_list[blk_off[f, q] + b] = 0
    for q in range(cur_pass[f] + 1):
        for b in range(NB[f, q]):
            if (roots[blk_off[f, q] + b] & 4) != 0:
                _push(f, q, b, blk_off, cand_p, cand_b, cand_cnt, in_list, overflow)


@njit(cache=True, nogil=True)
def bob_plan(
    marks: NDArray[np.int64],
    words: NDArray[np.int64],
    fstart: NDArray[np.int64],
    flen: NDArray[np.int64],
    perm_flat: NDArray[np.int32],
    inv_flat: NDArray[np.int32],
    perm_off: NDArray[np.int64],
    K: NDArray[np.int64],
    NB: NDArray[np.int64],
    S: NDArray[np.int64],
    T_off: NDArray[np.int64],
    blk_off: NDArray[np.int64],
    tree: NDArray[np.int8],
    roots: NDArray[np.int8],
    cur_pass: NDArray[np.int64],
    done: NDArray[np.uint8],
    starting: NDArray[np.uint8],
    total_parity: NDArray[np.uint8],
    bob_total: NDArray[np.uint8],
    cand_p: NDArray[np.int32],
    cand_b: NDArray[np.int32],
    cand_cnt: NDArray[np.int64],
    in_list: NDArray[np.uint8],
    eff: NDArray[np.int32],
    failed: NDArray[np.uint8],
    overflow: NDArray[np.uint8],
    req: NDArray[np.int64],
    pend: NDArray[np.int32],
) -> int:
    """Correct what the known parities already locate, then write the next requests.

    For every unfinished frame: walk each odd block down through sub-blocks whose parity is
    already known (sub-block reuse) and flip the bits this pins down (with the cascade
    effect), repeating until nothing changes. Then, if odd blocks remain, ask for the left
    half of the current odd sub-block of every odd block of the one pass that holds the
    smallest such sub-block (blocks of one pass are disjoint, so these searches never chase
    the same error). Otherwise start the next pass, asking every block parity except the
    last one, which follows from the frame parity learnt in pass 0; or mark the frame done.

    Writes rows ``(frame, pass, start, stop)`` into ``req`` and ``(kind, block, node,
    node_bits)`` into ``pend`` (kind 0: block parity, 1: left child of ``node``); returns the
    row count.
    """
    n_frames = fstart.shape[0]
    n_passes = K.shape[1]
    R = 0
    for f in range(n_frames):
        if done[f]:
            continue
        m = flen[f]
        base_c = blk_off[f, 0]
        while True:
            # Phase A: resolve everything the known parities decide, until stable.
            while True:
                any_flip = False
                j = 0
                w = 0
                while j < cand_cnt[f]:
                    c = base_c + j
                    q = cand_p[c]
                    b = cand_b[c]
                    j += 1
                    slot = blk_off[f, q] + b
                    toff = T_off[f, q] + b * S[f, q]
                    # Resume from the odd node reached before (reset by any flip inside).
                    h = eff[slot, 0]
                    start = eff[slot, 1]
                    length = eff[slot, 2]
                    if (roots[slot] & 4) == 0:
                        in_list[slot] = 0  # turned even: its error was found elsewhere
                        continue
                    leaf = False
                    while True:
                        if length == 1:
                            leaf = True
                            break
                        half = (length + 1) // 2
                        if half == 1:
                            st = roots[slot] if h == 1 else tree[toff + h]
                            if (st & 8) == 0:
                                break
                            m_left = (st >> 4) & 1
                        else:
                            if h == 1 and (roots[slot] & 32) == 0:
                                break
                            sl = tree[toff + 2 * h]
                            if sl == 0:
                                break
                            m_left = (sl >> 2) & 1
                        if m_left == 1:
                            h = 2 * h
                            length = half
                        else:
                            h = 2 * h + 1
                            start += half
                            length -= half
                    if leaf:
                        in_list[slot] = 0
                        x = perm_flat[perm_off[f, q] + start]
                        if (marks[f, x >> 6] >> (x & 63)) & 1:
                            # A correction never touches a bit twice when Alice's parities
                            # are consistent: her replies contradict each other.
                            failed[f] = 1
                            break
                        marks[f, x >> 6] |= np.int64(1) << (x & 63)  # corrected bits
                        _flip(
                            f,
                            x,
                            words,
                            fstart,
                            flen,
                            cur_pass,
                            perm_off,
                            inv_flat,
                            K,
                            S,
                            T_off,
                            blk_off,
                            tree,
                            roots,
                            bob_total,
                            cand_p,
                            cand_b,
                            cand_cnt,
                            in_list,
                            overflow,
                            eff,
                        )
                        any_flip = True
                        continue
                    cw = base_c + w
                    cand_p[cw] = q
                    cand_b[cw] = b
                    eff[slot, 0] = h
                    eff[slot, 1] = start
                    eff[slot, 2] = length
                    w += 1
                if failed[f]:
                    break
                cand_cnt[f] = w
                if overflow[f]:
                    _rebuild(
                        f,
                        cur_pass,
                        NB,
                        T_off,
                        S,
                        blk_off,
                        tree,
                        roots,
                        cand_p,
                        cand_b,
                        cand_cnt,
                        in_list,
                        overflow,
                    )
                    any_flip = True
                if not any_flip:
                    break
            if failed[f]:
                done[f] = 1
                break
            # Phase B: ask for left halves in one pass, or start the next pass.
            if cand_cnt[f] > 0:
                best_l = -1
                pstar = -1
                for c in range(base_c, base_c + cand_cnt[f]):
                    le = eff[blk_off[f, cand_p[c]] + cand_b[c], 2]
                    if best_l < 0 or le < best_l or (le == best_l and cand_p[c] < pstar):
                        best_l = le
                        pstar = cand_p[c]
                for c in range(base_c, base_c + cand_cnt[f]):
                    if cand_p[c] == pstar:
                        slot = blk_off[f, pstar] + cand_b[c]
                        req[R, 0] = f
                        req[R, 1] = pstar
                        req[R, 2] = eff[slot, 1]
                        req[R, 3] = eff[slot, 1] + (eff[slot, 2] + 1) // 2
                        pend[R, 0] = 1
                        pend[R, 1] = cand_b[c]
                        pend[R, 2] = eff[slot, 0]
                        pend[R, 3] = eff[slot, 2]
                        R += 1
                break
            if cur_pass[f] == n_passes - 1:
                done[f] = 1
                break
            cur_pass[f] += 1
            p = cur_pass[f]
            nb = NB[f, p]
            k = K[f, p]
            n_ask = nb if p == 0 else nb - 1
            if n_ask == 0:
                # A single block: its parity is the frame parity, already known.
                a = total_parity[f]
                bp = bob_total[f]
                roots[blk_off[f, p]] = np.int8(1 | (a << 1) | ((a ^ bp) << 2))
                if a != bp:  # block n_ask = 0 (a variable: a literal 0 would compile _push twice)
                    _push(f, p, n_ask, blk_off, cand_p, cand_b, cand_cnt, in_list, overflow)
                continue
            for b in range(n_ask):
                req[R, 0] = f
                req[R, 1] = p
                req[R, 2] = b * k
                req[R, 3] = min((b + 1) * k, m)
                pend[R, 0] = 0
                pend[R, 1] = b
                pend[R, 2] = 1
                pend[R, 3] = min(k, m - b * k)
                R += 1
            starting[f] = 1
            break
    return R


@njit(cache=True, nogil=True)
def bob_absorb(
    words: NDArray[np.int64],
    masks: NDArray[np.int64],
    mask_base: NDArray[np.int64],
    fstart: NDArray[np.int64],
    flen: NDArray[np.int64],
    perm_flat: NDArray[np.int32],
    perm_off: NDArray[np.int64],
    K: NDArray[np.int64],
    NB: NDArray[np.int64],
    S: NDArray[np.int64],
    T_off: NDArray[np.int64],
    blk_off: NDArray[np.int64],
    tree: NDArray[np.int8],
    roots: NDArray[np.int8],
    cur_pass: NDArray[np.int64],
    starting: NDArray[np.uint8],
    total_parity: NDArray[np.uint8],
    bob_total: NDArray[np.uint8],
    cand_p: NDArray[np.int32],
    cand_b: NDArray[np.int32],
    cand_cnt: NDArray[np.int64],
    in_list: NDArray[np.uint8],
    overflow: NDArray[np.uint8],
    req: NDArray[np.int64],
    pend: NDArray[np.int32],
    n_req: int,
    reply: NDArray[np.uint8],
) -> None:
    """Store Alice's parities from ``reply`` in the sub-block trees.

    A left-child parity also gives the right child's (the parent's is known), and Bob's own
    parities give both children's mismatch flags. After a pass's block parities arrive, the
    last block's parity is inferred from the frame parity (pass 0 records the frame parity),
    and the odd blocks become candidates.
    """
    for r in range(n_req):
        f = req[r, 0]
        p = req[r, 1]
        b = pend[r, 1]
        toff = T_off[f, p] + b * S[f, p]
        a = reply[r]
        slot = blk_off[f, p] + b
        if pend[r, 0] == 0:
            roots[slot] = np.int8(1 | (a << 1))
        else:
            h = pend[r, 2]
            length = pend[r, 3]
            half = req[r, 3] - req[r, 2]
            po = perm_off[f, p]
            bl = _parity(words, masks, mask_base, f, p, perm_flat, po, req[r, 2], req[r, 3])
            st = roots[slot] if h == 1 else tree[toff + h]
            a_h = (st >> 1) & 1
            m_h = (st >> 2) & 1
            m_l = a ^ bl
            if half == 1:
                st = np.int8(st | 8 | (m_l << 4))
            else:
                tree[toff + 2 * h] = np.int8(1 | (a << 1) | (m_l << 2))
                if length - half >= 2:
                    tree[toff + 2 * h + 1] = np.int8(1 | ((a_h ^ a) << 1) | ((m_h ^ m_l) << 2))
                st = np.int8(st | 32)  # marks a root whose children are known
            if h == 1:
                roots[slot] = st
            else:
                tree[toff + h] = st
    for f in range(fstart.shape[0]):
        if starting[f] == 0:
            continue
        starting[f] = 0
        p = cur_pass[f]
        nb = NB[f, p]
        k = K[f, p]
        m = flen[f]
        r0 = blk_off[f, p]
        po = perm_off[f, p]
        acc = 0
        for b in range(nb - 1):
            acc ^= (roots[r0 + b] >> 1) & 1
        if p == 0:
            acc ^= (roots[r0 + nb - 1] >> 1) & 1
            total_parity[f] = acc
            tot = np.int64(0)
            for w in range(words.shape[1]):
                tot ^= words[f, w]  # padding bits are 0
            tot ^= tot >> 32
            tot ^= tot >> 16
            tot ^= tot >> 8
            tot ^= tot >> 4
            tot ^= tot >> 2
            tot ^= tot >> 1
            bob_total[f] = tot & 1
        else:
            roots[r0 + nb - 1] = np.int8(1 | ((total_parity[f] ^ acc) << 1))
        bacc = 0
        for b in range(nb):
            a = (roots[r0 + b] >> 1) & 1
            if b < nb - 1:
                bp = _parity(
                    words, masks, mask_base, f, p, perm_flat, po, b * k, min((b + 1) * k, m)
                )
                bacc ^= bp
            else:
                bp = bob_total[f] ^ bacc  # Bob's last block parity from his frame parity
            mm = a ^ bp
            roots[r0 + b] = np.int8(1 | (a << 1) | (mm << 2))
            if mm:
                _push(f, p, b, blk_off, cand_p, cand_b, cand_cnt, in_list, overflow)
