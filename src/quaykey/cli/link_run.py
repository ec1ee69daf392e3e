"""`quaykey link run`: simulate a link, then post-process it end to end into two keys.

The simulation (:mod:`quaykey.physics`) produces Alice's and Bob's records block by block;
each block goes through :func:`quaykey.postproc.pipeline.run_block`, in which Alice and Bob
compute their keys separately over the authenticated classical channel. The first block
authenticates with a fresh pre-shared key; later blocks with key the link produced.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.progress import Progress
from rich.table import Table

from quaykey.cli._common import console, err_console, print_json, user_errors
from quaykey.errors import SecurityAbortError, VerificationError
from quaykey.physics.attacks import parse_attack
from quaykey.physics.config import parse_params
from quaykey.physics.params import load_preset
from quaykey.physics.sampler import simulate_link
from quaykey.postproc.channel import AuthKeyPool
from quaykey.postproc.pipeline import STAGES, SecuritySettings, run_block
from quaykey.postproc.reconcile import RECONCILERS
from quaykey.units import binary_entropy

__all__ = ["run"]

#: Authentication key both ends share before the first block.
PRE_SHARED_AUTH_BITS = 8192


def _check(duration_s: float, block_s: float, distance_km: float | None, reconciler: str) -> None:
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"--duration-s must be a time > 0 s, got {duration_s!r}")
    if not (math.isfinite(block_s) and block_s > 0):
        raise ValueError(f"--block-s must be a time > 0 s, got {block_s!r}")
    if distance_km is not None and not (math.isfinite(distance_km) and distance_km >= 0):
        raise ValueError(f"--distance-km must be a length >= 0, got {distance_km!r}")
    if reconciler not in RECONCILERS:
        raise ValueError(
            f"--reconciler must be one of {', '.join(sorted(RECONCILERS))}, got {reconciler!r}"
        )


def _overrides(items: list[str]) -> dict[str, Any]:
    return parse_params(items, flag="--param")


def _summarise(
    reports: list[Any],
    aborts: list[str],
    duration_s: float,
    keys_match: bool,
    abort_qbers: list[float],
) -> dict[str, Any]:
    stage_seconds = {s: 0.0 for s in (*STAGES, "authentication")}
    for rep in reports:
        for k, v in rep.stage_seconds.items():
            stage_seconds[k] = stage_seconds.get(k, 0.0) + v
    final_bits = sum(r.output_key_bits for r in reports)
    n_z = sum(r.test_bits for r in reports)
    n_x = sum(r.sifted_key_bits for r in reports)
    qber_z = sum(r.qber_z * r.test_bits for r in reports) / n_z if n_z else None
    if qber_z is None and abort_qbers:
        qber_z = sum(abort_qbers) / len(abort_qbers)  # what the aborted blocks disclosed
    qber_x = sum(r.qber_x * r.sifted_key_bits for r in reports) / n_x if n_x else None
    ideal = sum(r.sifted_key_bits * float(binary_entropy(r.qber_x)) for r in reports)
    leaked = sum(r.ec_leaked_bits for r in reports)
    return {
        "keys_match": keys_match if reports else None,  # None: no block produced a key
        "final_key_bits": final_bits,
        "secret_key_rate_bps": final_bits / duration_s,
        "qber": qber_z,
        "qber_x": qber_x,
        "reconciliation_efficiency": leaked / ideal if ideal > 0 else None,
        "aborted": not reports,
        "abort_reason": aborts[0] if aborts and not reports else None,
        "blocks": len(reports) + len(aborts),
        "blocks_aborted": len(aborts),
        "block_abort_reasons": aborts,
        "sifted_key_bits": n_x,
        "leaked_bits": leaked,
        "round_trips": sum(r.round_trips for r in reports),
        "auth_bits_used": sum(r.auth_bits_used for r in reports),
        "auth_bits_replenished": sum(r.auth_bits_replenished for r in reports),
        "stage_seconds": stage_seconds,
    }


def run(
    preset: str = typer.Option("backbone", help="Link preset (backbone, gys, lim2014, ...)."),
    distance_km: float = typer.Option(None, "--distance-km", help="Fibre length in km."),
    loss_db: float = typer.Option(
        None, "--loss-db", help="Channel loss in dB (free-space presets such as micius)."
    ),
    duration_s: float = typer.Option(1.0, "--duration-s", help="Seconds of link time."),
    block_s: float = typer.Option(
        10.0, "--block-s", help="Seconds of link time per block (the last may be shorter)."
    ),
    seed: int = typer.Option(1, help="Seed of the simulation and of the public randomness."),
    reconciler: str = typer.Option("cascade", help="Reconciler: cascade or ldpc."),
    eve: str = typer.Option(None, help="Eavesdropper, e.g. intercept-resend:0.3."),
    param: list[str] = typer.Option(
        [], "--param", help="Override a parameter, e.g. source.basis_probability_x=0.5."
    ),
    out_keys: Path = typer.Option(
        None, "--out-keys", help="Directory for alice.key and bob.key (raw key bytes)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Simulate a link, then post-process it into two keys and compare them."""
    with user_errors():
        _check(duration_s, block_s, distance_km, reconciler)
        if loss_db is not None and not (math.isfinite(loss_db) and loss_db >= 0):
            raise ValueError(f"--loss-db must be a loss >= 0 dB, got {loss_db!r}")
        params = load_preset(preset, distance_km=distance_km, loss_db=loss_db)
        if param:
            params = params.with_overrides(_overrides(param))
        attack = parse_attack(eve) if eve else None
        sec = params.security
        settings = SecuritySettings(epsilon_sec=sec.epsilon_sec, epsilon_cor=sec.epsilon_cor)
        rate_hz = params.source.repetition_rate_hz
        n_blocks = max(1, math.ceil(duration_s / block_s - 1e-9))
        total_pulses = round(duration_s * rate_hz)
        rng = np.random.default_rng(seed)
        auth_alice, auth_bob = AuthKeyPool.pre_shared(PRE_SHARED_AUTH_BITS)
        reports: list[Any] = []
        aborts: list[str] = []
        abort_qbers: list[float] = []
        alice_parts: list[np.ndarray] = []
        bob_parts: list[np.ndarray] = []
        keys_match = True
        simulation_s = 0.0
        with Progress(console=err_console, transient=True, disable=n_blocks < 2) as progress:
            task = progress.add_task("post-processing blocks", total=n_blocks)
            for i in range(n_blocks):
                n_pulses = total_pulses // n_blocks + (i < total_pulses % n_blocks)
                t0 = time.perf_counter()
                sample = simulate_link(
                    params, n_pulses, rng, attack=attack, start_time_s=i * block_s
                )
                simulation_s += time.perf_counter() - t0
                try:
                    res = run_block(
                        sample.alice,
                        sample.bob,
                        auth_alice=auth_alice,
                        auth_bob=auth_bob,
                        reconciler=reconciler,
                        security=settings,
                        seed=seed * 1_000_003 + i,
                    )
                except VerificationError as exc:
                    aborts.append(f"block {i}: {exc}")
                except SecurityAbortError as exc:
                    aborts.append(f"block {i}: {exc.reason}")
                    qber = getattr(exc, "qber_z", None)
                    if qber is not None:
                        abort_qbers.append(float(qber))
                else:
                    reports.append(res.report)
                    keys_match = keys_match and res.alice_key.matches(res.bob_key)
                    alice_parts.append(res.alice_key.bits)
                    bob_parts.append(res.bob_key.bits)
                progress.advance(task)
        summary = _summarise(reports, aborts, duration_s, keys_match, abort_qbers)
        summary["stage_seconds"]["simulation"] = simulation_s
        summary.update(
            {
                "preset": preset,
                "distance_km": params.distance_km,
                "duration_s": duration_s,
                "n_pulses": total_pulses,
                "reconciler": reconciler,
                "eve": eve,
                "seed": seed,
            }
        )
        if out_keys is not None:
            out_keys.mkdir(parents=True, exist_ok=True)
            for name, parts in (("alice.key", alice_parts), ("bob.key", bob_parts)):
                bits = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
                (out_keys / name).write_bytes(np.packbits(bits).tobytes())
            summary["keys_written_to"] = str(out_keys)
    if as_json:
        print_json(summary)
        return
    table = Table(title=f"link run: {preset}, {params.distance_km:g} km, {duration_s:g} s")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key in (
        "keys_match",
        "final_key_bits",
        "secret_key_rate_bps",
        "qber",
        "reconciliation_efficiency",
        "blocks",
        "blocks_aborted",
        "abort_reason",
    ):
        value = summary[key]
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        table.add_row(key, text)
    for stage, secs in summary["stage_seconds"].items():
        table.add_row(f"seconds: {stage}", f"{secs:.3f}")
    console.print(table)
