"""Successive halving: rung arithmetic and promotion (properties), the schedule the oracle's trials
record, and a search killed mid-rung that resumes without retraining finished rungs, continuing the
promoted point from its checkpoint."""

import csv
import json
import signal

import keras_tuner
import pytest
from helpers import TINY, TRAINING, in_project, markdown_rows, png_size, tuner, tuner_cli
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from effnet_keras.tuner.halving import HalvingOracle, plan_rungs, promote
from effnet_keras.tuner.project import ProjectDir
from effnet_keras.tuner.space import SEED_CANDIDATES, SpaceError, point_dict, point_key
from effnet_keras.tuner.trials import read_project

Status = keras_tuner.engine.trial.TrialStatus


@hsettings(max_examples=300, deadline=None)
@given(st.integers(1, 200), st.integers(1, 30), st.integers(1, 300), st.integers(2, 6))
def test_rungs_shrink_by_eta_and_grow_to_the_full_budget(points, min_epochs, epochs, eta):
    if min_epochs > epochs:
        with pytest.raises(SpaceError, match="--min-epochs must be a number >= 1 and <= "):
            plan_rungs(points, min_epochs, epochs, eta)
        return
    rungs = plan_rungs(points, min_epochs, epochs, eta)
    assert rungs[0].points == points and rungs[0].start == 0
    assert rungs[0].epochs == (epochs if points == 1 else min_epochs)
    assert rungs[-1].epochs == epochs
    for before, after in zip(rungs, rungs[1:]):
        assert after.points == max(1, before.points // eta)
        assert after.start == before.epochs < after.epochs
        assert after.epochs == (epochs if after.points == 1 else min(epochs, min_epochs * eta ** after.index))
    assert [r.index for r in rungs] == list(range(len(rungs)))


def end(oracle, trial, accuracy):
    oracle.update_trial(trial.trial_id, {"val_accuracy": accuracy})
    trial.status = Status.COMPLETED
    oracle.end_trial(trial)


def test_the_seed_grid_at_nine_epochs_trains_16_epochs_under_a_third_of_the_grid(tmp_path):
    points = [point_dict(p) for p in SEED_CANDIDATES]
    oracle = in_project(HalvingOracle(points, {"kind": "search"}, min_epochs=1, epochs=9, eta=3), tmp_path)
    accuracy = {point_key(p): a for p, a in zip(points, (0.3, 0.8, 0.5, 0.9, 0.1, 0.2))}
    while (trial := oracle.create_trial("tuner0")).status == Status.RUNNING:
        end(oracle, trial, accuracy[point_key(trial.hyperparameters.values)])
    assert trial.status == Status.STOPPED
    # What each trial trained, as its record on disk says: (rung, epochs inherited, epochs at its end).
    records = [json.loads(path.read_text()) for path in ProjectDir(tmp_path / "p").trial_records()]
    values = sorted((r["hyperparameters"]["values"] for r in records), key=lambda v: v["tuner/round"])
    assert [(v["tuner/round"], v["tuner/initial_epoch"], v["tuner/epochs"]) for v in values] == [
        *[(0, 0, 1)] * 6, (1, 1, 3), (1, 1, 3), (2, 3, 9)]
    assert sum(v["tuner/epochs"] - v["tuner/initial_epoch"] for v in values) == 16 < 0.4 * 6 * 9
    assert {point_key(v) for v in values[6:8]} == {point_key(SEED_CANDIDATES[i]) for i in (1, 3)}  # the best two
    assert point_key(values[8]) == point_key(SEED_CANDIDATES[3])  # then the best of them


@pytest.mark.parametrize("eta, message", [(1, "--reduction must be a number >= 2, got 1"),
                                          (0, "--reduction must be a number >= 2, got 0")])
def test_an_eta_below_two_is_refused(eta, message):
    with pytest.raises(SpaceError, match=message):
        plan_rungs(6, 1, 9, eta)


@hsettings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from([0.1, 0.5, 0.5, 0.7, 0.9])), max_size=20), st.integers(0, 25))
def test_promotion_takes_the_best_scores_ties_to_the_earlier_point_never_a_failed_one(scores, count):
    chosen = promote(scores, count)
    finished = [i for i, s in enumerate(scores) if s is not None]
    assert len(chosen) == min(count, len(finished)) and len(set(chosen)) == len(chosen)
    assert all(scores[i] is not None for i in chosen)
    assert [scores[i] for i in chosen] == sorted((scores[i] for i in chosen), reverse=True)
    for i in set(finished) - set(chosen):  # every left-out point is worse, or tied and later
        assert all(scores[i] < scores[j] or (scores[i] == scores[j] and i > j) for j in chosen)


