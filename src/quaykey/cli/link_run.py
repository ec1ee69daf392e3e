"""`quaykey link run`: simulate a link, then post-process it end to end into two keys.

Parse, call the link-block seam through :class:`quaykey.network.links.LinkRunner` in exact
fidelity (sampler -> post-processing, Alice and Bob computing their keys separately), and
render :func:`quaykey.network.links.summarise`. Exits 1 when no key was made, with the
diagnosis: a link too lossy or noisy for key, or a QBER above what the link's own loss and
noise predict (possible eavesdropping).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import typer
from rich.progress import Progress
from rich.table import Table

from quaykey.cli._common import (
    check_seed,
    console,
    err_console,
    link_params,
    print_json,
    user_errors,
)
from quaykey.postproc.reconcile import RECONCILERS

if TYPE_CHECKING:  # the network stack is imported when the command runs, not for --help
    from quaykey.physics.params import LinkParams

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


def _check_cost(params: LinkParams, duration_s: float, block_s: float, force: bool) -> float:
    from quaykey.network.cost import MAX_UNFORCED_S, block_cost_s
    from quaykey.network.links import link_model

    block = min(block_s, duration_s)
    try:
        per_block = block_cost_s(params, link_model(params, block), "exact")
    except ValueError:  # a source the counts model does not cover: pulses alone
        per_block = block_cost_s(params, None, "exact", block)
    cost = per_block * duration_s / block
    if cost > MAX_UNFORCED_S and not force:
        raise ValueError(
            f"--duration-s {duration_s:g}: this run would take ~{cost:.3g} s of wall time "
            f"(more than {MAX_UNFORCED_S:g} s); shorten it or pass --force"
        )
    return cost


def _write_keys(out_keys: Path, outcomes: list[Any]) -> None:
    from quaykey.network.links.runner import joined_keys

    out_keys.mkdir(parents=True, exist_ok=True)
    alice, bob = joined_keys(outcomes)
    for name, bits in (("alice.key", alice), ("bob.key", bob)):
        (out_keys / name).write_bytes(np.packbits(bits).tobytes())


def run(
    preset: str = typer.Option("backbone", help="Link preset (backbone, gys, lim2014, ...)."),
    distance_km: float = typer.Option(None, "--distance-km", help="Fibre length in km."),
    loss_db: float = typer.Option(
        None, "--loss-db", help="Channel loss in dB (free-space presets such as micius-2017)."
    ),
    duration_s: float = typer.Option(1.0, "--duration-s", help="Seconds of link time."),
    block_s: float = typer.Option(
        10.0, "--block-s", help="Seconds of link time per block (the last may be shorter)."
    ),
    seed: int = typer.Option(1, help="Seed of the simulation and of the public randomness."),
    reconciler: str = typer.Option(
        "cascade",
        help="Reconciler: cascade, ldpc or ldpc-lanes (LDPC, many frames on every core).",
    ),
    eve: str = typer.Option(None, help="Eavesdropper, e.g. intercept-resend:0.3."),
    param: list[str] = typer.Option(
        [], "--param", help="Override a parameter, e.g. source.basis_probability_x=0.5."
    ),
    out_keys: Path = typer.Option(
        None, "--out-keys", help="Directory for alice.key and bob.key (raw key bytes)."
    ),
    force: bool = typer.Option(False, "--force", help="Run even if estimated to take long."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Simulate a link, then post-process it into two keys and compare them."""
    from quaykey.network.links import LinkRunner, make_block, summarise
    from quaykey.physics.attacks import parse_attack

    with user_errors():
        _check(duration_s, block_s, distance_km, reconciler)
        check_seed(seed)
        params = link_params(preset, distance_km, loss_db, params=param)
        attack = parse_attack(eve) if eve else None
        cost = _check_cost(params, duration_s, block_s, force)
        block = make_block("exact", reconciler, preshared_auth_bits=PRE_SHARED_AUTH_BITS)
        runner = LinkRunner("link", params, block, block_s, np.random.default_rng(seed))
        with Progress(console=err_console, transient=True, disable=cost < 3) as progress:
            task = progress.add_task("simulating and post-processing blocks", total=None)
            outcomes = runner.run(
                duration_s, attack, lambda i, n: progress.update(task, completed=i, total=n)
            )
        summary = summarise(outcomes, params, block_s, reconciler).to_dict()
        summary.update(
            preset=preset,
            distance_km=params.distance_km,
            duration_s=duration_s,
            n_pulses=sum(o.n_pulses for o in outcomes),
            reconciler=reconciler,
            eve=eve,
            seed=seed,
        )
        if out_keys is not None:
            _write_keys(out_keys, outcomes)
            summary["keys_written_to"] = str(out_keys)
    if as_json:
        print_json(summary)
    else:
        _render(summary, preset, params.distance_km, duration_s)
    if summary["aborted"]:
        if not as_json:
            err_console.print(f"[bold red]no key:[/] {summary['diagnosis']}")
            longer = summary.get("shortest_key_block_s")
            if longer is not None:
                # half again the model's threshold: sampled blocks spread around the model
                err_console.print(
                    f"try --block-s {float(f'{1.5 * longer:.2g}'):g} (the model gives key from "
                    f"{longer:g} s; longer blocks leave room for the spread of sampled blocks)"
                )
        raise typer.Exit(code=1)


def _render(summary: dict[str, Any], preset: str, distance_km: float, duration_s: float) -> None:
    table = Table(title=f"link run: {preset}, {distance_km:g} km, {duration_s:g} s")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key in (
        "keys_match",
        "final_key_bits",
        "secret_key_rate_bps",
        "qber",
        "expected_qber",
        "reconciliation_efficiency",
        "blocks",
        "blocks_aborted",
        "abort_reason",
        "diagnosis",
    ):
        value = summary[key]
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        table.add_row(key, text)
    for stage, secs in summary["stage_seconds"].items():
        table.add_row(f"seconds: {stage}", f"{secs:.3f}")
    console.print(table)
