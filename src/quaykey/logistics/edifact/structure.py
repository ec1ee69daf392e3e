"""Declarative message structures and the segment-order validator.

A message type is described the way the UNTDID segment tables describe it: an ordered
list of segments and segment groups, each mandatory (M) or conditional (C) with a maximum
number of repeats; a group is entered by its first (trigger) segment, which is mandatory
in the group. :func:`check_structure` walks a message's segment tags against such a
description and reports each missing mandatory segment or group, each excess repeat and
the first segment that is out of order or not allowed.

Matching is greedy by tag, as EDIFACT's segment tables are designed to be read (ISO 9735-1
§ 7: a segment is identified by its tag and its position in the table).

Examples
--------
>>> spec = MessageSpec("DEMO", "D", "96B", (
...     Seg("BGM", True, 1),
...     Seg("DTM", False, 9),
...     Group("SG1", False, 9, (Seg("NAD", True, 1), Seg("CTA", False, 1))),
...     Seg("CNT", True, 1),
... ))
>>> [p.text for p in check_structure(spec, ["BGM", "NAD", "CTA", "NAD", "CNT"])]
[]
>>> [p.text for p in check_structure(spec, ["BGM", "NAD", "DTM", "CNT"])]
['segment DTM is out of order or not allowed here (after NAD)']
>>> [p.text for p in check_structure(spec, ["BGM", "DTM"])]
['mandatory segment CNT is missing']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Group", "MessageSpec", "Problem", "Seg", "check_structure"]


@dataclass(frozen=True)
class Seg:
    """A segment position in a segment table.

    Attributes
    ----------
    tag : str
        Three-letter segment tag.
    mandatory : bool
        Status M (True) or C (False).
    max_repeat : int
        Maximum number of consecutive occurrences.
    """

    tag: str
    mandatory: bool
    max_repeat: int


@dataclass(frozen=True)
class Group:
    """A segment group: its first child is the trigger segment.

    Attributes
    ----------
    name : str
        ``SG1``, ``SG2``... as in the directory.
    mandatory : bool
        Status of the group.
    max_repeat : int
        Maximum number of occurrences of the group.
    children : tuple of Seg or Group
        Content in table order; ``children[0]`` must be a mandatory :class:`Seg`.
    """

    name: str
    mandatory: bool
    max_repeat: int
    children: tuple[Seg | Group, ...]

    @property
    def trigger(self) -> str:
        """Tag of the segment that opens the group."""
        first = self.children[0]
        assert isinstance(first, Seg) and first.mandatory
        return first.tag


@dataclass(frozen=True)
class MessageSpec:
    """The body of a message type between UNH and UNT.

    Attributes
    ----------
    message_type : str
        ``CUSDEC``, ``BAPLIE``...
    version, release : str
        Directory version and release (``D``, ``96B``).
    body : tuple of Seg or Group
        Segment table without UNH and UNT.
    source : str
        Which directory or MIG the table follows.
    """

    message_type: str
    version: str
    release: str
    body: tuple[Seg | Group, ...]
    source: str = ""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an interchange.

    Attributes
    ----------
    code : str
        Machine-readable reason (``E100`` structure, ``E200`` container number...), the
        codes of :data:`quaykey.logistics.edifact.validate.PROBLEM_CODES`.
    text : str
        What is wrong, naming the segment or field.
    position : int or None
        1-based position of the segment in the interchange (UNB = 1, UNA not counted).
    tag : str or None
        Tag of the segment concerned.
    """

    code: str
    text: str
    position: int | None = None
    tag: str | None = None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"code": self.code, "text": self.text, "position": self.position, "tag": self.tag}


class _Walker:
    def __init__(self, tags: Sequence[str], positions: Sequence[int] | None) -> None:
        self.tags = list(tags)
        self.positions = list(positions) if positions is not None else None
        self.pos = 0
        self.problems: list[Problem] = []

    def _where(self, index: int) -> int | None:
        if self.positions is None:
            return index + 1
        if index < len(self.positions):
            return self.positions[index]
        return self.positions[-1] + 1 if self.positions else None

    def peek(self) -> str | None:
        return self.tags[self.pos] if self.pos < len(self.tags) else None

    def report(self, text: str, tag: str | None) -> None:
        self.problems.append(Problem("E100", text, self._where(self.pos), tag))

    def seq(self, nodes: Sequence[Seg | Group], context: str, tail: set[str]) -> None:
        """Match ``nodes``; ``tail`` holds the tags that may follow the whole sequence."""
        for i, node in enumerate(nodes):
            follow = _starts(nodes[i + 1 :], tail)
            if isinstance(node, Seg):
                self.seg(node, context, follow)
            else:
                self.group(node, context, follow)

    def seg(self, node: Seg, context: str, follow: set[str]) -> None:
        count = 0
        while self.peek() == node.tag:
            if count == node.max_repeat:
                if node.tag in follow:
                    break  # a later position in the table takes it
                self.report(
                    f"segment {node.tag} repeats more than {node.max_repeat} times{context}",
                    node.tag,
                )
            count += 1
            self.pos += 1
        if count == 0 and node.mandatory:
            self.report(f"mandatory segment {node.tag} is missing{context}", node.tag)

    def group(self, node: Group, context: str, follow: set[str]) -> None:
        count = 0
        while self.peek() == node.trigger:
            count += 1
            if count == node.max_repeat + 1:
                self.report(
                    f"group {node.name} repeats more than {node.max_repeat} times{context}",
                    node.trigger,
                )
            self.seq(node.children, f" in {node.name}", follow | {node.trigger})
        if count == 0 and node.mandatory:
            self.report(
                f"mandatory group {node.name} (starting with {node.trigger}) is missing{context}",
                node.trigger,
            )


def _starts(nodes: Sequence[Seg | Group], tail: set[str]) -> set[str]:
    """Tags that can come next: each following node up to the first mandatory one, and
    ``tail`` when all of them are conditional."""
    tags: set[str] = set()
    for node in nodes:
        tags.add(node.tag if isinstance(node, Seg) else node.trigger)
        if node.mandatory:
            return tags
    return tags | tail


def check_structure(
    spec: MessageSpec, tags: Sequence[str], positions: Sequence[int] | None = None
) -> list[Problem]:
    """Check a message body (tags between UNH and UNT) against its segment table.

    Parameters
    ----------
    spec : MessageSpec
        The segment table.
    tags : sequence of str
        Segment tags of the body, UNH and UNT excluded.
    positions : sequence of int, optional
        Interchange position of each tag, for the problem reports (default 1, 2, ...).

    Returns
    -------
    list of Problem
        Empty when the order, presence and repeats all conform. After the first segment
        that does not fit, the rest of the message is not checked (its position is
        reported).
    """
    walker = _Walker(tags, positions)
    walker.seq(spec.body, "", set())
    if walker.pos < len(walker.tags):
        tag = walker.tags[walker.pos]
        prev = walker.tags[walker.pos - 1] if walker.pos else "UNH"
        where = walker._where(walker.pos)
        later = set(walker.tags[walker.pos :])
        # a segment "missing" at the stray's place but present further on is not missing:
        # it is the order that is wrong, and that is reported once
        walker.problems = [
            p
            for p in walker.problems
            if not (p.position == where and "missing" in p.text and p.tag in later)
        ]
        walker.report(f"segment {tag} is out of order or not allowed here (after {prev})", tag)
    return walker.problems
