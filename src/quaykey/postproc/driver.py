"""One block of post-processing, run as two parties over the authenticated channel.

:func:`run_block` builds the channel and the two parties (:mod:`quaykey.postproc.parties`),
calls their steps in protocol order (the stages of :mod:`quaykey.postproc.protocol`), and
ends every stage with an authentication checkpoint. Keys are released only after the last
checkpoint, so a forged or altered message costs the block, never a wrong or leaked key.
Part of each final key replenishes each party's authentication pool (by default as many
bits as the block spent).

:func:`run_blocks` runs a stream of blocks with several in flight at once (worker processes
or threads): block ``i + 1`` sifts, estimates and reconciles while block ``i`` is still
reconciling, verifying or amplifying, so the throughput is that of the cores, not of one
block's stages in turn. Each block gets its own authentication budget carved, in block
order, from the two pools, and gives back what it did not spend plus its replenishment
when it completes (in block order); its keys and public account are those of
:func:`run_block` on the same block and seed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.typing import NDArray

from quaykey.errors import AuthenticationError, KeyExhaustedError
from quaykey.postproc.authpool import AuthKeyPool
from quaykey.postproc.channel import Adversary, ClassicalChannel
from quaykey.postproc.parties import AliceParty, BobParty
from quaykey.postproc.protocol import STAGES, SecuritySettings, charged_leak
from quaykey.postproc.reconcile import AliceFactory, BobFactory, get_reconciler
from quaykey.postproc.report import BlockResult, KeyBits
from quaykey.records import AliceRecord, BobRecord
from quaykey.units import binary_entropy

__all__ = ["run_block", "run_blocks"]


def _validate_records(alice: AliceRecord, bob: BobRecord) -> None:
    if not isinstance(alice, AliceRecord) or not isinstance(bob, BobRecord):
        raise TypeError("alice must be an AliceRecord and bob a BobRecord")
    if alice.protocol != bob.protocol:
        raise ValueError(
            f"the records belong to different protocols ({alice.protocol.kind!r} with "
            f"{alice.protocol.intensities} against {bob.protocol.kind!r} with "
            f"{bob.protocol.intensities}); both must come from the same link"
        )
    if alice.n_pulses != bob.n_pulses:
        raise ValueError(
            f"the records have different lengths: Alice {alice.n_pulses} pulses, Bob "
            f"{bob.n_pulses}; both must describe the same block"
        )
    n = alice.slots.size
    if not (alice.bits.size == alice.bases.size == alice.intensity.size == n):
        raise ValueError("Alice's record arrays (slots, bits, bases, intensity) differ in length")
    m = bob.slots.size
    if not (bob.bits.size == bob.bases.size == m):
        raise ValueError("Bob's record arrays (slots, bases, bits) differ in length")
    if m == 0 or n == 0 or alice.n_pulses <= 0:
        raise ValueError("the block is empty: no clicks to post-process")


def _resolve_reconciler(
    reconciler: str | tuple[AliceFactory, BobFactory],
) -> tuple[str, AliceFactory, BobFactory]:
    if isinstance(reconciler, str):
        alice_factory, bob_factory = get_reconciler(reconciler)
        return reconciler, alice_factory, bob_factory
    alice_factory, bob_factory = reconciler
    return "custom", alice_factory, bob_factory


class _Stages:
    """Runs each stage's steps, then its checkpoint, and keeps the wall time of both."""

    def __init__(self, channel: ClassicalChannel) -> None:
        self._channel = channel
        self.seconds = {s: 0.0 for s in STAGES}
        self.seconds["authentication"] = 0.0

    def run(self, stage: str, *steps: Callable[[], object]) -> None:
        """Run ``steps`` in order, then authenticate the stage's traffic.

        A failing step is acted on only once the traffic that led to it is authenticated:
        the channel settles first, and an authentication failure takes precedence.
        """
        t0 = time.perf_counter()
        try:
            for step in steps:
                step()
        except (AuthenticationError, KeyExhaustedError):
            raise
        except Exception as exc:
            try:
                self._channel.settle(stage)
            except AuthenticationError as auth:
                raise auth from exc
            raise
        finally:
            self.seconds[stage] += time.perf_counter() - t0
        t1 = time.perf_counter()
        self._channel.checkpoint(stage)
        self.seconds["authentication"] += time.perf_counter() - t1


