"""Pieces shared by the message builders and parsers: parties, vessels, dates, numbers.

Code values written here (qualifiers of DTM, LOC, NAD, TDT, MEA) are those of UNTDID
D.95B/D.96B code lists as the SMDG MIGs use them: DTM 2379 ``203`` = CCYYMMDDHHMM;
LOC 1131/3055 ``139``/``6`` = UN/LOCODE; TDT 8051 ``20`` = main carriage, C222 1131
``146`` = ship's IMO number (SMDG usage); MEA ``KGM`` = kilogram.

Examples
--------
>>> from datetime import datetime
>>> dtm("137", datetime(2026, 1, 5, 9, 30)).elements
[['137', '202601050930', '203']]
>>> parse_dtm(RawSegment("DTM", [["137", "202601050930", "203"]], 3))
datetime.datetime(2026, 1, 5, 9, 30)
>>> number(Decimal("12000.50"))
'12000.5'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from quaykey.logistics import identifiers as ids
from quaykey.logistics.edifact.envelope import RawSegment, Segment, seg

__all__ = [
    "Party",
    "Vessel",
    "dtm",
    "first",
    "loc",
    "minute",
    "nad",
    "number",
    "parse_dtm",
    "parse_nad",
    "parse_number",
    "parse_tdt",
    "split_groups",
    "tdt",
    "text",
]

_TEXT_OK = set(range(0x20, 0x7F)) | set(range(0xA0, 0x100))


def text(value: str, field: str, max_len: int) -> str:
    """Check a free-text field: ISO 8859-1 printable (UNOC), 1 to ``max_len`` characters.

    Examples
    --------
    >>> text("Shanghai Lianhua", "consignee name", 35)
    'Shanghai Lianhua'
    >>> text("", "consignee name", 35)
    Traceback (most recent call last):
    ...
    ValueError: consignee name must have 1 to 35 characters, got 0
    """
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a string, got {type(value).__name__}")
    if not 1 <= len(value) <= max_len:
        raise ValueError(f"{field} must have 1 to {max_len} characters, got {len(value)}")
    bad = [c for c in value if ord(c) not in _TEXT_OK]
    if bad:
        raise ValueError(f"{field} has characters outside UNOC (ISO 8859-1): {bad[0]!r}")
    if value != value.strip():
        raise ValueError(f"{field} must not start or end with spaces")
    return value


def minute(when: datetime) -> datetime:
    """Drop seconds: EDIFACT date/times here have minute resolution (format 203)."""
    return when.replace(second=0, microsecond=0)


def dtm(qualifier: str, when: datetime) -> Segment:
    """A DTM segment, format 203 (CCYYMMDDHHMM)."""
    return seg("DTM", [qualifier, when.strftime("%Y%m%d%H%M"), "203"])


def parse_dtm(segment: RawSegment) -> datetime:
    """Read a DTM segment written by :func:`dtm`."""
    value, fmt = segment.element(0, 1), segment.element(0, 2)
    if fmt != "203":
        raise ValueError(f"DTM at segment {segment.position}: date format {fmt!r} is not 203")
    try:
        return datetime.strptime(value, "%Y%m%d%H%M")
    except ValueError:
        raise ValueError(
            f"DTM at segment {segment.position}: {value!r} is not CCYYMMDDHHMM"
        ) from None


def number(value: Decimal) -> str:
    """Format a decimal without exponent or trailing zeros (EDIFACT numeric, '.' mark)."""
    return f"{value.normalize():f}"


def parse_number(raw: str, field: str, position: int) -> Decimal:
    """Read a numeric data element, naming the field when it is not a number."""
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"{field} at segment {position}: {raw!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{field} at segment {position}: {raw!r} is not a number")
    return value


@dataclass(frozen=True)
class Party:
    """A trading party (NAD).

    Attributes
    ----------
    identifier : str
        Party code (an..35; e.g. a customs registration or USCI number).
    name : str
        Party name (an..35).
    country : str
        ISO 3166-1 alpha-2 country code.
    """

    identifier: str
    name: str
    country: str

    def __post_init__(self) -> None:
        text(self.identifier, "party identifier", 35)
        text(self.name, "party name", 35)
        if not (len(self.country) == 2 and self.country.isalpha() and self.country.isupper()):
            raise ValueError(f"party country {self.country!r}: expected ISO 3166 alpha-2")


def nad(qualifier: str, party: Party) -> Segment:
    """NAD with C082 party id (agency ZZZ, mutually defined), C080 name and 3207 country."""
    return seg(
        "NAD", qualifier, [party.identifier, "", "ZZZ"], "", party.name, "", "", "", "",
        party.country,
    )  # fmt: skip


def parse_nad(segment: RawSegment) -> Party:
    """Read a NAD written by :func:`nad`."""
    return Party(segment.element(1), segment.element(3), segment.element(8))


@dataclass(frozen=True)
class Vessel:
    """A seagoing vessel on a voyage (TDT, main carriage).

    Attributes
    ----------
    imo : str
        IMO ship identification number (validated).
    name : str
        Vessel name (an..35).
    voyage : str
        Carrier's voyage number (an..17).
    carrier : str
        Carrier code (an..17; SMDG liner code or SCAC).
    """

    imo: str
    name: str
    voyage: str
    carrier: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "imo", ids.imo_number(self.imo, "vessel IMO number"))
        text(self.name, "vessel name", 35)
        text(self.voyage, "voyage number", 17)
        text(self.carrier, "carrier code", 17)


def tdt(vessel: Vessel) -> Segment:
    """TDT+20 (main carriage), mode 1 (maritime), carrier and IMO number."""
    return seg(
        "TDT", "20", vessel.voyage, "1", "", [vessel.carrier, "172", "20"], "", "",
        [vessel.imo, "146", "", vessel.name],
    )  # fmt: skip


def parse_tdt(segment: RawSegment) -> Vessel:
    """Read a TDT written by :func:`tdt`."""
    return Vessel(
        imo=segment.element(7, 0),
        name=segment.element(7, 3),
        voyage=segment.element(1),
        carrier=segment.element(4, 0),
    )


def loc(qualifier: str, code: str, terminal: str = "") -> Segment:
    """LOC with a UN/LOCODE (139/6) and optionally a terminal code (profile, agency ZZZ)."""
    place = [terminal, "TER", "ZZZ"] if terminal else ""
    return seg("LOC", qualifier, [code, "139", "6"], place)


def first(segments: Sequence[RawSegment], tag: str, qualifier: str | None = None) -> RawSegment:
    """The first segment with ``tag`` (and element 0 component 0 == ``qualifier``)."""
    for s in segments:
        if s.tag == tag and (qualifier is None or s.element(0, 0) == qualifier):
            return s
    what = f"{tag}+{qualifier}" if qualifier else tag
    raise ValueError(f"segment {what} is missing")


def split_groups(
    body: Sequence[RawSegment], starts: Sequence[int], end: int
) -> list[list[RawSegment]]:
    """Cut ``body`` into groups beginning at the indices ``starts``, the last ending at ``end``.

    Examples
    --------
    >>> body = [RawSegment(t, [], i) for i, t in enumerate(["BGM", "EQD", "MEA", "EQD"])]
    >>> [[s.tag for s in g] for g in split_groups(body, [1, 3], 4)]
    [['EQD', 'MEA'], ['EQD']]
    >>> split_groups(body, [], 4)
    []
    """
    ends = [*starts[1:], end]
    return [list(body[a:b]) for a, b in zip(starts, ends[: len(starts)], strict=True)]
