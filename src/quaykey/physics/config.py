"""Link parameters from a plain mapping (the parsed contents of a YAML config file).

The physics layer reads no files: the CLI parses the file and passes the mapping here.
A mapping holds overrides of a preset, either dotted or as nested groups::

    detector.efficiency: 0.2          # dotted
    channel:                          # nested group
      attenuation_db_per_km: 0.18
    source:
      intensities: [0.6, 0.1, 0.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quaykey.physics.params import LinkParams, load_preset

__all__ = ["flatten_overrides", "load_link_config", "params_from_mapping"]

_GROUPS = ("source", "channel", "detector", "security")


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


def params_from_mapping(mapping: Mapping[str, Any], base: LinkParams) -> LinkParams:
    """Apply a mapping of overrides to ``base`` and validate the result.

    Parameters
    ----------
    mapping
        Overrides, dotted or nested (see :func:`flatten_overrides`).
    base
        The parameters to start from (usually a preset).

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
    flat = flatten_overrides(mapping)
    try:
        return base.with_overrides(flat)
    except TypeError as exc:  # a wrong value type deep inside a dataclass
        raise ValueError(f"bad value in link config: {exc}") from None


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
        Preset name (``gys``, ``lim2014``, ``micius``, ``backbone``).
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
