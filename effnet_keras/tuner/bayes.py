"""Bayesian search on the constraint surface alpha * beta^2 * gamma^2 = N itself.

A proposal is two numbers in a box: alpha, and `beta_fraction` in [0, 1], the position of beta in
the interval of betas for which gamma = sqrt(N / (alpha * beta^2)) lies in its range. So every
(alpha, beta_fraction) of the box is a point with alpha, beta, gamma in their ranges and a
formula cost of exactly N: no proposal is infeasible and none is wasted. (`measured` decodes the
same two numbers onto the counted-MAC surface.) The model is KerasTuner's
BayesianOptimizationOracle (scikit-learn's Gaussian process, Matern 5/2, upper confidence bound).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

import keras_tuner

from effnet_keras.bounds import Bounds as Range  # this module's Bounds are (low, high) pairs
from effnet_keras.bounds import range_problem
from effnet_keras.tuner.oracle import check_signature
from effnet_keras.tuner.space import SpaceError, point_key

Bounds = tuple[float, float]


@dataclass(frozen=True)
class Box:
    """The ranges (low, high) of alpha, beta, gamma, all >= 1, and the cost multiple `target` > 1."""

    alpha: Bounds
    beta: Bounds
    gamma: Bounds
    target: float = 2.0

    def __post_init__(self):
        for name, (low, high) in (("alpha", self.alpha), ("beta", self.beta), ("gamma", self.gamma)):
            if problem := (range_problem("START", low, Range(1))
                           or range_problem("STOP", high, Range(low))):
                raise SpaceError(f"{name} range ({low:g}, {high:g}) of a scaling search: {problem}")
        if problem := range_problem("--target", self.target, Range(1, low_open=True)):
            raise SpaceError(problem)

    def signature(self) -> dict:
        return {"alpha": list(self.alpha), "beta": list(self.beta), "gamma": list(self.gamma), "target": self.target}


class Proposals(Protocol):
    """A surface the oracle searches: the names and ranges of its two coordinates, and the feasible
    point (alpha, beta, gamma) of each pair of them that is not in `tried` (keys as `point_key`),
    or None when the surface has no other point."""

    def coordinates(self) -> dict[str, Bounds]: ...

    def point(self, first: float, beta_fraction: float, tried: Collection[tuple] = ()) -> dict | None: ...

    def signature(self) -> dict: ...


@dataclass(frozen=True)
class Surface(Box):
    """The points of the box with alpha * beta^2 * gamma^2 = target exactly."""

    def __post_init__(self):
        super().__post_init__()
        low, high = self.alpha_bounds()
        if low > high:
            raise SpaceError(f"No (alpha, beta, gamma) in the --grid ranges satisfies alpha*beta^2*gamma^2 = "
                             f"{self.target:g}; widen the ranges (e.g. 1.0:1.4:0.05 each) or change --target.")

    def alpha_bounds(self) -> Bounds:
        """The alphas for which some beta and gamma in range complete the constraint."""
        (b_low, b_high), (g_low, g_high) = self.beta, self.gamma
        return (max(self.alpha[0], self.target / (g_high * b_high) ** 2),
                min(self.alpha[1], self.target / (g_low * b_low) ** 2))

    def beta_bounds(self, alpha: float) -> Bounds:
        """The betas for which gamma = sqrt(target / (alpha * beta^2)) is within its range."""
        (b_low, b_high), (g_low, g_high) = self.beta, self.gamma
        root = math.sqrt(self.target / alpha)
        return (max(b_low, root / g_high), min(b_high, root / g_low))

    def coordinates(self) -> dict[str, Bounds]:
        return {"alpha": self.alpha_bounds(), "beta_fraction": (0.0, 1.0)}

    def point(self, alpha: float, beta_fraction: float, tried: Collection[tuple] = ()) -> dict | None:
        """The feasible point at (alpha, beta_fraction), both clipped into their box; None if tried
        (on a continuous surface two proposals practically never meet)."""
        alpha = min(max(alpha, self.alpha_bounds()[0]), self.alpha_bounds()[1])
        low, high = self.beta_bounds(alpha)
        beta = low + min(max(beta_fraction, 0.0), 1.0) * (high - low)
        gamma = min(max(math.sqrt(self.target / (alpha * beta ** 2)), self.gamma[0]), self.gamma[1])
        point = {"alpha": alpha, "beta": beta, "gamma": gamma}
        return None if point_key(point) in tried else point


def initial_points(max_trials: int) -> int:
    """Random proposals before the Gaussian process takes over: half the budget, 2 to 5."""
    return max(2, min(5, max_trials // 2))


class SurfaceOracle(keras_tuner.oracles.BayesianOptimizationOracle):
    """Bayesian optimisation over the surface's two coordinates; each trial's values also hold the
    point's alpha, beta and gamma. `signature` is saved with the state: another project's directory
    is refused."""

    def __init__(self, surface: Proposals, signature: dict, max_trials: int, objective: str = "val_accuracy",
                 seed: int | None = None):
        hp = keras_tuner.HyperParameters()
        for name, bounds in surface.coordinates().items():
            hp.Float(name, *bounds)
        super().__init__(objective=keras_tuner.Objective(objective, "max"), max_trials=max_trials,
                         num_initial_points=initial_points(max_trials), hyperparameters=hp, seed=seed,
                         allow_new_entries=False, tune_new_entries=False, max_consecutive_failed_trials=1)
        self.surface = surface
        self.signature = {**signature, "algorithm": "bayes", "surface": surface.signature(), "objective": objective}

    def populate_space(self, trial_id: str) -> dict:
        """The Gaussian process's (or a random) proposal with its point's alpha, beta, gamma: the
        surface's nearest point not tried yet (a measured surface has one point per network). When
        every point is tried the search stops."""
        tried = {point_key(t.hyperparameters.values) for t in self.trials.values()}
        response = super().populate_space(trial_id)
        if response["status"] != keras_tuner.engine.trial.TrialStatus.RUNNING:
            return response
        values = response["values"]
        point = self.surface.point(*(values[name] for name in self.surface.coordinates()), tried=tried)
        if point is None:
            print(f"Search stopped after {len(tried)} trials: every point of the constraint surface is tried.",
                  flush=True)
            return {"status": keras_tuner.engine.trial.TrialStatus.STOPPED, "values": None}
        return {**response, "values": {**values, **point}}

    def get_state(self) -> dict:
        return {**super().get_state(), "project": self.signature}

    def set_state(self, state: dict) -> None:
        check_signature(state, self.signature)
        super().set_state(state)
