"""One block of post-processing, run as two parties over the authenticated channel.

:class:`AliceParty` holds only Alice's record and her end of the channel; :class:`BobParty`
only Bob's. A driver (:func:`run_block`) calls their steps in protocol order; every piece
of information that crosses between them is a message on the
:class:`~quaykey.postproc.channel.ClassicalChannel`, which counts and authenticates it.

Stages (each ends with an authentication checkpoint):

1. ``sifting``: Bob announces click slots and bases; Alice answers bases and intensities.
2. ``estimation``: both disclose their test-basis (Z) bits; counts per intensity; abort if
   the QBER exceeds the threshold or if no key would be left even without error
   correction.
3. ``reconciliation``: Bob drives the reconciler; Alice answers from her own bits. Bob then
   announces the leakage, frame bounds, failed frames and error counts.
4. ``verification``: a fresh public universal hash per frame; frames whose hashes differ are
   discarded.
5. ``amplification``: both compute the finite-key length from the block's counts and actual
   leakage (minus the discarded bits); Alice sends the public Toeplitz seed; both hash.

Keys are released only after the last checkpoint, so a forged or altered message costs the
block, never a wrong or leaked key. Part of each final key refills each party's
authentication pool (by default as many bits as the block spent).
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from quaykey.decoy import FiniteKeyBound
from quaykey.errors import (
    AuthenticationError,
    KeyExhaustedError,
    SecurityAbortError,
    VerificationError,
)
from quaykey.postproc import estimate as est
from quaykey.postproc import sifting as sift
from quaykey.postproc.amplify import toeplitz_hash
from quaykey.postproc.channel import Adversary, AuthKeyPool, ClassicalChannel, Endpoint
from quaykey.postproc.finite_key import Bbm92Bound, block_key_length
from quaykey.postproc.reconcile import AliceFactory, BobFactory, get_reconciler
from quaykey.postproc.reconcile.base import AliceReconciler, ReconcileResult
from quaykey.postproc.verify import VerifyHash, tag_bits_for
from quaykey.records import AliceRecord, BobRecord
from quaykey.units import binary_entropy

__all__ = [
    "STAGES",
    "AliceParty",
    "BlockReport",
    "BlockResult",
    "BobParty",
    "KeyBits",
    "SecuritySettings",
    "run_block",
]

STAGES = ("sifting", "estimation", "reconciliation", "verification", "amplification")
#: QBER handed to the reconciler is clipped to this range (Cascade needs 0 < Q < 0.5).
_RECONCILER_QBER_RANGE = (0.005, 0.45)


@dataclass(frozen=True)
class SecuritySettings:
    """Public security settings of post-processing.

    Parameters
    ----------
    epsilon_sec
        Secrecy parameter of the final key, in (0, 1).
    epsilon_cor
        Correctness parameter (verification hash), in (0, 1).
    qber_threshold
        Abort when the test-basis QBER exceeds this value; in (0, 0.5].
    auth_mode
        ``"stage"`` (delayed authentication, one tag per direction per stage) or
        ``"message"`` (one tag per message).

    Raises
    ------
    ValueError
        Naming the parameter that is out of range.
    """

    epsilon_sec: float = 1e-10
    epsilon_cor: float = 1e-15
    qber_threshold: float = 0.11
    auth_mode: Literal["stage", "message"] = "stage"

    def __post_init__(self) -> None:
        for name in ("epsilon_sec", "epsilon_cor"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.0 < value < 1.0):
                raise ValueError(f"{name} must be in (0, 1), got {value!r}")
        if not (isinstance(self.qber_threshold, int | float) and 0.0 < self.qber_threshold <= 0.5):
            raise ValueError(f"qber_threshold must be in (0, 0.5], got {self.qber_threshold!r}")
        if self.auth_mode not in ("stage", "message"):
            raise ValueError(f"auth_mode must be 'stage' or 'message', got {self.auth_mode!r}")


@dataclass(frozen=True, eq=False)
class KeyBits:
    """Final key material of one party. Its bits never appear in ``repr``.

    Example
    -------
    >>> k = KeyBits(np.array([1, 0, 1, 1, 0, 0, 0, 1, 1], dtype=np.uint8))
    >>> k, k.n_bits, k.to_bytes().hex()
    (KeyBits(n_bits=9), 9, 'b180')
    """

    bits: NDArray[np.uint8]

    def __repr__(self) -> str:
        return f"KeyBits(n_bits={self.n_bits})"

    @property
    def n_bits(self) -> int:
        """Key length in bits."""
        return int(self.bits.size)

    def to_bytes(self) -> bytes:
        """The bits packed big-endian (the last byte zero-padded)."""
        return np.packbits(self.bits).tobytes()

    def matches(self, other: KeyBits) -> bool:
        """Constant-time comparison of two keys (for tests and audits)."""
        return self.n_bits == other.n_bits and hmac.compare_digest(
            self.to_bytes(), other.to_bytes()
        )


@dataclass(frozen=True)
class BlockReport:
    """Public account of one post-processed block (no key material).

    Attributes
    ----------
    protocol, reconciler
        Protocol kind and reconciler name.
    n_pulses, clicks
        Pulses in the block and clicks Bob announced.
    sifted_bits, sifted_key_bits, test_bits
        Basis-matched slots in total, in the key basis X and in the test basis Z.
    qber_z, qber_x
        Error rate disclosed in the test basis, and the one corrected in the key basis.
    qber_z_per_intensity
        Test-basis error rate per intensity.
    ec_leaked_bits, verification_bits, leaked_bits
        Bits disclosed by reconciliation, by verification tags, and the leakage charged to
        the key length (reconciliation plus verification beyond the
        ``log2(2/epsilon_cor)`` already in the bound).
    reconciliation_efficiency
        ``ec_leaked_bits / (n h(qber_x))`` over the reconciled bits (None when qber_x = 0).
    frames, frames_discarded, bits_discarded
        Reconciliation frames, frames dropped (failed or mismatched), their bits.
    key_length_bound_bits
        The finite-key length of the whole block.
    final_key_bits
        Bits output by privacy amplification (bound minus discarded bits).
    output_key_bits, auth_bits_replenished
        Final bits handed to the caller, and those put back into the authentication pools.
    epsilon_sec, epsilon_cor
        Security parameters used.
    round_trips, messages, payload_bits
        Channel usage (``messages`` and ``payload_bits`` per sender).
    auth_bits_used
        Authentication key bits each party spent on this block.
    stage_seconds
        Wall time per stage, plus ``authentication`` for the checkpoints.
    finite_key
        Every intermediate of the finite-key bound.
    """

    protocol: str
    reconciler: str
    n_pulses: int
    clicks: int
    sifted_bits: int
    sifted_key_bits: int
    test_bits: int
    qber_z: float
    qber_x: float
    qber_z_per_intensity: tuple[float, ...]
    ec_leaked_bits: int
    verification_bits: int
    leaked_bits: float
    reconciliation_efficiency: float | None
    frames: int
    frames_discarded: int
    bits_discarded: int
    key_length_bound_bits: int
    final_key_bits: int
    output_key_bits: int
    auth_bits_replenished: int
    epsilon_sec: float
    epsilon_cor: float
    round_trips: int
    messages: dict[str, int]
    payload_bits: dict[str, int]
    auth_bits_used: int
    stage_seconds: dict[str, float]
    finite_key: FiniteKeyBound | Bbm92Bound = field(repr=False)


@dataclass(frozen=True, eq=False)
class BlockResult:
    """Both parties' final keys (computed separately) and the public report."""

    alice_key: KeyBits
    bob_key: KeyBits
    report: BlockReport


