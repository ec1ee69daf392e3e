"""Packaged network topologies (``--network NAME``) and the loaders that read them.

This is the edge where network data files are read (the network layer itself reads no
files): :func:`load_preset_topology` and :func:`load_satellite_preset` read the YAML files
in this folder with :mod:`importlib.resources`; :func:`load_topology_file` reads a user's
own YAML file. The CLI calls these and passes the resulting objects inward.

Networks
--------
``beijing-shanghai``
    The 32-node trusted trunk, metro networks and port/customs users.
``national``
    A sketch of China's national backbone (CN-QCN) for planning studies: the
    Beijing–Shanghai trunk extended to Wuhan, Hangzhou, Guangzhou–Shenzhen, Qingdao,
    Xi'an and Chongqing–Chengdu, with port and customs demands; public facts cited node by
    node, invented relay sites marked. It extends ``beijing-shanghai``.
``micius``
    The satellite topology add-on (``--with micius``): the Micius satellite, six ground
    stations and the fibre from Xinglong into the Beijing metro; it extends
    ``beijing-shanghai``.

Each link entry names its link *hardware* with ``preset:`` (a key of
:data:`quaykey.physics.params.PRESETS`: ``backbone`` for the fibre, ``micius-2017`` for
the Liao et al. 2017 downlink), which is a different thing from the network's name.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from quaykey.errors import TopologyError
from quaykey.network.topology import Topology, topology_from_dict

__all__ = [
    "NETWORK_NAMES",
    "load_preset_topology",
    "load_satellite_preset",
    "load_topology_file",
    "read_preset_yaml",
]

NETWORK_NAMES: tuple[str, ...] = ("beijing-shanghai", "micius", "national")


def read_preset_yaml(name: str) -> dict[str, Any]:
    """The parsed YAML of a preset (``beijing-shanghai`` or ``micius``)."""
    if name not in NETWORK_NAMES:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(NETWORK_NAMES)}")
    text = resources.files(__package__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise TopologyError(f"preset {name!r} is not a mapping")
    return data


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": f"{base.get('name')}+{extra.get('name')}",
        "defaults": base.get("defaults") or {},
        "nodes": list(base.get("nodes") or []) + list(extra.get("nodes") or []),
        "links": list(base.get("links") or []) + list(extra.get("links") or []),
        "demands": list(base.get("demands") or []) + list(extra.get("demands") or []),
    }


def load_preset_topology(name: str, with_micius: bool = False) -> Topology:
    """Load a preset topology, optionally joined with the Micius satellite preset.

    Parameters
    ----------
    name
        ``beijing-shanghai``, ``national`` (which extends it) or ``micius`` (``micius``
        implies the backbone it extends).
    with_micius
        Add the satellite, its ground stations and the Xinglong fibre.

    Returns
    -------
    Topology

    Example
    -------
    >>> t = load_preset_topology("beijing-shanghai")
    >>> sum(n.note.startswith("trunk") for n in t.nodes)  # trusted trunk nodes
    32
    """
    if name == "micius":
        name, with_micius = "beijing-shanghai", True
    data = read_preset_yaml(name)
    if data.get("requires"):
        data = _merge(read_preset_yaml(str(data["requires"])), data)
        data["name"] = name
    if with_micius:
        data = _merge(data, read_preset_yaml("micius"))
    return topology_from_dict(data)


def load_satellite_preset() -> dict[str, Any]:
    """The satellite section and ground-station entries of the ``micius`` preset.

    Returns
    -------
    dict
        ``{"satellite": {...,"tle": [...]}, "stations": {name: node-entry}}``.
    """
    data = read_preset_yaml("micius")
    stations = {str(n["name"]): n for n in data["nodes"] if n.get("kind") == "ground-station"}
    return {"satellite": data["satellite"], "stations": stations}


def load_topology_file(path: str | Path) -> Topology:
    """Read and validate a user topology YAML file (format: :mod:`quaykey.network.topology`).

    A file with ``requires: beijing-shanghai`` is merged onto that preset first.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"topology file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TopologyError(f"{p}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise TopologyError(f"{p}: a topology file must be a mapping")
    req = data.get("requires")
    if req:
        data = _merge(read_preset_yaml(str(req)), data)
    return topology_from_dict(data)
