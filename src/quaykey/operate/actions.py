"""Operator actions of ``quaykey up`` (``POST /api/actions/{action}``) and their bodies.

Each body is a pydantic model (the server answers 422 naming the field for a bad body);
:func:`run_action` applies an action to a :class:`~quaykey.operate.live.Live` under its lock.
A caller's mistake that the model cannot see (an unknown link or node) raises
``ValueError("<field>: <why>")``, which the server turns into 422 naming the field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from quaykey.operate.backbone import Alarm

if TYPE_CHECKING:
    from quaykey.operate.live import Live

__all__ = ["BODIES", "run_action"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LinkBody(_Body):
    """A link, by its ID (``a--b``)."""

    link: str = Field(min_length=1)


class EavesdropBody(LinkBody):
    """Intercept-resend on a fraction of the link's pulses."""

    fraction: float = Field(default=1.0, gt=0.0, le=1.0)


class NodeBody(_Body):
    """A KME node."""

    node: str = Field(min_length=1)


class PolicyBody(_Body):
    """The protection class of one message type."""

    message_type: str = Field(min_length=1)
    protection: Literal["otp", "aes", "hybrid"]


BODIES: dict[str, type[_Body]] = {
    "cut": LinkBody,
    "restore": LinkBody,
    "eavesdrop": EavesdropBody,
    "clear": LinkBody,
    "kill-kme": NodeBody,
    "restart-kme": NodeBody,
    "policy": PolicyBody,
}


def _link(live: Live, name: str) -> Any:
    try:
        canonical = live.topology.link(name).name
    except (KeyError, ValueError):
        raise ValueError(f"link: unknown link {name!r}") from None
    return live.backbone.links[canonical]


def _kme_node(live: Live, node: str) -> str:
    if live.kmes is None or node not in live.kmes.nodes:
        have = ", ".join(live.kmes.nodes) if live.kmes is not None else "none"
        raise ValueError(f"node: no KME at {node!r} (KME nodes: {have})")
    return node


def run_action(live: Live, action: str, args: dict[str, Any]) -> None:
    """Apply ``action`` with its validated ``args`` (a body of :data:`BODIES`)."""
    bb = live.backbone
    if action in ("cut", "restore", "eavesdrop", "clear"):
        link = _link(live, str(args["link"]))
        args["link"] = link.name
        if action == "cut":
            link.cut = True
            live._alarm(Alarm(bb.t_sim, link.name, "cut", "fibre cut by the operator"))
        elif action == "restore":
            link.cut = False
        elif action == "eavesdrop":
            if link.kind != "fibre":
                raise ValueError("link: an eavesdropper is simulated on fibre links only")
            link.eavesdropper = float(args["fraction"])
        else:
            link.eavesdropper = 0.0
            link.quarantined = False
        bb.update_routes()
    elif action == "kill-kme":
        live.kmes.stop_node(_kme_node(live, str(args["node"])))
    elif action == "restart-kme":
        live.kmes.start_node(_kme_node(live, str(args["node"])))
    elif action == "policy":
        if live.apps is None:
            raise ValueError("message_type: no applications are running")
        live.apps.set_policy(str(args["message_type"]), str(args["protection"]))
    else:  # pragma: no cover - the server checks the name first
        raise ValueError(f"action: unknown action {action!r}")
