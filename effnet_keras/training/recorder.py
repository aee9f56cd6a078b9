"""The per-epoch recorder of a run: history, best model, checkpoint and state after every epoch."""

from __future__ import annotations

import math
import time

import keras

from effnet_keras.training.plots import plot_curves
from effnet_keras.training.rundir import HISTORY_COLUMNS, KEEP_CHECKPOINTS, RunDir, RunState, commit, save_checkpoint


class RunRecorder(keras.callbacks.Callback):
    """After every epoch: history row, best model.keras, weights+optimizer checkpoint, state.json.

    Files are replaced atomically and durably, the checkpoint is written before the state that
    points to it, and the last KEEP_CHECKPOINTS checkpoints are kept, so a kill at any moment
    leaves the last completed epoch resumable. Rows carry `includes_tracing`: True for the first
    epoch of each `fit` (process start or a new progressive stage), which compiles the step.
    A non-finite epoch loss stops training without saving anything from that epoch.
    """

    def __init__(self, run: RunDir, state: RunState, classifier: keras.Model, serving: keras.Model,
                 images_per_step: int, steps: int, plot_title: str):
        super().__init__()
        self.run, self.state, self.classifier, self.serving = run, state, classifier, serving
        self.images_per_step, self.steps, self.plot_title = images_per_step, steps, plot_title
        self.diverged_epoch: int | None = None
        self._start = self._val_start = 0.0
        self._first_of_fit = True

    def on_train_begin(self, logs=None):
        self._first_of_fit = True

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
               "step_ms": 1000 * train_seconds / self.steps, "includes_tracing": self._first_of_fit}
        self._first_of_fit = False
        state = self.state
        if row.get("val_accuracy", -1.0) > state.best_val_accuracy:
            state.best_val_accuracy, state.best_epoch = row["val_accuracy"], row["epoch"]
            tmp = self.run.path / ".model.tmp.keras"
            self.serving.save(tmp)
            commit(tmp, self.run.model_file)
        checkpoint = save_checkpoint(self.run.checkpoints, epoch + 1, self.classifier, self.model.optimizer)
        kept = [*state.checkpoints, checkpoint][-KEEP_CHECKPOINTS:]
        state.rows.append(row)
        state.epochs_done, state.checkpoint, state.checkpoints = epoch + 1, checkpoint["stem"], kept
        self.run.write_state(state)
        self.run.write_history(state.rows)
        plot_curves(state.rows, self.run.curves_file, self.plot_title)
        stems = {c["stem"] for c in kept}
        for old in self.run.checkpoints.glob("epoch-*"):
            if old.name.split(".")[0] not in stems:
                old.unlink()
