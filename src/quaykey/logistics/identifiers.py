"""Identifiers carried by port and customs messages, validated.

* Container numbers: ISO 6346 (owner code, category, serial, check digit), checked with
  python-stdnum's :mod:`stdnum.iso6346`.
* Size/type codes: ISO 6346 four-character size/type code (``22G1``, ``45R1``), format only.
* Ship numbers: IMO ship identification number (seven digits, weighted check digit, IMO
  Resolution A.1117(30)), checked with :mod:`stdnum.imo`.
* Locations: UN/LOCODE (UNECE), restricted to the curated list in ``logistics/data``.
* Goods: Harmonized System codes (WCO HS Nomenclature): chapter, heading, subheading, and
  up to ten digits for national tariff lines, with a curated table of the chapters and
  headings the demo uses and their protection class.

Every check raises :class:`ValueError` naming the field and saying what is wrong.

Examples
--------
>>> container_number("csqu 305438 3")
'CSQU3054383'
>>> imo_number("IMO 9074729")
'9074729'
>>> locode("cnsha").name
'Shanghai'
>>> hs_code("8542.31")
'854231'
>>> hs_info("85423100").protection_class
'controlled'
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from stdnum import imo as _imo
from stdnum import iso6346 as _iso6346
from stdnum.exceptions import ValidationError

__all__ = [
    "HsEntry",
    "Location",
    "container_number",
    "hs_code",
    "hs_info",
    "imo_number",
    "known_locodes",
    "locode",
    "size_type",
    "terminal",
]

_SIZE_TYPE = re.compile(r"^[1-9ABCDEFGHKLMNP][0-9BCDEFLMN][A-Z][0-9A-Z]$")
_LOCODE = re.compile(r"^[A-Z]{2}[A-Z2-9]{3}$")
_HS = re.compile(r"^\d{2}(\d{2}(\d{2}(\d{2}(\d{2})?)?)?)?$")


@dataclass(frozen=True)
class Location:
    """A curated UN/LOCODE entry.

    Attributes
    ----------
    locode : str
        Five characters: ISO 3166-1 alpha-2 country + three-character place code.
    name : str
        Place name as in the UN/LOCODE list.
    country : str
        ISO 3166-1 alpha-2 country code.
    function : str
        UN/LOCODE function classifier (position 1 port, 2 rail, 3 road, 4 airport).
    role : str
        What the demo uses the place for.
    """

    locode: str
    name: str
    country: str
    function: str
    role: str

    @property
    def is_port(self) -> bool:
        """Whether the UN/LOCODE function classifier marks a seaport."""
        return self.function.startswith("1")


@dataclass(frozen=True)
class HsEntry:
    """A curated Harmonized System chapter or heading.

    Attributes
    ----------
    code : str
        Two (chapter) or four (heading) digits.
    description : str
        Shortened chapter/heading title.
    protection_class : str
        ``strategic``, ``controlled`` or ``standard`` (see ``logistics/data/README.md``).
    """

    code: str
    description: str
    protection_class: str


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a string, got {type(value).__name__}")
    return value


def container_number(value: str, field: str = "container number") -> str:
    """Validate an ISO 6346 container number and return it compact and upper-case.

    Parameters
    ----------
    value : str
        Owner code (3 letters), category (``U``, ``J`` or ``Z``), 6-digit serial and check
        digit; spaces and dashes are ignored.
    field : str
        Name used in the error message.

    Returns
    -------
    str
        The eleven-character number.

    Raises
    ------
    ValueError
        Wrong length or format, or a check digit that does not match (ISO 6346 Annex A).

    Examples
    --------
    >>> container_number("MSKU9070323")
    'MSKU9070323'
    >>> container_number("CSQU3054384")
    Traceback (most recent call last):
    ...
    ValueError: container number 'CSQU3054384': ISO 6346 check digit should be 3
    """
    raw = _text(value, field)
    compact = re.sub(r"[\s\-]", "", raw).upper()
    if not re.fullmatch(r"[A-Z]{3}[UJZ]\d{7}", compact):
        raise ValueError(
            f"{field} {raw!r}: expected 3 letters, category U/J/Z, 7 digits (ISO 6346)"
        )
    try:
        return str(_iso6346.validate(compact))
    except ValidationError:
        expected = _iso6346.calc_check_digit(compact[:10])
        raise ValueError(f"{field} {raw!r}: ISO 6346 check digit should be {expected}") from None


def size_type(value: str, field: str = "size/type code") -> str:
    """Validate the format of an ISO 6346 size/type code (``22G1``, ``45R1``, ``L5G1``).

    Examples
    --------
    >>> size_type("45r1")
    '45R1'
    """
    code = _text(value, field).strip().upper()
    if not _SIZE_TYPE.fullmatch(code):
        raise ValueError(f"{field} {value!r}: expected an ISO 6346 size/type code like 45G1")
    return code


def imo_number(value: str, field: str = "IMO number") -> str:
    """Validate an IMO ship identification number and return its seven digits.

    The seventh digit is the last digit of the sum of the first six weighted 7..2
    (IMO Resolution A.1117(30)); the check is :func:`stdnum.imo.validate`.

    Examples
    --------
    >>> imo_number("9074729")
    '9074729'
    >>> imo_number("9074728")
    Traceback (most recent call last):
    ...
    ValueError: IMO number '9074728': check digit does not match (IMO Resolution A.1117(30))
    """
    raw = _text(value, field)
    if not re.fullmatch(r"(IMO)?\d{7}", _imo.compact(raw)):
        raise ValueError(f"{field} {raw!r}: expected seven digits, optionally after 'IMO'")
    try:
        return str(_imo.validate(raw))
    except ValidationError:
        raise ValueError(
            f"{field} {raw!r}: check digit does not match (IMO Resolution A.1117(30))"
        ) from None


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("quaykey.logistics.data").joinpath(name).read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def _locations() -> dict[str, Location]:
    return {r["locode"]: Location(**r) for r in _rows("unlocode.csv")}


@cache
def _terminals() -> dict[str, tuple[str, str]]:
    return {r["terminal"]: (r["locode"], r["name"]) for r in _rows("terminals.csv")}


@cache
def _hs_table() -> dict[str, HsEntry]:
    return {r["code"]: HsEntry(**r) for r in _rows("hs_codes.csv")}


def known_locodes() -> frozenset[str]:
    """The UN/LOCODEs of the curated list.

    Examples
    --------
    >>> {"CNSHA", "CNNGB", "NLRTM"} <= known_locodes()
    True
    """
    return frozenset(_locations())


def locode(value: str, field: str = "UN/LOCODE") -> Location:
    """Validate a UN/LOCODE against the curated list and return its entry.

    Raises
    ------
    ValueError
        Not five characters of the UN/LOCODE alphabet, or not in the curated list.

    Examples
    --------
    >>> locode("NLRTM").country
    'NL'
    >>> locode("XXABC")
    Traceback (most recent call last):
    ...
    ValueError: UN/LOCODE 'XXABC': not in the curated list (logistics/data/unlocode.csv)
    """
    code = _text(value, field).strip().upper().replace(" ", "")
    if not _LOCODE.fullmatch(code):
        raise ValueError(f"{field} {value!r}: expected 2-letter country + 3 characters (UN/LOCODE)")
    loc = _locations().get(code)
    if loc is None:
        raise ValueError(
            f"{field} {value!r}: not in the curated list (logistics/data/unlocode.csv)"
        )
    return loc


def terminal(value: str, field: str = "terminal") -> tuple[str, str]:
    """Return ``(locode, name)`` of a terminal code from ``logistics/data/terminals.csv``.

    Examples
    --------
    >>> terminal("YSH")
    ('CNSHA', 'Yangshan Deep-Water Port')
    """
    code = _text(value, field).strip().upper()
    entry = _terminals().get(code)
    if entry is None:
        known = ", ".join(sorted(_terminals()))
        raise ValueError(f"{field} {value!r}: unknown terminal (known: {known})")
    return entry


def hs_code(value: str, field: str = "HS code") -> str:
    """Validate a Harmonized System code and return its digits.

    Accepts 2 (chapter), 4 (heading), 6 (subheading), 8 or 10 digits (national tariff
    lines, e.g. China's 10-digit codes); dots and spaces are ignored. The chapter must
    exist in the HS Nomenclature: 01 to 97, chapter 77 being reserved.

    Examples
    --------
    >>> hs_code("3004.90")
    '300490'
    >>> hs_code("7701")
    Traceback (most recent call last):
    ...
    ValueError: HS code '7701': chapter 77 is reserved in the HS Nomenclature
    """
    digits = _text(value, field).replace(".", "").replace(" ", "")
    if not _HS.fullmatch(digits):
        raise ValueError(f"{field} {value!r}: expected 2, 4, 6, 8 or 10 digits")
    chapter = int(digits[:2])
    if chapter == 77:
        raise ValueError(f"{field} {value!r}: chapter 77 is reserved in the HS Nomenclature")
    if not 1 <= chapter <= 97:
        raise ValueError(f"{field} {value!r}: chapter must be 01 to 97")
    return digits


def hs_info(value: str) -> HsEntry | None:
    """The most specific curated entry (heading, else chapter) for an HS code, or None.

    Examples
    --------
    >>> hs_info("284690").protection_class
    'strategic'
    >>> hs_info("2804") is None  # chapter 28 is listed, so the chapter entry answers
    False
    >>> hs_info("0101") is None
    True
    """
    digits = hs_code(value)
    table = _hs_table()
    return table.get(digits[:4]) or table.get(digits[:2])
