"""Compound-scaling search: feasible enumeration, the CLI end to end, resume, distribution, step 2."""

import csv
import json
import os
import signal
import socket

import pytest
from helpers import TINY, TRAINING, markdown_rows, png_size, trials, tuner, tuner_cli
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from effnet_keras.models.scaling import cost_ratio
from effnet_keras.training.plan import check_run
from effnet_keras.training.rundir import exclusive_lock
from effnet_keras.training.settings import TrainSettings
from effnet_keras.tuner.scale import scale_table
from effnet_keras.tuner.space import SEED_CANDIDATES, SpaceError, candidate_space, grid_space, parse_range

THREE = "1.2,1.1,1.15;1.15,1.1,1.2;1.1,1.2,1.15"


ranges = st.tuples(st.sampled_from([1.0, 1.05, 1.1]), st.sampled_from([1.2, 1.3, 1.4]),
                   st.sampled_from([0.05, 0.1])).map(lambda t: f"{t[0]}:{t[1]}:{t[2]}")


@hsettings(max_examples=40, deadline=None)
@given(ranges, ranges, ranges, st.sampled_from([1.5, 2.0, 2.5]), st.sampled_from([0.02, 0.05, 0.1]))
def test_grid_enumeration_is_complete_feasible_and_deterministic(a, b, g, target, tolerance):
    space = grid_space(a, b, g, target=target, tolerance=tolerance)
    brute = {(x, y, z) for x in parse_range(a, "a") for y in parse_range(b, "b") for z in parse_range(g, "g")
             if abs(cost_ratio(x, y, z) / target - 1) <= tolerance}
    try:
        points = space.feasible()
    except SpaceError as e:
        assert not brute and "widen the --grid" in str(e)
        return
    assert set(points) == brute and len(points) == len(brute)
    assert all(abs(cost_ratio(*p) / target - 1) <= tolerance for p in points)
    assert points == grid_space(a, b, g, target=target, tolerance=tolerance).feasible()
    gaps = [round(abs(cost_ratio(*p) / target - 1), 9) for p in points]
    assert gaps == sorted(gaps)  # closest to the target first


def test_default_grid_contains_the_papers_point():
    assert (1.2, 1.1, 1.15) in grid_space("1.0:1.4:0.05", "1.0:1.4:0.05", "1.0:1.4:0.05").feasible()


def test_seed_candidates_and_their_tolerance():
    assert candidate_space("seed", tolerance=0.06).feasible() == list(SEED_CANDIDATES)
    with pytest.raises(SpaceError, match=r"\(1.3, 1.05, 1.15\): ratio 1.895, 5.2% off.*Raise --tolerance"):
        candidate_space("seed", tolerance=0.05).feasible()


@pytest.mark.parametrize("make, message", [
    (lambda: grid_space("1.0:1.4", "1:2:0.1", "1:2:0.1"), "START:STOP:STEP"),
    (lambda: grid_space("1.4:1.0:0.1", "1:2:0.1", "1:2:0.1"), "STOP must be a number >= 1.4, got 1.0."),
    (lambda: candidate_space("1.2,1.1"), "'alpha,beta,gamma'"),
    (lambda: candidate_space("1.2,x,1.1"), "malformed"),
    (lambda: grid_space("1.0", "1.0", "1.0").feasible(), "widen the --grid ranges or raise --tolerance"),
    (lambda: candidate_space(""), "--candidates is empty"),
    (lambda: candidate_space("1.2,inf,1.1"), "malformed"),
    (lambda: grid_space("1.0:1.4:0.0001", "1.0:1.4:0.0001", "1.0:1.4:0.0001"), "--grid spans 64,048,012,001"),
    (lambda: grid_space("1.0:2.0:1e-9", "1.0", "1.0"),
     "alpha range '1.0:2.0:1e-9' has .* values; use a STEP of at least 0.01"),
    (lambda: grid_space("1.0:nan:0.1", "1.0", "1.0"), "malformed"),
    (lambda: grid_space("1.0:1e308:1e-300", "1.0", "1.0"), "alpha range .* has over 1,000,000 values"),
])
def test_bad_spaces_are_explained(make, message):
    with pytest.raises(SpaceError, match=message):
        make()


