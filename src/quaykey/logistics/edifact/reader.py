"""Read a validated message body for the typed parsers.

Examples
--------
>>> from quaykey.logistics.edifact.examples import example
>>> [s.tag for s in message_body(example("CUSRES"), "CUSRES")][:2]
['BGM', 'DTM']
>>> message_body(example("CUSRES"), "CUSDEC")
Traceback (most recent call last):
...
ValueError: expected a CUSDEC message, got CUSRES
"""

from __future__ import annotations

from quaykey.errors import InvalidInterchangeError
from quaykey.logistics.edifact.envelope import RawSegment, read_segments
from quaykey.logistics.edifact.structure import Problem
from quaykey.logistics.edifact.validate import inspect_segments, split_messages

__all__ = ["InvalidInterchangeError", "message_body"]


def message_body(
    data: bytes | str, message_type: str, *, segments: list[RawSegment] | None = None
) -> list[RawSegment]:
    """Validate ``data`` and return the segments between UNH and UNT of its one message.

    ``segments``, when given, are ``read_segments(data)`` already parsed by the caller:
    the interchange is then not parsed again.

    Raises
    ------
    InvalidInterchangeError
        Validation found problems (a :class:`ValueError`).
    ValueError
        The interchange holds another message type, or more than one message.
    """
    if segments is None:
        try:
            segments = read_segments(data)
        except ValueError as exc:
            raise InvalidInterchangeError(message_type, [Problem("E300", str(exc))]) from None
    report = inspect_segments(segments)
    if report.message_type is not None and report.message_type != message_type:
        raise ValueError(f"expected a {message_type} message, got {report.message_type}")
    if report.problems:
        raise InvalidInterchangeError(message_type, report.problems)
    messages, _ = split_messages(segments)
    if len(messages) != 1:
        raise ValueError(f"expected one {message_type} message, got {len(messages)}")
    return messages[0][1:-1]