def _history_epochs(run_dir):
    with open(run_dir / "history.csv") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_halving_search_killed_mid_rung_resumes_and_continues_the_promoted_point(tmp_path):
    args = ["search", "--base", TINY, "--candidates", "1.2,1.1,1.15;1.15,1.1,1.2", "--directory", str(tmp_path),
            "--project-name", "p", *TRAINING, "--epochs", "3", "--algorithm", "halving", "--min-epochs", "1",
            "--reduction", "2"]
    project = tmp_path / "p"
    child = tuner_cli(*args)
    # Rung 0 trains one epoch per trial (no "Epoch" line); rung 1 (trial_2) prints "Epoch 3/3" once epoch 2
    # is recorded.
    if child.wait_for("Epoch 3/3"):
        child.kill()
    code, out, err = child.finish()
    assert code == -signal.SIGKILL, f"the search ended before it could be killed: {err[-3000:]}"
    assert _history_epochs(project / "trial_2" / "run-0") == [1, 2]
    rung0 = [project / f"trial_{i}" / "run-0" / "metrics.json" for i in (0, 1)]
    stamps = [m.stat().st_mtime_ns for m in rung0]

    code, out, err = tuner(*args)
    assert code == 0, err[-3000:]
    assert [m.stat().st_mtime_ns for m in rung0] == stamps  # the finished rung did not train again
    records = [json.loads((project / f"trial_{i}" / "trial.json").read_text()) for i in range(3)]
    assert [r["status"] for r in records] == ["COMPLETED"] * 3 and not (project / "trial_3").exists()
    values = [r["hyperparameters"]["values"] for r in records]
    assert [(v["tuner/round"], v["tuner/initial_epoch"], v["tuner/epochs"]) for v in values] == [
        (0, 0, 1), (0, 0, 1), (1, 1, 3)]
    scores = [r["score"] for r in records[:2]]
    assert values[2]["tuner/trial_id"] == records[promote(scores, 1)[0]]["trial_id"]
    assert {k: values[2][k] for k in ("alpha", "beta", "gamma")} == {
        k: values[int(values[2]["tuner/trial_id"])][k] for k in ("alpha", "beta", "gamma")}
    assert _history_epochs(project / "trial_2" / "run-0") == [1, 2, 3]  # epoch 1 inherited, not retrained
    _, completed = read_project(project)  # the epochs each trial trained itself, as its record says
    assert sorted((t["trial_id"], t["trained_epochs"]) for t in completed) == [("0", 1), ("1", 1), ("2", 2)]

    rows = markdown_rows((project / "results.md").read_text())
    header = rows[0]
    assert [(r[header.index("rung")], r[header.index("epochs")]) for r in rows[1:]] == [("1", "3"), ("0", "1")]
    assert "The search trained 4 epochs in all (2 points)" in (project / "results.md").read_text()
    assert png_size(project / "search.png")[0] >= 600
    best = json.loads((project / "best.json").read_text())
    assert best["trial"] == records[2]["trial_id"]


def test_workers_wait_for_a_whole_rung_before_the_promotions_are_issued(tmp_path):
    points = [{"alpha": 1.2, "beta": 1.1, "gamma": 1.15}, {"alpha": 1.15, "beta": 1.1, "gamma": 1.2}]
    oracle = in_project(HalvingOracle(points, {"kind": "search"}, min_epochs=1, epochs=4, eta=2), tmp_path)
    first, second = oracle.create_trial("tuner0"), oracle.create_trial("tuner1")
    assert [t.hyperparameters.values["alpha"] for t in (first, second)] == [1.2, 1.15]
    end(oracle, first, 0.3)
    assert oracle.create_trial("tuner0").status == Status.IDLE  # rung 0 is not finished yet
    end(oracle, second, 0.6)
    promoted = oracle.create_trial("tuner0")
    assert promoted.status == Status.RUNNING
    assert {k: promoted.hyperparameters.values[k] for k in ("alpha", "tuner/round", "tuner/initial_epoch",
                                                             "tuner/epochs", "tuner/trial_id")} == {
        "alpha": 1.15, "tuner/round": 1, "tuner/initial_epoch": 1, "tuner/epochs": 4, "tuner/trial_id": second.trial_id}
    assert oracle.create_trial("tuner1").status == Status.STOPPED  # every trial of the schedule is issued
    end(oracle, promoted, 0.7)
    assert [t.status for t in oracle.trials.values()] == [Status.COMPLETED] * 3