def _run_protocol(a: AliceParty, b: BobParty, stages: _Stages) -> None:
    """Every stage up to the last checkpoint; raises if the block yields no key."""
    stages.run("sifting", b.announce, a.sift, b.complete_sifting)
    stages.run("estimation", b.disclose, a.disclose, b.complete_estimate)
    a.check_estimate()
    b.check_estimate()
    stages.run("reconciliation", lambda: b.reconcile(a.serve), a.serve)
    stages.run("verification", a.send_verification, b.check_verification, a.receive_verification)
    stages.run("amplification", a.send_amplification, b.receive_amplification)


def _final_keys(a: AliceParty, b: BobParty) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """The two parties hash independently; FFTs release the GIL, so run them side by side."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        alice_job = pool.submit(a.final_key)
        bob_job = pool.submit(b.final_key)
        return alice_job.result(), bob_job.result()


def run_block(
    alice: AliceRecord,
    bob: BobRecord,
    *,
    auth_alice: AuthKeyPool,
    auth_bob: AuthKeyPool,
    reconciler: str | tuple[AliceFactory, BobFactory] = "cascade",
    security: SecuritySettings | None = None,
    seed: int = 0,
    adversary: Adversary | None = None,
    auth_replenish_bits: int | None = None,
) -> BlockResult:
    """Post-process one block: two parties, one authenticated channel, two keys.

    Parameters
    ----------
    alice, bob
        The two records of the same block (from the simulator, or built by hand).
    auth_alice, auth_bob
        Each party's authentication key pool (separate objects, same contents).
    reconciler
        ``"cascade"``, ``"ldpc"``, or a pair of factories ``(AliceFactory, BobFactory)``.
    security
        Public security settings (epsilon values, QBER threshold, authentication mode).
    seed
        Seed of the public randomness (reconciler shuffles, verification hashes, Toeplitz
        seed). Key material comes only from the records.
    adversary
        Optional man-in-the-middle on the classical channel (tests).
    auth_replenish_bits
        Bits of each final key that replenish each authentication pool; default: as many
        as the block spent.

    Returns
    -------
    BlockResult
        ``alice_key`` and ``bob_key`` (computed separately) and the public account.

    Raises
    ------
    ValueError, TypeError
        For records of different protocols or lengths, an empty block, an unknown
        reconciler or bad settings (the message names the problem).
    SecurityAbortError
        QBER above the threshold or no positive key length (``qber_z`` holds the disclosed
        test-basis QBER); nothing reaches a pool.
    AuthenticationError
        A classical message was tampered with, dropped, reordered or replayed.
    VerificationError
        No reconciled frame passed verification.
    KeyExhaustedError
        An authentication pool ran dry.

    Example
    -------
    >>> # see tests/unit/postproc/test_postproc_pipeline.py for complete blocks
    >>> run_block(None, None, auth_alice=None, auth_bob=None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: alice must be an AliceRecord and bob a BobRecord
    """
    settings = security if security is not None else SecuritySettings()
    _validate_records(alice, bob)
    name, alice_factory, bob_factory = _resolve_reconciler(reconciler)
    if auth_replenish_bits is not None and auth_replenish_bits < 0:
        raise ValueError(f"auth_replenish_bits must be >= 0, got {auth_replenish_bits}")
    spent_before = (auth_alice.spent_bits, auth_bob.spent_bits)

    channel = ClassicalChannel(auth_alice, auth_bob, mode=settings.auth_mode, adversary=adversary)
    a = AliceParty(
        alice, channel.alice, settings=settings, reconciler=alice_factory, public_seed=seed
    )
    b = BobParty(bob, channel.bob, settings=settings, reconciler=bob_factory)
    stages = _Stages(channel)
    _run_protocol(a, b, stages)
    t0 = time.perf_counter()
    alice_final, bob_final = _final_keys(a, b)
    stages.seconds["amplification"] += time.perf_counter() - t0

    used = auth_alice.spent_bits - spent_before[0]
    if auth_bob.spent_bits - spent_before[1] != used:
        raise AuthenticationError("the two authentication pools fell out of step")
    replenish_bits = min(
        used if auth_replenish_bits is None else auth_replenish_bits, alice_final.size
    )
    auth_alice.replenish(alice_final[:replenish_bits])
    auth_bob.replenish(bob_final[:replenish_bits])
    return _block_result(
        alice,
        bob,
        b,
        reconciler=name,
        settings=settings,
        channel=channel,
        alice_key=KeyBits(alice_final[replenish_bits:].copy()),
        bob_key=KeyBits(bob_final[replenish_bits:].copy()),
        final_key_bits=int(alice_final.size),
        auth_bits_used=used,
        auth_bits_replenished=replenish_bits,
        stage_seconds=stages.seconds,
    )


def _block_result(
    alice: AliceRecord,
    bob: BobRecord,
    b: BobParty,
    *,
    reconciler: str,
    settings: SecuritySettings,
    channel: ClassicalChannel,
    alice_key: KeyBits,
    bob_key: KeyBits,
    final_key_bits: int,
    auth_bits_used: int,
    auth_bits_replenished: int,
    stage_seconds: dict[str, float],
) -> BlockResult:
    """The block's result: the keys, and public data only (the records' sizes, Bob's
    account of the stages, the channel's counters)."""
    assert b.estimate is not None
    sifted = b.sifted
    result = b.reconciliation
    n_rec = int(result.corrected.size)
    qber_x = float(np.count_nonzero(result.corrected != sifted.key_bits)) / max(n_rec, 1)
    h = float(binary_entropy(qber_x))
    kept = b.kept_frames
    kept_n = sum(result.frame_bounds[i][1] - result.frame_bounds[i][0] for i in kept)
    return BlockResult(
        alice_key=alice_key,
        bob_key=bob_key,
        protocol=alice.protocol.kind,
        reconciler=reconciler,
        n_pulses=int(bob.n_pulses),
        clicks=int(bob.slots.size),
        sifted_bits=int(sifted.n_matched),
        sifted_key_bits=int(sifted.key_bits.size),
        test_bits=int(sifted.test_bits.size),
        qber_z=float(b.estimate.qber_z),
        qber_x=qber_x,
        qber_z_per_intensity=b.estimate.qber_z_per_intensity,
        ec_leaked_bits=int(result.leaked_bits),
        verification_bits=int(b.verification_bits),
        leaked_bits=charged_leak(
            int(result.leaked_bits), b.verification_bits, settings.epsilon_cor
        ),
        reconciliation_efficiency=float(result.leaked_bits) / (n_rec * h) if h > 0 else None,
        frames=len(result.frame_bounds),
        frames_discarded=len(result.frame_bounds) - len(kept),
        bits_discarded=int(sifted.key_bits.size - kept_n),
        key_length_bound_bits=int(b.bound.key_length_bits),
        final_key_bits=int(final_key_bits),
        output_key_bits=int(alice_key.n_bits),
        auth_bits_replenished=int(auth_bits_replenished),
        epsilon_sec=settings.epsilon_sec,
        epsilon_cor=settings.epsilon_cor,
        round_trips=channel.stats.round_trips,
        messages=dict(channel.stats.messages),
        payload_bits=dict(channel.stats.payload_bits),
        auth_bits_used=int(auth_bits_used),
        stage_seconds=stage_seconds,
        finite_key=b.bound,
    )


def _block_job(
    alice: AliceRecord,
    bob: BobRecord,
    budget_alice: NDArray[np.uint8],
    budget_bob: NDArray[np.uint8],
    options: dict[str, Any],
) -> tuple[BlockResult, NDArray[np.uint8], NDArray[np.uint8]]:
    """One block on its own authentication budget; returns the result and the unspent bits
    of both budgets (their replenishment included)."""
    pa = AuthKeyPool(budget_alice, name="alice")
    pb = AuthKeyPool(budget_bob, name="bob")
    result = run_block(alice, bob, auth_alice=pa, auth_bob=pb, **options)
    back = "returned to the main pool"
    return result, pa.draw(pa.available_bits, back), pb.draw(pb.available_bits, back)


def run_blocks(
    blocks: Iterable[tuple[AliceRecord, BobRecord, int]],
    *,
    auth_alice: AuthKeyPool,
    auth_bob: AuthKeyPool,
    auth_budget_bits: int,
    executor: Executor | None = None,
    in_flight: int = 2,
    reconciler: str = "cascade",
    security: SecuritySettings | None = None,
    auth_replenish_bits: int | None = None,
) -> Iterator[BlockResult]:
    """Post-process a stream of blocks, several at once; yield their results in order.

    Parameters
    ----------
    blocks
        ``(alice_record, bob_record, seed)`` per block; ``seed`` as in :func:`run_block`.
    auth_alice, auth_bob
        The two authentication pools. Before a block starts, ``auth_budget_bits`` are drawn
        from each (in block order, so the pools stay in step); when it completes, the bits
        it did not spend and its replenishment go back (:meth:`AuthKeyPool.replenish`).
    auth_budget_bits
        Authentication bits lent to each block; must cover what one block spends
        (``BlockResult.auth_bits_used``), else that block raises ``KeyExhaustedError``.
        The pools must hold ``in_flight`` budgets at once.
    executor
        Runs the blocks: a ``ProcessPoolExecutor`` (records and results are pickled; the
        reconciler must then be given by name) or a ``ThreadPoolExecutor`` (the numba and
        FFT kernels release the GIL, the Python parts do not). ``None``: one block at a
        time in this thread.
    in_flight
        Blocks submitted ahead of the one being collected (bounds memory).
    reconciler, security, auth_replenish_bits
        As in :func:`run_block`.

    Yields
    ------
    BlockResult
        One per block, in input order: the same keys and public account as
        :func:`run_block` gives for that block and seed (``stage_seconds`` aside).

    Raises
    ------
    ValueError
        For a budget or ``in_flight`` below 1.
    QuaykeyError
        The first block that fails raises its error here (as :func:`run_block` does); the
        budgets of blocks still in flight stay spent.

    Example
    -------
    >>> from quaykey.postproc.authpool import AuthKeyPool
    >>> pa, pb = AuthKeyPool.pre_shared(64, seed=1)
    >>> list(run_blocks([], auth_alice=pa, auth_bob=pb, auth_budget_bits=32))
    []
    """
    if auth_budget_bits < 1 or in_flight < 1:
        raise ValueError("auth_budget_bits and in_flight must be >= 1")
    options: dict[str, Any] = {
        "reconciler": reconciler,
        "security": security,
        "auth_replenish_bits": auth_replenish_bits,
    }
    pending: deque[Future[tuple[BlockResult, NDArray[np.uint8], NDArray[np.uint8]]]] = deque()

    def collect() -> BlockResult:
        result, back_alice, back_bob = pending.popleft().result()
        auth_alice.replenish(back_alice)
        auth_bob.replenish(back_bob)
        return result

    for i, (alice, bob, seed) in enumerate(blocks):
        purpose = f"budget of block {i}"
        budget_a = auth_alice.draw(auth_budget_bits, purpose)
        budget_b = auth_bob.draw(auth_budget_bits, purpose)
        job = (alice, bob, budget_a, budget_b, {**options, "seed": seed})
        if executor is None:
            done: Future[tuple[BlockResult, NDArray[np.uint8], NDArray[np.uint8]]] = Future()
            done.set_result(_block_job(*job))
            pending.append(done)
        else:
            pending.append(executor.submit(_block_job, *job))
        while len(pending) > (in_flight if executor is not None else 0):
            yield collect()
    while pending:
        yield collect()
