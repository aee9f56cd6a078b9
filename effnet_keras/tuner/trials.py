"""Trials that train: a KerasTuner Tuner whose every trial is one or more `training.train` runs.

A project directory holds KerasTuner's files (oracle.json, trial_*/trial.json) and, per trial,
one full training run directory per execution (trial_*/run-0, ...), so an interrupted trial
resumes its own runs from their last completed epoch.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

import keras_tuner

from effnet_keras.data import Dataset, load_dataset
from effnet_keras.training.rundir import RunDir
from effnet_keras.training.settings import TrainSettings
from effnet_keras.training.loop import train


@functools.lru_cache(maxsize=2)
def load_shared(**arguments: Any) -> Dataset:
    """`load_dataset(**arguments)` once per process for each set of arguments: every trial (and the
    command's own data check) shares it, so its arrays are made read-only."""
    data = load_dataset(**arguments)
    for array in (data.x_train, data.y_train, data.x_val, data.y_val, data.x_test, data.y_test):
        array.flags.writeable = False
    return data


class TrainingTuner(keras_tuner.Tuner):
    """Runs `executions` seeds of `settings_for(values)` per trial and reports averaged metrics
    plus `extra_metrics`; every run uses the project's one training recipe."""

    def __init__(self, oracle: keras_tuner.Oracle, settings: TrainSettings, executions: int = 1, **kwargs):
        self.planned, self.signature = oracle.max_trials, oracle.signature  # the oracle may become a remote client
        read_trial_records(Path(kwargs["directory"]) / kwargs["project_name"])  # before KerasTuner reloads them
        super().__init__(oracle=oracle, overwrite=False, **kwargs)
        self.settings, self.executions = settings, executions

    def settings_for(self, values: dict, trial_dir: Path) -> TrainSettings:
        raise NotImplementedError

    def extra_metrics(self, values: dict, runs: list[dict], trial_dir: Path) -> dict[str, float]:
        return {}

    def run_trial(self, trial, *args, **kwargs) -> dict[str, float]:
        """Train the trial's runs; a trial that continues another (`tuner/trial_id`, successive
        halving) starts from copies of that trial's runs and trains them to `tuner/epochs`."""
        values = trial.hyperparameters.values
        trial_dir = Path(self.get_trial_dir(trial.trial_id))
        settings = dataclasses.replace(self.settings_for(values, trial_dir), stop_epoch=values.get("tuner/epochs"),
                                       restart=False)
        runs = []
        for i in range(self.executions):
            run = RunDir.of_execution(trial_dir, i)
            if values.get("tuner/trial_id") is not None:
                RunDir.of_execution(self.get_trial_dir(values["tuner/trial_id"]), i).copy_to(run.path)
            runs.append(train(dataclasses.replace(settings, seed=settings.seed + i, output_dir=str(run.path)),
                              load=load_shared))

        def mean(key):
            return float(sum(r[key] for r in runs) / len(runs))

        return {"val_accuracy": mean("best_val_accuracy"), "best_train_accuracy": mean("best_train_accuracy"),
                "test_accuracy": mean("test_accuracy"), "macs": float(runs[0]["macs"]),
                "params": float(runs[0]["params"]), "step_ms": mean("mean_step_ms"),
                "images_per_second": mean("images_per_second"),
                "epoch_seconds": mean("train_wall_seconds") / max(1, runs[0]["epochs"]),
                "epochs": float(runs[0]["epochs"]), "trained_epochs": float(sum(
                    r["epochs"] - values.get("tuner/initial_epoch", 0) for r in runs)),
                **self.extra_metrics(values, runs, trial_dir)}


def read_trial_records(project_dir: Path) -> list[tuple[Path, dict]]:
    """Every trial_*/trial.json of a project (none for a new one) with its path; ValueError naming the
    first one that is not a readable JSON object."""
    records = []
    for path in sorted(project_dir.glob("trial_*/trial.json")):
        try:
            trial = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            trial = e
        if not isinstance(trial, dict):
            raise ValueError(f"{path} is damaged ({trial if isinstance(trial, Exception) else 'not an object'}); "
                             "restore it, or pass another --project-name to start a new project; nothing was "
                             "changed.")
        records.append((path, trial))
    return records


def read_project(project_dir: str | Path) -> tuple[dict, list[dict[str, Any]]]:
    """(project signature, completed trials as flat dicts of values and last metric values)."""
    project_dir = Path(project_dir)
    try:
        signature = json.loads((project_dir / "oracle.json").read_text())["project"]
    except (OSError, KeyError, json.JSONDecodeError):
        raise ValueError(f"{project_dir} is not a tuner project directory (no oracle.json of a search, study or "
                         "compare); pass DIRECTORY/PROJECT_NAME.") from None
    rows = []
    for path, trial in read_trial_records(project_dir):
        if trial.get("status") != "COMPLETED":
            continue
        metrics = {name: m["observations"][-1]["value"][0]
                   for name, m in trial["metrics"]["metrics"].items() if m["observations"]}
        rows.append({"trial_id": trial["trial_id"], "trial_dir": str(path.parent),
                     **trial["hyperparameters"]["values"], **metrics})
    return signature, rows
