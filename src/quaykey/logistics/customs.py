"""The customs authority (Beijing customs in the demo): CUSDEC in, CUSRES out.

:func:`decide` takes the bytes of a CUSDEC interchange and always answers with the bytes
of a CUSRES (UNTDID D.96B): never an exception for bad input.

1. **Reject** (``REJ``) when the interchange is unreadable, is not a CUSDEC, fails the
   envelope or segment-order validation, carries a bad identifier (ISO 6346 container
   number, HS code, UN/LOCODE, IMO number) or an implausible quantity. Each problem is
   one ERP-ERC-FTX group: the error point (segment tag and interchange position, goods
   item), the code (:data:`~quaykey.logistics.edifact.validate.PROBLEM_CODES` or
   :data:`BUSINESS_CODES`) and the text.
2. **Hold** (``HLD``) when a goods item falls under the rule table :data:`HOLD_RULES`,
   keyed by the protection class of its HS heading or chapter
   (``logistics/data/hs_codes.csv``):

   ====  ==========  ===============================================================
   code  class       action
   ====  ==========  ===============================================================
   H100  strategic   physical inspection (rare-earth metals and compounds HS 2805,
                     2846; arms and ammunition ch. 93) — export-controlled goods
   H110  controlled  licence/documentary check (pharmaceuticals ch. 30, integrated
                     circuits 8542, lithium batteries 8507)
   ====  ==========  ===============================================================

3. **Release** (``REL``) otherwise.

Plausibility (E230): the declared gross mass may not exceed 30 480 kg (ISO 668 maximum
gross mass of a 1AAA container) per declared container, nor 30 480 kg per package.
Consistency (E320): an export must load, an import discharge, at a Chinese port, and the
customs office must be Chinese.

Examples
--------
>>> from quaykey.logistics.edifact import example, parse_cusres
>>> answer = parse_cusres(decide(example("CUSDEC")))
>>> answer.status, answer.declaration_reference
('release', 'DEC2026030200017')
>>> parse_cusres(decide(b"garbage")).reasons[0].code
'E300'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from quaykey.logistics import identifiers as ids
from quaykey.logistics.edifact.cusdec import MAX_GROSS_PER_CONTAINER_KG, Declaration, parse_cusdec
from quaykey.logistics.edifact.cusres import Reason, Response, build_cusres
from quaykey.logistics.edifact.envelope import RawSegment, read_segments
from quaykey.logistics.edifact.structure import Problem
from quaykey.logistics.edifact.validate import ValidationReport, inspect_segments

__all__ = ["BUSINESS_CODES", "HOLD_RULES", "HoldRule", "assess", "decide"]

_MAX_REASONS = 99
_PRINTABLE = set(range(0x20, 0x7F)) | set(range(0xA0, 0x100))

BUSINESS_CODES: dict[str, str] = {
    "H100": "strategic goods: physical inspection",
    "H110": "controlled goods: licence and documentary check",
}


@dataclass(frozen=True)
class HoldRule:
    """A row of the hold rule table.

    Attributes
    ----------
    code : str
        Reason code sent in ERC.
    protection_class : str
        HS protection class the rule applies to.
    action : str
        What customs does, sent in FTX.
    """

    code: str
    protection_class: str
    action: str


HOLD_RULES: tuple[HoldRule, ...] = (
    HoldRule("H100", "strategic", "strategic goods: physical inspection before release"),
    HoldRule("H110", "controlled", "controlled goods: licence and documentary check"),
)


def _clean(text: str, limit: int = 350) -> str:
    cleaned = "".join(c if ord(c) in _PRINTABLE else "?" for c in text).strip()
    return (cleaned[: limit - 3] + "...") if len(cleaned) > limit else (cleaned or "-")


def _reason(problem: Problem) -> Reason:
    tag = problem.tag if problem.tag and problem.tag.isalnum() and len(problem.tag) <= 3 else None
    return Reason(problem.code, _clean(problem.text), tag, problem.position)


def _plausibility(decl: Declaration) -> list[Reason]:
    reasons = []
    total = sum((item.gross_mass_kg for item in decl.items), Decimal(0))
    limit = MAX_GROSS_PER_CONTAINER_KG * len(decl.containers)
    if total > limit:
        reasons.append(
            Reason(
                "E230",
                f"declared gross mass {total} kg exceeds {limit} kg for "
                f"{len(decl.containers)} container(s) (ISO 668 1AAA maximum 30480 kg each)",
            )
        )
    for n, item in enumerate(decl.items, start=1):
        if item.gross_mass_kg > MAX_GROSS_PER_CONTAINER_KG * item.packages:
            reasons.append(
                Reason("E230", f"item {n}: over 30480 kg per package is not plausible", item=n)
            )
    ports = {"export": decl.port_of_loading, "import": decl.port_of_discharge}
    port = ports[decl.procedure]
    if ids.locode(port).country != "CN":
        reasons.append(
            Reason("E320", f"an {decl.procedure} declaration needs a Chinese port, got {port}")
        )
    if ids.locode(decl.customs_office).country != "CN":
        reasons.append(Reason("E320", f"customs office {decl.customs_office} is not Chinese"))
    return reasons


def assess(decl: Declaration) -> tuple[str, tuple[Reason, ...]]:
    """Decide on a well-formed declaration: ``(status, reasons)``.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from quaykey.logistics.edifact.examples import sample_declaration
    >>> decl = sample_declaration()
    >>> assess(decl)
    ('release', ())
    >>> item = replace(decl.items[0], hs_code="2846901000", description="Cerium oxide")
    >>> status, reasons = assess(replace(decl, items=(item,)))
    >>> status, reasons[0].code, reasons[0].item
    ('hold', 'H100', 1)
    """
    rejects = _plausibility(decl)
    if rejects:
        return "reject", tuple(rejects)
    holds = []
    for n, item in enumerate(decl.items, start=1):
        entry = ids.hs_info(item.hs_code)
        for rule in HOLD_RULES:
            if entry is not None and entry.protection_class == rule.protection_class:
                holds.append(
                    Reason(rule.code, f"HS {item.hs_code} ({entry.description[:60]}): "
                           f"{rule.action}", "CST", None, n)
                )  # fmt: skip
    return ("hold", tuple(holds)) if holds else ("release", ())


def _envelope(segments: list[RawSegment]) -> tuple[str, str, str]:
    """(declaration reference, declarant's UNB sender, control reference), best effort."""
    reference, sender, control = "UNKNOWN", "DECLARANT", "1"
    for s in segments:
        if s.tag == "UNB":
            sender = _clean(s.element(1, 0), 35) if s.element(1, 0) else sender
            ctrl = s.element(4)
            control = ctrl if ctrl.isalnum() and len(ctrl) <= 14 else control
        if s.tag == "BGM" and s.element(1):
            reference = _clean(s.element(1), 35)
            break
    return reference, sender, control


def decide(data: bytes | str, *, now: datetime | None = None) -> bytes:
    """Answer a CUSDEC interchange with a CUSRES interchange (release, hold or reject).

    Parameters
    ----------
    data : bytes or str
        The declaration as received.
    now : datetime, optional
        Decision time (default: the current UTC time, naive).

    Returns
    -------
    bytes
        A valid CUSRES interchange. Bad input yields a rejection with coded reasons.
    """
    issued = now or datetime.now(UTC).replace(tzinfo=None)
    reasons: tuple[Reason, ...]
    try:  # the interchange is parsed once; validation and the typed reader share it
        segments = read_segments(data)
    except ValueError as exc:
        segments, report = [], ValidationReport(None, 0, [Problem("E300", str(exc))])
    else:
        report = inspect_segments(segments)
    reference, declarant, control = _envelope(segments)
    if report.message_type not in (None, "CUSDEC"):
        status = "reject"
        reasons = (Reason("E310", f"expected a CUSDEC, got {_clean(report.message_type)}"),)
    elif report.problems:
        status, reasons = "reject", tuple(_reason(p) for p in report.problems)
    else:
        try:
            status, reasons = assess(parse_cusdec(data, segments=segments))
        except (ValueError, TypeError) as exc:
            status, reasons = "reject", (Reason("E320", _clean(str(exc))),)
    response = Response(
        reference=_clean(f"R{reference}", 35),
        declaration_reference=reference,
        status=status,
        issued=issued,
        reasons=reasons[:_MAX_REASONS],
    )
    return build_cusres(response, recipient=declarant, control_ref=control)