# --------------------------------------------------------------------------------------
# Shared public computations (each party runs them on its own copy of public data)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _EcSummary:
    leaked_bits: int
    frame_bounds: tuple[tuple[int, int], ...]
    failed: tuple[int, ...]
    m_x: NDArray[np.int64]

    def encode(self) -> NDArray[np.int64]:
        flat = [b for pair in self.frame_bounds for b in pair]
        return np.array(
            [
                self.leaked_bits,
                len(self.frame_bounds),
                *flat,
                len(self.failed),
                *self.failed,
                *self.m_x.tolist(),
            ],
            dtype=np.int64,
        )

    @classmethod
    def decode(cls, arr: NDArray[np.int64], n_intensities: int, n_bits: int) -> _EcSummary:
        a = [int(v) for v in arr]
        try:
            leaked, n_frames = a[0], a[1]
            flat = a[2 : 2 + 2 * n_frames]
            pos = 2 + 2 * n_frames
            n_failed = a[pos]
            failed = tuple(a[pos + 1 : pos + 1 + n_failed])
            m_x = np.array(a[pos + 1 + n_failed :], dtype=np.int64)
        except IndexError as exc:
            raise ValueError("malformed reconciliation summary") from exc
        bounds = tuple((flat[2 * i], flat[2 * i + 1]) for i in range(n_frames))
        _check_frames(bounds, failed, n_bits)
        if m_x.size != n_intensities or leaked < 0 or np.any(m_x < 0):
            raise ValueError("malformed reconciliation summary")
        return cls(leaked_bits=leaked, frame_bounds=bounds, failed=failed, m_x=m_x)


