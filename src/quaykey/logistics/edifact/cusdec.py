"""CUSDEC (customs declaration, UNTDID D.96B): typed model, builder, parser.

Segments written (profile of the D.96B segment table, see :mod:`.profiles`)::

    BGM+<929 import | 830 export>+<reference>+9
    LOC+22+<customs office UN/LOCODE>:139:6
    DTM+137:<issued CCYYMMDDHHMM>:203
    NAD+DT / NAD+CZ / NAD+CN          declarant, consignor, consignee
    TDT+20 ... LOC+9 LOC+11           vessel, port of loading, port of discharge
    EQD+CN+<container>                one per container (ISO 6346)
    UNS+D
    CST+<item>+<HS code>  FTX+AAA  LOC+27  MEA+AAE+G+KGM:<kg>  PAC+<n>++<type>
    UNS+S
    CNT+5:<items>

Examples
--------
>>> from quaykey.logistics.edifact.examples import sample_declaration
>>> decl = sample_declaration()
>>> parse_cusdec(build_cusdec(decl)) == decl
True
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from quaykey.logistics import identifiers as ids
from quaykey.logistics.edifact.common import (
    Party,
    Vessel,
    dtm,
    first,
    loc,
    minute,
    nad,
    number,
    parse_dtm,
    parse_nad,
    parse_number,
    parse_tdt,
    tdt,
    text,
)
from quaykey.logistics.edifact.envelope import RawSegment, Segment, seg, write_interchange
from quaykey.logistics.edifact.reader import message_body

__all__ = ["Declaration", "GoodsItem", "build_cusdec", "parse_cusdec"]

_DOC_CODE = {"import": "929", "export": "830"}
# An ISO 1AAA container's maximum gross mass (ISO 668): 30 480 kg.
MAX_GROSS_PER_CONTAINER_KG = Decimal(30480)


@dataclass(frozen=True)
class GoodsItem:
    """One goods item of a declaration.

    Attributes
    ----------
    hs_code : str
        Harmonized System code (2 to 10 digits).
    description : str
        Plain-language description (an..70).
    origin_country : str
        ISO 3166-1 alpha-2 country of origin.
    packages : int
        Number of packages (1 to 1 000 000).
    package_type : str
        UN/ECE Recommendation 21 package code (``CT`` carton, ``PK`` package...).
    gross_mass_kg : Decimal
        Gross mass in kilograms (> 0).
    """

    hs_code: str
    description: str
    origin_country: str
    packages: int
    package_type: str
    gross_mass_kg: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "hs_code", ids.hs_code(self.hs_code, "goods item HS code"))
        text(self.description, "goods description", 70)
        if not (len(self.origin_country) == 2 and self.origin_country.isalpha()):
            raise ValueError(f"origin_country {self.origin_country!r}: expected ISO 3166 alpha-2")
        if not isinstance(self.packages, int) or not 1 <= self.packages <= 1_000_000:
            raise ValueError(f"packages must be an integer 1 to 1000000, got {self.packages!r}")
        text(self.package_type, "package type", 2)
        if not isinstance(self.gross_mass_kg, Decimal) or not self.gross_mass_kg > 0:
            raise ValueError(
                f"gross_mass_kg must be a positive Decimal, got {self.gross_mass_kg!r}"
            )


@dataclass(frozen=True)
class Declaration:
    """A customs goods declaration.

    Attributes
    ----------
    reference : str
        Declarant's declaration number (BGM 1004, an..35).
    procedure : str
        ``import`` or ``export``.
    issued : datetime
        Date/time of issue (minute resolution; seconds are dropped).
    customs_office : str
        UN/LOCODE of the customs office of clearance.
    declarant, consignor, consignee : Party
        NAD parties.
    vessel : Vessel
        Main carriage.
    port_of_loading, port_of_discharge : str
        UN/LOCODEs.
    containers : tuple of str
        ISO 6346 container numbers (at least one, no duplicates).
    items : tuple of GoodsItem
        Goods items (at least one), numbered 1, 2, ... in order.
    """

    reference: str
    procedure: str
    issued: datetime
    customs_office: str
    declarant: Party
    consignor: Party
    consignee: Party
    vessel: Vessel
    port_of_loading: str
    port_of_discharge: str
    containers: tuple[str, ...]
    items: tuple[GoodsItem, ...]

    def __post_init__(self) -> None:
        text(self.reference, "declaration reference", 35)
        if self.procedure not in _DOC_CODE:
            raise ValueError(f"procedure must be 'import' or 'export', got {self.procedure!r}")
        object.__setattr__(self, "issued", minute(self.issued))
        for name in ("customs_office", "port_of_loading", "port_of_discharge"):
            ids.locode(getattr(self, name), name)
        containers = tuple(ids.container_number(c, "containers") for c in self.containers)
        if not containers or len(set(containers)) != len(containers):
            raise ValueError("containers must list at least one container, each once")
        object.__setattr__(self, "containers", containers)
        if not self.items:
            raise ValueError("items must hold at least one goods item")
        object.__setattr__(self, "items", tuple(self.items))


def _body(decl: Declaration) -> list[Segment]:
    body = [
        seg("BGM", _DOC_CODE[decl.procedure], decl.reference, "9"),
        loc("22", decl.customs_office),
        dtm("137", decl.issued),
        nad("DT", decl.declarant),
        nad("CZ", decl.consignor),
        nad("CN", decl.consignee),
        tdt(decl.vessel),
        loc("9", decl.port_of_loading),
        loc("11", decl.port_of_discharge),
    ]
    body += [seg("EQD", "CN", c) for c in decl.containers]
    body.append(seg("UNS", "D"))
    for number_, item in enumerate(decl.items, start=1):
        body += [
            seg("CST", str(number_), item.hs_code),
            seg("FTX", "AAA", "", "", item.description),
            seg("LOC", "27", item.origin_country),
            seg("MEA", "AAE", "G", ["KGM", number(item.gross_mass_kg)]),
            seg("PAC", str(item.packages), "", item.package_type),
        ]
    body += [seg("UNS", "S"), seg("CNT", ["5", str(len(decl.items))])]
    return body


def build_cusdec(
    decl: Declaration, *, sender: str = "DECLARANT", recipient: str = "CNCUSTOMS",
    control_ref: str = "1",
) -> bytes:  # fmt: skip
    """Serialise a declaration as a CUSDEC interchange.

    Parameters
    ----------
    decl : Declaration
        The declaration.
    sender, recipient : str
        UNB interchange parties.
    control_ref : str
        Interchange control reference; also used as the UNH message reference.

    Returns
    -------
    bytes
        ISO 8859-1 EDIFACT, UNA included, no line breaks.
    """
    return write_interchange(
        "CUSDEC", "D", "96B", _body(decl), sender=sender, recipient=recipient,
        control_ref=control_ref, message_ref=control_ref, prepared=decl.issued,
    )  # fmt: skip


def _items(section: list[RawSegment]) -> tuple[GoodsItem, ...]:
    items: list[GoodsItem] = []
    group: list[RawSegment] = []
    for s in [*section, RawSegment("CST", [], 0)]:
        if s.tag == "CST" and group:
            mea = first(group, "MEA")
            pac = first(group, "PAC")
            items.append(
                GoodsItem(
                    hs_code=group[0].element(1, 0),
                    description=first(group, "FTX", "AAA").element(3),
                    origin_country=first(group, "LOC", "27").element(1),
                    packages=int(parse_number(pac.element(0), "packages", pac.position)),
                    package_type=pac.element(2),
                    gross_mass_kg=parse_number(mea.element(2, 1), "gross mass", mea.position),
                )
            )
            group = []
        group.append(s)
    return tuple(items)


def parse_cusdec(data: bytes | str, *, segments: list[RawSegment] | None = None) -> Declaration:
    """Read a CUSDEC interchange back into a :class:`Declaration`.

    ``segments``: the interchange already read (``read_segments(data)``), not parsed again.

    Raises
    ------
    ValueError
        The interchange fails validation (the message lists the problems) or lacks a
        field of the model.
    """
    body = message_body(data, "CUSDEC", segments=segments)
    uns = [i for i, s in enumerate(body) if s.tag == "UNS"]
    header, goods = body[: uns[0]], body[uns[0] + 1 : uns[1]]
    bgm = first(header, "BGM")
    procedure = {v: k for k, v in _DOC_CODE.items()}.get(bgm.element(0))
    if procedure is None:
        raise ValueError(f"BGM document code {bgm.element(0)!r} is not 929 or 830")
    return Declaration(
        reference=bgm.element(1),
        procedure=procedure,
        issued=parse_dtm(first(header, "DTM", "137")),
        customs_office=first(header, "LOC", "22").element(1, 0),
        declarant=parse_nad(first(header, "NAD", "DT")),
        consignor=parse_nad(first(header, "NAD", "CZ")),
        consignee=parse_nad(first(header, "NAD", "CN")),
        vessel=parse_tdt(first(header, "TDT")),
        port_of_loading=first(header, "LOC", "9").element(1, 0),
        port_of_discharge=first(header, "LOC", "11").element(1, 0),
        containers=tuple(s.element(1, 0) for s in header if s.tag == "EQD"),
        items=_items(goods),
    )
