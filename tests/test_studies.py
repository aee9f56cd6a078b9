"""Scaling study and model comparison projects: trials, tables and plots."""

import csv
import json
import math

import pytest
from helpers import TINY, TRAINING, markdown_rows, png_size, trials, tuner

from effnet_keras import get_config, stats
from effnet_keras.models.scaling import cost_ratio
from effnet_keras.tuner.space import SpaceError
from effnet_keras.tuner.studies import compound_phi, study_config, study_points


def test_study_points_share_one_base_and_scale_one_dimension_each():
    points = study_points(["width", "compound"], [1.0, 1.5, 2.0])
    assert points == [{"dimension": "base", "multiplier": 1.0}, {"dimension": "width", "multiplier": 1.5},
                      {"dimension": "width", "multiplier": 2.0}, {"dimension": "compound", "multiplier": 1.5},
                      {"dimension": "compound", "multiplier": 2.0}]
    base = get_config("b0")
    assert study_config(base, "width", 2.0, (1.2, 1.1, 1.15))["width"] == 2.0
    assert study_config(base, "depth", 2.0, (1.2, 1.1, 1.15))["depth"] == 2.0
    assert study_config(base, "resolution", 1.5, (1.2, 1.1, 1.15))["resolution"] == 336
    compound = study_config(base, "compound", 2.0, (1.2, 1.1, 1.15))
    assert cost_ratio(1.2, 1.1, 1.15) ** compound["phi"] == pytest.approx(4.0)  # = width x2's formula cost
    assert compound_phi(1.0, 1.2, 1.1, 1.15) == 0 and not math.isnan(compound["depth"])
    with pytest.raises(SpaceError, match="allowed values: width, depth, resolution, compound"):
        study_points(["height"], [1.5])


def test_study_cli_trials_table_and_plots(tmp_path):
    code, out, err = tuner("study", "--base", TINY, "--dimension", "width,compound", "--multipliers",
                           "1.0,1.5", "--directory", str(tmp_path), "--project-name", "s", *TRAINING)
    assert code == 0, err[-3000:]
    project = tmp_path / "s"
    assert sorted(trials(project)) == sorted([(("base", 1.0), "COMPLETED"), (("width", 1.5), "COMPLETED"),
                                              (("compound", 1.5), "COMPLETED")])
    with open(project / "report.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["dimension"], r["multiplier"]) for r in rows] == [("base", "1.0"), ("width", "1.5"),
                                                                 ("compound", "1.5")]
    base, width, compound = rows
    assert float(width["width"]) == pytest.approx(1.5 * float(base["width"]), abs=1e-3)
    assert width["resolution"] == base["resolution"] == "32" and int(compound["resolution"]) > 32
    assert int(width["MACs"]) > int(base["MACs"]) and int(compound["MACs"]) > int(base["MACs"])
    assert "![accuracy against MACs per dimension](study.png)" in (project / "report.md").read_text()
    assert png_size(project / "study.png") == (825, 550) and png_size(project / "curves.png") == (1320, 495)
    assert "dimension" in [row[0] for row in markdown_rows(out)] and "Report in" in out
    report = (project / "report.md").read_text()
    assert "with one repeat no interval can be given" in report and "n/a (1 repeat)" in report


