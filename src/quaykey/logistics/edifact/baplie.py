"""BAPLIE (bay plan, UNTDID D.95B, SMDG BAPLIE 2.2 MIG): typed model, builder, parser.

Segments written::

    BGM++<reference>+9
    DTM+137:<prepared>:203
    TDT+20+<voyage>+1++<carrier>:172:20+++<IMO>:146::<vessel name>     SG1
    LOC+5+<departure port>:139:6  LOC+61+<next port of call>:139:6
    DTM+136:<departure>:203
    LOC+147+<BBBRRTT>::5                                               SG2, per slot
    MEA+WT++KGM:<gross kg>  LOC+9+<loading>  LOC+11+<discharge>  RFF+BM:1
    EQD+CN+<container>+<size/type>+++<5 full | 4 empty>  NAD+CF+<operator>:172:20

``RFF+BM:1`` is the SMDG dummy bill-of-lading reference (mandatory in SG2).

Examples
--------
>>> from quaykey.logistics.edifact.examples import sample_bay_plan
>>> plan = sample_bay_plan()
>>> parse_baplie(build_baplie(plan)) == plan
True
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from quaykey.logistics import identifiers as ids
from quaykey.logistics.edifact.common import (
    Vessel,
    dtm,
    first,
    loc,
    minute,
    number,
    parse_dtm,
    parse_number,
    parse_tdt,
    split_groups,
    tdt,
    text,
)
from quaykey.logistics.edifact.envelope import RawSegment, Segment, seg, write_interchange
from quaykey.logistics.edifact.reader import message_body

__all__ = ["BayPlan", "Slot", "build_baplie", "parse_baplie"]


@dataclass(frozen=True)
class Slot:
    """An occupied cell of the bay plan.

    Attributes
    ----------
    stowage : str
        Cell ``BBBRRTT``: bay, row, tier (ISO 9711-1), seven digits.
    container : str
        ISO 6346 container number.
    size_type : str
        ISO 6346 size/type code.
    full : bool
        Full (True) or empty.
    gross_mass_kg : Decimal
        Gross mass in kilograms (> 0).
    port_of_loading, port_of_discharge : str
        UN/LOCODEs.
    operator : str
        Container operator code (an..17).
    """

    stowage: str
    container: str
    size_type: str
    full: bool
    gross_mass_kg: Decimal
    port_of_loading: str
    port_of_discharge: str
    operator: str

    def __post_init__(self) -> None:
        if not (len(self.stowage) == 7 and self.stowage.isdigit()):
            raise ValueError(f"stowage {self.stowage!r}: expected 7 digits BBBRRTT")
        object.__setattr__(self, "container", ids.container_number(self.container))
        object.__setattr__(self, "size_type", ids.size_type(self.size_type))
        if not isinstance(self.gross_mass_kg, Decimal) or not self.gross_mass_kg > 0:
            raise ValueError(
                f"gross_mass_kg must be a positive Decimal, got {self.gross_mass_kg!r}"
            )
        ids.locode(self.port_of_loading, "port_of_loading")
        ids.locode(self.port_of_discharge, "port_of_discharge")
        text(self.operator, "operator", 17)


@dataclass(frozen=True)
class BayPlan:
    """A vessel's bay plan on departure from a port.

    Attributes
    ----------
    reference : str
        Message reference (an..35).
    prepared : datetime
        Preparation date/time (minute resolution).
    vessel : Vessel
        Vessel and voyage.
    departure_port, next_port : str
        UN/LOCODEs of the port of departure and the next port of call.
    departure : datetime
        Departure date/time (minute resolution).
    slots : tuple of Slot
        Occupied cells, each cell and each container once.
    """

    reference: str
    prepared: datetime
    vessel: Vessel
    departure_port: str
    next_port: str
    departure: datetime
    slots: tuple[Slot, ...]

    def __post_init__(self) -> None:
        text(self.reference, "reference", 35)
        ids.locode(self.departure_port, "departure_port")
        ids.locode(self.next_port, "next_port")
        object.__setattr__(self, "prepared", minute(self.prepared))
        object.__setattr__(self, "departure", minute(self.departure))
        slots = tuple(self.slots)
        for attr in ("stowage", "container"):
            values = [getattr(s, attr) for s in slots]
            if len(set(values)) != len(values):
                raise ValueError(f"slots: each {attr} may appear once")
        object.__setattr__(self, "slots", slots)


def _slot_segments(slot: Slot) -> list[Segment]:
    return [
        seg("LOC", "147", [slot.stowage, "", "5"]),
        seg("MEA", "WT", "", ["KGM", number(slot.gross_mass_kg)]),
        loc("9", slot.port_of_loading),
        loc("11", slot.port_of_discharge),
        seg("RFF", ["BM", "1"]),
        seg("EQD", "CN", slot.container, slot.size_type, "", "", "5" if slot.full else "4"),
        seg("NAD", "CF", [slot.operator, "172", "20"]),
    ]


def build_baplie(
    plan: BayPlan, *, sender: str | None = None, recipient: str = "NEXTPORT",
    control_ref: str = "1",
) -> bytes:  # fmt: skip
    """Serialise a bay plan as a BAPLIE interchange (sender defaults to the carrier)."""
    body = [
        seg("BGM", "", plan.reference, "9"),
        dtm("137", plan.prepared),
        tdt(plan.vessel),
        loc("5", plan.departure_port),
        loc("61", plan.next_port),
        dtm("136", plan.departure),
    ]
    for slot in plan.slots:
        body += _slot_segments(slot)
    return write_interchange(
        "BAPLIE", "D", "95B", body, sender=sender or plan.vessel.carrier, recipient=recipient,
        control_ref=control_ref, message_ref=control_ref, prepared=plan.prepared,
    )  # fmt: skip


def _parse_slot(group: list[RawSegment]) -> Slot:
    mea, eqd = first(group, "MEA"), first(group, "EQD")
    return Slot(
        stowage=group[0].element(1, 0),
        container=eqd.element(1, 0),
        size_type=eqd.element(2, 0),
        full=eqd.element(5) == "5",
        gross_mass_kg=parse_number(mea.element(2, 1), "gross mass", mea.position),
        port_of_loading=first(group, "LOC", "9").element(1, 0),
        port_of_discharge=first(group, "LOC", "11").element(1, 0),
        operator=first(group, "NAD", "CF").element(1, 0),
    )


def parse_baplie(data: bytes | str) -> BayPlan:
    """Read a BAPLIE interchange back into a :class:`BayPlan`.

    Raises
    ------
    ValueError
        The interchange fails validation or lacks a field of the model.
    """
    body = message_body(data, "BAPLIE")
    starts = [i for i, s in enumerate(body) if s.tag == "LOC" and s.element(0) == "147"]
    header = body[: starts[0]] if starts else body
    groups = split_groups(body, starts, len(body))
    return BayPlan(
        reference=first(header, "BGM").element(1),
        prepared=parse_dtm(first(header, "DTM", "137")),
        vessel=parse_tdt(first(header, "TDT")),
        departure_port=first(header, "LOC", "5").element(1, 0),
        next_port=first(header, "LOC", "61").element(1, 0),
        departure=parse_dtm(first(header, "DTM", "136")),
        slots=tuple(_parse_slot(g) for g in groups),
    )
