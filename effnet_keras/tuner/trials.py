"""Trials that train: a KerasTuner Tuner whose every trial is one or more `training.train` runs.

A project directory (`ProjectDir`) holds KerasTuner's files (oracle state, trial records) and, per
trial, one full training run directory per execution (`RunDir.of_execution`), so an interrupted trial
resumes its own runs from their last completed epoch.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from pathlib import Path
from typing import Any

import keras_tuner

from effnet_keras import stats
from effnet_keras.data import Dataset, load_dataset
from effnet_keras.training.errors import UsageError
from effnet_keras.training.loop import train
from effnet_keras.training.rundir import RunDir
from effnet_keras.training.settings import TrainSettings
from effnet_keras.tuner.project import ProjectDir


@functools.lru_cache(maxsize=2)
def load_shared(**arguments: Any) -> Dataset:
    """`load_dataset(**arguments)` once per process for each set of arguments: every trial (and the
    command's own data check) shares it, so its arrays are made read-only."""
    data = load_dataset(**arguments)
    for array in (data.x_train, data.y_train, data.x_val, data.y_val, data.x_test, data.y_test):
        array.flags.writeable = False
    return data


class TrainingTuner(keras_tuner.Tuner):
    """Runs `executions` repeats of `settings_for(values)` per trial and reports averaged metrics
    plus `extra_metrics`; every run uses the project's one training recipe. Repeat k of every trial
    uses seed `settings.seed + k` (initialisation, data order, subset, hold-out, augmentation), so the
    points of a project are paired repeat by repeat."""

    def __init__(self, oracle: keras_tuner.Oracle, settings: TrainSettings, executions: int = 1, **kwargs):
        self.planned, self.signature = oracle.max_trials, oracle.signature  # the oracle may become a remote client
        project_dir = ProjectDir.of(kwargs["directory"], kwargs["project_name"]).path
        read_oracle_state(project_dir)  # both checked before KerasTuner reloads them
        read_trial_records(project_dir)
        super().__init__(oracle=oracle, overwrite=False, **kwargs)
        self.settings, self.executions = settings, executions

    def settings_for(self, values: dict, trial_dir: Path) -> TrainSettings:
        raise NotImplementedError

    def top_up(self) -> int:
        """Train the missing repeats of completed trials (a project resumed with a larger --repeats) and
        record their new means in trial.json, in trial order so that a promoted trial's parent comes
        first; return how many trials were topped up. Not for chief/worker searches."""
        short = [t for t in sorted(self.oracle.trials.values(), key=lambda t: t.trial_id)
                 if t.status == keras_tuner.engine.trial.TrialStatus.COMPLETED
                 and len(repeat_metrics(self.get_trial_dir(t.trial_id))) < self.executions]
        for trial in short:
            print(f"Trial {trial.trial_id}: training repeats up to {self.executions}", flush=True)
            metrics = self.run_trial(trial)
            for name, value in metrics.items():  # a new observation: reports read the last one
                trial.metrics.update(name, value, step=len(trial.metrics.get_history(name))
                                     if trial.metrics.exists(name) else 0)
            trial.score = metrics[self.oracle.objective.name]
            trial.save(str(Path(self.get_trial_dir(trial.trial_id)) / "trial.json"))
        if short:
            self.oracle.save()
        return len(short)

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


def damaged(path: Path, problem: object) -> UsageError:
    """The error for a project file that cannot be used as it is."""
    return UsageError(f"{path} is damaged ({problem}); restore it, or pass another --project-name to start a new "
                      "project; nothing was changed.")


def _read_object(path: Path) -> dict:
    """The JSON object in `path`; UsageError (`damaged`) when it is unreadable or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise damaged(path, e) from None
    if not isinstance(data, dict):
        raise damaged(path, "not an object")
    return data


def read_oracle_state(project_dir: Path) -> dict | None:
    """The oracle.json of a project (None for a new project), checked before KerasTuner reloads it;
    UsageError naming it when it is damaged."""
    path = ProjectDir(project_dir).oracle_file
    if not path.exists():
        return None
    state = _read_object(path)
    if not isinstance(state.get("project"), dict):
        raise damaged(path, "no 'project' signature of a search, study or compare")
    return state


def read_trial_records(project_dir: Path) -> list[tuple[Path, dict]]:
    """Every trial_*/trial.json of a project (none for a new one) with its path; UsageError naming the
    first one that is not a readable JSON object."""
    return [(path, _read_object(path)) for path in ProjectDir(project_dir).trial_records()]


def _trial_row(path: Path, trial: dict) -> dict[str, Any]:
    """A completed trial.json as a flat dict of its id, folder, values and last metric values;
    UsageError naming the file when these are not shaped as KerasTuner writes them."""
    try:
        metrics = {name: float(m["observations"][-1]["value"][0])
                   for name, m in trial["metrics"]["metrics"].items() if m["observations"]}
        return {"trial_id": str(trial["trial_id"]), "trial_dir": str(path.parent),
                **trial["hyperparameters"]["values"], **metrics}
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as e:
        raise damaged(path, f"its trial_id, hyperparameters or metrics are not as KerasTuner writes them: "
                            f"{type(e).__name__} {e}") from None


def repeat_metrics(trial_dir: str | Path) -> list[dict]:
    """metrics.json of each completed repeat of a trial (TRIAL_DIR/run-0, run-1, ...), in repeat order."""
    runs, i = [], 0
    while (run := RunDir.of_execution(trial_dir, i)).metrics_file.exists():
        runs.append(run.read_json(run.metrics_file))
        i += 1
    return runs


LEVELLING_EPOCHS = 5
"""How many final epochs `final_train_trend` fits a line through."""


def final_train_trend(trial_dir: str | Path, repeats: int) -> float | None:
    """How fast training accuracy still rose at the end of a trial: the least-squares slope of its last
    `LEVELLING_EPOCHS` epochs (history.csv), in points per epoch, mean over repeats 0..`repeats`-1; near
    0 once training has levelled off. None for runs shorter than that."""
    slopes = []
    for k in range(repeats):
        run = RunDir.of_execution(trial_dir, k)
        try:
            accuracy = [100 * float(row["accuracy"]) for row in run.read_history()]
        except (OSError, KeyError, TypeError, ValueError):
            raise UsageError(f"{run.history_file} is missing or damaged (no 'accuracy' number per epoch); restore "
                             "the run folder, or run the project's command again in a new --project-name.") from None
        slopes.append(stats.trend(accuracy, LEVELLING_EPOCHS))
    return None if not slopes or None in slopes else sum(slopes) / len(slopes)


def read_project(project_dir: str | Path) -> tuple[dict, list[dict[str, Any]]]:
    """(project signature, completed trials as flat dicts of values and last metric values). A trial
    whose objective is not a finite number (NaN, a diverged or edited record) is left out: it can
    never be the best."""
    project_dir = Path(project_dir)
    state = read_oracle_state(project_dir)
    if state is None:
        raise UsageError(f"{project_dir} is not a tuner project directory (no "
                         f"{ProjectDir(project_dir).oracle_file.name} of a search, study or compare); pass "
                         "DIRECTORY/PROJECT_NAME.")
    signature = state["project"]
    rows = []
    objective = signature.get("objective", "val_accuracy")
    for path, trial in read_trial_records(project_dir):
        if trial.get("status") != "COMPLETED":
            continue
        row = _trial_row(path, trial)
        if math.isfinite(row.get(objective, math.nan)):
            rows.append(row)
    return signature, rows
