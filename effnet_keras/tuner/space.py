"""The compound-scaling search space: (alpha, beta, gamma) points under a cost constraint.

Step 1 of compound scaling searches alpha, beta, gamma >= 1 with alpha * beta^2 * gamma^2 ~= N
(N = `target`, 2 in the paper). A point is feasible when its cost ratio is within `tolerance`
(relative) of the target. The ratio is the formula's; with `constraint="measured"`, the
counted MACs of the phi=1 model over the base model's (channel and repeat rounding move it); with
`constraint="step-time"`, its measured training step time over the base's (see `steptime`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from effnet_keras.bounds import FINITE, POSITIVE, Bounds, range_problem
from effnet_keras.errors import EffnetError
from effnet_keras.models.scaling import cost_ratio

Point = tuple[float, float, float]
PointKey = tuple[float | str, ...]
COEFFICIENTS = ("alpha", "beta", "gamma")
KEY_DECIMALS = 9
"""Decimals a point's numbers are rounded to in its key: the same point reached by other arithmetic
(a grid step, a solved gamma, a JSON round trip) has the same key."""
SEED_CANDIDATES: tuple[Point, ...] = ((1.2, 1.1, 1.15), (1.2, 1.15, 1.1), (1.3, 1.05, 1.15), (1.3, 1.15, 1.05),
                                      (1.15, 1.1, 1.2), (1.1, 1.2, 1.15))
"""The seed study's six points, in its order (its 10-class grid search on CIFAR-10)."""
DEFAULT_RANGE = "1.0:1.4:0.05"
MAX_GRID_POINTS = 1_000_000
"""Grid points the three ranges may span together before feasibility screening."""
CONSTRAINTS = ("formula", "measured", "step-time")


class SpaceError(EffnetError, ValueError):
    """A malformed or empty search space; the message says how to fix it (exit code 2)."""

    exit_code = 2


def point_key(values: Mapping[str, float | str] | Sequence[float], names: Sequence[str] = COEFFICIENTS) -> PointKey:
    """The one identity of a search point, for every oracle and cache of the tuner: the values of
    `names` in that order (a sequence of values is taken in `names`' order), numbers rounded to
    KEY_DECIMALS, strings as they are. Keys of trials' values ignore every other entry (`tuner/...`).

    >>> point_key({"alpha": 1.2000000000000002, "beta": 1.1, "gamma": 1.15, "tuner/round": 1})
    (1.2, 1.1, 1.15)
    """
    if not isinstance(values, Mapping):
        values = dict(zip(names, values))
    return tuple(v if isinstance(v, str) else round(float(v), KEY_DECIMALS) for v in (values[n] for n in names))


def parse_range(text: str, name: str) -> list[float]:
    """'START:STOP:STEP' (inclusive) -> the values, rounded to 10 decimals; a single number is one value."""
    parts = text.split(":")
    try:
        numbers = [float(p) for p in parts]
        if not all(FINITE.admits(n) for n in numbers):
            raise ValueError
    except ValueError:
        raise SpaceError(f"{name} range {text!r} is malformed; use START:STOP:STEP, e.g. {DEFAULT_RANGE}.") from None
    if len(numbers) == 1:
        numbers = [numbers[0], numbers[0], 1.0]
    if len(numbers) != 3:
        raise SpaceError(f"{name} range {text!r} is malformed; use START:STOP:STEP, e.g. {DEFAULT_RANGE}.")
    start, stop, step = numbers
    if problem := (range_problem("START", start, POSITIVE) or range_problem("STOP", stop, Bounds(start))
                   or range_problem("STEP", step, POSITIVE)):
        raise SpaceError(f"{name} range {text!r}: {problem}")
    span = (stop - start) / step  # may overflow to inf: compared before it becomes an int
    if span + 1 > MAX_GRID_POINTS:
        raise SpaceError(f"{name} range {text!r} has over {MAX_GRID_POINTS:,} values; use a STEP of at least "
                         f"{(stop - start) / 100:g} (at most 101 values per range).")
    count = int(math.floor(span + 1e-9)) + 1
    return [round(start + i * step, 10) for i in range(count)]


