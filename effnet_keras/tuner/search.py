"""Step 1 of compound scaling as a KerasTuner search: each trial trains the phi=1 model of one
feasible (alpha, beta, gamma) with the project's one training recipe."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from effnet_keras.models.builder import build_model
from effnet_keras.models.configs import load_config
from effnet_keras.models.flops import count_macs
from effnet_keras.models.scaling import compound_scale, cost_ratio, override
from effnet_keras.training.settings import TrainSettings
from effnet_keras.tuner.oracle import PointsOracle
from effnet_keras.tuner.space import SearchSpace, point_dict
from effnet_keras.tuner.trials import TrainingTuner

OBJECTIVES = {"accuracy": "val_accuracy", "score": "score"}


def base_config(base: str, resolution: int | None) -> dict:
    """The base variant/config at the base resolution (pixels), before any scaling."""
    config = load_config(base)
    return override(config, resolution=resolution) if resolution else config


def model_macs(config: dict, num_classes: int) -> int:
    """Counted MACs of the model a config builds (at its resolution)."""
    return count_macs(build_model(config, num_classes=num_classes))


class ScalingTuner(TrainingTuner):
    """A trial trains base * (alpha, beta, gamma)^1. Besides the common metrics it reports
    formula_ratio, measured_ratio (MACs over the base's) and the MnasNet-style score
    val_accuracy * (measured_ratio / target)^score_weight."""

    def __init__(self, oracle: PointsOracle, settings: TrainSettings, base: dict, base_macs: int, target: float,
                 score_weight: float = -0.07, **kwargs):
        super().__init__(oracle, settings, **kwargs)
        self.base, self.base_macs, self.target, self.score_weight = base, base_macs, target, score_weight

    def settings_for(self, values: dict, trial_dir: Path) -> TrainSettings:
        return dataclasses.replace(self.settings, model=self.base, base=self.base, alpha=values["alpha"],
                                   beta=values["beta"], gamma=values["gamma"], phi=1.0)

    def extra_metrics(self, values: dict, runs: list[dict], trial_dir: Path) -> dict[str, float]:
        measured = runs[0]["macs"] / self.base_macs
        val = sum(r["best_val_accuracy"] for r in runs) / len(runs)
        return {"formula_ratio": cost_ratio(values["alpha"], values["beta"], values["gamma"]),
                "measured_ratio": measured, "score": val * (measured / self.target) ** self.score_weight}


def make_search(space: SearchSpace, settings: TrainSettings, base: str, *, directory: str, project_name: str,
                objective: str = "accuracy", max_trials: int | None = None, executions: int = 1,
                score_weight: float = -0.07, num_classes: int = 10) -> ScalingTuner:
    """Build the oracle over the feasible points (measured ones counted once) and the tuner,
    reloading an existing project directory (resume) when there is one."""
    base_cfg = base_config(base, settings.resolution)
    base_macs = model_macs(base_cfg, num_classes)
    points = space.feasible(lambda p: model_macs(compound_scale(*p, phi=1, base=base_cfg), num_classes) / base_macs)
    oracle = PointsOracle([point_dict(p) for p in points], {"kind": "search", **space.signature()},
                          objective=OBJECTIVES[objective], max_trials=max_trials, seed=settings.seed)
    settings = dataclasses.replace(settings, resolution=None)  # the base config already carries it
    return ScalingTuner(oracle, settings, base_cfg, base_macs, space.target, score_weight=score_weight,
                        executions=executions, directory=directory, project_name=project_name)
