"""Several blocks in flight (run_blocks) give the keys and accounts of run_block, in order."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import fields

import numpy as np
import pytest
from postproc_synth import make_records

from quaykey.errors import KeyExhaustedError
from quaykey.postproc.authpool import AuthKeyPool
from quaykey.postproc.driver import run_block, run_blocks
from quaykey.postproc.report import BlockResult

N_PULSES = 3_000_000
#: Fields that differ between two runs of the same block by nature (wall times).
_TIMING = {"stage_seconds"}


def _blocks(n: int, first_seed: int, n_pulses: int = N_PULSES) -> list[tuple[object, object, int]]:
    out = []
    for i in range(n):
        alice, bob = make_records(n_pulses, np.random.default_rng(first_seed + i))
        out.append((alice, bob, 40 + i))
    return out


def _sequential(blocks: list, reconciler: str) -> tuple[list[BlockResult], AuthKeyPool]:  # type: ignore[type-arg]
    pa, pb = AuthKeyPool.pre_shared(60_000, seed=3)
    results = [
        run_block(a, b, auth_alice=pa, auth_bob=pb, seed=s, reconciler=reconciler)
        for a, b, s in blocks
    ]
    return results, pa


def _assert_same(got: BlockResult, want: BlockResult) -> None:
    assert got.alice_key.to_bytes() == want.alice_key.to_bytes()
    assert got.bob_key.to_bytes() == want.bob_key.to_bytes()
    for f in fields(BlockResult):
        if f.name in _TIMING or f.name in ("alice_key", "bob_key"):
            continue
        assert getattr(got, f.name) == getattr(want, f.name), f.name


@pytest.mark.parametrize(
    ("reconciler", "n_blocks", "n_pulses"),
    # LDPC needs longer blocks for a key (2**16-bit frames; a short tail frame is weaker).
    [
        ("cascade", 3, N_PULSES),
        pytest.param("ldpc-lanes", 2, 2 * N_PULSES, marks=pytest.mark.slow),
    ],
)
def test_threads_give_the_sequential_results(reconciler: str, n_blocks: int, n_pulses: int) -> None:
    blocks = _blocks(n_blocks, first_seed=700, n_pulses=n_pulses)
    want, pa_seq = _sequential(blocks, reconciler)
    pa, pb = AuthKeyPool.pre_shared(60_000, seed=3)
    with ThreadPoolExecutor(max_workers=2) as ex:
        got = list(
            run_blocks(
                blocks,
                auth_alice=pa,
                auth_bob=pb,
                auth_budget_bits=15_000,
                executor=ex,
                reconciler=reconciler,
            )
        )
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.alice_key.matches(g.bob_key)
        _assert_same(g, w)
    # The pools end holding as many bits as after the sequential run (spent = replenished
    # per block), and the two pools stay in step.
    assert pa.available_bits == pb.available_bits == pa_seq.available_bits


def _process_pool() -> Executor:
    return ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"))


def test_processes_give_the_sequential_results() -> None:
    blocks = _blocks(2, first_seed=900)
    want, _ = _sequential(blocks, "cascade")
    pa, pb = AuthKeyPool.pre_shared(60_000, seed=3)
    with _process_pool() as ex:
        got = list(
            run_blocks(blocks, auth_alice=pa, auth_bob=pb, auth_budget_bits=15_000, executor=ex)
        )
    for g, w in zip(got, want, strict=True):
        _assert_same(g, w)


def test_in_process_path_and_budget_errors() -> None:
    blocks = _blocks(2, first_seed=700)
    want, _ = _sequential(blocks, "cascade")
    pa, pb = AuthKeyPool.pre_shared(60_000, seed=3)
    got = list(run_blocks(blocks, auth_alice=pa, auth_bob=pb, auth_budget_bits=15_000))
    for g, w in zip(got, want, strict=True):
        _assert_same(g, w)
    # A budget smaller than a block's authentication cost fails that block loudly.
    pa, pb = AuthKeyPool.pre_shared(60_000, seed=3)
    with pytest.raises(KeyExhaustedError):
        list(run_blocks(blocks, auth_alice=pa, auth_bob=pb, auth_budget_bits=64))
    with pytest.raises(ValueError, match="in_flight"):
        list(run_blocks(blocks, auth_alice=pa, auth_bob=pb, auth_budget_bits=64, in_flight=0))