def _check_frames(bounds: tuple[tuple[int, int], ...], failed: tuple[int, ...], n: int) -> None:
    pos = 0
    for start, stop in bounds:
        if start != pos or stop <= start:
            raise ValueError("reconciliation frames must cover the key in order, without gaps")
        pos = stop
    if pos != n:
        raise ValueError(f"reconciliation frames cover {pos} bits of {n}")
    if any(not 0 <= f < len(bounds) for f in failed):
        raise ValueError("a failed-frame index is out of range")


def _key_length(
    estimate: est.ParameterEstimate,
    m_x: NDArray[np.int64],
    record_protocol: object,
    leak: float,
    settings: SecuritySettings,
) -> FiniteKeyBound | Bbm92Bound:
    return block_key_length(
        estimate,
        m_x,
        record_protocol,  # type: ignore[arg-type]
        leak_ec_bits=leak,
        epsilon_sec=settings.epsilon_sec,
        epsilon_cor=settings.epsilon_cor,
    )


def _charged_leak(ec_leak: int, verification_bits: int, epsilon_cor: float) -> float:
    return float(ec_leak) + max(0.0, verification_bits - math.log2(2.0 / epsilon_cor))


def _kept_bits(
    bits: NDArray[np.uint8], bounds: tuple[tuple[int, int], ...], kept: list[int]
) -> NDArray[np.uint8]:
    if not kept:
        return np.zeros(0, dtype=np.uint8)
    return np.concatenate([bits[bounds[i][0] : bounds[i][1]] for i in kept])


def _early_abort(
    estimate: est.ParameterEstimate,
    m_x: NDArray[np.int64],
    protocol: object,
    settings: SecuritySettings,
) -> None:
    """Abort before reconciliation if not even a leak-free block would give a key."""
    bound = _key_length(estimate, m_x, protocol, 0.0, settings)
    if not bound.positive:
        raise SecurityAbortError(
            "no positive key length: the finite-key bound of this block is "
            f"{bound.key_length_real:.0f} bits before error correction (phase-error bound "
            f"{bound.phi_x:.2%}, test-basis QBER {estimate.qber_z:.2%}); the block is discarded"
        )


# --------------------------------------------------------------------------------------
# The two parties
# --------------------------------------------------------------------------------------


