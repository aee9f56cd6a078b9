"""Helpers shared by several test modules: tiny training and tuner settings, running train.py and
the tuner CLI (in this process, or in a child process where a test kills it or needs a fresh
TensorFlow), reading run histories, tuner projects and PNGs, and non-trivial normalisation
statistics for parity checks."""

import contextlib
import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# A two-block EfficientNet (stem, MBConv1, MBConv6 stride 2, head of 64) at 32 px: every tuner and
# loop feature, a tiny tuner trial in 10-13 s against b0-mini's 27-32 s (one CPU core).
TINY = str(ROOT / "tests" / "data" / "micro.json")
TRAINING = ["--dataset", "synthetic", "--synthetic-train", "256", "--synthetic-test", "64", "--epochs", "1",
            "--steps-per-epoch", "2", "--batch-size", "32", "--augment", "none"]
SMALL_DATA = ["--dataset", "synthetic", "--synthetic-train", "1024", "--synthetic-test", "256"]
TINY_RUN = ["--model", "simple-cnn", "--dataset", "synthetic", "--synthetic-train", "64", "--synthetic-test", "32",
            "--epochs", "3", "--steps-per-epoch", "2", "--batch-size", "16", "--augment", "none"]


def in_process(main, args) -> subprocess.CompletedProcess:
    """Call a command's `main(argv)` here, as `python train.py ...` would run it; its exit code and
    text stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as e:  # argparse
            code = e.code
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def train_py(*args):
    """`python train.py *args`, run in this process."""
    from effnet_keras import train_cli

    return in_process(train_cli.main, args)


def train_py_process(*args, timeout=400):
    """`python train.py *args` in a child process (a fresh TensorFlow, e.g. for --logical-cpus)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def tuner(*args):
    """`python -m tuner *args`, run in this process: (exit code, stdout, stderr)."""
    from effnet_keras.tuner import cli

    result = in_process(cli.main, args)
    return result.returncode, result.stdout, result.stderr


def history(run_dir):
    """The rows of a run's history.csv as dicts of strings."""
    with open(Path(run_dir) / "history.csv") as f:
        return list(csv.DictReader(f))


class Child:
    """`python *args` in a child process whose stdout and stderr lines are collected by two threads as
    they come, so that a test blocks until the child prints a line (an event: an epoch began, the chief
    is up) instead of polling files against the clock."""

    def __init__(self, *args, env=None):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.pid, self.out, self.err, self._ended = self.proc.pid, [], [], set()
        self._changed = threading.Condition()
        self._readers = [threading.Thread(target=self._read, args=(stream, lines), daemon=True)
                         for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, lines):
        for line in stream:
            with self._changed:
                lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._ended.add(id(lines))
            self._changed.notify_all()

    def wait_for(self, line, count=1, timeout=600):
        """Block until the child has printed `line` (a whole stdout line, surrounding spaces aside) `count`
        times; False when its stdout ended first (it exited). `timeout` (seconds) only stops a hung child's test."""
        def seen():
            return sum(printed.strip() == line for printed in self.out) >= count

        with self._changed:
            self._changed.wait_for(lambda: seen() or id(self.out) in self._ended, timeout)
            return seen()

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)

    def finish(self, timeout=600):
        """Wait for the child to end: (exit code, stdout, stderr)."""
        self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        return self.proc.returncode, "".join(self.out), "".join(self.err)


def in_project(oracle, directory, project_name="p"):
    """`oracle`, keeping its files in DIRECTORY/PROJECT_NAME as a KerasTuner tuner's oracle does (public API
    only: a tuner that trains nothing places it there)."""
    import keras_tuner

    class Placing(keras_tuner.Tuner):
        def run_trial(self, trial, *args, **kwargs):
            raise AssertionError("this tuner only places its oracle's files")

    Placing(oracle=oracle, directory=str(directory), project_name=project_name)
    return oracle


def tuner_cli(*args, env=None):
    """`python -m tuner *args` as a `Child` (for tests that kill it or run several)."""
    return Child("-m", "tuner", *args, env=env)


def trials(project):
    found = []
    for path in sorted(Path(project).glob("trial_*/trial.json")):
        trial = json.loads(path.read_text())
        found.append((tuple(trial["hyperparameters"]["values"].values()), trial["status"]))
    return found


def markdown_rows(text):
    """The cells (stripped) of every Markdown table row in `text`, rule lines left out."""
    return [[cell.strip() for cell in line.strip()[1:-1].split("|")] for line in text.splitlines()
            if line.startswith("|") and not set(line) <= set("|-: ")]


def png_size(path):
    """(width, height) from a PNG's IHDR chunk; fails unless the file is a PNG."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, path
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def randomise_statistics(model, seed=0):
    """Give BatchNorm/Normalization non-trivial statistics so output parity means something."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if layer.__class__.__name__ == "BatchNormalization":
            gamma, beta, mean, var = weights
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape)])
        elif layer.__class__.__name__ == "Normalization" and weights:
            layer.set_weights([np.array([0.4, 0.5, 0.6]).reshape(weights[0].shape),
                               np.array([0.05, 0.06, 0.07]).reshape(weights[1].shape), weights[2]])
    refresh_normalization(model)


def refresh_normalization(model):
    """Keras' Normalization caches its statistics; set_weights alone does not refresh them."""
    for layer in model.layers:
        if layer.__class__.__name__ == "Normalization":
            layer.finalize_state()
