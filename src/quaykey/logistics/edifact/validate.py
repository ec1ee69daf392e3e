"""Validate an EDIFACT interchange: envelope, segment order, identifiers.

Three layers of checks, each reported as a :class:`~.structure.Problem` with a code
from :data:`PROBLEM_CODES`, the segment's interchange position and its tag:

1. Envelope (ISO 9735-1): UNB first and UNZ last, UNH/UNT paired, UNT segment count and
   reference, UNZ message count and control reference.
2. Segment order, presence and repeats against the message type's segment table
   (:mod:`.profiles`).
3. Identifiers in the segments: ISO 6346 container numbers (EQD), size/type codes,
   UN/LOCODEs (LOC), HS codes (CST in the goods-item section), IMO numbers (TDT),
   measures (MEA) and the CNT equipment control total.

Examples
--------
>>> validate(b"UNB+UNOC:3+A+B+260105:0930+1'UNZ+0+2'")[0].text
'UNZ control reference 2 differs from UNB 1'
>>> inspect(b"not edifact").problems[0].code
'E300'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from quaykey.logistics import identifiers as ids
from quaykey.logistics.edifact.envelope import RawSegment, read_segments
from quaykey.logistics.edifact.profiles import SPECS
from quaykey.logistics.edifact.structure import Problem, check_structure

__all__ = [
    "PROBLEM_CODES",
    "Problem",
    "ValidationReport",
    "inspect",
    "inspect_segments",
    "split_messages",
    "validate",
]

PROBLEM_CODES: dict[str, str] = {
    "E100": "segment missing, out of order or repeated too often",
    "E110": "interchange or message envelope (UNB/UNH/UNT/UNZ) inconsistent",
    "E130": "control total (CNT) differs from the content",
    "E200": "container number fails ISO 6346",
    "E201": "size/type code is not ISO 6346",
    "E210": "HS code malformed",
    "E220": "UN/LOCODE malformed or unknown",
    "E230": "quantity or measure not plausible",
    "E240": "IMO number fails its check digit",
    "E250": "stowage position malformed",
    "E300": "not a readable EDIFACT interchange",
    "E310": "message type or version not supported",
    "E320": "message content incomplete or inconsistent",
}


@dataclass
class ValidationReport:
    """Result of :func:`inspect`.

    Attributes
    ----------
    message_type : str or None
        UNH message type of the (first) message, None when unreadable.
    segment_count : int
        Number of segments in the interchange (UNB to UNZ).
    problems : list of Problem
        Empty when the interchange is valid.
    """

    message_type: str | None
    segment_count: int
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "message_type": self.message_type,
            "segment_count": self.segment_count,
            "valid": self.ok,
            "problems": [p.to_dict() for p in self.problems],
        }


def _problem(code: str, text: str, s: RawSegment | None) -> Problem:
    return Problem(code, text, s.position if s else None, s.tag if s else None)


def split_messages(
    segments: list[RawSegment],
) -> tuple[list[list[RawSegment]], list[Problem]]:
    """Check the envelope and cut the interchange into messages (UNH..UNT inclusive)."""
    problems: list[Problem] = []
    if not segments:
        return [], [Problem("E300", "interchange holds no segment")]
    if segments[0].tag != "UNB":
        problems.append(_problem("E110", "interchange must start with UNB", segments[0]))
    if segments[-1].tag != "UNZ":
        problems.append(_problem("E110", "interchange must end with UNZ", segments[-1]))
    messages: list[list[RawSegment]] = []
    current: list[RawSegment] | None = None
    for s in segments:
        if s.tag == "UNH":
            if current is not None:
                problems.append(_problem("E110", "UNH before the previous message's UNT", s))
            current = [s]
        elif current is not None:
            current.append(s)
            if s.tag == "UNT":
                messages.append(current)
                current = None
        elif s.tag not in ("UNB", "UNZ"):
            problems.append(_problem("E110", f"segment {s.tag} outside UNH..UNT", s))
    if current is not None:
        problems.append(_problem("E110", "message has no UNT", current[-1]))
    for msg in messages:
        problems += _check_trailer(msg)
    if segments[0].tag == "UNB" and segments[-1].tag == "UNZ":
        unb, unz = segments[0], segments[-1]
        if unz.element(0) != str(len(messages)):
            problems.append(
                _problem(
                    "E110",
                    f"UNZ message count {unz.element(0)} differs from {len(messages)} messages",
                    unz,
                )
            )
        if unz.element(1) != unb.element(4):
            problems.append(
                _problem(
                    "E110",
                    f"UNZ control reference {unz.element(1)} differs from UNB {unb.element(4)}",
                    unz,
                )
            )
    return messages, problems


def _check_trailer(msg: list[RawSegment]) -> list[Problem]:
    unh, unt = msg[0], msg[-1]
    out = []
    if unt.element(0) != str(len(msg)):
        out.append(
            _problem(
                "E110",
                f"UNT segment count {unt.element(0)} differs from the {len(msg)} segments "
                "from UNH to UNT",
                unt,
            )
        )
    if unt.element(1) != unh.element(0):
        out.append(
            _problem(
                "E110",
                f"UNT reference {unt.element(1)} differs from UNH reference {unh.element(0)}",
                unt,
            )
        )
    return out


def _check_message(msg: list[RawSegment]) -> list[Problem]:
    unh = msg[0]
    mtype, version, release = unh.element(1, 0), unh.element(1, 1), unh.element(1, 2)
    spec = SPECS.get(mtype)
    if spec is None:
        known = ", ".join(sorted(SPECS))
        return [_problem("E310", f"message type {mtype!r} not supported (known: {known})", unh)]
    if (version, release) != (spec.version, spec.release):
        return [
            _problem(
                "E310",
                f"{mtype} version {version}:{release} not supported "
                f"(this profile: {spec.version}:{spec.release})",
                unh,
            )
        ]
    body = msg[1:-1]
    problems = check_structure(spec, [s.tag for s in body], [s.position for s in body])
    return problems + _check_content(mtype, body)


def _check_content(mtype: str, body: list[RawSegment]) -> list[Problem]:
    problems: list[Problem] = []
    goods_section = False
    for s in body:
        if s.tag == "UNS":
            goods_section = s.element(0) == "D"
        check = _CHECKS.get(s.tag)
        if check is None or (s.tag == "CST" and not goods_section):
            continue
        for code, run_check in check(s):
            try:
                run_check()
            except (ValueError, TypeError) as exc:
                problems.append(_problem(code, f"{s.tag}: {exc}", s))
    problems += _check_totals(body)
    return problems


def _eqd(s: RawSegment) -> list[tuple[str, Callable[[], object]]]:
    out: list[tuple[str, Callable[[], object]]] = []
    if s.element(0) == "CN":
        out.append(("E200", lambda: ids.container_number(s.element(1, 0))))
        if s.element(2, 0):
            out.append(("E201", lambda: ids.size_type(s.element(2, 0))))
    return out


def _loc(s: RawSegment) -> list[tuple[str, Callable[[], object]]]:
    code = s.element(1, 0)
    if s.element(0) == "147":
        return [("E250", lambda: _stowage(code))]
    if len(code) == 2:  # a country (origin/destination), not a place
        return []
    return [("E220", lambda: ids.locode(code, f"UN/LOCODE (LOC+{s.element(0)})"))]


def _stowage(code: str) -> str:
    if not (len(code) == 7 and code.isdigit()):
        raise ValueError(f"stowage position {code!r}: expected 7 digits bay-row-tier (BBBRRTT)")
    return code


def _tdt(s: RawSegment) -> list[tuple[str, Callable[[], object]]]:
    if s.element(7, 1) == "146":
        return [("E240", lambda: ids.imo_number(s.element(7, 0)))]
    return []


def _mea(s: RawSegment) -> list[tuple[str, Callable[[], object]]]:
    return [("E230", lambda: _positive(s.element(2, 1), "measure value"))]


def _positive(raw: str, what: str) -> None:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{what} {raw!r} is not a number") from None
    if not value > 0:
        raise ValueError(f"{what} {raw} must be positive")


def _cst(s: RawSegment) -> list[tuple[str, Callable[[], object]]]:
    return [("E210", lambda: ids.hs_code(s.element(1, 0)))]


def _pac(s: RawSegment) -> list[tuple[str, Callable[[], object]]]:
    return [("E230", lambda: _positive(s.element(0), "number of packages"))]


_CHECKS: dict[str, Callable[[RawSegment], list[tuple[str, Callable[[], object]]]]] = {
    "EQD": _eqd,
    "LOC": _loc,
    "TDT": _tdt,
    "MEA": _mea,
    "CST": _cst,
    "PAC": _pac,
}


def _check_totals(body: list[RawSegment]) -> list[Problem]:
    equipment = sum(1 for s in body if s.tag == "EQD")
    # goods items are the detail section's CST groups (a CUSDEC header may hold a CST too)
    first_uns = next((i for i, s in enumerate(body) if s.tag == "UNS"), -1)
    items = sum(1 for s in body[first_uns + 1 :] if s.tag == "CST")
    out = []
    for s in body:
        if s.tag != "CNT":
            continue
        qualifier, value = s.element(0, 0), s.element(0, 1)
        expected = {"16": equipment, "5": items}.get(qualifier)
        if expected is not None and value != str(expected):
            out.append(
                _problem("E130", f"CNT+{qualifier} says {value}, the message has {expected}", s)
            )
    return out


def inspect(data: bytes | str) -> ValidationReport:
    """Validate an interchange and say what it is.

    Parameters
    ----------
    data : bytes or str
        The interchange (ISO 8859-1 bytes, or text).

    Returns
    -------
    ValidationReport
        Message type, segment count, problems; never raises on bad content.
    """
    try:
        segments = read_segments(data)
    except ValueError as exc:
        return ValidationReport(None, 0, [Problem("E300", str(exc))])
    return inspect_segments(segments)


def inspect_segments(segments: list[RawSegment]) -> ValidationReport:
    """:func:`inspect` of an interchange already read by
    :func:`~quaykey.logistics.edifact.envelope.read_segments` (parsed once, checked here)."""
    messages, problems = split_messages(segments)
    if not messages and not problems:
        problems.append(_problem("E110", "interchange holds no message", segments[0]))
    for msg in messages:
        problems += _check_message(msg)
    mtype = messages[0][0].element(1, 0) if messages else None
    problems.sort(key=lambda p: p.position or 0)
    return ValidationReport(mtype, len(segments), problems)


def validate(data: bytes | str) -> list[Problem]:
    """Problems of an interchange; an empty list means valid.

    Examples
    --------
    >>> from quaykey.logistics.edifact.examples import example
    >>> validate(example("CODECO"))
    []
    """
    return inspect(data).problems
