"""The one check of "a finite number in a range", for every layer (model configs, data, training
flags, tuner spaces): `Bounds` says what a value may be, `range_problem` words what is wrong with
one, and each caller raises its own error with that message. Imports nothing of effnet_keras."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Bounds:
    """Finite numbers from `low` to `high` (None: unbounded on that side); each end included unless open."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def admits(self, value: object) -> bool:
        """Whether `value` is a finite int or float (not a bool) inside the bounds."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def __str__(self) -> str:
        """e.g. "a number >= 1 and <= 10,000", "a number > 0", or "a finite number" without bounds."""
        ends = [f"{op} {end:,}" for op, end in ((">" if self.low_open else ">=", self.low),
                                                 ("<" if self.high_open else "<=", self.high)) if end is not None]
        return f"a number {' and '.join(ends)}" if ends else "a finite number"


FINITE = Bounds()
"""Any finite number."""
POSITIVE = Bounds(0, low_open=True)
"""Finite numbers > 0."""


def range_problem(name: str, value: object, bounds: Bounds) -> str | None:
    """None when `bounds` admit `value`, else the message "NAME must be BOUNDS, got VALUE."."""
    if bounds.admits(value):
        return None
    shown = repr(value) if isinstance(value, str) else value
    return f"{name} must be {bounds}, got {shown}."
