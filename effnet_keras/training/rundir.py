"""A run directory: durable atomic files, its lock, the state (with a previous copy to fall back
on), checkpoints with checksums, choosing/resuming the directory, and the per-epoch recorder."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import glob
import hashlib
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import keras
import numpy as np

from effnet_keras.training.plots import plot_curves
from effnet_keras.training.settings import ModelPlan, TrainSettings, UsageError

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds",
                   "images_per_second", "step_ms")
STATE_KEYS = {"fingerprint", "epochs_done", "rows", "complete"}
KEEP_CHECKPOINTS = 2
RESTART_HINT = "Pass --restart to start this run over, or another --output-dir to keep it as it is."


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(tmp: Path, path: Path) -> None:
    """Flush `tmp` to disk and rename it to `path` durably: a crash leaves the old or the new file."""
    _fsync(tmp)
    os.replace(tmp, path)
    _fsync(path.parent)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` by `data` through a temporary file, flushed and renamed (see `commit`)."""
    tmp = path.parent / f".{path.name}.tmp"
    tmp.write_bytes(data)
    commit(tmp, path)


def _load_state(path: Path) -> dict:
    """The run state in `path`; ValueError saying why it is not usable."""
    try:
        state = json.loads(path.read_bytes())
    except OSError as e:
        raise ValueError(e.strerror or str(e)) from None
    except ValueError as e:  # truncated or garbled
        raise ValueError(f"not valid JSON: {e}") from None
    if not isinstance(state, dict) or not STATE_KEYS <= state.keys():
        raise ValueError("not a run state")
    return state


