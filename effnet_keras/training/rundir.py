"""A run directory: durable atomic files, its lock, the state (with a previous copy to fall back
on), checkpoints with checksums, and choosing/resuming the directory (no Keras or TensorFlow import:
the export CLI reads runs through it)."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import glob
import hashlib
import io
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from effnet_keras.training.errors import UsageError

if TYPE_CHECKING:
    import keras

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds",
                   "images_per_second", "step_ms")
STATE_KEYS = {"fingerprint", "epochs_done", "rows", "complete"}
"""Keys a state.json must hold to be read as a run state."""
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


def csv_text(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """`rows` as CSV text with a header of `columns` (other keys of a row left out)."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


@dataclass
class RunState:
    """What a run has done, saved as state.json after every epoch.

    rows: one dict per completed epoch (HISTORY_COLUMNS and `includes_tracing`); checkpoints: the
    records of `save_checkpoint` still on disk, oldest first; checkpoint: the newest one's stem;
    run_id: drawn when the run starts (again on --restart), so a restarted run never falls back to
    the state of the run it replaced.
    """

    fingerprint: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    epochs_done: int = 0
    rows: list[dict] = field(default_factory=list)
    checkpoints: list[dict] = field(default_factory=list)
    checkpoint: str | None = None
    best_val_accuracy: float = -1.0
    best_epoch: int | None = None
    complete: bool = False

    @classmethod
    def from_json(cls, data: dict) -> RunState:
        """The state in `data`; states written before run_id existed get run_id "" (all one run)."""
        return cls(**{"run_id": "", **{f.name: data[f.name] for f in fields(cls) if f.name in data}})

    def to_json(self) -> dict:
        return asdict(self)


def _load_state(path: Path) -> RunState:
    """The run state in `path`; ValueError saying why it is not usable."""
    try:
        state = json.loads(path.read_bytes())
    except OSError as e:
        raise ValueError(e.strerror or str(e)) from None
    except ValueError as e:  # truncated or garbled
        raise ValueError(f"not valid JSON: {e}") from None
    if not isinstance(state, dict) or not STATE_KEYS <= state.keys():
        raise ValueError("not a run state")
    problem = _state_problem(state)
    if problem:
        raise ValueError(f"not a run state: {problem}")
    return RunState.from_json(state)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _record_problem(record: Any) -> str | None:
    """Why a checkpoint record of a state is unusable (see `save_checkpoint`), or None."""
    if not isinstance(record, dict) or not isinstance(record.get("stem"), str) or not _whole(record.get("epoch")):
        return "a checkpoint record without a 'stem' and an 'epoch'"
    files = record.get("files")
    if not isinstance(files, dict) or not all(
            isinstance(name, str) and "/" not in name and isinstance(f, dict) and _whole(f.get("bytes"))
            and isinstance(f.get("sha256"), str) for name, f in files.items()):
        return f"checkpoint {record['stem']!r} has no 'files' of names with 'bytes' and 'sha256'"
    return None


def _state_problem(state: dict) -> str | None:
    """The first field of a state.json with a wrong type or shape, said in words; None when all fit."""
    fields_ok = {"fingerprint": isinstance(state["fingerprint"], str), "epochs_done": _whole(state["epochs_done"]),
                 "complete": isinstance(state["complete"], bool),
                 "rows": isinstance(state["rows"], list) and all(
                     isinstance(r, dict) and _whole(r.get("epoch")) for r in state["rows"]),
                 "checkpoints": isinstance(state.get("checkpoints", []), list),
                 "run_id": isinstance(state.get("run_id", ""), str),
                 "checkpoint": isinstance(state.get("checkpoint"), (str, type(None))),
                 "best_epoch": state.get("best_epoch") is None or _whole(state["best_epoch"]),
                 "best_val_accuracy": isinstance(state.get("best_val_accuracy", 0.0), (int, float))}
    for key, ok in fields_ok.items():
        if not ok:
            return f"{key!r} is {json.dumps(state[key])[:60]}"
    return next(filter(None, map(_record_problem, state.get("checkpoints", []))), None)


