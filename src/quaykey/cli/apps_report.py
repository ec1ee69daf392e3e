"""How ``quaykey apps run`` shows its report: rich tables of a run report's JSON."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from quaykey.cli._common import console

__all__ = ["render_report"]


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.1f}"


def render_report(out: dict[str, Any]) -> None:
    """Tables of a run report (``quaykey apps run`` without ``--json``)."""
    table = Table(
        title=f"apps run: {out['profile']}, {out['minutes']:g} min at {out['speed']:g}x "
        f"({out['wall_s']:.1f} s wall)"
    )
    cols = ("application", "class", "sent", "received", "rejected", "queued", "refused",
            "p50 ms", "p99 ms")  # fmt: skip
    for c in cols:
        table.add_column(c, justify="left" if c in ("application", "class") else "right")
    for app_name, classes in out["applications"].items():
        for cls, st in classes.items():
            table.add_row(app_name, cls, *(str(st[k]) for k in cols[2:7]),
                          _ms(st["p50_ms"]), _ms(st["p99_ms"]))  # fmt: skip
    for name, rt in out["round_trips"].items():
        table.add_row(name, "round trip", str(rt["count"]), "", "", "", "",
                      _ms(rt["p50_ms"]), _ms(rt["p99_ms"]))  # fmt: skip
    console.print(table)
    net, key, q = out["network"], out["key_consumed"], out["otp_queue"]
    rates = ", ".join(f"{k} {v / 1e3:.2f} kbit/s" for k, v in net["rate_bps"].items())
    if len(net["rate_bps"]) > 4:  # a preset's route: its slowest link says what it carries
        slow = min(net["rate_bps"], key=net["rate_bps"].get)
        route = net.get("route", {})
        rates = (f"{route.get('src')} -> {route.get('dst')} over {len(net['rate_bps'])} links "
                 f"of {route.get('network')}, slowest {slow} "
                 f"{net['rate_bps'][slow] / 1e3:.2f} kbit/s")  # fmt: skip
    delivered = sum(net["delivered_bytes"].values())
    console.print(
        f"link key ({net['fidelity']} blocks of {net['block_s']:g} s, {net['link_s']:g} link s):"
        f" {rates}; "
        f"{delivered:,} B delivered over all links, {key['bytes']:,} B consumed by the "
        f"applications ({key['keys']} keys, {key['distinct_key_ids']} distinct IDs)"
    )
    used = ", ".join(
        f"{k} {v['used_bytes']:,} of {v['delivered_bytes']:,} B" for k, v in out["link_key"].items()
    )
    if len(out["link_key"]) > 4:
        worst = max(out["link_key"].items(), key=lambda kv: kv[1]["used_bytes"]
                    / max(kv[1]["delivered_bytes"], 1))  # fmt: skip
        used = (f"most used {worst[0]} {worst[1]['used_bytes']:,} of "
                f"{worst[1]['delivered_bytes']:,} B")  # fmt: skip
    console.print(f"link key used by the KMEs (relay, MACs included): {used}")
    console.print(
        f"otp queue: {q['waiting']} waiting"
        + (f" (oldest {q['oldest_age_s']:.1f} s)" if q["oldest_age_s"] is not None else "")
        + f"; schedule lag p50/p99 {_ms(out['schedule_lag']['p50_ms'])}/"
        f"{_ms(out['schedule_lag']['p99_ms'])} ms; pools never negative: "
        f"{'yes' if out['pools_never_negative'] else 'NO'}"
    )
    if out.get("rejected_reasons"):
        console.print(f"refused by the receivers: {out['rejected_reasons']}")
    stock = out.get("stock")
    if stock is not None:
        for node, st in stock["levels"].items():
            c = st["counters"]
            levels = ", ".join(
                f"{p} {v['ready']}/{v['target_keys']}" for p, v in st["pairs"].items()
            )
            console.print(
                f"key stock {node} (ready/bound): {levels}; {c.get('taken_keys', 0)} keys served "
                f"from stock, {c.get('fallbacks', 0)} Get keys relayed on demand, "
                f"{c.get('refilled_keys', 0)} keys refilled"
            )
    led = out["ledger"]
    if led is not None:
        console.print(
            f"ledger: height {led['height']}, ledger verify "
            f"{'OK' if led['verify_ok'] else 'FAILED'}"
        )
    iot = out.get("iot")
    if iot is not None:
        console.print(
            f"iot ({iot['broker']}): {iot['frames_accepted']} frames accepted "
            f"{iot['accepted_by_kind']}, rejected {iot['rejected'] or 'none'}, "
            f"{iot['dead_letters']} dead letters, {iot['lost']} lost"
        )
    for kind, a in out["attacks"].items():
        console.print(f"attack {kind}: {a.get('injected', 0)} injected, "
                      f"{a.get('rejected', 0)} rejected {a.get('reasons', {})}")  # fmt: skip
