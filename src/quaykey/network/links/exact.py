"""The exact implementation of the link-block seam: sampled bits through post-processing.

The physics sampler (:func:`quaykey.physics.sampler.simulate_link`) produces Alice's and
Bob's records of the window; :func:`quaykey.postproc.pipeline.run_block` runs the two
parties over the authenticated classical channel and returns the two keys, each computed
by its own party. Authentication starts from a pre-shared key and is then refilled from
the link's own key, block after block (the pools live in the :class:`ExactBlock`).

Key from both bases (``params.security.key_from_both_bases``, Liao et al. 2017): after the
X-basis key (Z the test basis), each party relabels the bases of its own record (X <-> Z)
and the post-processing runs a second time on the same block, so that the Z-basis sifted
bits become key with X as the test basis. The two keys are concatenated in that order; the
second run spends and replenishes authentication key like the first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np

from quaykey.errors import AuthenticationError, SecurityAbortError, VerificationError
from quaykey.network.links.block import (
    AbortKind,
    Attack,
    BlockOutcome,
    BlockWindow,
    Fidelity,
    LossProfile,
    n_pulses_in,
)
from quaykey.physics.params import FreeSpaceChannel, LinkParams
from quaykey.physics.sampler import simulate_link
from quaykey.postproc.channel import Adversary, AuthKeyPool
from quaykey.postproc.pipeline import SecuritySettings, run_block
from quaykey.records import AliceRecord, BobRecord

__all__ = ["DEFAULT_PRESHARED_AUTH_BITS", "ExactBlock"]

_Record = TypeVar("_Record", AliceRecord, BobRecord)

#: Pre-shared authentication key of a link's first block (later blocks refill from key).
DEFAULT_PRESHARED_AUTH_BITS = 200_000


def _swap_bases(record: _Record) -> _Record:
    """One party's record with the basis labels X and Z exchanged (a local relabelling)."""
    protocol = replace(
        record.protocol, basis_probability_x=1.0 - record.protocol.basis_probability_x
    )
    return replace(record, bases=(1 - record.bases).astype(np.uint8), protocol=protocol)


@dataclass
class ExactBlock:
    """Blocks as bits: sampler -> two records -> post-processing -> two keys.

    Parameters
    ----------
    reconciler
        ``cascade`` or ``ldpc``.
    qber_threshold
        Blocks whose test-basis QBER exceeds this abort.
    preshared_auth_bits
        Size of the pre-shared authentication key, drawn on the first block.
    auth_seed
        Seed of that pre-shared key (``None``: drawn from the first block's ``rng``).
    auth
        The two parties' authentication pools to start from, instead of a fresh pre-shared
        key (``quaykey.postproc.channel.AuthKeyPool.pre_shared``).
    adversary
        A man in the middle on the classical channel
        (:data:`quaykey.postproc.channel.Adversary`); a message it changes fails its tag
        and the block ends with ``abort_kind="authentication"`` and no key.
    """

    reconciler: str = "cascade"
    qber_threshold: float = 0.11
    preshared_auth_bits: int = DEFAULT_PRESHARED_AUTH_BITS
    auth_seed: int | None = None
    auth: tuple[AuthKeyPool, AuthKeyPool] | None = field(default=None, repr=False)
    adversary: Adversary | None = field(default=None, repr=False)
    fidelity: Fidelity = "exact"

    def _pools(self, rng: np.random.Generator) -> tuple[AuthKeyPool, AuthKeyPool]:
        if self.auth is None:
            seed = self.auth_seed if self.auth_seed is not None else int(rng.integers(0, 2**31))
            self.auth = AuthKeyPool.pre_shared(self.preshared_auth_bits, seed=seed)
        return self.auth

    def run(
        self,
        params: LinkParams,
        window: BlockWindow,
        rng: np.random.Generator,
        *,
        name: str = "",
        loss: LossProfile | None = None,
        attack: Attack | None = None,
    ) -> BlockOutcome:
        """One block (see :class:`~quaykey.network.links.block.LinkBlock`)."""
        auth = self._pools(rng)
        t0 = time.perf_counter()
        if loss is not None:
            if not isinstance(params.channel, FreeSpaceChannel):
                raise ValueError("a loss profile needs a free-space channel")
            params = replace(params, channel=replace(params.channel, loss_db_at=loss.at))
            n = n_pulses_in(params, loss.duration_s)
            sample = simulate_link(params, n, rng, attack=attack, time_step_s=loss.step_s)
        else:
            n = n_pulses_in(params, window.duration_s)
            sample = simulate_link(params, n, rng, attack=attack, start_time_s=window.start_s)
        sim_s = time.perf_counter() - t0
        st = sample.stats
        sx, sz = sum(st.sifted_x.values()), sum(st.sifted_z.values())
        qber = float(sum(st.errors_x.values())) / sx if sx else 0.0
        qber_z = float(sum(st.errors_z.values())) / sz if sz else 0.0

        def outcome(kind: AbortKind, reason: str, **keys: Any) -> BlockOutcome:
            return BlockOutcome(
                link=name, end_s=window.end_s, duration_s=window.duration_s, n_pulses=n,
                key_bits=int(keys["alice_key"].size) if keys else 0, qber=qber, qber_z=qber_z,
                sifted_bits=float(sx + sz), test_bits=float(sz), abort_kind=kind, reason=reason,
                simulation_s=sim_s, **keys,
            )  # fmt: skip

        if sx == 0 or sz == 0:
            return outcome("no-detections", "no sifted detections in one basis or both")
        settings = SecuritySettings(
            epsilon_sec=params.security.epsilon_sec,
            epsilon_cor=params.security.epsilon_cor,
            qber_threshold=self.qber_threshold,
        )

        def post_process(alice: AliceRecord, bob: BobRecord) -> Any:
            return run_block(
                alice,
                bob,
                auth_alice=auth[0],
                auth_bob=auth[1],
                reconciler=self.reconciler,
                security=settings,
                seed=int(rng.integers(0, 2**31)),
                adversary=self.adversary,
            )

        try:
            res = post_process(sample.alice, sample.bob)
        except VerificationError as exc:
            return outcome("verification", str(exc)[:120])
        except AuthenticationError as exc:
            return outcome("authentication", str(exc)[:160])
        except SecurityAbortError as exc:
            if qber_z > self.qber_threshold:
                reason = f"test-basis QBER {qber_z:.2%} above the abort threshold "
                return outcome("qber", reason + f"{self.qber_threshold:.2%}")
            return outcome("no-key", exc.reason[:160])
        alice_key, bob_key, swapped_report = res.alice_key.bits, res.bob_key.bits, None
        if params.security.key_from_both_bases:
            try:
                swapped = post_process(_swap_bases(sample.alice), _swap_bases(sample.bob))
            except (VerificationError, SecurityAbortError):
                pass  # the Z-basis key is lost; the X-basis key stands on its own
            else:
                alice_key = np.concatenate([alice_key, swapped.alice_key.bits])
                bob_key = np.concatenate([bob_key, swapped.bob_key.bits])
                swapped_report = swapped.report
        out = outcome("", "", alice_key=alice_key, bob_key=bob_key)
        return replace(out, report=res.report, swapped_report=swapped_report)
