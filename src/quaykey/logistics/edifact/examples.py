"""Valid sample messages of each type, built from our own (fictitious) data.

The parties, vessels and references are invented; container numbers are ISO 6346 test
vectors with correct check digits; places are from the curated UN/LOCODE list. Used by
``quaykey edi example``, the docs and the tests.

Examples
--------
>>> sorted(EXAMPLE_TYPES)
['BAPLIE', 'COARRI', 'CODECO', 'COPRAR', 'CUSDEC', 'CUSRES']
>>> example("CODECO")[:9]
b"UNA:+.? '"
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from quaykey.logistics.edifact.baplie import BayPlan, Slot, build_baplie
from quaykey.logistics.edifact.common import Party, Vessel
from quaykey.logistics.edifact.cusdec import Declaration, GoodsItem, build_cusdec
from quaykey.logistics.edifact.cusres import Reason, Response, build_cusres

if TYPE_CHECKING:
    from quaykey.logistics.terminal import ContainerList, ContainerMove

__all__ = [
    "EXAMPLE_TYPES",
    "example",
    "sample_bay_plan",
    "sample_container_list",
    "sample_declaration",
    "sample_response",
]

EXAMPLE_TYPES = ("CUSDEC", "CUSRES", "BAPLIE", "COPRAR", "COARRI", "CODECO")

_VESSEL = Vessel(imo="9321483", name="HAI XING", voyage="026E", carrier="QKL")
_WHEN = datetime(2026, 3, 2, 8, 15)


def sample_declaration() -> Declaration:
    """An export declaration at Shanghai: electronics and furniture in two containers."""
    return Declaration(
        reference="DEC2026030200017",
        procedure="export",
        issued=_WHEN,
        customs_office="CNSHA",
        declarant=Party("91310000DECL01", "Pudong Customs Brokers", "CN"),
        consignor=Party("91310000SHIP02", "Lingang Electronics Co", "CN"),
        consignee=Party("NL8530CONS03", "Maasvlakte Distribution BV", "NL"),
        vessel=_VESSEL,
        port_of_loading="CNSHA",
        port_of_discharge="NLRTM",
        containers=("CSQU3054383", "MSKU9070323"),
        items=(
            GoodsItem("8471300000", "Notebook computers", "CN", 640, "CT", Decimal("9600.5")),
            GoodsItem("9403600000", "Wooden office furniture", "CN", 120, "PK", Decimal("7400")),
        ),
    )


def sample_response() -> Response:
    """A hold: customs checks the licence of goods item 1."""
    return Response(
        reference="RES2026030200017",
        declaration_reference="DEC2026030200017",
        status="hold",
        issued=datetime(2026, 3, 2, 8, 40),
        reasons=(
            Reason("H110", "controlled goods: licence and documentary check", "CST", None, 1),
        ),
    )


def sample_bay_plan() -> BayPlan:
    """Two occupied cells on departure from Shanghai to Ningbo."""
    return BayPlan(
        reference="BP026E-CNSHA",
        prepared=datetime(2026, 3, 3, 22, 0),
        vessel=_VESSEL,
        departure_port="CNSHA",
        next_port="CNNGB",
        departure=datetime(2026, 3, 3, 23, 30),
        slots=(
            Slot("0140682", "CSQU3054383", "45G1", True, Decimal("17000.5"), "CNSHA", "NLRTM",
                 "QKL"),
            Slot("0140684", "KKFU6671914", "45R1", True, Decimal("26100"), "CNSHA", "NLRTM",
                 "QKL"),
        ),
    )  # fmt: skip


def sample_container_list(message_type: str) -> ContainerList:
    """A COPRAR loading order, COARRI loading report or CODECO gate-in at Yangshan."""
    from quaykey.logistics.terminal import ContainerList, ContainerMove

    moves: tuple[ContainerMove, ...]
    if message_type == "CODECO":
        moves = (
            ContainerMove("MSKU9070323", "22G1", True, Decimal("18250"), seal="SH0042117",
                          truck="HU-A12345"),
        )  # fmt: skip
        return ContainerList("CODECO", "gate-in", "GI-YSH-000311", _WHEN, "YSH", "QKL", None, moves)
    stowage = "0140682" if message_type == "COARRI" else None
    moves = (
        ContainerMove("CSQU3054383", "45G1", True, Decimal("17000.5"), "CNSHA", "NLRTM",
                      stowage=stowage, seal="SH0042116"),
        ContainerMove("APZU4812090", "22G1", False, Decimal("2250"), "CNSHA", "CNNGB",
                      stowage=None if stowage is None else "0160482"),
    )  # fmt: skip
    ref = "LO-026E-YSH" if message_type == "COPRAR" else "LR-026E-YSH"
    return ContainerList(message_type, "load", ref, _WHEN, "YSH", "QKL", _VESSEL, moves)


def example(message_type: str) -> bytes:
    """A valid interchange of ``message_type`` (one of :data:`EXAMPLE_TYPES`).

    Raises
    ------
    ValueError
        Unknown message type.
    """
    kind = message_type.upper()
    if kind == "CUSDEC":
        return build_cusdec(sample_declaration())
    if kind == "CUSRES":
        return build_cusres(sample_response())
    if kind == "BAPLIE":
        return build_baplie(sample_bay_plan())
    if kind in ("COPRAR", "COARRI", "CODECO"):
        from quaykey.logistics.terminal import build_container_list

        return build_container_list(sample_container_list(kind))
    raise ValueError(
        f"message type {message_type!r} unknown (choose from {', '.join(EXAMPLE_TYPES)})"
    )
