"""What a campaign scenario found: figures, the expectation each is held to, and a verdict.

A :class:`Finding` is one number a security team reads ("intercept-resend on 40 % of pulses:
blocks that yielded key"), with the count behind it (blocks, trials, requests), what theory
or the invariant says it must be, and whether it held. A :class:`ScenarioResult` gathers a
scenario's findings; :class:`CampaignReport` gathers the scenarios, and is what
``quaykey campaign run --json`` prints.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CampaignReport", "Finding", "ScenarioResult"]


@dataclass(frozen=True)
class Finding:
    """One figure of a scenario.

    Attributes
    ----------
    figure
        What was counted or measured, in words.
    value
        The number (an int for counts, a float for rates and fractions).
    expected
        What theory or the invariant says, in words (e.g. ``"0"``, ``"<= 0.11"``).
    ok
        Whether the value meets the expectation.
    trials
        How many blocks, trials or requests the value is over.
    """

    figure: str
    value: float | int
    expected: str
    ok: bool
    trials: int


@dataclass
class ScenarioResult:
    """The findings of one scenario, with the settings it ran with and its wall time."""

    name: str
    title: str
    findings: list[Finding] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    skipped: str = ""

    def add(self, figure: str, value: float | int, expected: str, ok: bool, trials: int) -> Finding:
        """Record a finding and return it."""
        f = Finding(figure, value, expected, bool(ok), int(trials))
        self.findings.append(f)
        return f

    @property
    def ok(self) -> bool:
        """Whether every finding held (a skipped scenario holds nothing and is not ok)."""
        return not self.skipped and all(f.ok for f in self.findings)


@dataclass
class CampaignReport:
    """Every scenario's result, and the command that produced them."""

    size: str
    seed: int
    command: str
    scenarios: list[ScenarioResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every scenario that ran held all its findings."""
        return all(s.ok for s in self.scenarios if not s.skipped)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (no key material is ever part of a report)."""
        return {
            "size": self.size,
            "seed": self.seed,
            "command": self.command,
            "ok": self.ok,
            "scenarios": [asdict(s) | {"ok": s.ok} for s in self.scenarios],
        }
