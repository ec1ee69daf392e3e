"""Carrier and terminal messages: COPRAR, COARRI, CODECO (and BAPLIE, re-exported).

UNTDID D.95B container messages as profiled by the SMDG MIGs, between carriers and the
terminals of Shanghai (Yangshan ``YSH``, Waigaoqiao ``WGQ``) and Ningbo (``NGB``):

* COPRAR — the carrier orders the terminal to load or discharge containers;
* COARRI — the terminal reports what it loaded or discharged;
* CODECO — the terminal reports containers in or out through its gate;
* BAPLIE — the bay plan (:mod:`quaykey.logistics.edifact.baplie`).

Segments written for COPRAR/COARRI (CODECO has the same, with TDT+1 road in SG1 and
no vessel)::

    BGM+<document code>+<reference>+9
    RFF+ZZZ:<reference>      (mutually defined: the order/report reference; CODECO: left out)
    TDT+20 ... LOC+<9 load | 11 discharge>+<UN/LOCODE>:139:6+<terminal>:TER:ZZZ
    NAD+CA+<carrier>
    EQD+CN+<container>+<size/type>:102:5++<2 export | 3 import>+<5 full | 4 empty>
    LOC+147+<stowage>  LOC+9 / LOC+11  MEA+AAE+G+KGM:<kg>  SEL+<seal>
    TDT+1++3+...+<truck plate>   (CODECO, truck of the gate move)
    CNT+16:<number of containers>

Document codes (BGM 1001) follow our reading of the SMDG MIGs: COPRAR 45 loading /
43 discharge order, COARRI 46 loading / 44 discharge report, CODECO 34 gate-in /
36 gate-out report; a partner whose MIG uses others needs a mapping.

Examples
--------
>>> from quaykey.logistics.edifact.examples import sample_container_list
>>> order = sample_container_list("COPRAR")
>>> parse_container_list(build_container_list(order)) == order
True
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from quaykey.logistics import identifiers as ids
from quaykey.logistics.edifact.baplie import BayPlan, Slot, build_baplie, parse_baplie
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
from quaykey.logistics.edifact.validate import inspect

__all__ = [
    "BayPlan",
    "ContainerList",
    "ContainerMove",
    "Slot",
    "build_baplie",
    "build_container_list",
    "parse_baplie",
    "parse_container_list",
    "validate_terminal_message",
]

DOC_CODES: dict[tuple[str, str], str] = {
    ("COPRAR", "load"): "45",
    ("COPRAR", "discharge"): "43",
    ("COARRI", "load"): "46",
    ("COARRI", "discharge"): "44",
    ("CODECO", "gate-in"): "34",
    ("CODECO", "gate-out"): "36",
}
_STATUS = {"load": "2", "gate-in": "2", "discharge": "3", "gate-out": "3"}
_PLACE = {"load": "9", "discharge": "11", "gate-in": "165", "gate-out": "165"}


@dataclass(frozen=True)
class ContainerMove:
    """One container in a COPRAR/COARRI/CODECO.

    Attributes
    ----------
    container : str
        ISO 6346 container number.
    size_type : str
        ISO 6346 size/type code (``45G1``).
    full : bool
        Full (True) or empty.
    gross_mass_kg : Decimal
        Verified gross mass, kilograms (> 0).
    port_of_loading, port_of_discharge : str or None
        UN/LOCODEs.
    stowage : str or None
        Bay-row-tier cell ``BBBRRTT`` (ISO 9711-1), for vessel moves.
    seal : str or None
        Seal number (an..35).
    truck : str or None
        Truck licence plate of a gate move (CODECO).
    """

    container: str
    size_type: str
    full: bool
    gross_mass_kg: Decimal
    port_of_loading: str | None = None
    port_of_discharge: str | None = None
    stowage: str | None = None
    seal: str | None = None
    truck: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "container", ids.container_number(self.container))
        object.__setattr__(self, "size_type", ids.size_type(self.size_type))
        if not isinstance(self.gross_mass_kg, Decimal) or not self.gross_mass_kg > 0:
            raise ValueError(
                f"gross_mass_kg must be a positive Decimal, got {self.gross_mass_kg!r}"
            )
        for name in ("port_of_loading", "port_of_discharge"):
            if getattr(self, name) is not None:
                ids.locode(getattr(self, name), name)
        if self.stowage is not None and not (len(self.stowage) == 7 and self.stowage.isdigit()):
            raise ValueError(f"stowage {self.stowage!r}: expected 7 digits BBBRRTT")
        for name in ("seal", "truck"):
            if getattr(self, name) is not None:
                text(getattr(self, name), name, 17)


@dataclass(frozen=True)
class ContainerList:
    """A COPRAR (order), COARRI (report) or CODECO (gate report).

    Attributes
    ----------
    message_type : str
        ``COPRAR``, ``COARRI`` or ``CODECO``.
    kind : str
        ``load`` or ``discharge`` (COPRAR/COARRI); ``gate-in`` or ``gate-out`` (CODECO).
    reference : str
        Order/report number (an..35).
    issued : datetime
        Preparation date/time (minute resolution).
    terminal : str
        Terminal code (``YSH``, ``WGQ``, ``NGB``; ``logistics/data/terminals.csv``).
    carrier : str
        Carrier code (an..17).
    vessel : Vessel or None
        Vessel and voyage; required for COPRAR and COARRI.
    moves : tuple of ContainerMove
        The containers.
    """

    message_type: str
    kind: str
    reference: str
    issued: datetime
    terminal: str
    carrier: str
    vessel: Vessel | None
    moves: tuple[ContainerMove, ...]

    def __post_init__(self) -> None:
        if (self.message_type, self.kind) not in DOC_CODES:
            allowed = sorted(k for t, k in DOC_CODES if t == self.message_type) or [
                "COPRAR/COARRI/CODECO"
            ]
            raise ValueError(
                f"kind {self.kind!r} not allowed for message_type {self.message_type!r} "
                f"(allowed: {', '.join(allowed)})"
            )
        text(self.reference, "reference", 35)
        text(self.carrier, "carrier", 17)
        ids.terminal(self.terminal)
        if self.vessel is None and self.message_type != "CODECO":
            raise ValueError(f"vessel is required for {self.message_type}")
        object.__setattr__(self, "issued", minute(self.issued))
        object.__setattr__(self, "moves", tuple(self.moves))
        if self.message_type == "COPRAR" and not self.moves:
            raise ValueError("moves: a COPRAR order names at least one container")


def _move_segments(msg: ContainerList, move: ContainerMove) -> list[Segment]:
    out = [
        seg(
            "EQD",
            "CN",
            move.container,
            [move.size_type, "102", "5"],
            "",
            _STATUS[msg.kind],
            "5" if move.full else "4",
        )
    ]
    if move.stowage:
        out.append(seg("LOC", "147", [move.stowage, "", "5"]))
    if move.port_of_loading:
        out.append(loc("9", move.port_of_loading))
    if move.port_of_discharge:
        out.append(loc("11", move.port_of_discharge))
    out.append(seg("MEA", "AAE", "G", ["KGM", number(move.gross_mass_kg)]))
    if move.seal:
        out.append(seg("SEL", move.seal))
    if move.truck:
        out.append(seg("TDT", "1", "", "3", "", "", "", "", [move.truck, "", "", ""]))
    return out


def build_container_list(
    msg: ContainerList, *, sender: str | None = None, recipient: str | None = None,
    control_ref: str = "1",
) -> bytes:  # fmt: skip
    """Serialise a COPRAR, COARRI or CODECO interchange.

    Parameters
    ----------
    msg : ContainerList
        The order or report.
    sender, recipient : str, optional
        UNB parties; default carrier → terminal for COPRAR, terminal → carrier otherwise.
    control_ref : str
        Interchange control reference and UNH message reference.
    """
    locode, _ = ids.terminal(msg.terminal)
    if msg.message_type == "COPRAR":
        sender, recipient = sender or msg.carrier, recipient or msg.terminal
    else:
        sender, recipient = sender or msg.terminal, recipient or msg.carrier
    body = [seg("BGM", DOC_CODES[(msg.message_type, msg.kind)], msg.reference, "9")]
    if msg.message_type != "CODECO":
        body.append(seg("RFF", ["ZZZ", msg.reference]))
    transport = tdt(msg.vessel) if msg.vessel else seg("TDT", "1", "", "3")
    body += [
        transport,
        loc(_PLACE[msg.kind], locode, msg.terminal),
        dtm("137", msg.issued),
        seg("NAD", "CA", [msg.carrier, "172", "20"]),
    ]
    for move in msg.moves:
        body += _move_segments(msg, move)
    body.append(seg("CNT", ["16", str(len(msg.moves))]))
    return write_interchange(
        msg.message_type, "D", "95B", body, sender=sender, recipient=recipient,
        control_ref=control_ref, message_ref=control_ref, prepared=msg.issued,
    )  # fmt: skip


def _parse_move(group: list[RawSegment]) -> ContainerMove:
    eqd = group[0]
    mea = first(group, "MEA")

    def optional(tag: str, qualifier: str | None = None, index: int = 1) -> str | None:
        try:
            return first(group, tag, qualifier).element(index, 0)
        except ValueError:
            return None

    return ContainerMove(
        container=eqd.element(1, 0),
        size_type=eqd.element(2, 0),
        full=eqd.element(5) == "5",
        gross_mass_kg=parse_number(mea.element(2, 1), "gross mass", mea.position),
        port_of_loading=optional("LOC", "9"),
        port_of_discharge=optional("LOC", "11"),
        stowage=optional("LOC", "147"),
        seal=optional("SEL", None, 0),
        truck=optional("TDT", "1", 7),
    )


def parse_container_list(data: bytes | str) -> ContainerList:
    """Read a COPRAR, COARRI or CODECO interchange back into a :class:`ContainerList`.

    Raises
    ------
    ValueError
        Not one of those types, fails validation, or lacks a field of the model.
    """
    mtype = inspect(data).message_type
    if mtype not in ("COPRAR", "COARRI", "CODECO"):
        raise ValueError(f"expected COPRAR, COARRI or CODECO, got {mtype}")
    body = message_body(data, mtype)
    starts = [i for i, s in enumerate(body) if s.tag == "EQD"]
    cnt = next(i for i, s in enumerate(body) if s.tag == "CNT")
    header = body[: starts[0]] if starts else body[:cnt]
    groups = split_groups(body, starts, cnt)
    bgm = first(header, "BGM")
    kinds = {code: kind for (t, kind), code in DOC_CODES.items() if t == mtype}
    if bgm.element(0) not in kinds:
        raise ValueError(f"BGM document code {bgm.element(0)!r} is not one of {sorted(kinds)}")
    kind = kinds[bgm.element(0)]
    place = first(header, "LOC", _PLACE[kind])
    transport = first(header, "TDT")
    return ContainerList(
        message_type=mtype,
        kind=kind,
        reference=bgm.element(1),
        issued=parse_dtm(first(header, "DTM", "137")),
        terminal=place.element(2, 0),
        carrier=first(header, "NAD", "CA").element(1, 0),
        vessel=parse_tdt(transport) if transport.element(0) == "20" else None,
        moves=tuple(_parse_move(g) for g in groups),
    )


def validate_terminal_message(data: bytes | str) -> list[str]:
    """Problems of a terminal message as one-line texts (empty list: valid).

    Examples
    --------
    >>> from quaykey.logistics.edifact.examples import example
    >>> validate_terminal_message(example("BAPLIE"))
    []
    """
    report = inspect(data)
    out = [f"segment {p.position}: {p.text}" if p.position else p.text for p in report.problems]
    if not out and report.message_type not in ("BAPLIE", "COPRAR", "COARRI", "CODECO"):
        out.append(f"{report.message_type} is not a terminal message")
    return out
