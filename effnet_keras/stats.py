"""Statistics of repeated runs: mean, standard deviation and a t-interval per point, and paired
t-tests (Holm-corrected) of the best point against every other point.

Repeats are paired: repeat k of every point of a project uses the same seed (initialisation,
data order, subset, augmentation), so differences between points are taken repeat by repeat.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

CONFIDENCE = 0.95
TEST_NAME = "paired t-test over repeats, two-sided, Holm-corrected over the comparisons, alpha 0.05"


@dataclass(frozen=True)
class Summary:
    """n values: their mean, sample standard deviation, standard error and 95% t-interval
    (sd, se, low and high are None for n < 2: no interval can be given)."""

    n: int
    mean: float
    sd: float | None
    se: float | None
    low: float | None
    high: float | None

    def interval(self, scale: float = 1.0, digits: int = 2) -> str:
        """"LOW to HIGH" (e.g. "91.20 to 92.40" with scale 100), or "n/a (1 repeat)"."""
        if self.low is None:
            return f"n/a ({self.n} repeat)"
        return f"{scale * self.low:.{digits}f} to {scale * self.high:.{digits}f}"


def summarize(values: Sequence[float]) -> Summary:
    """Summary of `values` (at least one finite number); ValueError otherwise."""
    x = np.asarray(values, dtype=float)
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"summarize needs one or more finite values, got {list(values)}.")
    mean = float(x.mean())
    if x.size < 2:
        return Summary(1, mean, None, None, None, None)
    sd = float(x.std(ddof=1))
    se = sd / math.sqrt(x.size)
    half = float(scipy_stats.t.ppf(0.5 + CONFIDENCE / 2, x.size - 1)) * se
    return Summary(int(x.size), mean, sd, se, mean - half, mean + half)


def trend(values: Sequence[float], last: int) -> float | None:
    """Least-squares slope of the last `last` of `values` (a per-epoch curve) against their index, in
    units of `values` per step; None when there are fewer than `last` (at least 2) values."""
    if last < 2 or len(values) < last:
        return None
    return float(np.polyfit(np.arange(last), np.asarray(values[-last:], dtype=float), 1)[0])


@dataclass(frozen=True)
class Comparison:
    """The best point against one other: mean paired difference (best - other), the raw and
    Holm-adjusted two-sided p-values, and whether the difference is separable at `alpha`.
    p-values are None with fewer than 2 pairs."""

    other: str
    n: int
    difference: float
    p: float | None
    p_holm: float | None
    separable: bool


def paired_p(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided p-value of a paired t-test of `a` against `b` (same length); None for fewer than 2
    pairs. Identical differences (zero spread) give 0 when they are not all zero, else 1."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.size < 2:
        return None
    if np.allclose(d, d[0]):
        return 1.0 if np.isclose(d[0], 0.0) else 0.0
    return float(scipy_stats.ttest_rel(a, b).pvalue)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (monotone, capped at 1); None entries stay None and do not
    count as comparisons."""
    known = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(known):
        running = max(running, min(1.0, (len(known) - rank) * p))
        adjusted[i] = running
    return adjusted


def compare_to_best(values: dict[str, Sequence[float]], best: str, alpha: float = 0.05) -> list[Comparison]:
    """Paired comparisons of point `best` against every other key of `values` (label -> per-repeat
    values, repeat k at index k), over the repeats both have; Holm-corrected."""
    others = [k for k in values if k != best]
    pairs = {k: min(len(values[best]), len(values[k])) for k in others}
    raw = [paired_p(values[best][:pairs[k]], values[k][:pairs[k]]) for k in others]
    adjusted = holm(raw)
    return [Comparison(k, pairs[k], float(np.mean(np.subtract(values[best][:pairs[k]], values[k][:pairs[k]]))),
                       p, q, q is not None and q < alpha) for k, p, q in zip(others, raw, adjusted)]
