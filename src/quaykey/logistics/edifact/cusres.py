"""CUSRES (customs response, UNTDID D.96B): typed model, builder, parser.

Segments written::

    BGM+962+<response reference>+9
    DTM+137:<issued>:203
    GIS+<REL | HLD | REJ>::ZZZ            decision (processing indicator, profile codes)
    RFF+ABT:<declaration reference>       the declaration answered
    ERP+<1 | 2:item>+<tag>:<position>     one error point per reason ...
    ERC+<reason code>::ZZZ                ... its application error code (mutually defined)
    FTX+AAO+++<text>                      ... and its free-text description

Reason codes are :data:`quaykey.logistics.edifact.validate.PROBLEM_CODES` for message
problems and the hold codes of :mod:`quaykey.logistics.customs`.

Examples
--------
>>> from datetime import datetime
>>> r = Response("R-1", "DEC-1", "hold", datetime(2026, 1, 5, 10, 0),
...              (Reason("H100", "rare-earth goods need inspection", item=1),))
>>> parse_cusres(build_cusres(r)) == r
True
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from quaykey.logistics.edifact.common import dtm, first, minute, parse_dtm, split_groups, text
from quaykey.logistics.edifact.envelope import RawSegment, Segment, seg, write_interchange
from quaykey.logistics.edifact.reader import message_body

__all__ = ["STATUS_CODES", "Reason", "Response", "build_cusres", "parse_cusres"]

STATUS_CODES = {"release": "REL", "hold": "HLD", "reject": "REJ"}
_FTX_CHUNK = 70  # FTX C108: up to five 4440 components of an..70


@dataclass(frozen=True)
class Reason:
    """Why customs held or rejected a declaration (one ERP-ERC-FTX group).

    Attributes
    ----------
    code : str
        Application error code (an..8), e.g. ``E200`` or ``H100``.
    text : str
        Description (1 to 350 characters).
    tag : str or None
        Tag of the segment in error.
    position : int or None
        Interchange position of that segment.
    item : int or None
        Goods item number concerned.
    """

    code: str
    text: str
    tag: str | None = None
    position: int | None = None
    item: int | None = None

    def __post_init__(self) -> None:
        text(self.code, "reason code", 8)
        text(self.text, "reason text", 5 * _FTX_CHUNK)


@dataclass(frozen=True)
class Response:
    """A customs decision on one declaration.

    Attributes
    ----------
    reference : str
        Customs' response number (an..35).
    declaration_reference : str
        The declaration's reference (an..35), or ``UNKNOWN`` when unreadable.
    status : str
        ``release``, ``hold`` or ``reject``.
    issued : datetime
        Date/time of the decision (minute resolution).
    reasons : tuple of Reason
        Empty for a release; at least one for hold and reject.
    """

    reference: str
    declaration_reference: str
    status: str
    issued: datetime
    reasons: tuple[Reason, ...] = ()

    def __post_init__(self) -> None:
        text(self.reference, "response reference", 35)
        text(self.declaration_reference, "declaration reference", 35)
        if self.status not in STATUS_CODES:
            raise ValueError(f"status must be release, hold or reject, got {self.status!r}")
        if self.status != "release" and not self.reasons:
            raise ValueError(f"a {self.status} response needs at least one reason")
        object.__setattr__(self, "issued", minute(self.issued))
        object.__setattr__(self, "reasons", tuple(self.reasons))


def _reason_segments(reason: Reason) -> list[Segment]:
    point = ["2", str(reason.item)] if reason.item is not None else ["1"]
    where = [reason.tag or "", str(reason.position) if reason.position is not None else ""]
    chunks = [reason.text[i : i + _FTX_CHUNK] for i in range(0, len(reason.text), _FTX_CHUNK)]
    return [
        seg("ERP", point, where),
        seg("ERC", [reason.code, "", "ZZZ"]),
        seg("FTX", "AAO", "", "", chunks if len(chunks) > 1 else chunks[0]),
    ]


def build_cusres(
    response: Response, *, sender: str = "CNCUSTOMS", recipient: str = "DECLARANT",
    control_ref: str = "1",
) -> bytes:  # fmt: skip
    """Serialise a customs response as a CUSRES interchange."""
    body = [
        seg("BGM", "962", response.reference, "9"),
        dtm("137", response.issued),
        seg("GIS", [STATUS_CODES[response.status], "", "ZZZ"]),
        seg("RFF", ["ABT", response.declaration_reference]),
    ]
    for reason in response.reasons:
        body += _reason_segments(reason)
    return write_interchange(
        "CUSRES", "D", "96B", body, sender=sender, recipient=recipient,
        control_ref=control_ref, message_ref=control_ref, prepared=response.issued,
    )  # fmt: skip


def _parse_reason(group: list[RawSegment]) -> Reason:
    erp, erc = group[0], first(group, "ERC")
    ftx = first(group, "FTX", "AAO")
    raw = ftx.elements[3] if len(ftx.elements) > 3 else ""
    description = "".join(raw) if isinstance(raw, list) else str(raw)
    item = int(erp.element(0, 1)) if erp.element(0, 0) == "2" else None
    position = erp.element(1, 1)
    return Reason(
        code=erc.element(0, 0),
        text=description,
        tag=erp.element(1, 0) or None,
        position=int(position) if position else None,
        item=item,
    )


def parse_cusres(data: bytes | str) -> Response:
    """Read a CUSRES interchange back into a :class:`Response`.

    Raises
    ------
    ValueError
        The interchange fails validation or lacks a field of the model.
    """
    body = message_body(data, "CUSRES")
    starts = [i for i, s in enumerate(body) if s.tag == "ERP"]
    header = body[: starts[0]] if starts else body
    groups = split_groups(body, starts, len(body))
    status_code = first(header, "GIS").element(0, 0)
    status = {v: k for k, v in STATUS_CODES.items()}.get(status_code)
    if status is None:
        raise ValueError(f"GIS processing indicator {status_code!r} is not REL, HLD or REJ")
    return Response(
        reference=first(header, "BGM").element(1),
        declaration_reference=first(header, "RFF", "ABT").element(0, 1),
        status=status,
        issued=parse_dtm(first(header, "DTM", "137")),
        reasons=tuple(_parse_reason(g) for g in groups),
    )
