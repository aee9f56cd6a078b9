"""The measured constraint surface of the Bayesian search: points whose counted cost ratio (the
phi=1 model's MACs over the base's) is within `tolerance` of the target.

Counted cost is a step function of the rounded model: alpha acts through each stage's repeats
(rounded up), beta through channels (multiples of 8) and gamma through whole pixels. It cannot be
solved for a coordinate in closed form, but it never falls when a coefficient grows, so the
solving is done by bisection. A proposal (depth_fraction, beta_fraction), both in [0, 1], decodes as:

1. depth_fraction -> one of the depths (the stages' repeats) the alpha range builds, in equal shares
   (alpha = 1 exactly is a depth of its own). Alpha is the smallest alpha of that depth on a 0.001
   lattice, so that proposals building the same network carry the same values.
2. beta_fraction -> one of the resolutions this depth can reach inside the gamma range, the largest
   at 0 and the smallest at 1 (beta rises with the fraction, as on the formula surface).
3. beta -> the smallest beta on the lattice whose ratio reaches target * (1 - tolerance).

When a channel-rounding step jumps over the band at that resolution, or the point was tried
already, the nearest other reachable resolution is taken, then the nearest other depth. Depths with
no feasible point are found when the surface is built and are skipped, so every proposal is a
measured-feasible point, and the surface is spent only when every network on it has been tried.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass

from effnet_keras.bounds import Bounds as Range  # this module's Bounds are (low, high) pairs
from effnet_keras.bounds import range_problem
from effnet_keras.tuner.bayes import Bounds, Box
from effnet_keras.tuner.space import SpaceError, point_key

LATTICE = 0.001
"""Step of the alpha and beta values the surface reports."""
Ratio = Callable[[float, float, float], float]


def lattice(bounds: Bounds) -> list[float]:
    """low, low + LATTICE, ... up to high (inclusive within 1e-9)."""
    low, high = bounds
    return [round(low + k * LATTICE, 9) for k in range(int(math.floor((high - low) / LATTICE + 1e-9)) + 1)]


def first_index(count: int, holds: Callable[[int], bool]) -> int:
    """The smallest i in [0, count) where `holds(i)`, for a `holds` that never turns false again; count if none."""
    return bisect.bisect_left(range(count), True, key=holds)


@dataclass(frozen=True)
class Depth:
    """The smallest lattice alpha that builds one depth, and the resolutions (pixels, largest first)
    whose ratios at the lowest and the highest beta enclose the band (a channel-rounding step may
    still jump over it at some of them; at one at least it does not)."""

    alpha: float
    resolutions: tuple[int, ...]


class MeasuredSurface:
    """`ratio(alpha, beta, gamma)` is the counted cost ratio, `depth(alpha)` any value that changes
    exactly when the network's depth does, `base_resolution` the base model's pixels."""

    def __init__(self, box: Box, tolerance: float, ratio: Ratio, depth: Callable[[float], Hashable],
                 base_resolution: int):
        if problem := range_problem("--tolerance", tolerance, Range(0, 1, high_open=True)):
            raise SpaceError(problem)
        self.box, self.tolerance, self._ratio, self.base_resolution = box, tolerance, ratio, base_resolution
        self.band = (box.target * (1 - tolerance), box.target * (1 + tolerance))
        self._betas: dict[tuple[float, int], float | None] = {}
        self.pixels = list(range(math.ceil(base_resolution * box.gamma[0] - 1e-9),
                                 math.floor(base_resolution * box.gamma[1] + 1e-9) + 1))
        if not self.pixels:
            raise SpaceError(f"The gamma range {box.gamma[0]:g}-{box.gamma[1]:g} holds no whole resolution of the "
                             f"{base_resolution} px base; widen it.")
        self.depths = self._feasible_depths(depth)
        if not self.depths:
            raise SpaceError(f"No network in the --grid ranges has a counted MAC ratio within {100 * tolerance:g}% "
                             f"of {box.target:g} ({self.pixels[0]}-{self.pixels[-1]} px); widen the ranges, raise "
                             "--tolerance or change --target (`benchmarks/cost_ratios.py` prints counted ratios).")

    def _cost(self, alpha: float, beta: float, pixels: int) -> float:
        return self._ratio(alpha, beta, pixels / self.base_resolution)

    def _feasible_depths(self, depth: Callable[[float], Hashable]) -> list[Depth]:
        firsts: dict[Hashable, float] = {}  # each depth's smallest alpha, in order
        for alpha in lattice(self.box.alpha):
            firsts.setdefault(depth(alpha), alpha)
        found = []
        lower, upper = self.band
        beta_low, beta_high = self.box.beta
        count = len(self.pixels)
        for alpha in firsts.values():
            if self._cost(alpha, beta_low, self.pixels[0]) > upper:
                break  # cost never falls with alpha: deeper networks are dearer still
            largest = first_index(count, lambda i: self._cost(alpha, beta_low, self.pixels[i]) > upper) - 1  # noqa: B023 (called at once)
            smallest = first_index(count, lambda i: self._cost(alpha, beta_high, self.pixels[i]) >= lower)  # noqa: B023
            reachable = tuple(self.pixels[i] for i in range(largest, smallest - 1, -1))
            if any(self._beta(alpha, pixels) is not None for pixels in reachable):
                found.append(Depth(alpha, reachable))
        return found

    def _beta(self, alpha: float, pixels: int) -> float | None:
        """The smallest lattice beta whose ratio at (alpha, pixels) is in the band; None when a rounding
        step jumps over it."""
        key = (alpha, pixels)
        if key not in self._betas:
            betas = lattice(self.box.beta)
            k = first_index(len(betas), lambda i: self._cost(alpha, betas[i], pixels) >= self.band[0])
            inside = k < len(betas) and self._cost(alpha, betas[k], pixels) <= self.band[1]
            self._betas[key] = betas[k] if inside else None
        return self._betas[key]

    def coordinates(self) -> dict[str, Bounds]:
        return {"depth_fraction": (0.0, 1.0), "beta_fraction": (0.0, 1.0)}

    def point(self, depth_fraction: float, beta_fraction: float, tried: Collection[tuple] = ()) -> dict | None:
        """The feasible point of the proposal not in `tried`; None when none is left (module docstring)."""
        chosen_depth = min(max(int(depth_fraction * len(self.depths)), 0), len(self.depths) - 1)
        for _, depth in sorted(enumerate(self.depths), key=lambda item: abs(item[0] - chosen_depth)):
            chosen = round(min(max(beta_fraction, 0.0), 1.0) * (len(depth.resolutions) - 1))
            for _, pixels in sorted(enumerate(depth.resolutions), key=lambda item: abs(item[0] - chosen)):
                beta = self._beta(depth.alpha, pixels)
                point = {"alpha": depth.alpha, "beta": beta, "gamma": pixels / self.base_resolution}
                if beta is not None and point_key(point) not in tried:
                    return point
        return None

    def signature(self) -> dict:
        return {**self.box.signature(), "constraint": "measured", "tolerance": self.tolerance}
