"""Bayesian search on the constraint surface alpha * beta^2 * gamma^2 = N itself.

A proposal is two numbers in a box: alpha, and `beta_fraction` in [0, 1], the position of beta in
the interval of betas for which gamma = sqrt(N / (alpha * beta^2)) lies in its range. So every
(alpha, beta_fraction) of the box is a point with alpha, beta, gamma in their ranges and a
formula cost of exactly N: no proposal is infeasible and none is wasted. The model is KerasTuner's
BayesianOptimizationOracle (scikit-learn's Gaussian process, Matern 5/2, upper confidence bound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras_tuner

from effnet_keras.tuner.oracle import check_signature
from effnet_keras.tuner.space import SpaceError

Bounds = tuple[float, float]


@dataclass(frozen=True)
class Surface:
    """alpha, beta, gamma >= 1 within `alpha`, `beta`, `gamma` (low, high) and alpha * beta^2 * gamma^2 = target."""

    alpha: Bounds
    beta: Bounds
    gamma: Bounds
    target: float = 2.0

    def __post_init__(self):
        for name, (low, high) in (("alpha", self.alpha), ("beta", self.beta), ("gamma", self.gamma)):
            if not (math.isfinite(low) and math.isfinite(high) and 1 <= low <= high):
                raise SpaceError(f"{name} range ({low:g}, {high:g}): need 1 <= START <= STOP for a scaling search.")
        if not self.target > 1 or not math.isfinite(self.target):
            raise SpaceError(f"--target must be a number > 1 for a Bayesian search, got {self.target}.")
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
        return (max(b_low, math.sqrt(self.target / alpha) / g_high), min(b_high, math.sqrt(self.target / alpha) / g_low))

    def point(self, alpha: float, beta_fraction: float) -> dict[str, float]:
        """The feasible point at (alpha, beta_fraction), both clipped into their box."""
        alpha = min(max(alpha, self.alpha_bounds()[0]), self.alpha_bounds()[1])
        low, high = self.beta_bounds(alpha)
        beta = low + min(max(beta_fraction, 0.0), 1.0) * (high - low)
        gamma = min(max(math.sqrt(self.target / (alpha * beta ** 2)), self.gamma[0]), self.gamma[1])
        return {"alpha": alpha, "beta": beta, "gamma": gamma}

    def signature(self) -> dict:
        return {"alpha": list(self.alpha), "beta": list(self.beta), "gamma": list(self.gamma), "target": self.target}


def initial_points(max_trials: int) -> int:
    """Random proposals before the Gaussian process takes over: half the budget, 2 to 5."""
    return max(2, min(5, max_trials // 2))


class SurfaceOracle(keras_tuner.oracles.BayesianOptimizationOracle):
    """Bayesian optimisation over (alpha, beta_fraction); each trial's values also hold the point's
    beta and gamma. `signature` is saved with the state: another project's directory is refused."""

    def __init__(self, surface: Surface, signature: dict, max_trials: int, objective: str = "val_accuracy",
                 seed: int | None = None):
        hp = keras_tuner.HyperParameters()
        hp.Float("alpha", *surface.alpha_bounds())
        hp.Float("beta_fraction", 0.0, 1.0)
        super().__init__(objective=keras_tuner.Objective(objective, "max"), max_trials=max_trials,
                         num_initial_points=initial_points(max_trials), hyperparameters=hp, seed=seed,
                         allow_new_entries=False, tune_new_entries=False, max_consecutive_failed_trials=1)
        self.surface = surface
        self.signature = {**signature, "algorithm": "bayes", "surface": surface.signature(), "objective": objective}

    def populate_space(self, trial_id: str) -> dict:
        response = super().populate_space(trial_id)
        if response["status"] == keras_tuner.engine.trial.TrialStatus.RUNNING:
            values = response["values"]
            response["values"] = {**values, **self.surface.point(values["alpha"], values["beta_fraction"])}
        return response

    def get_state(self) -> dict:
        return {**super().get_state(), "project": self.signature}

    def set_state(self, state: dict) -> None:
        check_signature(state, self.signature)
        super().set_state(state)
