"""Damaged tuner project files (oracle.json, trial.json) are named in one message and change nothing;
a trial whose objective is NaN is never the best."""

import json
import math

import pytest
from helpers import TINY, TRAINING

from effnet_keras.training.errors import UsageError
from effnet_keras.tuner import cli
from effnet_keras.tuner.report import write_report
from effnet_keras.tuner.trials import read_project


def trial(trial_id, val_accuracy, metrics=None):
    """A completed trial.json as KerasTuner writes it, with one val_accuracy observation."""
    observed = {"val_accuracy": {"direction": "max", "observations": [{"value": [val_accuracy], "step": 0}]}}
    return {"trial_id": trial_id, "status": "COMPLETED", "hyperparameters": {"values": {"alpha": 1.2}},
            "metrics": {"metrics": observed} if metrics is None else metrics}


def project(path, *trials, oracle='{"project": {"kind": "search", "objective": "val_accuracy"}}'):
    path.mkdir()
    (path / "oracle.json").write_text(oracle)
    for t in trials:
        (path / f"trial_{t['trial_id']}").mkdir()
        (path / f"trial_{t['trial_id']}" / "trial.json").write_text(json.dumps(t))
    return path


def files(folder):
    """Every file below `folder` with its bytes, but the lock file a command holds."""
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.name != ".lock"}


def test_a_trial_whose_objective_is_nan_is_left_out_and_never_best(tmp_path):
    signature, rows = read_project(project(tmp_path / "p", trial("0", math.nan), trial("1", 0.5)))
    assert [r["trial_id"] for r in rows] == ["1"] and rows[0]["val_accuracy"] == 0.5
    only_nan = project(tmp_path / "q", trial("0", math.nan))
    with pytest.raises(UsageError, match="has no completed trials with a finite val_accuracy"):
        write_report(only_nan)
    assert not (only_nan / "best.json").exists()


@pytest.mark.parametrize("metrics", [5, {"metrics": {"val_accuracy": {"observations": [{"value": "high"}]}}},
                                     {"metrics": {"val_accuracy": {"observations": [{}]}}}])
def test_trial_metrics_of_the_wrong_shape_name_the_file(tmp_path, metrics, capsys):
    path = project(tmp_path / "p", trial("0", 0.5, metrics=metrics))
    assert cli.main(["report", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{path / 'trial_0' / 'trial.json'} is damaged (its trial_id, hyperparameters or " \
                             "metrics are not as KerasTuner writes them" in err[0], err


@pytest.mark.parametrize("text, problem", [('{"project": {"kind": "search", "ob', "Unterminated string"),
                                           ("[1, 2]", "not an object"), ('{"ongoing_trials": {}}', "no 'project'")])
def test_a_damaged_oracle_json_is_named_by_report_and_search(tmp_path, text, problem, capsys):
    path = project(tmp_path / "p", trial("0", 0.5), oracle=text)
    assert cli.main(["report", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"error: {path / 'oracle.json'} is damaged ({problem}" in err[0], err
    assert "not a tuner project" not in err[0]
    before = files(path)
    assert cli.main(["search", "--base", TINY, "--candidates", "1.2,1.1,1.15", *TRAINING,
                     "--directory", str(tmp_path), "--project-name", "p"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert f"error: {path / 'oracle.json'} is damaged ({problem}" in err[-1], err
    assert files(path) == before


def test_the_final_train_trend_is_the_mean_over_repeats_of_the_last_epochs_slope_in_points(tmp_path):
    from effnet_keras.training.rundir import RunDir
    from effnet_keras.tuner.trials import LEVELLING_EPOCHS, final_train_trend

    curves = [[0.1, 0.5, 0.6, 0.7, 0.8, 0.9], [0.2, 0.5, 0.5, 0.5, 0.5, 0.5]]  # still rising; levelled off
    for k, accuracy in enumerate(curves):
        run = RunDir.of_execution(tmp_path, k)
        run.path.mkdir()
        run.history_file.write_text("epoch,accuracy\n" + "".join(f"{e},{a}\n" for e, a in enumerate(accuracy, 1)))
    assert LEVELLING_EPOCHS == 5
    assert final_train_trend(tmp_path, 1) == pytest.approx(10.0)  # 10 points per epoch over the last 5
    assert final_train_trend(tmp_path, 2) == pytest.approx(5.0)
    RunDir.of_execution(tmp_path, 1).history_file.write_text("epoch,accuracy\n1,0.5\n")
    assert final_train_trend(tmp_path, 2) is None  # a run shorter than the window: not measured
    RunDir.of_execution(tmp_path, 1).history_file.write_text("epoch,accuracy\n1,high\n")
    with pytest.raises(UsageError, match=r"run-1/history.csv is missing or damaged"):
        final_train_trend(tmp_path, 2)
    RunDir.of_execution(tmp_path, 1).history_file.unlink()
    with pytest.raises(UsageError, match=r"run-1/history.csv is missing or damaged"):
        final_train_trend(tmp_path, 2)
