"""A run directory: atomic files, choosing/resuming the directory, and the per-epoch recorder."""

from __future__ import annotations

import csv
import glob
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from effnet_keras.plots import plot_curves
from effnet_keras.settings import ModelPlan, TrainSettings, UsageError

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds",
                   "images_per_second", "step_ms")


class RunDir:
    """Paths and atomic writes of one run directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.state_file = self.path / "state.json"

    def prepare(self) -> None:
        try:
            self.checkpoints.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as e:
            raise UsageError(f"Output directory {self.path} is not writable ({e.strerror}); pass a writable "
                             "--output-dir.") from None

    def write_json(self, name: str, data: Any) -> None:
        tmp = self.path / f".{name}.tmp"
        tmp.write_text(json.dumps(data, indent=2, default=str))
        os.replace(tmp, self.path / name)

    def read_state(self) -> dict | None:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def write_history(self, rows: list[dict]) -> None:
        tmp = self.path / ".history.csv.tmp"
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=HISTORY_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.path / "history.csv")


def choose_run_dir(s: TrainSettings, plan: ModelPlan) -> RunDir:
    """--output-dir, or the unfinished/finished run of the same settings, or a new timestamped one."""
    if s.output_dir:
        return RunDir(s.output_dir)
    pattern = os.path.join(s.runs_root, f"{plan.name}-{s.dataset}-*", "state.json")
    for state_path in sorted(glob.glob(pattern), reverse=True):
        run = RunDir(Path(state_path).parent)
        state = run.read_state()
        if state and state.get("fingerprint") == s.fingerprint() and not s.restart:
            return run
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return RunDir(Path(s.runs_root) / f"{plan.name}-{s.dataset}-{stamp}")


class RunRecorder(keras.callbacks.Callback):
    """After every epoch: history row, best model.keras, weights+optimizer checkpoint, state.json.

    Files are replaced atomically and the checkpoint is written before the state that points to
    it, so a kill at any moment leaves the last completed epoch resumable. A non-finite epoch
    loss stops training without saving anything from that epoch.
    """

    def __init__(self, run: RunDir, state: dict, classifier: keras.Model, serving: keras.Model,
                 images_per_step: int, steps: int, plot_title: str):
        super().__init__()
        self.run, self.state, self.classifier, self.serving = run, state, classifier, serving
        self.images_per_step, self.steps, self.plot_title = images_per_step, steps, plot_title
        self.diverged_epoch: int | None = None
        self._start = self._val_start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._val_start = time.perf_counter(), None

    def on_test_begin(self, logs=None):
        if self._val_start is None:
            self._val_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if not all(math.isfinite(float(logs.get(k, 0.0))) for k in ("loss", "val_loss")):
            self.diverged_epoch = epoch + 1
            self.model.stop_training = True
            return
        end = time.perf_counter()
        train_seconds = (self._val_start or end) - self._start
        row = {"epoch": epoch + 1, **{k: float(logs[k]) for k in HISTORY_COLUMNS[1:5] if k in logs},
               "lr": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
               "epoch_seconds": end - self._start,
               "images_per_second": self.steps * self.images_per_step / train_seconds,
               "step_ms": 1000 * train_seconds / self.steps}
        if row.get("val_accuracy", -1.0) > self.state["best_val_accuracy"]:
            self.state.update(best_val_accuracy=row["val_accuracy"], best_epoch=row["epoch"])
            tmp = self.run.path / ".model.tmp.keras"
            self.serving.save(tmp)
            os.replace(tmp, self.run.path / "model.keras")
        checkpoint = save_checkpoint(self.run.checkpoints, epoch + 1, self.classifier, self.model.optimizer)
        self.state["rows"].append(row)
        self.state.update(epochs_done=epoch + 1, checkpoint=checkpoint)
        self.run.write_json("state.json", self.state)
        self.run.write_history(self.state["rows"])
        plot_curves(self.state["rows"], self.run.path / "curves.png", self.plot_title)
        for old in self.run.checkpoints.glob("epoch-*"):
            if not old.name.startswith(checkpoint + "."):
                old.unlink()


def save_checkpoint(folder: Path, epoch: int, classifier: keras.Model, optimizer) -> str:
    """Write `epoch-NNNN.weights.h5` (model) and `epoch-NNNN.optimizer.npz` (optimizer state, incl.
    the step counter that drives the schedule); return the checkpoint's stem."""
    stem = f"epoch-{epoch:04d}"
    tmp = folder / ".tmp.weights.h5"
    classifier.save_weights(tmp)
    os.replace(tmp, folder / f"{stem}.weights.h5")
    store: dict[str, Any] = {}
    optimizer.save_own_variables(store)
    with open(folder / ".tmp.optimizer.npz", "wb") as f:
        np.savez(f, **store)
    os.replace(folder / ".tmp.optimizer.npz", folder / f"{stem}.optimizer.npz")
    return stem


def load_checkpoint(folder: Path, stem: str, classifier: keras.Model, optimizer) -> None:
    """Restore what `save_checkpoint` wrote into a built classifier and its (unbuilt) optimizer."""
    classifier.load_weights(folder / f"{stem}.weights.h5")
    optimizer.build(classifier.trainable_variables)
    with np.load(folder / f"{stem}.optimizer.npz") as store:
        optimizer.load_own_variables(dict(store))