@contextlib.contextmanager
def exclusive_lock(folder: Path, busy: str) -> Iterator[None]:
    """Hold `folder`'s exclusive lock (file `.lock`, holding this PID) while the block runs.

    When another process holds it: UsageError with `busy`, whose `{pid}` names that process. The
    kernel drops the lock when its process dies, so a dead command's lock is taken over.
    """
    with open(Path(folder) / ".lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            raise UsageError(busy.format(pid=f.read().strip() or "unknown")) from None
        f.truncate(0)
        f.write(f"{os.getpid()}\n")
        f.flush()
        yield


class RunDir:
    """Paths, lock and durable writes of one run directory; the only place its file names live."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.state_file = self.path / "state.json"
        self.previous_state_file = self.path / "state.json.prev"
        self.config_file = self.path / "config.json"
        self.metrics_file = self.path / "metrics.json"
        self.history_file = self.path / "history.csv"
        self.model_file = self.path / "model.keras"
        self.curves_file = self.path / "curves.png"
        self.logs = self.path / "logs"

    @classmethod
    def of_execution(cls, trial_dir: str | Path, index: int) -> RunDir:
        """The run of execution `index` (0, 1, ...) of a tuner trial: TRIAL_DIR/run-INDEX."""
        return cls(Path(trial_dir) / f"run-{index}")

    def read_json(self, path: Path) -> Any:
        """The JSON in `path` (one of this run's files); UsageError naming the file when it is unreadable."""
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise UsageError(f"{path}: cannot read it ({e}). {RESTART_HINT}") from None

    def read_history(self) -> list[dict[str, str]]:
        """history.csv's rows (strings, as written)."""
        with open(self.history_file, newline="") as f:
            return list(csv.DictReader(f))

    def prepare(self) -> None:
        """Create the folder and its checkpoints/ folder; UsageError unless they are writable."""
        try:
            self.checkpoints.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as e:
            raise UsageError(f"Output directory {self.path} is not writable ({e.strerror}); pass a writable "
                             "--output-dir.") from None

    def discard_if_unused(self) -> None:
        """Remove the folder when it holds only what `prepare` and `lock` made (a command that stopped
        before training leaves no empty run folder)."""
        try:
            entries = {p.name for p in self.path.iterdir()}
            if entries <= {".lock", "checkpoints"} and not any(self.checkpoints.iterdir()):
                shutil.rmtree(self.path)
        except OSError:  # never made (an --output-dir below a file) or already gone: nothing to discard
            pass

    def copy_to(self, destination: str | Path) -> RunDir:
        """A copy of this run (state, checkpoints, history, model) at `destination`, made under a
        temporary name and renamed, so a kill leaves either no copy or a whole one; an existing
        destination is kept as it is (a copy made before an interruption, maybe trained further)."""
        copy = RunDir(destination)
        if not copy.path.exists():
            tmp = copy.path.with_name(f".{copy.path.name}.copying")
            shutil.rmtree(tmp, ignore_errors=True)
            with self.lock():
                shutil.copytree(self.path, tmp, ignore=shutil.ignore_patterns(".lock", ".*.tmp*"))
            os.replace(tmp, copy.path)
        return copy

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Hold the directory's exclusive lock while the block runs (see `exclusive_lock`)."""
        return exclusive_lock(self.path, f"{self.path} is in use by another training command (PID {{pid}}); wait "
                                         "for it to finish or stop it, or pass another --output-dir.")

    def write_json(self, path: Path, data: Any) -> None:
        """Replace `path` (one of this run's files) by `data` as JSON, atomically and durably."""
        write_atomically(path, json.dumps(data, indent=2, default=str).encode())

    def write_state(self, state: RunState) -> None:
        """Write state.json, keeping the state it replaces as state.json.prev when that one verifies and
        is of the same run; a restarted run's first write removes the replaced run's states."""
        try:
            previous = _load_state(self.state_file)
        except ValueError:
            previous = None  # no state yet, or a damaged one: keep the older state.json.prev
        if previous is not None and previous.run_id == state.run_id:
            self.write_json(self.previous_state_file, previous.to_json())
        elif self._previous_run_id() != state.run_id:
            self.previous_state_file.unlink(missing_ok=True)
        self.write_json(self.state_file, state.to_json())

    def _previous_run_id(self) -> str | None:
        try:
            return _load_state(self.previous_state_file).run_id
        except ValueError:
            return None

    def read_state(self, log: Callable[[str], None] = print) -> RunState | None:
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
        log(f"{damaged}; using {self.previous_state_file.name} (epoch {state.epochs_done}).")
        return state

    def write_history(self, rows: list[dict]) -> None:
        write_atomically(self.history_file, csv_text(rows, HISTORY_COLUMNS).encode())


def choose_run_dir(output_dir: str | None, runs_root: str, prefix: str, fingerprint: str, restart: bool,
                   log: Callable[[str], None] = print) -> RunDir:
    """`output_dir`, or the newest run under runs_root/PREFIX-* with this fingerprint (unless
    `restart`), or a new runs_root/PREFIX-TIMESTAMP."""
    if output_dir:
        return RunDir(output_dir)
    pattern = os.path.join(runs_root, f"{prefix}-*", "state.json*")
    for path in sorted({Path(p).parent for p in glob.glob(pattern)}, reverse=True):
        try:
            state = RunDir(path).read_state(log=lambda message: None)
        except UsageError as e:
            log(f"Not resuming {path}: {e}")
            continue
        if state and state.fingerprint == fingerprint and not restart:
            return RunDir(path)
    return RunDir(Path(runs_root) / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}")


def file_record(path: Path) -> dict:
    """{"bytes": size, "sha256": hex digest} of the file at `path`, read in 1 MiB blocks."""
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
    return {"stem": stem, "epoch": epoch, "files": {p.name: file_record(p) for p in (weights, moments)}}


def checkpoint_problem(folder: Path, checkpoint: dict) -> str | None:
    """Why the checkpoint's files differ from their record in the state; None when they verify."""
    for name, want in checkpoint["files"].items():
        kind = name.split(".")[1]  # weights or optimizer
        if not (folder / name).is_file():
            return f"{kind} file missing"
        got = file_record(folder / name)
        if got != want:
            return f"{kind} file {'truncated' if got['bytes'] < want['bytes'] else 'damaged'} (checksum mismatch)"
    return None


def verify_checkpoints(run: RunDir, state: RunState, log: Callable[[str], None] = print) -> None:
    """Cut `state` back to its newest checkpoint whose files verify (epochs, rows, checkpoints), saying
    which newer ones were skipped and why; UsageError, touching nothing, when none verifies."""
    # States written before checksums name one checkpoint, unverified.
    checkpoints = state.checkpoints or [{"stem": state.checkpoint, "epoch": state.epochs_done, "files": {}}]
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
    state.epochs_done, state.checkpoint, state.checkpoints = chosen["epoch"], chosen["stem"], checkpoints[:i + 1]
    state.rows = [r for r in state.rows if r["epoch"] <= chosen["epoch"]]


def load_checkpoint(folder: Path, stem: str, classifier: keras.Model, optimizer) -> None:
    """Restore what `save_checkpoint` wrote into a built classifier and its (unbuilt) optimizer."""
    classifier.load_weights(folder / f"{stem}.weights.h5")
    optimizer.build(classifier.trainable_variables)
    with np.load(folder / f"{stem}.optimizer.npz") as store:
        optimizer.load_own_variables(dict(store))
