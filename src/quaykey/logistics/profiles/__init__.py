"""Traffic profiles shipped as package data, and the loader that turns their YAML into objects.

Profiles
--------
``shanghai-day``
    A Shanghai-scale port day from public volumes (> 50 M TEU in 2024).
``ningbo-day``
    ``shanghai-day`` rescaled to Ningbo-Zhoushan's 39.3 M TEU (2024), its sites moved to
    ``ningbo-zhoushan-port``.
``ci``
    A small mix for tests (a few messages per second).

Format
------
A profile file has ``name``, ``description``, ``default_route`` (two site names),
``volume`` (``teu_per_year``, ``teu_per_box``, ``reefer_teu_share``, ``teu_per_reefer``,
``reefer_dwell_days``), ``shapes`` (named 24-hour shapes: ``{}`` for flat,
``{peak_factor, peak_hours}``, or ``{hourly: [24 weights]}``), ``cargo_classes``
(``name``, ``hs``, ``share``, ``strategic``, ``source``), ``assumptions`` (text) and
``flows``. A flow's ``rate`` is exactly one of:

``per_box_move: k``
    ``k`` messages per container box moved (boxes = TEU / ``teu_per_box``).
``per_reefer_hour: k``
    ``k`` messages per plugged reefer per hour (plugged reefers = daily TEU ×
    ``reefer_teu_share`` / ``teu_per_reefer`` × ``reefer_dwell_days``).
``per_day: n`` (optionally ``at_teu_per_year: T``)
    ``n`` messages a day, scaled by ``teu_per_year / T`` when ``T`` is given.
``per_minute: n`` or ``per_s: n``
    A fixed rate.

A file may instead ``derive`` from another profile: ``{from: NAME, volume: {...},
sites: {old: new}}`` takes the other profile's flows with the new volume and sites.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from quaykey.logistics.traffic import (
    CargoClass,
    DiurnalShape,
    Endpoint,
    Flow,
    SizeModel,
    TrafficProfile,
)

__all__ = ["PROFILE_NAMES", "load_profile", "profile_from_dict", "read_profile_yaml"]

PROFILE_NAMES: tuple[str, ...] = ("shanghai-day", "ningbo-day", "ci")

_DAY_S = 86_400.0
_DAYS_PER_YEAR = 365.0
_RATE_KEYS = ("per_box_move", "per_reefer_hour", "per_day", "per_minute", "per_s")


def read_profile_yaml(name: str) -> dict[str, Any]:
    """The parsed YAML of a shipped profile."""
    if name not in PROFILE_NAMES:
        raise ValueError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILE_NAMES)}")
    text = resources.files(__package__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"profile {name!r} is not a mapping")
    return data


def load_profile(name: str) -> TrafficProfile:
    """A shipped profile by name.

    Examples
    --------
    >>> p = load_profile("shanghai-day")
    >>> p.default_route
    ('sipg-ops', 'customs-hq-beijing')
    >>> round(p.mean_hz("port-edi-events"), 1)
    19.2
    """
    return profile_from_dict(read_profile_yaml(name))


def profile_from_dict(data: dict[str, Any]) -> TrafficProfile:
    """Build a profile from its parsed YAML (resolving ``derive`` against shipped profiles)."""
    if "derive" in data:
        data = _derived(data)
    volume = {k: float(v) for k, v in (data.get("volume") or {}).items()}
    params = _volume_parameters(volume)
    shapes = {k: _shape(k, v or {}) for k, v in (data.get("shapes") or {"flat": {}}).items()}
    flows = tuple(_flow(f, params, shapes) for f in data.get("flows") or [])
    cargo = tuple(
        CargoClass(
            name=str(c["name"]),
            hs_codes=tuple(str(h) for h in c.get("hs") or ()),
            share=float(c["share"]),
            strategic=bool(c.get("strategic", False)),
            source=str(c.get("source", "")),
        )
        for c in data.get("cargo_classes") or []
    )
    route = tuple(str(s) for s in data.get("default_route") or ("", ""))
    if len(route) != 2:
        raise ValueError(f"profile {data.get('name')!r}: default_route must name two sites")
    return TrafficProfile(
        name=str(data["name"]),
        flows=flows,
        cargo_classes=cargo,
        default_route=(route[0], route[1]),
        description=str(data.get("description", "")).strip(),
        assumptions=tuple(str(a).strip() for a in data.get("assumptions") or ()),
        parameters=params,
    )


def _derived(data: dict[str, Any]) -> dict[str, Any]:
    spec = data["derive"]
    base = read_profile_yaml(str(spec["from"]))
    sites: dict[str, str] = {str(k): str(v) for k, v in (spec.get("sites") or {}).items()}
    out = dict(base)
    out.update({k: v for k, v in data.items() if k != "derive"})
    out["volume"] = {**(base.get("volume") or {}), **(spec.get("volume") or {})}
    out["assumptions"] = list(data.get("assumptions") or []) + list(base.get("assumptions") or [])
    out["flows"] = [_moved(f, sites) for f in base.get("flows") or []]
    return out


def _moved(flow: dict[str, Any], sites: dict[str, str]) -> dict[str, Any]:
    merged: dict[tuple[str, str], float] = {}
    for e in flow["endpoints"]:
        src, dst = sites.get(str(e[0]), str(e[0])), sites.get(str(e[1]), str(e[1]))
        share = float(e[2]) if len(e) > 2 else 1.0
        merged[(src, dst)] = merged.get((src, dst), 0.0) + share
    return {**flow, "endpoints": [[s, d, w] for (s, d), w in merged.items()]}


def _volume_parameters(volume: dict[str, float]) -> dict[str, float]:
    params = dict(volume)
    if "teu_per_year" in volume:
        teu_per_day = volume["teu_per_year"] / _DAYS_PER_YEAR
        params["teu_per_day"] = teu_per_day
        params["box_moves_per_day"] = teu_per_day / volume.get("teu_per_box", 1.0)
        if "reefer_teu_share" in volume:
            params["plugged_reefers"] = (
                teu_per_day
                * volume["reefer_teu_share"]
                / volume.get("teu_per_reefer", 1.0)
                * volume.get("reefer_dwell_days", 1.0)
            )
    return params


def _shape(name: str, spec: dict[str, Any]) -> DiurnalShape:
    if "hourly" in spec:
        return DiurnalShape.normalised(tuple(float(w) for w in spec["hourly"]))
    if "peak_factor" in spec:
        hours = tuple(int(h) for h in spec.get("peak_hours") or ())
        return DiurnalShape.peaked(float(spec["peak_factor"]), hours)
    if spec:
        raise ValueError(f"shape {name!r}: give hourly, or peak_factor and peak_hours")
    return DiurnalShape.flat()


def _mean_hz(name: str, rate: dict[str, Any], params: dict[str, float]) -> float:
    keys = [k for k in _RATE_KEYS if k in rate]
    if len(keys) != 1:
        raise ValueError(f"flow {name!r}: rate needs exactly one of {', '.join(_RATE_KEYS)}")
    key, value = keys[0], float(rate[keys[0]])
    needs = {"per_box_move": "box_moves_per_day", "per_reefer_hour": "plugged_reefers"}
    if key in needs and needs[key] not in params:
        raise ValueError(f"flow {name!r}: rate {key} needs the profile's volume")
    if key == "per_box_move":
        return value * params["box_moves_per_day"] / _DAY_S
    if key == "per_reefer_hour":
        return value * params["plugged_reefers"] / 3600.0
    if key == "per_day":
        scale = 1.0
        if "at_teu_per_year" in rate:
            scale = params["teu_per_year"] / float(rate["at_teu_per_year"])
        return value * scale / _DAY_S
    return value / 60.0 if key == "per_minute" else value


def _flow(f: dict[str, Any], params: dict[str, float], shapes: dict[str, DiurnalShape]) -> Flow:
    name = str(f["name"])
    shape_name = str(f.get("shape", "flat"))
    if shape_name not in shapes:
        raise ValueError(f"flow {name!r}: unknown shape {shape_name!r}")
    size = f.get("size") or {}
    return Flow(
        name=name,
        application=str(f["application"]),
        message_type=str(f["message_type"]),
        stream=str(f["stream"]),
        endpoints=tuple(
            Endpoint(str(e[0]), str(e[1]), float(e[2]) if len(e) > 2 else 1.0)
            for e in f["endpoints"]
        ),
        mean_hz=_mean_hz(name, f.get("rate") or {}, params),
        shape=shapes[shape_name],
        size=SizeModel(float(size["mean_bytes"]), float(size.get("cv", 0.0))),
        carries_cargo=bool(f.get("carries_cargo", False)),
        protection=str(f.get("protection", "aes")),
        channels=int(f.get("channels", 1)),
        source=str(f.get("source", "")).strip(),
    )
