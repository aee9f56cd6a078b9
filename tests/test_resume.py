"""Specification of interrupted and damaged runs: a killed run resumes from its last completed epoch,
a damaged state or checkpoint falls back to the one before or stops touching nothing, and a second
command on a run directory stops at once."""

import json
import os
import shutil
import signal

import numpy as np
import pytest
from helpers import ROOT, SMALL_DATA, TINY, TINY_RUN, Child, history, train_py

from effnet_keras import train_cli
from effnet_keras.training import rundir

pytestmark = pytest.mark.xdist_group("resume")  # its module-scoped fixtures are built once, on one worker


def test_killed_run_resumes_from_the_last_completed_epoch(tmp_path):
    run_dir = tmp_path / "run"
    args = [str(ROOT / "train.py"), "--model", TINY, *SMALL_DATA, "--epochs", "3", "--batch-size", "64",
            "--output-dir", str(run_dir), "--augment", "none"]
    child = Child(*args)
    if child.wait_for("Epoch 2/3"):  # epoch 1 is recorded
        child.kill()
    code, _, err = child.finish()
    assert code == -signal.SIGKILL, f"the run finished before it could be killed: {err[-3000:]}"
    done = json.loads((run_dir / "state.json").read_text())["epochs_done"]
    assert 1 <= done < 3

    result = train_py(*args[1:])
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Resuming {run_dir} from epoch {done} of 3" in result.stdout
    assert [int(r["epoch"]) for r in history(run_dir)] == [1, 2, 3]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "epoch-0002.optimizer.npz", "epoch-0002.weights.h5", "epoch-0003.optimizer.npz", "epoch-0003.weights.h5"]
    # The first epoch of each process includes tracing and is left out of the timing.
    rows = json.loads((run_dir / "state.json").read_text())["rows"]
    assert [r["includes_tracing"] for r in rows] == [i in (0, done) for i in range(3)]
    timed = [r for r in rows if not r["includes_tracing"]]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["mean_step_ms"] == pytest.approx(np.mean([r["step_ms"] for r in timed]))
    assert metrics["images_per_second"] == pytest.approx(np.mean([r["images_per_second"] for r in timed]))


def test_a_run_stopped_early_continues_on_the_same_schedule_under_a_later_stop(tmp_path, capsys):
    stopped, whole = tmp_path / "stopped", tmp_path / "whole"
    assert train_cli.main([*TINY_RUN, "--output-dir", str(stopped), "--stop-epoch", "1"]) == 0
    assert [int(r["epoch"]) for r in history(stopped)] == [1]
    assert json.loads((stopped / "metrics.json").read_text())["epochs"] == 1
    assert train_cli.main([*TINY_RUN, "--output-dir", str(stopped), "--stop-epoch", "1"]) == 0
    assert "already complete (1 epochs of 3); pass --restart to train again, or a later --stop-epoch" in (
        capsys.readouterr().out)
    assert train_cli.main([*TINY_RUN, "--output-dir", str(stopped)]) == 0
    assert "Resuming" in capsys.readouterr().out
    assert train_cli.main([*TINY_RUN, "--output-dir", str(whole)]) == 0
    # The learning-rate schedule spans --epochs in both, so the stopped run is the whole run in two parts.
    assert [r["lr"] for r in history(stopped)] == [r["lr"] for r in history(whole)]
    assert [int(r["epoch"]) for r in history(stopped)] == [1, 2, 3]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A complete TINY_RUN of 3 epochs, to be copied by each test."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    assert train_cli.main([*TINY_RUN, "--output-dir", str(run_dir)]) == 0
    return run_dir


def copied_run(finished_run, tmp_path, complete=True):
    """A copy of `finished_run`; complete=False: as a kill after the last epoch, before the test split."""
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    if not complete:
        state = json.loads((run_dir / "state.json").read_text())
        (run_dir / "state.json").write_text(json.dumps({**state, "complete": False}))
    return run_dir


def snapshot(run_dir):
    return {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and p.name != ".lock"}


def truncate(path):
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])


def test_damaged_state_falls_back_to_the_previous_one_or_stops_touching_nothing(finished_run, tmp_path, capsys):
    run_dir = copied_run(finished_run, tmp_path)
    truncate(run_dir / "state.json")
    assert train_cli.main([*TINY_RUN, "--output-dir", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert f"{run_dir / 'state.json'} is damaged (not valid JSON" in out and "using state.json.prev (epoch 3)" in out
    assert f"Resuming {run_dir} from epoch 3 of 3" in out
    assert [int(r["epoch"]) for r in history(run_dir)] == [1, 2, 3]
    assert json.loads((run_dir / "state.json").read_text())["complete"]

    (run_dir / "state.json").write_bytes(b"\0" * 64)
    truncate(run_dir / "state.json.prev")
    before = snapshot(run_dir)
    assert train_cli.main([*TINY_RUN, "--output-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {run_dir / 'state.json'} is damaged (not valid JSON")
    assert "and so is state.json.prev" in err[0] and "nothing was trained or deleted" in err[0]
    assert "Pass --restart to start this run over, or another --output-dir" in err[0]
    assert snapshot(run_dir) == before


def test_damaged_checkpoint_resumes_from_the_one_before_or_stops(finished_run, tmp_path, capsys):
    run_dir = copied_run(finished_run, tmp_path, complete=False)
    checkpoints = run_dir / "checkpoints"
    truncate(checkpoints / "epoch-0003.weights.h5")
    assert train_cli.main([*TINY_RUN, "--output-dir", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "epoch-0003 weights file truncated (checksum mismatch); resuming from epoch-0002." in out
    assert f"Resuming {run_dir} from epoch 2 of 3" in out
    state = json.loads((run_dir / "state.json").read_text())
    assert [r["epoch"] for r in state["rows"]] == [1, 2, 3] and [int(r["epoch"]) for r in history(run_dir)] == [1, 2, 3]
    assert [c["stem"] for c in state["checkpoints"]] == ["epoch-0002", "epoch-0003"]
    assert all(rundir.checkpoint_problem(checkpoints, c) is None for c in state["checkpoints"])

    run_dir = copied_run(finished_run, tmp_path / "none", complete=False)
    checkpoints = run_dir / "checkpoints"
    size = (checkpoints / "epoch-0003.optimizer.npz").stat().st_size
    (checkpoints / "epoch-0003.optimizer.npz").write_bytes(b"\0" * size)
    (checkpoints / "epoch-0002.weights.h5").unlink()
    before = snapshot(run_dir)
    assert train_cli.main([*TINY_RUN, "--output-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: No checkpoint of {run_dir} verifies: epoch-0003 optimizer file damaged (checksum "
                   "mismatch); epoch-0002 weights file missing. Pass --restart to start this run over, or another "
                   "--output-dir to keep it as it is."]
    assert snapshot(run_dir) == before


def test_second_command_on_a_run_directory_stops_naming_the_pid_and_a_dead_ones_lock_is_taken(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = [*TINY_RUN, "--epochs", "1000", "--output-dir", str(run_dir)]
    first = Child(str(ROOT / "train.py"), *args)
    try:
        assert first.wait_for("Epoch 1/1000"), "the first command ended before it could be raced"  # it holds the lock
        assert train_cli.main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"error: {run_dir} is in use by another training command (PID {first.pid}); wait for it to "
                       "finish or stop it, or pass another --output-dir."]
    finally:
        first.kill()
        first.finish()
    with rundir.RunDir(run_dir).lock():  # the kernel released the dead command's lock
        assert (run_dir / ".lock").read_text() == f"{os.getpid()}\n"
