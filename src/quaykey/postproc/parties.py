"""The two parties of one block: each holds only its own record and its end of the channel.

:class:`AliceParty` holds only Alice's record; :class:`BobParty` only Bob's. Every piece of
information that crosses between them is a message on the
:class:`~quaykey.postproc.channel.ClassicalChannel`, which counts and authenticates it. The
driver (:func:`quaykey.postproc.driver.run_block`) calls their steps in protocol order
(:mod:`quaykey.postproc.protocol`); what it needs to report, each party exposes read-only.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from quaykey.decoy import FiniteKeyBound
from quaykey.errors import SecurityAbortError
from quaykey.postproc import estimate as est
from quaykey.postproc import sifting as sift
from quaykey.postproc.amplify import identity_toeplitz_hash, identity_toeplitz_seed_length
from quaykey.postproc.channel import Endpoint
from quaykey.postproc.finite_key import Bbm92Bound
from quaykey.postproc.protocol import (
    RECONCILER_QBER_RANGE,
    FinalLength,
    ReconciliationSummary,
    SecuritySettings,
    check_estimate,
    check_frames,
    final_key_length,
    kept_bits,
)
from quaykey.postproc.reconcile import AliceFactory, BobFactory
from quaykey.postproc.reconcile.base import AliceReconciler, ReconcileResult
from quaykey.postproc.verify import VerifyHash, tag_bits_for
from quaykey.postproc.wire import MessageKind
from quaykey.records import AliceRecord, BobRecord

__all__ = ["RECONCILER_SEED", "AliceParty", "BobParty"]

#: Seed of the reconcilers' public choices (Cascade's pass orders, the LDPC code and its
#: reveal order). Fixed, like a standard's parity-check matrix, so that each party builds
#: them once and reuses them block after block. They are public and the leakage count does
#: not depend on them: every parity or syndrome bit disclosed is charged whatever the order.
RECONCILER_SEED = 0x5EEDCA5

#: Words of one verification hash on the wire (:meth:`VerifyHash.to_words`).
_HASH_WORDS = 5


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
        self._estimate: est.ParameterEstimate | None = None
        self._rec: AliceReconciler | None = None
        self._disclosed_bits = 0
        self._summary: ReconciliationSummary | None = None
        self._checked: list[int] = []
        self._kept: tuple[int, ...] = ()
        self._verification_bits = 0
        self._final: FinalLength | None = None
        self._seed: NDArray[np.uint8] | None = None

    def __repr__(self) -> str:
        return f"AliceParty(record={self._record!r})"

    @property
    def estimate(self) -> est.ParameterEstimate | None:
        """Her parameter estimate (after :meth:`disclose`)."""
        return self._estimate

    # sifting and estimation
    def sift(self) -> None:
        """Answer Bob's announcement and sift."""
        self._sifted = sift.alice_answer(self._ep, self._record)

    def disclose(self) -> est.ParameterEstimate:
        """Exchange test-basis bits and count; returns her estimate."""
        assert self._sifted is not None
        self._estimate = est.alice_disclose(self._ep, self._sifted)
        return self._estimate

    def check_estimate(self) -> None:
        """Her abort decisions (after the estimation checkpoint)."""
        assert self._estimate is not None and self._sifted is not None
        check_estimate(self._estimate, self._sifted.protocol, self._settings)

    # reconciliation
    def serve(self) -> None:
        """Handle one reconciliation message from Bob (a request or his final summary)."""
        msg = self._ep.recv_one_of(MessageKind.EC_REQUEST, MessageKind.EC_DONE)
        if msg.kind is MessageKind.EC_DONE:
            self._read_summary(np.asarray(msg.payload, dtype=np.int64))
        else:
            self._answer(msg.request, msg.payload)

    def _answer(self, request: str, payload: NDArray[np.int64] | NDArray[np.uint8]) -> None:
        assert self._sifted is not None
        if self._rec is None:
            self._rec = self._factory(self._sifted.key_bits.copy())
        reply = self._rec.respond(request, payload)
        arr = np.asarray(reply)
        self._disclosed_bits += int(arr.size if arr.dtype == np.uint8 else 64 * arr.size)
        self._ep.send(MessageKind.EC_REPLY, reply, request=request)

    def _read_summary(self, payload: NDArray[np.int64]) -> None:
        assert self._sifted is not None
        self._summary = ReconciliationSummary.decode(
            payload, len(self._sifted.protocol.intensities), self._sifted.key_bits.size
        )
        if self._summary.leaked_bits > self._disclosed_bits:
            raise ValueError(
                f"Bob reports {self._summary.leaked_bits} leaked bits but Alice's replies "
                f"held only {self._disclosed_bits} bits"
            )

    # verification
    def send_verification(self) -> None:
        """Send a fresh public hash function and her tag for each frame not failed."""
        assert self._summary is not None and self._sifted is not None
        s = self._summary
        t = tag_bits_for(self._settings.epsilon_cor, len(s.frame_bounds))
        self._checked = [i for i in range(len(s.frame_bounds)) if i not in set(s.failed)]
        hashes = [VerifyHash.draw(self._public, t) for _ in self._checked]
        words = (
            np.concatenate([h.to_words() for h in hashes])
            if hashes
            else np.zeros(0, dtype=np.int64)
        )
        tags = np.zeros(t * len(self._checked), dtype=np.uint8)
        for n, (i, h) in enumerate(zip(self._checked, hashes, strict=True)):
            start, stop = s.frame_bounds[i]
            tags[n * t : (n + 1) * t] = h.tag_array(self._sifted.key_bits[start:stop])
        self._verification_bits = int(tags.size)
        self._ep.send(MessageKind.VER_HASHES, words)
        self._ep.send(MessageKind.VER_TAGS, tags)

    def receive_verification(self) -> None:
        """Read which frames Bob kept."""
        result = np.asarray(self._ep.recv(MessageKind.VER_RESULT), dtype=np.uint8)
        if result.size != len(self._checked):
            raise ValueError("Bob's verification result does not cover the checked frames")
        self._kept = tuple(i for i, ok in zip(self._checked, result, strict=True) if ok)

    # amplification
    def send_amplification(self) -> None:
        """Compute the key length and send the public Toeplitz seed and length."""
        assert self._summary is not None and self._estimate is not None
        assert self._sifted is not None
        s = self._summary
        self._final = final_key_length(
            self._estimate,
            s.m_x,
            self._sifted.protocol,
            self._settings,
            ec_leaked_bits=s.leaked_bits,
            verification_bits=self._verification_bits,
            frame_bounds=s.frame_bounds,
            kept_frames=self._kept,
            sifted_key_bits=self._sifted.key_bits.size,
        )
        length = self._final.bits
        n_seed = identity_toeplitz_seed_length(self._final.kept_bits, length)
        self._seed = self._public.integers(0, 2, n_seed, dtype=np.uint8)
        self._ep.send(MessageKind.PA_LENGTH, np.array([length], dtype=np.int64))
        self._ep.send(MessageKind.PA_SEED, self._seed)

    def final_key(self) -> NDArray[np.uint8]:
        """Her final key (after the last checkpoint)."""
        assert self._summary is not None and self._sifted is not None
        assert self._seed is not None and self._final is not None
        kept = kept_bits(self._sifted.key_bits, self._summary.frame_bounds, self._kept)
        return identity_toeplitz_hash(kept, self._seed, self._final.bits)


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
    reconciler_seed
        Seed of the reconciler's public choices (Cascade's pass orders; the LDPC code and
        its reveal order), :data:`RECONCILER_SEED` by default.
    """

    def __init__(
        self,
        record: BobRecord,
        endpoint: Endpoint,
        *,
        settings: SecuritySettings,
        reconciler: BobFactory,
        reconciler_seed: int = RECONCILER_SEED,
    ) -> None:
        self._record = record
        self._ep = endpoint
        self._settings = settings
        self._factory = reconciler
        self._reconciler_seed = int(reconciler_seed)
        self._sifted: sift.SiftedBlock | None = None
        self._estimate: est.ParameterEstimate | None = None
        self._result: ReconcileResult | None = None
        self._m_x: NDArray[np.int64] | None = None
        self._kept: tuple[int, ...] = ()
        self._verification_bits = 0
        self._final: FinalLength | None = None
        self._seed: NDArray[np.uint8] | None = None

    def __repr__(self) -> str:
        return f"BobParty(record={self._record!r})"

    # what the driver reports (public data only)
    @property
    def sifted(self) -> sift.SiftedBlock:
        """His sifted block (after :meth:`complete_sifting`)."""
        assert self._sifted is not None
        return self._sifted

    @property
    def estimate(self) -> est.ParameterEstimate | None:
        """His parameter estimate (after :meth:`complete_estimate`)."""
        return self._estimate

    @property
    def reconciliation(self) -> ReconcileResult:
        """His reconciler's result (after :meth:`reconcile`)."""
        assert self._result is not None
        return self._result

    @property
    def kept_frames(self) -> tuple[int, ...]:
        """Indices of the frames that passed verification (after :meth:`check_verification`)."""
        return self._kept

    @property
    def verification_bits(self) -> int:
        """Verification tag bits Alice disclosed."""
        return self._verification_bits

    @property
    def bound(self) -> FiniteKeyBound | Bbm92Bound:
        """The block's finite-key bound (after :meth:`receive_amplification`)."""
        assert self._final is not None
        return self._final.bound

    # sifting and estimation
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
        self._estimate = est.bob_complete(self._ep, self._sifted)
        return self._estimate

    def check_estimate(self) -> None:
        """His abort decisions (after the estimation checkpoint)."""
        assert self._estimate is not None and self._sifted is not None
        check_estimate(self._estimate, self._sifted.protocol, self._settings)

    # reconciliation
    def reconcile(self, deliver: Callable[[], None]) -> ReconcileResult:
        """Drive reconciliation; ``deliver()`` lets the channel carry a request to Alice.

        ``deliver`` is the network: it gives Alice the chance to read his request and
        answer over the channel. Bob reads the answer from his own endpoint.
        """
        assert self._sifted is not None and self._estimate is not None
        lo, hi = RECONCILER_QBER_RANGE
        qber = min(max(self._estimate.qber_z, lo), hi)
        bob_rec = self._factory(self._sifted.key_bits.copy(), qber, self._reconciler_seed)

        def ask(
            request: str, payload: NDArray[np.int64] | NDArray[np.uint8]
        ) -> NDArray[np.int64] | NDArray[np.uint8]:
            self._ep.send(MessageKind.EC_REQUEST, payload, request=request)
            deliver()
            return self._ep.recv(MessageKind.EC_REPLY, request=request)

        result = bob_rec.run(ask)
        if result.corrected.size != self._sifted.key_bits.size:
            raise ValueError("the reconciler returned a frame of another length")
        flips = result.corrected != self._sifted.key_bits
        n_int = len(self._sifted.protocol.intensities)
        self._m_x = np.bincount(self._sifted.key_intensity[flips], minlength=n_int).astype(np.int64)
        self._result = result
        summary = ReconciliationSummary(
            leaked_bits=int(result.leaked_bits),
            frame_bounds=tuple((int(a), int(b)) for a, b in result.frame_bounds),
            failed=tuple(int(f) for f in result.failed_frames),
            m_x=self._m_x,
        )
        check_frames(summary.frame_bounds, summary.failed, self._sifted.key_bits.size)
        self._ep.send(MessageKind.EC_DONE, summary.encode())
        return result

    # verification
    def check_verification(self) -> None:
        """Compare Alice's tags with his own; announce which frames he keeps."""
        assert self._result is not None
        words = np.asarray(self._ep.recv(MessageKind.VER_HASHES), dtype=np.int64)
        tags = np.asarray(self._ep.recv(MessageKind.VER_TAGS), dtype=np.uint8)
        bounds = self._result.frame_bounds
        failed = set(int(f) for f in self._result.failed_frames)
        checked = [i for i in range(len(bounds)) if i not in failed]
        t = tag_bits_for(self._settings.epsilon_cor, len(bounds))
        if words.size != _HASH_WORDS * len(checked) or tags.size != t * len(checked):
            raise ValueError("Alice's verification message does not match the frames")
        ok = np.zeros(len(checked), dtype=np.uint8)
        for n, i in enumerate(checked):
            h = VerifyHash.from_words(words[_HASH_WORDS * n : _HASH_WORDS * (n + 1)])
            if h.tag_bits != t:
                raise ValueError("Alice's verification hash has the wrong tag length")
            start, stop = bounds[i]
            mine = h.tag_array(self._result.corrected[start:stop])
            theirs = tags[n * t : (n + 1) * t]
            ok[n] = hmac.compare_digest(mine.tobytes(), theirs.tobytes())
        self._verification_bits = int(tags.size)
        self._kept = tuple(i for i, good in zip(checked, ok, strict=True) if good)
        self._ep.send(MessageKind.VER_RESULT, ok)

    # amplification
    def receive_amplification(self) -> None:
        """Compute his own key length, compare with Alice's, read the Toeplitz seed."""
        assert self._result is not None and self._estimate is not None
        assert self._sifted is not None and self._m_x is not None
        self._final = final_key_length(
            self._estimate,
            self._m_x,
            self._sifted.protocol,
            self._settings,
            ec_leaked_bits=int(self._result.leaked_bits),
            verification_bits=self._verification_bits,
            frame_bounds=self._result.frame_bounds,
            kept_frames=self._kept,
            sifted_key_bits=self._sifted.key_bits.size,
        )
        theirs = np.asarray(self._ep.recv(MessageKind.PA_LENGTH), dtype=np.int64)
        seed = np.asarray(self._ep.recv(MessageKind.PA_SEED), dtype=np.uint8)
        if theirs.size != 1 or int(theirs[0]) != self._final.bits:
            raise SecurityAbortError(
                "Alice and Bob computed different final key lengths; the block is discarded",
                qber_z=self._estimate.qber_z,
            )
        if seed.size != identity_toeplitz_seed_length(self._final.kept_bits, self._final.bits):
            raise ValueError("Alice's Toeplitz seed has the wrong length")
        self._seed = seed

    def final_key(self) -> NDArray[np.uint8]:
        """His final key (after the last checkpoint)."""
        assert self._result is not None and self._seed is not None and self._final is not None
        kept = kept_bits(self._result.corrected, self._result.frame_bounds, self._kept)
        return identity_toeplitz_hash(kept, self._seed, self._final.bits)