class RunDir:
    """Paths, lock and durable writes of one run directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.state_file = self.path / "state.json"
        self.previous_state_file = self.path / "state.json.prev"

    def prepare(self) -> None:
        try:
            self.checkpoints.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as e:
            raise UsageError(f"Output directory {self.path} is not writable ({e.strerror}); pass a writable "
                             "--output-dir.") from None

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the directory's exclusive lock (`.lock`, holding this PID) while the block runs; UsageError
        naming the PID of the command that holds it. The kernel drops it when a process dies."""
        with open(self.path / ".lock", "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "unknown"
                raise UsageError(f"{self.path} is in use by another training command (PID {holder}); wait for it "
                                 "to finish or stop it, or pass another --output-dir.") from None
            f.truncate(0)
            f.write(f"{os.getpid()}\n")
            f.flush()
            yield

    def write_json(self, name: str, data: Any) -> None:
        write_atomically(self.path / name, json.dumps(data, indent=2, default=str).encode())

    def write_state(self, state: dict) -> None:
        """Write state.json, keeping the state it replaces, when that one verifies, as state.json.prev."""
        try:
            self.write_json(self.previous_state_file.name, _load_state(self.state_file))
        except ValueError:
            pass  # no state yet, or a damaged one: keep the older state.json.prev
        self.write_json(self.state_file.name, state)

    def read_state(self, log: Callable[[str], None] = print) -> dict | None:
        """The run's state, None for a new run. A damaged state.json falls back to state.json.prev,
        saying so; UsageError, touching nothing, when neither verifies."""
        if not self.state_file.exists() and not self.previous_state_file.exists():
            return None
        try:
            return _load_state(self.state_file)
        except ValueError as e:
            damaged = f"{self.state_file} is damaged ({e})"
        try:
            state = _load_state(self.previous_state_file)
        except ValueError as e:
            raise UsageError(f"{damaged}, and so is {self.previous_state_file.name} ({e}); nothing was trained "
                             f"or deleted. {RESTART_HINT}") from None
        log(f"{damaged}; using {self.previous_state_file.name} (epoch {state['epochs_done']}).")
        return state

    def write_history(self, rows: list[dict]) -> None:
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=HISTORY_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        write_atomically(self.path / "history.csv", text.getvalue().encode())


def choose_run_dir(s: TrainSettings, plan: ModelPlan, log: Callable[[str], None] = print) -> RunDir:
    """--output-dir, or the unfinished/finished run of the same settings, or a new timestamped one."""
    if s.output_dir:
        return RunDir(s.output_dir)
    pattern = os.path.join(s.runs_root, f"{plan.name}-{s.dataset}-*", "state.json*")
    for path in sorted({Path(p).parent for p in glob.glob(pattern)}, reverse=True):
        try:
            state = RunDir(path).read_state(log=lambda message: None)
        except UsageError as e:
            log(f"Not resuming {path}: {e}")
            continue
        if state and state.get("fingerprint") == s.fingerprint() and not s.restart:
            return RunDir(path)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return RunDir(Path(s.runs_root) / f"{plan.name}-{s.dataset}-{stamp}")


class RunRecorder(keras.callbacks.Callback):
    """After every epoch: history row, best model.keras, weights+optimizer checkpoint, state.json.

    Files are replaced atomically and durably, the checkpoint is written before the state that
    points to it, and the last KEEP_CHECKPOINTS checkpoints are kept, so a kill at any moment
    leaves the last completed epoch resumable. Rows carry `includes_tracing`: True for the first
    epoch of each `fit` (process start or a new progressive stage), which compiles the step.
    A non-finite epoch loss stops training without saving anything from that epoch.
    """

    def __init__(self, run: RunDir, state: dict, classifier: keras.Model, serving: keras.Model,
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
        if row.get("val_accuracy", -1.0) > self.state["best_val_accuracy"]:
            self.state.update(best_val_accuracy=row["val_accuracy"], best_epoch=row["epoch"])
            tmp = self.run.path / ".model.tmp.keras"
            self.serving.save(tmp)
            commit(tmp, self.run.path / "model.keras")
        checkpoint = save_checkpoint(self.run.checkpoints, epoch + 1, self.classifier, self.model.optimizer)
        kept = [*self.state["checkpoints"], checkpoint][-KEEP_CHECKPOINTS:]
        self.state["rows"].append(row)
        self.state.update(epochs_done=epoch + 1, checkpoint=checkpoint["stem"], checkpoints=kept)
        self.run.write_state(self.state)
        self.run.write_history(self.state["rows"])
        plot_curves(self.state["rows"], self.run.path / "curves.png", self.plot_title)
        stems = {c["stem"] for c in kept}
        for old in self.run.checkpoints.glob("epoch-*"):
            if old.name.split(".")[0] not in stems:
                old.unlink()


def _file_record(path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def save_checkpoint(folder: Path, epoch: int, classifier: keras.Model, optimizer) -> dict:
    """Write `epoch-NNNN.weights.h5` (model) and `epoch-NNNN.optimizer.npz` (optimizer state, incl.
    the step counter that drives the schedule); return the state's record of the checkpoint:
    `{"stem", "epoch", "files": {name: {"bytes", "sha256"}}}`."""
    stem = f"epoch-{epoch:04d}"
    weights, moments = folder / f"{stem}.weights.h5", folder / f"{stem}.optimizer.npz"
    tmp = folder / ".tmp.weights.h5"
    classifier.save_weights(tmp)
    commit(tmp, weights)
    store: dict[str, Any] = {}
    optimizer.save_own_variables(store)
    tmp = folder / ".tmp.optimizer.npz"
    with open(tmp, "wb") as f:
        np.savez(f, **store)
    commit(tmp, moments)
    return {"stem": stem, "epoch": epoch, "files": {p.name: _file_record(p) for p in (weights, moments)}}


def checkpoint_problem(folder: Path, checkpoint: dict) -> str | None:
    """Why the checkpoint's files differ from their record in the state; None when they verify."""
    for name, want in checkpoint["files"].items():
        kind = name.split(".")[1]  # weights or optimizer
        if not (folder / name).is_file():
            return f"{kind} file missing"
        got = _file_record(folder / name)
        if got != want:
            return f"{kind} file {'truncated' if got['bytes'] < want['bytes'] else 'damaged'} (checksum mismatch)"
    return None


def verify_checkpoints(run: RunDir, state: dict, log: Callable[[str], None] = print) -> None:
    """Cut `state` back to its newest checkpoint whose files verify (epochs, rows, checkpoints), saying
    which newer ones were skipped and why; UsageError, touching nothing, when none verifies."""
    # States written before checksums name one checkpoint, unverified.
    checkpoints = state.get("checkpoints") or [{"stem": state["checkpoint"], "epoch": state["epochs_done"],
                                                "files": {}}]
    skipped = []
    for i in reversed(range(len(checkpoints))):
        problem = checkpoint_problem(run.checkpoints, checkpoints[i])
        if problem is None:
            break
        skipped.append(f"{checkpoints[i]['stem']} {problem}")
    else:
        raise UsageError(f"No checkpoint of {run.path} verifies: {'; '.join(skipped)}. {RESTART_HINT}")
    chosen = checkpoints[i]
    if skipped:
        log(f"{'; '.join(skipped)}; resuming from {chosen['stem']}.")
    state.update(epochs_done=chosen["epoch"], checkpoint=chosen["stem"], checkpoints=checkpoints[:i + 1],
                 rows=[r for r in state["rows"] if r["epoch"] <= chosen["epoch"]])


def load_checkpoint(folder: Path, stem: str, classifier: keras.Model, optimizer) -> None:
    """Restore what `save_checkpoint` wrote into a built classifier and its (unbuilt) optimizer."""
    classifier.load_weights(folder / f"{stem}.weights.h5")
    optimizer.build(classifier.trainable_variables)
    with np.load(folder / f"{stem}.optimizer.npz") as store:
        optimizer.load_own_variables(dict(store))