def test_repeat_k_of_every_point_shares_seed_k_and_the_report_tests_the_best_against_the_rest(tmp_path):
    study = ["study", "--base", TINY, "--dimension", "width", "--multipliers", "1.0,1.5", "--seed", "7",
             "--directory", str(tmp_path), "--project-name", "s", *TRAINING]
    code, out, err = tuner(*study, "--repeats", "1")
    assert code == 0, err[-3000:]
    project = tmp_path / "s"
    assert "1 per point, paired: repeat k of every point uses seed 7+k (initialisation, data order, subset, " \
           "augmentation); with one repeat no interval can be given" in (project / "report.md").read_text()

    first = {p: p.stat().st_mtime_ns for p in project.glob("trial_*/run-*/metrics.json")}
    code, out, err = tuner(*study, "--repeats", "2")
    assert code == 0 and out.count("training repeats up to 2") == 2, err[-3000:]
    assert len(first) == 2 and {p: p.stat().st_mtime_ns for p in first} == first  # kept, not retrained
    seeds = {trial.name: [json.loads((trial / f"run-{k}" / "config.json").read_text())["settings"]["seed"]
                          for k in range(2)] for trial in project.glob("trial_*")}
    assert sorted(seeds.values()) == [[7, 8], [7, 8]]
    with open(project / "report.csv") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        runs = [json.loads((project / f"trial_{row['trial']}" / f"run-{k}" / "metrics.json").read_text())
                for k in range(2)]
        assert [r["run_dir"][-5:] for r in runs] == ["run-0", "run-1"]
        assert row["n"] == "2" and float(row["val mean %"]) == pytest.approx(
            50 * sum(m["best_val_accuracy"] for m in runs))
        assert float(row["test mean %"]) == pytest.approx(50 * sum(m["test_accuracy"] for m in runs))
        assert row["train slope"] == ""  # runs of 1 epoch: shorter than the levelling window
        low, high = map(float, row["val 95% CI"].split(" to "))
        assert low - 0.005 <= float(row["val mean %"]) <= high + 0.005  # the interval is printed to 2 decimals
        recorded = json.loads((project / f"trial_{row['trial']}" / "trial.json").read_text())
        observations = recorded["metrics"]["metrics"]["val_accuracy"]["observations"]
        assert observations[-1]["value"][0] == pytest.approx(sum(r["best_val_accuracy"] for r in runs) / 2)
    assert sorted(r["vs best"].split(" (")[0] for r in rows) in (["best", "not separable"], ["best", "separable"])
    report = (project / "report.md").read_text()
    assert "2 per point, paired: repeat k of every point uses seed 7+k" in report and stats.TEST_NAME in report
    assert '"train slope": how fast training accuracy still rose at the end' in report


def test_compare_cli_records_cost_speed_latency_and_plots(tmp_path):
    code, out, err = tuner("compare", "--models", f"{TINY},simple-cnn", "--latency-batches", "1,16",
                           "--directory", str(tmp_path), "--project-name", "c", *TRAINING)
    assert code == 0, err[-3000:]
    project = tmp_path / "c"
    with open(project / "report.csv") as f:
        rows = {r["model"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"micro", "simple-cnn"}
    for row in rows.values():
        assert int(row["params"]) > 0 and int(row["MACs"]) > 0 and float(row["step ms"]) > 0
        assert float(row["images/s"]) > 0 and float(row["epoch s"]) > 0
        assert float(row["latency ms/img b1"]) > 0 and float(row["latency ms/img b16"]) > 0
    assert int(rows["simple-cnn"]["MACs"]) > int(rows["micro"]["MACs"])
    for name in ("accuracy_vs_macs.png", "accuracy_vs_step.png"):
        assert png_size(project / name) == (825, 550)
    assert png_size(project / "step_time.png")[1] == 495 and png_size(project / "curves.png") == (1320, 495)
    (project / "report.csv").unlink()
    code, out, _ = tuner("report", str(project))
    with open(project / "report.csv") as f:
        rewritten = {r["model"]: r for r in csv.DictReader(f)}
    table = markdown_rows(out)
    assert code == 0 and table[0][0] == "model" and sorted(r[0] for r in table[1:]) == sorted(rows)
    assert {m: r["MACs"] for m, r in rewritten.items()} == {m: r["MACs"] for m, r in rows.items()}


def test_bad_study_and_compare_input_exit_2(tmp_path):
    for args, message, expected in (
            (["study", "--base", TINY, "--dimension", "height", "--directory", str(tmp_path), *TRAINING],
             "--dimension height", 2),
            (["compare", "--models", "b0,b0", "--directory", str(tmp_path), *TRAINING], "distinct model names", 2),
            (["compare", "--models", "b9", "--directory", str(tmp_path), *TRAINING], "Unknown variant 'b9'", 2),
            (["compare", "--models", "b0", "--directory", str(tmp_path)], "--dataset is required: cifar10,", 2),
            (["report", str(tmp_path)], "not a tuner project directory", 2)):
        code, _, err = tuner(*args)
        assert code == expected and message in err.strip().splitlines()[-1], (args, err[-500:])