def parse_candidates(text: str) -> list[Point]:
    """'a,b,g;a,b,g;...' -> points; 'seed' -> the seed study's six points."""
    if text.strip().lower() == "seed":
        return list(SEED_CANDIDATES)
    points = []
    for chunk in filter(None, (c.strip() for c in text.split(";"))):
        try:
            values = tuple(float(v) for v in chunk.split(","))
        except ValueError:
            values = ()
        if len(values) != 3 or not all(POSITIVE.admits(v) for v in values):
            raise SpaceError(f"candidate {chunk!r} is malformed; use 'alpha,beta,gamma' with positive numbers, "
                             "points separated by ';', e.g. \"1.2,1.1,1.15;1.2,1.15,1.1\" (or 'seed').")
        points.append(values)
    if not points:
        raise SpaceError("--candidates is empty; give points like \"1.2,1.1,1.15;1.2,1.15,1.1\" or 'seed'.")
    return points


@dataclass
class SearchSpace:
    """Candidate points and the constraint they must satisfy."""

    candidates: list[Point]
    target: float = 2.0
    tolerance: float = 0.05
    constraint: str = "formula"
    explicit: bool = False
    measured: dict[PointKey, float] = field(default_factory=dict)

    def signature(self) -> dict:
        """What defines the space; a project directory made with another signature is refused."""
        return {"candidates": [list(p) for p in self.candidates], "target": self.target,
                "tolerance": self.tolerance, "constraint": self.constraint}

    def ratio(self, point: Point, measure: Callable[[Point], float] | None = None) -> float:
        if self.constraint == "formula":
            return cost_ratio(*point)
        key = point_key(point)
        if key not in self.measured:
            self.measured[key] = measure(point)
        return self.measured[key]

    def feasible(self, measure: Callable[[Point], float] | None = None) -> list[Point]:
        """The feasible points in a deterministic order: candidate order, or for a grid, closest
        to the target first, then by (alpha, beta, gamma).

        With explicit candidates an infeasible one is an error naming it (nothing is silently
        dropped); an empty grid result is an error saying how to widen it.
        """
        if self.constraint not in CONSTRAINTS:
            raise SpaceError(f"--constraint {self.constraint!r}; allowed values: {', '.join(CONSTRAINTS)}.")
        if problem := (range_problem("--target", self.target, POSITIVE)
                       or range_problem("--tolerance", self.tolerance, Bounds(0))):
            raise SpaceError(problem)
        screened = self.candidates if self.explicit else [
            p for p in self.candidates
            if abs(cost_ratio(*p) / self.target - 1) <= self.tolerance + (0 if self.constraint == "formula" else 0.1)]
        scored = [(p, self.ratio(p, measure)) for p in screened]
        ok = [(p, r) for p, r in scored if abs(r / self.target - 1) <= self.tolerance]
        if self.explicit and len(ok) < len(scored):
            bad = [f"({p[0]:g}, {p[1]:g}, {p[2]:g}): ratio {r:.3f}, {100 * abs(r / self.target - 1):.1f}% off"
                   for p, r in scored if (p, r) not in ok]
            raise SpaceError(f"Candidates outside the {self.constraint} constraint {self.target:g} +/- "
                             f"{100 * self.tolerance:g}%: {'; '.join(bad)}. Raise --tolerance or drop them.")
        if not ok:
            raise SpaceError(f"No grid point satisfies alpha*beta^2*gamma^2 ~= {self.target:g} within "
                             f"{100 * self.tolerance:g}% ({self.constraint}); widen the --grid ranges or raise "
                             "--tolerance (e.g. 0.1).")
        if not self.explicit:
            ok.sort(key=lambda pr: (round(abs(pr[1] / self.target - 1), 9), pr[0]))
        return [p for p, _ in ok]


def grid_space(alpha: str, beta: str, gamma: str, **kwargs) -> SearchSpace:
    """All (alpha, beta, gamma) combinations of three 'START:STOP:STEP' ranges."""
    axes = [parse_range(text, name) for text, name in ((alpha, "alpha"), (beta, "beta"), (gamma, "gamma"))]
    if math.prod(len(axis) for axis in axes) > MAX_GRID_POINTS:
        raise SpaceError(f"--grid spans {math.prod(len(axis) for axis in axes):,} points (at most "
                         f"{MAX_GRID_POINTS:,}); use larger steps or narrower ranges, e.g. {DEFAULT_RANGE} each.")
    points = [(a, b, g) for a in axes[0] for b in axes[1] for g in axes[2]]
    return SearchSpace(points, explicit=False, **kwargs)


def candidate_space(text: str, **kwargs) -> SearchSpace:
    return SearchSpace(parse_candidates(text), explicit=True, **kwargs)


def point_dict(point: Point) -> dict:
    return dict(zip(COEFFICIENTS, point))
