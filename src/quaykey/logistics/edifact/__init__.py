"""UN/EDIFACT for the port and customs applications.

Reading and writing use pydifact; the segment-order validator and the typed models are
ours. Public API:

* :func:`validate` (bytes → list of :class:`Problem`), :func:`inspect` (→ report with
  message type and segment count);
* customs: :func:`build_cusdec` / :func:`parse_cusdec` (:class:`Declaration`),
  :func:`build_cusres` / :func:`parse_cusres` (:class:`Response`);
* bay plan: :func:`build_baplie` / :func:`parse_baplie` (:class:`BayPlan`); COPRAR,
  COARRI and CODECO live in :mod:`quaykey.logistics.terminal`;
* :func:`example` — a valid sample of each type.

Examples
--------
>>> from quaykey.logistics.edifact import example, inspect
>>> report = inspect(example("CUSDEC"))
>>> report.message_type, report.ok
('CUSDEC', True)
"""

from __future__ import annotations

from quaykey.logistics.edifact.baplie import BayPlan, Slot, build_baplie, parse_baplie
from quaykey.logistics.edifact.common import Party, Vessel
from quaykey.logistics.edifact.cusdec import Declaration, GoodsItem, build_cusdec, parse_cusdec
from quaykey.logistics.edifact.cusres import Reason, Response, build_cusres, parse_cusres
from quaykey.logistics.edifact.examples import EXAMPLE_TYPES, example
from quaykey.logistics.edifact.reader import InvalidInterchangeError
from quaykey.logistics.edifact.structure import Problem
from quaykey.logistics.edifact.validate import PROBLEM_CODES, ValidationReport, inspect, validate

__all__ = [
    "EXAMPLE_TYPES",
    "PROBLEM_CODES",
    "BayPlan",
    "Declaration",
    "GoodsItem",
    "InvalidInterchangeError",
    "Party",
    "Problem",
    "Reason",
    "Response",
    "Slot",
    "ValidationReport",
    "Vessel",
    "build_baplie",
    "build_cusdec",
    "build_cusres",
    "example",
    "inspect",
    "parse_baplie",
    "parse_cusdec",
    "parse_cusres",
    "validate",
]
