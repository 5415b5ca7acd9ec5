"""The figures table `scripts/bench` prints: one row per figure, with what it is compared with,
the ratio, the issue's target and whether it is met."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

HEADER = ("figure", "measured", "baseline", "ratio", "target", "met?", "load 1m")


@dataclass
class Figure:
    name: str
    measured: str
    baseline: str = "—"
    ratio: float | None = None  # measured / baseline, where the target is a ratio
    value: float | None = None  # compared with the target when there is no ratio
    target: str = "—"
    check: Callable[[float], bool] | None = None
    load: float | None = None
    missing: str | None = None  # why it was not measured

    def met(self) -> str:
        if self.missing is not None:
            return "—"
        subject = self.ratio if self.ratio is not None else self.value
        if self.check is None or subject is None:
            return "—"
        return "yes" if self.check(subject) else "NO"

    def cells(self) -> tuple[str, ...]:
        if self.missing is not None:
            return (self.name, self.measured, f"not measured ({self.missing})", "—", self.target, "—",
                    _load(self.load))
        ratio = "—" if self.ratio is None else f"{self.ratio:.2f}×"
        return (self.name, self.measured, self.baseline, ratio, self.target, self.met(), _load(self.load))


def at_least(bound: float) -> Callable[[float], bool]:
    return lambda x: operator.ge(x, bound)


def at_most(bound: float) -> Callable[[float], bool]:
    return lambda x: operator.le(x, bound)


def _load(load: float | None) -> str:
    return "—" if load is None else f"{load:.2f}"


def render(figures: list[Figure]) -> str:
    """A Markdown table (what the README carries)."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(f.cells()) + " |" for f in figures]
    return "\n".join(lines)
