"""Link parameters from overrides: ``--param`` text or a parsed YAML config mapping.

This module is THE one path from what a user types to a :class:`LinkParams`:
:func:`parse_param` / :func:`parse_params` read ``--param group.name=value`` items,
:func:`apply_overrides` applies dotted overrides to a preset, reading text values by the
type of the field they set (so ``8e7``, ``1e-6``, ``0.1,0.05,0``, ``[0.1, 0.05, 0]``,
``true`` and plain strings all work, from the command line and from YAML alike), and
every error names its source (``--param``, ``--config``) and the field.

The physics layer reads no files: the CLI parses a config file and passes the mapping here.
A mapping holds overrides of a preset, either dotted or as nested groups::

    detector.efficiency: 0.2          # dotted
    channel:                          # nested group
      attenuation_db_per_km: 0.18
    source:
      intensities: [0.6, 0.1, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from quaykey.physics.params import LinkParams, load_preset

__all__ = [
    "apply_overrides",
    "flatten_overrides",
    "load_link_config",
    "params_from_mapping",
    "parse_param",
    "parse_params",
    "parse_value",
]

_GROUPS = ("source", "channel", "detector", "security")
_TRUE = ("true", "yes", "on")
_FALSE = ("false", "no", "off")


def _scalar(text: str) -> Any:
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return t[1:-1]
    low = t.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    if low in ("null", "none", "~"):
        return None
    try:
        return int(t.replace("_", "")) if t.lstrip("+-").replace("_", "").isdigit() else float(t)
    except ValueError:
        return t


def parse_value(text: str) -> Any:
    """Read one value as a user types it on a command line.

    Parameters
    ----------
    text
        ``8e7``, ``1e-6``, ``0.1,0.05,0``, ``[0.1, 0.05, 0]``, ``true``/``false`` or a string.

    Returns
    -------
    Any
        An int, float, bool, None, str, or a tuple of those for a list.

    Example
    -------
    >>> parse_value("8e7"), parse_value("0.1,0.05,0"), parse_value("[0.5, 0.25]")
    (80000000.0, (0.1, 0.05, 0), (0.5, 0.25))
    >>> parse_value("true"), parse_value("thermal")
    (True, 'thermal')
    """
    t = text.strip()
    if t.startswith("[") and t.endswith("]"):
        inner = t[1:-1].strip()
        return tuple(_scalar(x) for x in inner.split(",")) if inner else ()
    if "," in t:
        return tuple(_scalar(x) for x in t.split(","))
    return _scalar(t)


def parse_param(item: str, *, flag: str = "--param") -> tuple[str, Any]:
    """Split one ``group.name=value`` item and read its value with :func:`parse_value`.

    Raises
    ------
    ValueError
        Naming ``flag`` when the item has no ``=`` or no name.

    Example
    -------
    >>> parse_param("source.repetition_rate_hz=8e7")
    ('source.repetition_rate_hz', 80000000.0)
    """
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(
            f"{flag} must look like group.name=value (e.g. detector.efficiency=0.2), got {item!r}"
        )
    return key, parse_value(raw)


def parse_params(items: Iterable[str] | None, *, flag: str = "--param") -> dict[str, Any]:
    """Read repeated ``--param`` items into dotted overrides (the last of a key wins).

    Example
    -------
    >>> parse_params(["detector.efficiency=0.2", "source.intensities=0.6,0.1,0"])
    {'detector.efficiency': 0.2, 'source.intensities': (0.6, 0.1, 0)}
    """
    return dict(parse_param(item, flag=flag) for item in items or ())


def _as_number(value: Any, where: str) -> float:
    if isinstance(value, str):
        value = parse_value(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where} must be a number (e.g. 8e7 or 0.2), got {value!r}")
    return float(value)


def _coerce(current: Any, value: Any, where: str) -> Any:
    """``value`` read as the type of the field's ``current`` value."""
    if isinstance(current, bool):
        if isinstance(value, str):
            value = parse_value(value)
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(current, int | float):
        return _as_number(value, where)
    if isinstance(current, tuple):
        if isinstance(value, str):
            parsed = parse_value(value)
            if not isinstance(parsed, tuple):
                raise ValueError(
                    f"{where} must be a list of values (e.g. 0.5,0.1,0), got {value!r}"
                )
            value = parsed
        if isinstance(value, Mapping) or not isinstance(value, Iterable):
            raise ValueError(f"{where} must be a list of values (e.g. 0.5,0.1,0), got {value!r}")
        items = tuple(value)
        if current and all(isinstance(x, str) for x in current):
            return tuple(str(x) for x in items)
        return tuple(_as_number(x, f"{where}[{i}]") for i, x in enumerate(items))
    if isinstance(current, str):
        if not isinstance(value, str):
            raise ValueError(f"{where} must be a name, got {value!r}")
        return value.strip()
    raise ValueError(f"{where} cannot be overridden")


