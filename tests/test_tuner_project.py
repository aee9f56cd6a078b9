"""A tuner project's files: today's names (projects on disk resume), writes that a failure leaves
whole, and one key per search point whichever path of the tuner reaches it."""

import json
from pathlib import Path

import pytest

from effnet_keras.models.scaling import cost_ratio
from effnet_keras.tuner.bayes import Surface
from effnet_keras.tuner.halving import HalvingOracle
from effnet_keras.tuner.oracle import PointsOracle
from effnet_keras.tuner.project import ProjectDir, verdicts_file
from effnet_keras.tuner.space import SEED_CANDIDATES, grid_space, point_dict, point_key
from effnet_keras.tuner.steptime import StepTimeCache


def test_a_project_keeps_the_file_names_of_projects_already_on_disk(tmp_path):
    project = ProjectDir.of(tmp_path, "p")
    assert [p.relative_to(tmp_path / "p").as_posix() for p in (
        project.oracle_file, project.step_times_file, project.best_file, *project.table_files("search"),
        *project.table_files("study"), *project.table_files("compare"), project.search_plot, project.curves_plot,
        project.study_plot, project.macs_plot, project.step_plot, project.step_time_plot)] == [
        "oracle.json", "step_times.json", "best.json", "results.md", "results.csv", "report.md", "report.csv",
        "report.md", "report.csv", "search.png", "curves.png", "study.png", "accuracy_vs_macs.png",
        "accuracy_vs_step.png", "step_time.png"]
    assert verdicts_file(tmp_path) == tmp_path / "verdicts.md"
    for trial in ("trial_1", "trial_0"):
        (tmp_path / "p" / trial).mkdir(parents=True)
        (tmp_path / "p" / trial / "trial.json").write_text("{}")
    assert [p.parent.name for p in project.trial_records()] == ["trial_0", "trial_1"]


def test_a_write_that_fails_midway_leaves_the_old_report(tmp_path, monkeypatch):
    project = ProjectDir(tmp_path)
    project.write_table("search", "# old\n", [{"a": 1, "b": 2}], ["a"])
    md, csv = project.table_files("search")
    assert csv.read_text().splitlines() == ["a", "1"]
    old = {path: path.read_bytes() for path in tmp_path.iterdir()}

    class Unprintable:
        def __str__(self):
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError):  # the failure comes after 1,000 rows of the table were produced
        project.write_table("search", "# new\n", [{"a": 2}] * 1000 + [{"a": Unprintable()}], ["a"])
    real = Path.write_bytes

    def half_then_fail(path, data):
        real(path, data[:len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_then_fail)
    with pytest.raises(OSError):
        project.write_text(md, "# new\n" * 1000)
    with pytest.raises(OSError):
        project.write_text(project.best_file, json.dumps({"alpha": 1.2}))
    assert {path: path.read_bytes() for path in tmp_path.iterdir() if path.name in ("results.md", "results.csv")} == old
    assert not project.best_file.exists()
    # What the failed writes left is the project's own (`--overwrite` deletes it); anything else is not.
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp"))
    assert left == [".best.json.tmp", ".results.md.tmp"]
    (tmp_path / "notes.txt").write_text("mine")
    assert project.strangers() == ["notes.txt"]


def test_a_key_rounds_away_float_noise_and_keeps_names_in_order():
    noisy = {"alpha": 3 * 0.4, "beta": 1.1, "gamma": 1.05 + 0.1}  # 1.2000000000000002, 1.1500000000000001
    assert noisy["alpha"] != 1.2 and noisy["gamma"] != 1.15
    assert point_key(noisy) == (1.2, 1.1, 1.15) == point_key((1.2, 1.1, 1.15))
    assert point_key(json.loads(json.dumps(list(point_key(noisy))))) == point_key(noisy)
    assert point_key({"alpha": 1.2 + 1e-7, "beta": 1.1, "gamma": 1.15}) != point_key(noisy)  # a different point
    assert point_key({"multiplier": 2, "dimension": "width"}, ["dimension", "multiplier"]) == ("width", 2.0)


def test_a_point_has_the_same_key_through_every_path_of_the_tuner(tmp_path):
    key = (1.2, 1.1, 1.15)
    grid = grid_space("1.0:1.4:0.05", "1.0:1.4:0.05", "1.0:1.4:0.05").feasible()
    assert key in {point_key(p) for p in grid}
    trial_values = {"alpha": 3 * 0.4, "beta": 1.1, "gamma": 1.05 + 0.1, "tuner/round": 1,
                    "tuner/epochs": 3, "tuner/initial_epoch": 1, "tuner/trial_id": "0"}
    points = [point_dict(p) for p in SEED_CANDIDATES]
    assert PointsOracle(points, {"kind": "search"}).key(trial_values) == key
    assert HalvingOracle(points, {"kind": "search"}, min_epochs=1, epochs=3, eta=2).key(trial_values) == key
    # The Bayesian search solves gamma from the cost; the tried point is recognised all the same.
    surface = Surface((1.2, 1.2), (1.1, 1.1), (1.0, 1.4), cost_ratio(*key))
    proposed = surface.point(1.2, 0.5)
    assert point_key(proposed) == key and surface.point(1.2, 0.5, tried={key}) is None
    # The step-time cache, written and read back, answers the trial's values.
    StepTimeCache(tmp_path / "step_times.json", lambda point: 1.5)(tuple(point_dict(SEED_CANDIDATES[0]).values()))
    again = StepTimeCache(tmp_path / "step_times.json", lambda point: pytest.fail("timed twice"))
    assert again.ratios == {key: 1.5} and again(tuple(trial_values[n] for n in ("alpha", "beta", "gamma"))) == 1.5
    assert json.loads((tmp_path / "step_times.json").read_text()) == {"[1.2, 1.1, 1.15]": 1.5}