class AliceParty:
    """Alice's side: her record, her end of the channel, her reconciler.

    Parameters
    ----------
    record
        Alice's record of the block.
    endpoint
        Alice's end of the classical channel (holding her authentication pool).
    settings
        Public security settings.
    reconciler
        Factory of her reconciler side, ``factory(frame_bits)``.
    public_seed
        Seed of her public randomness (verification hashes, Toeplitz seed).
    """

    def __init__(
        self,
        record: AliceRecord,
        endpoint: Endpoint,
        *,
        settings: SecuritySettings,
        reconciler: AliceFactory,
        public_seed: int,
    ) -> None:
        self._record = record
        self._ep = endpoint
        self._settings = settings
        self._factory = reconciler
        self._public = np.random.default_rng([public_seed, 0xA11CE])
        self._sifted: sift.SiftedBlock | None = None
        self.estimate: est.ParameterEstimate | None = None
        self._rec: AliceReconciler | None = None
        self._disclosed_bits = 0
        self._summary: _EcSummary | None = None
        self._hashes: list[VerifyHash] = []
        self._checked: list[int] = []
        self._kept: list[int] = []
        self.verification_bits = 0
        self.bound: FiniteKeyBound | Bbm92Bound | None = None
        self._seed: NDArray[np.uint8] | None = None
        self._length = 0

    def __repr__(self) -> str:
        return f"AliceParty(record={self._record!r})"

    # sifting and estimation
    def sift(self) -> None:
        """Answer Bob's announcement and sift."""
        self._sifted = sift.alice_answer(self._ep, self._record)

    def disclose(self) -> est.ParameterEstimate:
        """Exchange test-basis bits and count; returns her estimate."""
        assert self._sifted is not None
        self.estimate = est.alice_disclose(self._ep, self._sifted)
        return self.estimate

    def check_estimate(self) -> None:
        """Her abort decisions (after the estimation checkpoint)."""
        assert self.estimate is not None and self._sifted is not None
        est.check_qber(self.estimate.qber_z, self._settings.qber_threshold)
        zeros = np.zeros_like(self.estimate.n_x)
        _early_abort(self.estimate, zeros, self._sifted.protocol, self._settings)

    # reconciliation
    def serve(self) -> None:
        """Handle one reconciliation message from Bob (a request or his final summary)."""
        assert self._sifted is not None
        kind, payload = self._ep.recv_prefix("ec")
        if kind == "ec-done":
            self._summary = _EcSummary.decode(
                np.asarray(payload, dtype=np.int64),
                len(self._sifted.protocol.intensities),
                self._sifted.key_bits.size,
            )
            if self._summary.leaked_bits > self._disclosed_bits:
                raise ValueError(
                    f"Bob reports {self._summary.leaked_bits} leaked bits but Alice's replies "
                    f"held only {self._disclosed_bits} bits"
                )
            return
        if not kind.startswith("ec:"):
            raise ValueError(f"unexpected reconciliation message {kind!r}")
        if self._rec is None:
            self._rec = self._factory(self._sifted.key_bits.copy())
        reply = self._rec.respond(kind[3:], payload)
        arr = np.asarray(reply)
        self._disclosed_bits += int(arr.size if arr.dtype == np.uint8 else 64 * arr.size)
        self._ep.send("ec-reply:" + kind[3:], reply)

    # verification
    def send_verification(self) -> None:
        """Send a fresh public hash function and her tag for each frame not failed."""
        assert self._summary is not None and self._sifted is not None
        s = self._summary
        t = tag_bits_for(self._settings.epsilon_cor, len(s.frame_bounds))
        self._checked = [i for i in range(len(s.frame_bounds)) if i not in set(s.failed)]
        self._hashes = [VerifyHash.draw(self._public, t) for _ in self._checked]
        words = (
            np.concatenate([h.to_words() for h in self._hashes])
            if self._hashes
            else np.zeros(0, dtype=np.int64)
        )
        tags = np.zeros(t * len(self._checked), dtype=np.uint8)
        for n, (i, h) in enumerate(zip(self._checked, self._hashes, strict=True)):
            start, stop = s.frame_bounds[i]
            value = h.tag(self._sifted.key_bits[start:stop])
            tags[n * t : (n + 1) * t] = [(value >> (t - 1 - b)) & 1 for b in range(t)]
        self.verification_bits = int(tags.size)
        self._ep.send("ver-hashes", words)
        self._ep.send("ver-tags", tags)

    def receive_verification(self) -> None:
        """Read which frames Bob kept."""
        result = np.asarray(self._ep.recv("ver-result"), dtype=np.uint8)
        if result.size != len(self._checked):
            raise ValueError("Bob's verification result does not cover the checked frames")
        self._kept = [i for i, ok in zip(self._checked, result, strict=True) if ok]

    # amplification
    def send_amplification(self) -> None:
        """Compute the key length and send the public Toeplitz seed and length."""
        assert self._summary is not None and self.estimate is not None
        assert self._sifted is not None
        s = self._summary
        leak = _charged_leak(s.leaked_bits, self.verification_bits, self._settings.epsilon_cor)
        self.bound = _key_length(self.estimate, s.m_x, self._sifted.protocol, leak, self._settings)
        if not self._kept:
            raise VerificationError(
                "no reconciled frame passed verification; the block yields no key"
            )
        kept_n = sum(s.frame_bounds[i][1] - s.frame_bounds[i][0] for i in self._kept)
        discarded = self._sifted.key_bits.size - kept_n
        length = min(self.bound.key_length_bits - discarded, kept_n)
        if length <= 0:
            raise SecurityAbortError(
                "no positive key length: the finite-key bound is "
                f"{self.bound.key_length_real:.0f} bits with {leak:.0f} leaked bits and "
                f"{discarded} discarded bits; the block is discarded"
            )
        self._length = length
        self._seed = self._public.integers(0, 2, kept_n + length - 1, dtype=np.uint8)
        self._ep.send("pa-length", np.array([length], dtype=np.int64))
        self._ep.send("pa-seed", self._seed)

    def final_key(self) -> NDArray[np.uint8]:
        """Her final key (after the last checkpoint)."""
        assert self._summary is not None and self._sifted is not None
        assert self._seed is not None
        kept = _kept_bits(self._sifted.key_bits, self._summary.frame_bounds, self._kept)
        return toeplitz_hash(kept, self._seed, self._length)