@pytest.mark.parametrize("args, message", [
    (["search", "--candidates", ""], "--candidates is empty"),
    (["search", "--candidates", "seed", "--max-trials", "-1"], "--max-trials must be a number >= 1 and <= 100,000"),
    (["search", "--candidates", "seed", "--max-trials", "0"], "--max-trials must be a number >= 1"),
    (["search", "--candidates", "seed", "--repeats", "0"], "--repeats must be a number >= 1 and <= 100, got 0"),
    (["search", "--candidates", "seed", "--repeats", "1000000"], "--repeats must be a number >= 1 and <= 100"),
    (["search", "--candidates", "seed", "--objective", "score", "--score-weight", "nan"],
     "--score-weight must be a number >= -10 and <= 10, got nan"),
    (["search", "--candidates", "seed", "--score-weight", "inf"], "--score-weight must be a number >= -10"),
    (["search", "--candidates", "seed", "--tolerance", "inf"], "--tolerance must be a number >= 0 and <= 1, got inf"),
    (["search", "--candidates", "seed", "--target", "nan"], "--target must be a number > 0"),
    (["search", "--grid", "1.0:1e308:1e-300", "1.0", "1.0"], "alpha range '1.0:1e308:1e-300' has over 1,000,000"),
    (["search", "--candidates", "seed", "--epochs", "99999999999999999999999"], "--epochs must be a number >= 1 and"),
    (["search", "--candidates", "seed", "--project-name", "../../trav"], "--project-name '../../trav' must be a plain"),
    (["search", "--candidates", "seed", "--project-name", "/abs/path"], "--project-name '/abs/path' must be a plain"),
    (["compare", "--project-name", ".."], "--project-name '..' must be a plain folder name"),
    (["search", "--candidates", "seed", "--lr", "nan"], "--lr must be a number > 0"),
    (["search", "--candidates", "seed", "--algorithm", "halving", "--reduction", "1"],
     "--reduction must be a number >= 2, got 1"),
    (["search", "--candidates", "seed", "--algorithm", "halving", "--min-epochs", "5", "--epochs", "2"],
     "--min-epochs must be a number >= 1 and <= 2, got 5"),
    (["search", "--candidates", "seed", "--constraint", "step-time", "--strategy", "multiworker"],
     "--constraint step-time times every candidate in this process on one device"),
    (["search", "--algorithm", "bayes", "--max-trials", "0"], "--max-trials must be a number >= 1"),
    (["search", "--algorithm", "bayes", "--candidates", "seed"], "it takes no --candidates"),
    (["search", "--algorithm", "bayes", "--constraint", "step-time"], "and not --constraint step-time"),
    (["search", "--algorithm", "bayes", "--constraint", "measured", "--target", "50", "--base", TINY, *TRAINING],
     "No network in the --grid ranges has a counted MAC ratio within 5% of 50 (32-44 px)"),
    (["search", "--algorithm", "bayes", "--grid", "1.3:1.4:0.05", "1.3:1.4:0.05", "1.3:1.4:0.05"],
     "No (alpha, beta, gamma) in the --grid ranges"),
    (["study", "--scale", "LIST"], "not a best.json"),
    (["scale", "LIST"], "not a best.json"),
    (["scale", "NAN"], "alpha must be a number > 0, got nan"),
])
def test_bad_tuner_input_stops_with_one_message_and_exit_2(tmp_path, args, message, capsys):
    from effnet_keras.tuner import cli

    (tmp_path / "list.json").write_text("[1.2, 1.1, 1.15]")
    (tmp_path / "nan.json").write_text('{"alpha": NaN, "beta": 1.1, "gamma": 1.15, "base": {}}')
    args = [str(tmp_path / "list.json") if a == "LIST" else str(tmp_path / "nan.json") if a == "NAN" else a
            for a in args]
    assert cli.main([*args, "--dataset", "synthetic", "--directory", str(tmp_path / "tuning")]
                    if args[0] != "scale" else args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not (tmp_path / "tuning").exists()


def test_search_end_to_end_with_a_kill_resume_report_and_rerun(tmp_path):
    args = ["search", "--base", TINY, "--candidates", THREE, "--directory", str(tmp_path), "--project-name", "p",
            *TRAINING, "--epochs", "2"]
    child = tuner_cli(*args)
    project = tmp_path / "p"
    if child.wait_for("Epoch 2/2", count=2):  # the second trial has recorded its first epoch
        child.kill()
    code, _, err = child.finish()
    assert code == -signal.SIGKILL, f"the search ended before it could be killed: {err[-3000:]}"
    first = project / "trial_0" / "run-0" / "metrics.json"
    stamp = first.stat().st_mtime_ns
    assert [s for _, s in trials(project)] == ["COMPLETED", "RUNNING"]

    code, out, err = tuner(*args)
    assert code == 0, err[-3000:]
    assert [s for _, s in trials(project)] == ["COMPLETED"] * 3
    assert sorted(p for p, _ in trials(project)) == sorted(
        tuple(float(v) for v in c.split(",")) for c in THREE.split(";"))
    assert first.stat().st_mtime_ns == stamp  # the finished trial did not train again
    assert "Resuming" in out  # the interrupted trial continued its own run
    for trial in ("trial_0", "trial_1", "trial_2"):
        with open(project / trial / "run-0" / "history.csv") as f:
            assert [row["epoch"] for row in csv.DictReader(f)] == ["1", "2"]

    with open(project / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and [r["index"] for r in rows] == ["1", "2", "3"]
    vals = [float(r["val mean %"]) for r in rows]
    assert vals == sorted(vals, reverse=True)
    for r in rows:
        assert float(r["alpha*beta^2*gamma^2"]) == pytest.approx(
            cost_ratio(float(r["alpha"]), float(r["beta"]), float(r["gamma"])), abs=1e-4)
        assert float(r["measured MAC ratio"]) > 1 and int(r["MACs"]) > 0 and float(r["step ms"]) > 0
    assert markdown_rows((project / "results.md").read_text())[0][:4] == ["index", "alpha", "beta", "gamma"]
    assert png_size(project / "search.png")[0] >= 600 and png_size(project / "curves.png") == (1320, 495)
    best = json.loads((project / "best.json").read_text())
    assert (best["alpha"], best["beta"], best["gamma"]) == (float(rows[0]["alpha"]), float(rows[0]["beta"]),
                                                          float(rows[0]["gamma"]))
    assert best["base"]["name"] == "micro"

    histories = sorted(project.glob("trial_*/run-0/history.csv"))
    written = [h.stat().st_mtime_ns for h in histories]
    code, out, err = tuner(*args)
    # resumed complete: nothing retrained
    assert code == 0 and "index" in [row[0] for row in markdown_rows(out)] and "Epoch" not in out + err
    assert [h.stat().st_mtime_ns for h in histories] == written

    plan = check_run(TrainSettings(scale=str(project / "best.json"), phi=3))
    assert plan.config["alpha"] == best["alpha"] and plan.config["phi"] == 3

    code, out, err = tuner("search", "--base", TINY, "--candidates", "1.2,1.1,1.15", "--directory",
                           str(tmp_path), "--project-name", "p", *TRAINING)
    assert code == 2 and "different search" in err


def test_a_measured_bayes_search_trains_networks_inside_the_counted_band(tmp_path):
    code, out, err = tuner("search", "--base", TINY, "--algorithm", "bayes", "--constraint", "measured",
                           "--max-trials", "1", "--directory", str(tmp_path), "--project-name", "p", *TRAINING)
    assert code == 0, err
    with open(tmp_path / "p" / "results.csv") as f:
        [values] = list(csv.DictReader(f))
    assert 1.9 <= float(values["measured MAC ratio"]) <= 2.1
    assert (32 * float(values["gamma"])).is_integer() and values["alpha"] == "1.0"  # micro's depth never changes


def test_a_second_command_on_a_project_stops_at_once_naming_the_first(tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    args = ["search", "--base", TINY, "--candidates", THREE, "--directory", str(tmp_path), "--project-name", "p",
            *TRAINING]
    with exclusive_lock(project, "held"):  # this test process plays the first command
        code, out, err = tuner(*args)
    assert code == 2 and "Traceback" not in err
    assert f"{project} is in use by another tuner command (PID {os.getpid()})" in err
    assert {p.name for p in project.iterdir()} == {".lock"}  # nothing of a search was written


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_distributed_search_runs_every_point_exactly_once_and_survives_a_dead_worker(tmp_path):
    port = str(_free_port())
    args = ["search", "--base", TINY, "--candidates", THREE, "--directory", str(tmp_path), "--project-name", "p",
            *TRAINING, "--epochs", "2"]
    base_env = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": port}
    chief = tuner_cli(*args, env={**base_env, "KERASTUNER_TUNER_ID": "chief"})
    assert chief.wait_for(f"3 trials planned; project {tmp_path / 'p'}"), "".join(chief.err)[-3000:]  # chief is up
    workers = {f"tuner{i}": tuner_cli(*args, env={**base_env, "KERASTUNER_TUNER_ID": f"tuner{i}"}) for i in range(2)}
    project = tmp_path / "p"
    victim = workers["tuner0"]
    assert victim.wait_for("Epoch 2/2"), "worker tuner0 finished before it could be killed"  # its first epoch is in
    victim.kill()
    victim.finish()
    # The run it was training holds its PID in the run's lock file.
    [lock] = [p for p in project.glob("trial_*/run-0/.lock") if p.read_text().strip() == str(victim.pid)]
    killed_trial = lock.parent.parent.name
    workers["tuner0"] = tuner_cli(*args, env={**base_env, "KERASTUNER_TUNER_ID": "tuner0"})  # same id again
    for worker in workers.values():
        code, out, err = worker.finish()
        assert code == 0, err[-3000:]
    code, _, err = chief.finish(timeout=120)
    assert code == 0, err[-3000:]
    ran = trials(project)
    assert sorted(p for p, _ in ran) == sorted(tuple(float(v) for v in c.split(",")) for c in THREE.split(";"))
    assert all(status == "COMPLETED" for _, status in ran)
    assert len({p for p, _ in ran}) == len(ran) == 3
    with open(project / killed_trial / "run-0" / "history.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["1", "2"]  # resumed, not restarted


@pytest.mark.parametrize("command", [["search", "--candidates", "seed"], ["study"],
                                     ["compare", "--models", "simple-cnn"]])
def test_every_tuner_command_takes_the_data_flags_and_names_the_counts_flag(tmp_path, command, capsys):
    import numpy as np

    from effnet_keras.data import write_cifar_archive
    from effnet_keras.training.flags import settings_from_args
    from effnet_keras.tuner import cli

    rng = np.random.default_rng(0)
    write_cifar_archive(tmp_path / "data", "cifar10", rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8),
                        np.arange(30) % 10, rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8), np.arange(10))
    args = [*command, "--dataset", "cifar10", "--data-dir", str(tmp_path / "data"), "--directory",
            str(tmp_path / "tuning")]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pass --expected-counts 30,10 or --expected-counts any" in err[0]
    assert not (tmp_path / "tuning").exists()
    parsed = cli.build_parser().parse_args([*args, "--expected-counts", "30,10", "--classes", "3,4,5"])
    settings = settings_from_args(parsed)
    assert (settings.expected_counts, settings.classes) == ("30,10", "3,4,5")


def test_scale_table_doubles_cost_per_phi(tmp_path):
    best = tmp_path / "best.json"
    from effnet_keras import get_config

    best.write_text(json.dumps({"alpha": 1.2, "beta": 1.1, "gamma": 1.15, "base": get_config("b0")}))
    rows = scale_table(best, [1.0, 2.0])
    assert [r["phi"] for r in rows] == [0.0, 1.0, 2.0] and rows[0]["MAC ratio"] == 1
    # Rounding repeats up makes the first step overshoot (one-block stages get two): 2.58x, then 4.70x.
    gaps = [row["MAC ratio"] / 2 ** row["phi"] - 1 for row in rows[1:]]
    assert 0 < gaps[1] < gaps[0] < 0.3
    assert rows[2]["resolution"] == round(224 * 1.15**2)


def test_measured_constraint_uses_counted_cost_and_records_it():
    measured = {(1.2, 1.1, 1.15): 2.58, (1.1, 1.05, 1.3): 2.02, (1.15, 1.2, 1.0): 1.5}
    space = candidate_space("1.1,1.05,1.3", constraint="measured")
    assert space.feasible(lambda p: measured[p]) == [(1.1, 1.05, 1.3)]
    assert space.measured == {(1.1, 1.05, 1.3): 2.02}
    grid = grid_space("1.1:1.2:0.05", "1.05:1.2:0.05", "1.0:1.3:0.05", constraint="measured")
    calls = []
    points = grid.feasible(lambda p: calls.append(p) or measured.get(p, 99.0))
    assert points == [(1.1, 1.05, 1.3)] and (1.2, 1.1, 1.15) in calls  # counted, then rejected at 2.58


def test_a_damaged_trial_record_is_named_and_nothing_is_changed(tmp_path, capsys):
    from effnet_keras.tuner import cli
    from effnet_keras.tuner.trials import read_trial_records

    project = tmp_path / "project"
    (project / "trial_0").mkdir(parents=True)
    (project / "oracle.json").write_text(json.dumps({"project": {"kind": "search"}}))
    (project / "trial_0" / "trial.json").write_text('{"trial_id": "0", "status": "COMPL')
    with pytest.raises(ValueError, match=r"trial_0/trial.json is damaged \(.*nothing was changed"):
        read_trial_records(project)
    assert cli.main(["report", str(project)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trial_0/trial.json is damaged" in err[0]
    assert (project / "trial_0" / "trial.json").read_text() == '{"trial_id": "0", "status": "COMPL'