def apply_overrides(
    base: LinkParams, overrides: Mapping[str, Any], *, source: str = "--param"
) -> LinkParams:
    """Apply dotted overrides to ``base``, reading text values by the type of their field.

    Parameters
    ----------
    base
        The parameters to start from (usually a preset).
    overrides
        Dotted keys (``source.intensities``) to values; a value may be text as typed on a
        command line (``"8e7"``, ``"0.1,0.05,0"``) or an already parsed value.
    source
        Where the overrides came from, named in every error (``--param``, ``--config``;
        empty for none).

    Returns
    -------
    LinkParams
        A new, validated parameter set.

    Raises
    ------
    ValueError
        One line naming ``source`` and the field: an unknown parameter, a value of the
        wrong type, or a value the parameter rejects.

    Example
    -------
    >>> p = apply_overrides(load_preset("gys"), {"source.repetition_rate_hz": "8e7"})
    >>> p.source.repetition_rate_hz
    80000000.0
    """
    out = base
    for key, value in overrides.items():
        where = f"{source} {key}" if source else str(key)
        parts = str(key).split(".")
        if len(parts) != 2 or parts[0] not in _GROUPS:
            raise ValueError(
                f"{where}: unknown parameter; use source.NAME, channel.NAME, "
                "detector.NAME or security.NAME"
            )
        group = getattr(out, parts[0])
        fields = group.__dataclass_fields__
        if parts[1] not in fields or not fields[parts[1]].compare:
            names = ", ".join(sorted(n for n, f in fields.items() if f.compare))
            raise ValueError(f"{where}: unknown parameter; {parts[0]} has: {names}")
        coerced = _coerce(getattr(group, parts[1]), value, where)
        if isinstance(coerced, float) and not math.isfinite(coerced):
            raise ValueError(f"{where} must be a finite number, got {value!r}")
        try:
            out = replace(out, **{parts[0]: replace(group, **{parts[1]: coerced})})
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{where}: {exc}") from None
    return out


def flatten_overrides(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Turn nested groups into dotted keys (``{"detector": {"efficiency": 0.2}}`` ->
    ``{"detector.efficiency": 0.2}``).

    Parameters
    ----------
    mapping
        Dotted keys, nested groups or both.

    Returns
    -------
    dict
        Dotted keys to values; lists stay lists (the parameters turn them into tuples).

    Raises
    ------
    ValueError
        For a key that is not a string, a group that is not a mapping, or an unknown group.

    Example
    -------
    >>> flatten_overrides({"detector": {"efficiency": 0.2}, "security.epsilon_sec": 1e-9})
    {'detector.efficiency': 0.2, 'security.epsilon_sec': 1e-09}
    """
    if not isinstance(mapping, Mapping):
        raise ValueError(
            f"a link config must be a mapping of parameters, got {type(mapping).__name__}"
        )
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise ValueError(f"config keys must be strings, got {key!r}")
        if "." in key:
            out[key] = value
            continue
        if key not in _GROUPS:
            raise ValueError(
                f"unknown parameter group {key!r} in config; use one of: {', '.join(_GROUPS)}"
            )
        if not isinstance(value, Mapping):
            raise ValueError(
                f"config group {key!r} must map parameter names to values, got {value!r}"
            )
        for sub, sub_value in value.items():
            out[f"{key}.{sub}"] = sub_value
    return out


def params_from_mapping(
    mapping: Mapping[str, Any], base: LinkParams, *, source: str = "--config"
) -> LinkParams:
    """Apply a mapping of overrides to ``base`` and validate the result.

    Parameters
    ----------
    mapping
        Overrides, dotted or nested (see :func:`flatten_overrides`).
    base
        The parameters to start from (usually a preset).
    source
        Named in errors (see :func:`apply_overrides`).

    Returns
    -------
    LinkParams
        A new, validated parameter set.

    Raises
    ------
    ValueError
        Naming an unknown parameter or a value the parameter rejects.

    Example
    -------
    >>> p = params_from_mapping({"detector": {"efficiency": 0.2}}, load_preset("gys"))
    >>> p.detector.efficiency
    0.2
    """
    try:
        flat = flatten_overrides(mapping)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    return apply_overrides(base, flat, source=source)


def load_link_config(
    mapping: Mapping[str, Any],
    *,
    preset: str,
    distance_km: float | None = None,
    loss_db: float | None = None,
) -> LinkParams:
    """A preset at a distance (or loss) with a config mapping's overrides applied.

    Parameters
    ----------
    mapping
        Overrides (parsed YAML); the caller reads the file.
    preset
        Preset name (``gys``, ``lim2014``, ``micius-2017``, ``micius-2021``, ``backbone``).
    distance_km, loss_db
        Fibre length or free-space loss for the preset.

    Returns
    -------
    LinkParams
        The configured link.

    Raises
    ------
    ValueError
        For an unknown preset or parameter, or a value a parameter rejects.

    Example
    -------
    >>> load_link_config({"detector.efficiency": 0.1}, preset="gys", distance_km=20).name
    'gys'
    """
    return params_from_mapping(
        mapping, load_preset(preset, distance_km=distance_km, loss_db=loss_db)
    )