class BobParty:
    """Bob's side: his record, his end of the channel, his reconciler. Never sees Alice's record.

    Parameters
    ----------
    record
        Bob's record of the block.
    endpoint
        Bob's end of the classical channel (holding his authentication pool).
    settings
        Public security settings.
    reconciler
        Factory of his reconciler side, ``factory(frame_bits, qber, seed)``.
    public_seed
        Seed of his public randomness (the reconciler's shuffles).
    """

    def __init__(
        self,
        record: BobRecord,
        endpoint: Endpoint,
        *,
        settings: SecuritySettings,
        reconciler: BobFactory,
        public_seed: int,
    ) -> None:
        self._record = record
        self._ep = endpoint
        self._settings = settings
        self._factory = reconciler
        self._reconciler_seed = int(np.random.default_rng([public_seed, 0xB0B]).integers(2**31))
        self._sifted: sift.SiftedBlock | None = None
        self.estimate: est.ParameterEstimate | None = None
        self.result: ReconcileResult | None = None
        self.m_x: NDArray[np.int64] | None = None
        self._checked: list[int] = []
        self._kept: list[int] = []
        self.verification_bits = 0
        self.bound: FiniteKeyBound | Bbm92Bound | None = None
        self._seed: NDArray[np.uint8] | None = None
        self._length = 0

    def __repr__(self) -> str:
        return f"BobParty(record={self._record!r})"

    @property
    def sifted(self) -> sift.SiftedBlock:
        """His sifted block (after :meth:`complete_sifting`)."""
        assert self._sifted is not None
        return self._sifted

    def announce(self) -> None:
        """Announce his click slots and bases."""
        sift.bob_announce(self._ep, self._record)

    def complete_sifting(self) -> None:
        """Read Alice's answer and sift."""
        self._sifted = sift.bob_complete(self._ep, self._record)

    def disclose(self) -> None:
        """Disclose his test-basis bits."""
        assert self._sifted is not None
        est.bob_disclose(self._ep, self._sifted)

    def complete_estimate(self) -> est.ParameterEstimate:
        """Read Alice's test bits and count."""
        assert self._sifted is not None
        self.estimate = est.bob_complete(self._ep, self._sifted)
        return self.estimate

    def check_estimate(self) -> None:
        """His abort decisions (after the estimation checkpoint)."""
        assert self.estimate is not None and self._sifted is not None
        est.check_qber(self.estimate.qber_z, self._settings.qber_threshold)
        zeros = np.zeros_like(self.estimate.n_x)
        _early_abort(self.estimate, zeros, self._sifted.protocol, self._settings)

    def reconcile(self, deliver: Callable[[], None]) -> ReconcileResult:
        """Drive reconciliation; ``deliver()`` lets the channel carry a request to Alice.

        ``deliver`` is the network: it gives Alice the chance to read his request and
        answer over the channel. Bob reads the answer from his own endpoint.
        """
        assert self._sifted is not None and self.estimate is not None
        lo, hi = _RECONCILER_QBER_RANGE
        qber = min(max(self.estimate.qber_z, lo), hi)
        bob_rec = self._factory(self._sifted.key_bits.copy(), qber, self._reconciler_seed)

        def ask(
            kind: str, payload: NDArray[np.int64] | NDArray[np.uint8]
        ) -> NDArray[np.int64] | NDArray[np.uint8]:
            self._ep.send("ec:" + kind, payload)
            deliver()
            return self._ep.recv("ec-reply:" + kind)

        result = bob_rec.run(ask)
        if result.corrected.size != self._sifted.key_bits.size:
            raise ValueError("the reconciler returned a frame of another length")
        flips = result.corrected != self._sifted.key_bits
        n_int = len(self._sifted.protocol.intensities)
        self.m_x = np.bincount(self._sifted.key_intensity[flips], minlength=n_int).astype(np.int64)
        self.result = result
        summary = _EcSummary(
            leaked_bits=int(result.leaked_bits),
            frame_bounds=tuple((int(a), int(b)) for a, b in result.frame_bounds),
            failed=tuple(int(f) for f in result.failed_frames),
            m_x=self.m_x,
        )
        _check_frames(summary.frame_bounds, summary.failed, self._sifted.key_bits.size)
        self._ep.send("ec-done", summary.encode())
        return result

    def check_verification(self) -> None:
        """Compare Alice's tags with his own; announce which frames he keeps."""
        assert self.result is not None
        words = np.asarray(self._ep.recv("ver-hashes"), dtype=np.int64)
        tags = np.asarray(self._ep.recv("ver-tags"), dtype=np.uint8)
        bounds = self.result.frame_bounds
        failed = set(int(f) for f in self.result.failed_frames)
        self._checked = [i for i in range(len(bounds)) if i not in failed]
        t = tag_bits_for(self._settings.epsilon_cor, len(bounds))
        if words.size != 5 * len(self._checked) or tags.size != t * len(self._checked):
            raise ValueError("Alice's verification message does not match the frames")
        ok = np.zeros(len(self._checked), dtype=np.uint8)
        for n, i in enumerate(self._checked):
            h = VerifyHash.from_words(words[5 * n : 5 * n + 5])
            if h.tag_bits != t:
                raise ValueError("Alice's verification hash has the wrong tag length")
            start, stop = bounds[i]
            mine = h.tag(self.result.corrected[start:stop])
            theirs = tags[n * t : (n + 1) * t]
            mine_bits = np.array([(mine >> (t - 1 - b)) & 1 for b in range(t)], dtype=np.uint8)
            ok[n] = hmac.compare_digest(mine_bits.tobytes(), theirs.tobytes())
        self.verification_bits = int(tags.size)
        self._kept = [i for i, good in zip(self._checked, ok, strict=True) if good]
        self._ep.send("ver-result", ok)

    def receive_amplification(self) -> None:
        """Compute his own key length, compare with Alice's, read the Toeplitz seed."""
        assert self.result is not None and self.estimate is not None
        assert self._sifted is not None and self.m_x is not None
        leak = _charged_leak(
            int(self.result.leaked_bits), self.verification_bits, self._settings.epsilon_cor
        )
        self.bound = _key_length(
            self.estimate, self.m_x, self._sifted.protocol, leak, self._settings
        )
        if not self._kept:
            raise VerificationError(
                "no reconciled frame passed verification; the block yields no key"
            )
        bounds = self.result.frame_bounds
        kept_n = sum(bounds[i][1] - bounds[i][0] for i in self._kept)
        discarded = self._sifted.key_bits.size - kept_n
        length = min(self.bound.key_length_bits - discarded, kept_n)
        if length <= 0:
            raise SecurityAbortError(
                "no positive key length: the finite-key bound is "
                f"{self.bound.key_length_real:.0f} bits with {leak:.0f} leaked bits and "
                f"{discarded} discarded bits; the block is discarded"
            )
        theirs = np.asarray(self._ep.recv("pa-length"), dtype=np.int64)
        seed = np.asarray(self._ep.recv("pa-seed"), dtype=np.uint8)
        if theirs.size != 1 or int(theirs[0]) != length:
            raise SecurityAbortError(
                "Alice and Bob computed different final key lengths; the block is discarded"
            )
        if seed.size != kept_n + length - 1:
            raise ValueError("Alice's Toeplitz seed has the wrong length")
        self._length = length
        self._seed = seed

    def final_key(self) -> NDArray[np.uint8]:
        """His final key (after the last checkpoint)."""
        assert self.result is not None and self._seed is not None
        kept = _kept_bits(self.result.corrected, self.result.frame_bounds, self._kept)
        return toeplitz_hash(kept, self._seed, self._length)


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------


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
    auth_refill_bits: int | None = None,
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
    auth_refill_bits
        Bits of each final key put back into each authentication pool; default: as many as
        the block spent.

    Returns
    -------
    BlockResult
        ``alice_key`` and ``bob_key`` (computed separately) and the report.

    Raises
    ------
    ValueError, TypeError
        For records of different protocols or lengths, an empty block, an unknown
        reconciler or bad settings (the message names the problem).
    SecurityAbortError
        QBER above the threshold or no positive key length; nothing reaches a pool.
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
    if isinstance(reconciler, str):
        name = reconciler
        alice_factory, bob_factory = get_reconciler(reconciler)
    else:
        name = "custom"
        alice_factory, bob_factory = reconciler
    if auth_refill_bits is not None and auth_refill_bits < 0:
        raise ValueError(f"auth_refill_bits must be >= 0, got {auth_refill_bits}")
    spent_before = (auth_alice.spent_bits, auth_bob.spent_bits)

    channel = ClassicalChannel(auth_alice, auth_bob, mode=settings.auth_mode, adversary=adversary)
    a = AliceParty(
        alice, channel.alice, settings=settings, reconciler=alice_factory, public_seed=seed
    )
    b = BobParty(bob, channel.bob, settings=settings, reconciler=bob_factory, public_seed=seed)
    seconds = {s: 0.0 for s in STAGES}
    seconds["authentication"] = 0.0

    def stage(name_: str, *steps: Callable[[], object]) -> None:
        t0 = time.perf_counter()
        try:
            for step in steps:
                step()
        except (AuthenticationError, KeyExhaustedError):
            raise
        except Exception as exc:
            # Act on a failure only once the traffic that led to it is authenticated.
            try:
                channel.settle(name_)
            except AuthenticationError as auth:
                raise auth from exc
            raise
        finally:
            seconds[name_] += time.perf_counter() - t0
        t1 = time.perf_counter()
        channel.checkpoint(name_)
        seconds["authentication"] += time.perf_counter() - t1

    try:
        stage("sifting", b.announce, a.sift, b.complete_sifting)
        stage("estimation", b.disclose, a.disclose, b.complete_estimate)
        a.check_estimate()
        b.check_estimate()
        stage("reconciliation", lambda: b.reconcile(a.serve), a.serve)
        stage("verification", a.send_verification, b.check_verification, a.receive_verification)
        stage("amplification", a.send_amplification, b.receive_amplification)
    except SecurityAbortError as exc:
        # public diagnostics for the caller (the disclosed test-basis QBER), no key material
        exc.qber_z = None if a.estimate is None else a.estimate.qber_z  # type: ignore[attr-defined]
        exc.stage_seconds = dict(seconds)  # type: ignore[attr-defined]
        raise
    t0 = time.perf_counter()
    # The two parties hash independently; FFTs release the GIL, so run them side by side.
    with ThreadPoolExecutor(max_workers=2) as pool:
        alice_job = pool.submit(a.final_key)
        bob_job = pool.submit(b.final_key)
        alice_final, bob_final = alice_job.result(), bob_job.result()
    seconds["amplification"] += time.perf_counter() - t0

    used = auth_alice.spent_bits - spent_before[0]
    if auth_bob.spent_bits - spent_before[1] != used:
        raise AuthenticationError("the two authentication pools fell out of step")
    refill = min(used if auth_refill_bits is None else auth_refill_bits, alice_final.size)
    auth_alice.deposit(alice_final[:refill])
    auth_bob.deposit(bob_final[:refill])

    assert a.estimate is not None and b.result is not None and b.bound is not None
    sifted = b.sifted
    result = b.result
    n_rec = int(result.corrected.size)
    qber_x = float(np.count_nonzero(result.corrected != sifted.key_bits)) / max(n_rec, 1)
    h = float(binary_entropy(qber_x))
    efficiency = float(result.leaked_bits) / (n_rec * h) if h > 0 else None
    discarded_frames = len(result.frame_bounds) - len(b._kept)
    kept_n = sum(result.frame_bounds[i][1] - result.frame_bounds[i][0] for i in b._kept)
    report = BlockReport(
        protocol=alice.protocol.kind,
        reconciler=name,
        n_pulses=int(bob.n_pulses),
        clicks=int(bob.slots.size),
        sifted_bits=int(sifted.n_matched),
        sifted_key_bits=int(sifted.key_bits.size),
        test_bits=int(sifted.test_bits.size),
        qber_z=float(a.estimate.qber_z),
        qber_x=qber_x,
        qber_z_per_intensity=a.estimate.qber_z_per_intensity,
        ec_leaked_bits=int(result.leaked_bits),
        verification_bits=int(b.verification_bits),
        leaked_bits=_charged_leak(
            int(result.leaked_bits), b.verification_bits, settings.epsilon_cor
        ),
        reconciliation_efficiency=efficiency,
        frames=len(result.frame_bounds),
        frames_discarded=discarded_frames,
        bits_discarded=int(sifted.key_bits.size - kept_n),
        key_length_bound_bits=int(b.bound.key_length_bits),
        final_key_bits=int(alice_final.size),
        output_key_bits=int(alice_final.size - refill),
        auth_bits_replenished=int(refill),
        epsilon_sec=settings.epsilon_sec,
        epsilon_cor=settings.epsilon_cor,
        round_trips=channel.stats.round_trips,
        messages=dict(channel.stats.messages),
        payload_bits=dict(channel.stats.payload_bits),
        auth_bits_used=int(used),
        stage_seconds=seconds,
        finite_key=b.bound,
    )
    return BlockResult(
        alice_key=KeyBits(alice_final[refill:].copy()),
        bob_key=KeyBits(bob_final[refill:].copy()),
        report=report,
    )
