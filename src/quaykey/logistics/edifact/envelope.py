"""UN/EDIFACT interchanges on the wire: writing and reading with pydifact.

Our canonical form (EDIFACT has none; see the logistics note § 5.4): the service string
advice ``UNA:+.? '`` is always written, syntax identifier ``UNOC:3`` (ISO 8859-1), no line
breaks, one message per interchange. UNT and UNZ counts are computed by pydifact when
writing and checked by :mod:`quaykey.logistics.edifact.validate` when reading
(ISO 9735-1: UNT 0074 counts the segments of the message, UNH and UNT included; UNZ 0036
counts the messages of the interchange).

Examples
--------
>>> from datetime import datetime
>>> data = write_interchange(
...     "CUSRES", "D", "96B", [seg("BGM", "962", "R1", "9")],
...     sender="CNBJSCUS", recipient="BROKER1", control_ref="7", message_ref="1",
...     prepared=datetime(2026, 1, 5, 9, 30),
... )
>>> print(data.decode("latin-1").replace("'", "'\\n"))
UNA:+.? '
UNB+UNOC:3+CNBJSCUS+BROKER1+260105:0930+7'
UNH+1+CUSRES:D:96B:UN'
BGM+962+R1+9'
UNT+3+1'
UNZ+1+7'
<BLANKLINE>
>>> [s.tag for s in read_segments(data)]
['UNB', 'UNH', 'BGM', 'UNT', 'UNZ']
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydifact.exceptions import EDISyntaxError
from pydifact.parser import Parser
from pydifact.segmentcollection import Interchange, Message
from pydifact.segments import Segment

__all__ = ["RawSegment", "Segment", "read_segments", "seg", "write_interchange"]

ENCODING = "latin-1"  # UNOC = ISO 8859-1

Element = str | list[str]


def seg(tag: str, *elements: Element) -> Segment:
    """Build a pydifact segment, dropping trailing empty elements and components.

    Examples
    --------
    >>> seg("LOC", "9", ["CNSHA", "139", "6"], "").elements
    ['9', ['CNSHA', '139', '6']]
    """
    cleaned: list[Element] = []
    for el in elements:
        if isinstance(el, list):
            comps = list(el)
            while comps and comps[-1] == "":
                comps.pop()
            cleaned.append(comps if len(comps) > 1 else (comps[0] if comps else ""))
        else:
            cleaned.append(el)
    while cleaned and cleaned[-1] == "":
        cleaned.pop()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Segment(tag, *cleaned)


@dataclass(frozen=True)
class RawSegment:
    """A segment as read, with its interchange position.

    Attributes
    ----------
    tag : str
        Segment tag.
    elements : list
        Data elements; a composite is a list of component strings.
    position : int
        1-based position in the interchange (UNB = 1; UNA not counted).
    """

    tag: str
    elements: list[Any]
    position: int

    def element(self, index: int, component: int = 0) -> str:
        """Element ``index`` (component ``component`` if composite); '' when absent.

        Examples
        --------
        >>> RawSegment("LOC", ["9", ["CNSHA", "139", "6"]], 4).element(1, 0)
        'CNSHA'
        """
        if index >= len(self.elements):
            return ""
        value = self.elements[index]
        if isinstance(value, list):
            return str(value[component]) if component < len(value) else ""
        return str(value) if component == 0 else ""


def write_interchange(
    message_type: str,
    version: str,
    release: str,
    body: Sequence[Segment],
    *,
    sender: str,
    recipient: str,
    control_ref: str,
    message_ref: str,
    prepared: datetime,
) -> bytes:
    """Serialise one message in an interchange (UNA, UNB, UNH, body, UNT, UNZ).

    Parameters
    ----------
    message_type, version, release : str
        UNH S009 (``CUSDEC``, ``D``, ``96B``); agency is ``UN``.
    body : sequence of Segment
        Segments between UNH and UNT.
    sender, recipient : str
        UNB interchange sender and recipient identifications.
    control_ref : str
        Interchange control reference (UNB 0020 = UNZ 0020).
    message_ref : str
        Message reference number (UNH 0062 = UNT 0062).
    prepared : datetime
        UNB date and time of preparation (minutes resolution).
    """
    for name, value in (("sender", sender), ("recipient", recipient)):
        if not value or not isinstance(value, str):
            raise ValueError(f"{name} must be a non-empty string")
    for name, value in (("control_ref", control_ref), ("message_ref", message_ref)):
        if not value or len(value) > 14 or not value.isalnum():
            raise ValueError(f"{name} must be 1 to 14 letters or digits, got {value!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interchange = Interchange(
            sender=sender,
            recipient=recipient,
            control_reference=control_ref,
            syntax_identifier=("UNOC", 3),
            timestamp=prepared,
        )
        interchange.add_segment(Segment("UNA", ":+.? '"))
        message = Message(message_ref, (message_type, version, release, "UN"))
        for segment in body:
            message.add_segment(segment)
        interchange.add_message(message)
        text = interchange.serialize()
    return text.encode(ENCODING)


def read_segments(data: bytes | str) -> list[RawSegment]:
    """Parse an interchange into segments (UNA dropped), numbered from UNB = 1.

    Raises
    ------
    ValueError
        The data is empty, not ISO 8859-1 text, or not EDIFACT syntax.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode(ENCODING)
        except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes any byte
            raise ValueError(f"interchange is not ISO 8859-1 text: {exc}") from None
    else:
        text = data
    text = text.strip().replace("\r", "").replace("\n", "")
    if not text:
        raise ValueError("interchange is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = [s for s in Parser().parse(text) if s.tag != "UNA"]
    except (EDISyntaxError, IndexError, ValueError) as exc:
        raise ValueError(f"interchange is not EDIFACT syntax: {exc}") from None
    if not parsed:
        raise ValueError("interchange holds no segment")
    return [RawSegment(s.tag, list(s.elements), i + 1) for i, s in enumerate(parsed)]
