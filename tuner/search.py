"""Step 1 of compound scaling as a KerasTuner search: each trial trains the phi=1 model of one
feasible (alpha, beta, gamma) with the project's one training recipe (`effnet_keras.training`).

A project directory holds KerasTuner's files (oracle.json, trial_*/trial.json), `base.json`
(the base config at the base resolution) and one training run directory per trial execution
(trial_*/run-0, ...), so an interrupted trial resumes its own run from the last epoch.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import keras_tuner

from effnet_keras.builder import build_model
from effnet_keras.configs import load_config
from effnet_keras.flops import count_macs
from effnet_keras.scaling import compound_scale, cost_ratio, override
from effnet_keras.settings import TrainSettings
from effnet_keras.training import train
from tuner.oracle import CompoundScalingOracle
from tuner.space import SearchSpace

OBJECTIVES = ("accuracy", "score")


def base_config(base: str, resolution: int | None) -> dict:
    """The base variant/config at the base resolution (pixels), before any scaling."""
    config = load_config(base)
    return override(config, resolution=resolution) if resolution else config


def scaled_macs(base: dict, point: tuple, phi: float, num_classes: int) -> int:
    """Counted MACs of the base scaled by phi steps of `point` (built, at its scaled resolution)."""
    config = compound_scale(*point, phi=phi, base=base) if phi else base
    return count_macs(build_model(config, num_classes=num_classes))


class ScalingTuner(keras_tuner.Tuner):
    """Runs a trial as `executions` training runs of the phi=1 model; returns the metrics.

    Reported per trial: val_accuracy (best epoch, mean over executions), score (MnasNet-style
    val_accuracy * (measured_ratio / target)^weight), best_train_accuracy, macs, params,
    formula_ratio, measured_ratio (MACs over the base's), step_ms.
    """

    def __init__(self, oracle: CompoundScalingOracle, settings: TrainSettings, base: dict, base_macs: int,
                 executions: int = 1, score_weight: float = -0.07, **kwargs):
        self.space, self.points = oracle.space, oracle.points  # the oracle may become a remote client
        super().__init__(oracle=oracle, overwrite=False, **kwargs)
        self.settings, self.base, self.base_macs = settings, base, base_macs
        self.executions, self.score_weight = executions, score_weight

    def run_trial(self, trial, *args, **kwargs) -> dict[str, float]:
        values = trial.hyperparameters.values
        point = (values["alpha"], values["beta"], values["gamma"])
        trial_dir = Path(self.get_trial_dir(trial.trial_id))
        base_file = trial_dir / "base.json"
        base_file.write_text(json.dumps(self.base))
        runs = []
        for execution in range(self.executions):
            settings = dataclasses.replace(self.settings, model=str(base_file), base=str(base_file), alpha=point[0],
                                           beta=point[1], gamma=point[2], phi=1.0, seed=self.settings.seed + execution,
                                           output_dir=str(trial_dir / f"run-{execution}"), restart=False)
            runs.append(train(settings))
        measured = runs[0]["macs"] / self.base_macs
        val = sum(r["best_val_accuracy"] for r in runs) / len(runs)
        return {
            "val_accuracy": val,
            "score": val * (measured / self.space.target) ** self.score_weight,
            "best_train_accuracy": sum(r["best_train_accuracy"] for r in runs) / len(runs),
            "macs": float(runs[0]["macs"]),
            "params": float(runs[0]["params"]),
            "formula_ratio": cost_ratio(*point),
            "measured_ratio": measured,
            "step_ms": sum(r["mean_step_ms"] for r in runs) / len(runs),
        }


def make_tuner(space: SearchSpace, settings: TrainSettings, base: str, *, directory: str, project_name: str,
               objective: str = "accuracy", max_trials: int | None = None, executions: int = 1,
               score_weight: float = -0.07, num_classes: int = 10) -> ScalingTuner:
    """Build the oracle (feasible points, measured ones counted once) and the tuner, reloading an
    existing project directory (resume) when there is one."""
    base_cfg = base_config(base, settings.resolution)
    base_macs = scaled_macs(base_cfg, (1.0, 1.0, 1.0), 0, num_classes)
    points = space.feasible(lambda p: scaled_macs(base_cfg, p, 1, num_classes) / base_macs)
    name = "val_accuracy" if objective == "accuracy" else "score"
    oracle = CompoundScalingOracle(space, points, objective=keras_tuner.Objective(name, "max"),
                                   max_trials=max_trials, seed=settings.seed)
    settings = dataclasses.replace(settings, resolution=None)  # the base config already carries it
    return ScalingTuner(oracle, settings, base_cfg, base_macs, executions=executions, score_weight=score_weight,
                        directory=directory, project_name=project_name)


def read_trials(project_dir: str | Path) -> list[dict[str, Any]]:
    """Completed trials of a project directory as flat dicts (values and last metric values)."""
    rows = []
    for path in sorted(Path(project_dir).glob("trial_*/trial.json")):
        trial = json.loads(path.read_text())
        if trial.get("status") != "COMPLETED":
            continue
        metrics = {name: m["observations"][-1]["value"][0]
                   for name, m in trial["metrics"]["metrics"].items() if m["observations"]}
        rows.append({"trial_id": trial["trial_id"], **trial["hyperparameters"]["values"], **metrics,
                     "score_value": trial.get("score")})
    return rows


def objective_name(project_dir: str | Path) -> str:
    """The metric a project maximises, read from its oracle.json."""
    oracle = json.loads((Path(project_dir) / "oracle.json").read_text())
    objective = oracle.get("objective", {})
    return objective.get("name", "val_accuracy") if isinstance(objective, dict) else "val_accuracy"
