"""train.py end to end on the synthetic set: learning, run directory, resume, strategies, errors."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

import effnet_keras as ek
from effnet_keras import train_cli
from effnet_keras.training import errors, loop as training, rundir, settings
from effnet_keras.training.augment import resize_layer
from effnet_keras.data import write_cifar_archive, write_fashion_mnist
from helpers import markdown_rows

ROOT = Path(__file__).resolve().parents[1]
SMALL_DATA = ["--dataset", "synthetic", "--synthetic-train", "1024", "--synthetic-test", "256"]
TINY_RUN = ["--model", "simple-cnn", "--dataset", "synthetic", "--synthetic-train", "64", "--synthetic-test", "32",
            "--epochs", "3", "--steps-per-epoch", "2", "--batch-size", "16", "--augment", "none"]


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("configs") / "tiny.json"
    config = ek.override("b0", width=0.25, depth=0.25, resolution=32, bn_momentum=0.9, name="tiny")
    path.write_text(json.dumps(config))
    return str(path)


def cli(*args, timeout=400):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def history(run_dir):
    with open(Path(run_dir) / "history.csv") as f:
        return list(csv.DictReader(f))


def test_one_epoch_learns_and_writes_a_complete_run_directory(tmp_path):
    run_dir = tmp_path / "run"
    result = cli("--model", "simple-cnn", "--dataset", "synthetic", "--synthetic-train", "5000",
                 "--synthetic-test", "500", "--epochs", "1", "--batch-size", "64", "--optimizer", "adamw", "--lr", "0.004",
                 "--output-dir", str(run_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("config.json", "history.csv", "model.keras", "metrics.json", "curves.png", "state.json"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "checkpoints").glob("epoch-0001.weights.h5"))
    assert any((run_dir / "logs").rglob("events.out.tfevents.*"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["best_val_accuracy"] > 0.25 and metrics["test_accuracy"] > 0.25  # chance is 0.1
    assert metrics["params"] > 0 and metrics["macs"] > 0 and metrics["images_per_second"] > 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["precision"] == "float32" and config["versions"]["keras"] == keras.__version__
    assert len(config["class_names"]) == 10 and config["settings"]["batch_size"] == 64
    rows = history(run_dir)
    assert len(rows) == 1 and set(rundir.HISTORY_COLUMNS) <= set(rows[0])
    assert "test_accuracy" in [row[0] for row in markdown_rows(result.stdout)]
    model = keras.models.load_model(run_dir / "model.keras")
    assert model.input.dtype == "uint8" and model.input_shape == (None, 32, 32, 3)

    again = cli("--model", "simple-cnn", "--dataset", "synthetic", "--synthetic-train", "5000",
                "--synthetic-test", "500", "--epochs", "1", "--batch-size", "64", "--optimizer", "adamw", "--lr", "0.004",
                "--output-dir", str(run_dir))
    assert again.returncode == 0 and "already complete" in again.stdout


def test_killed_run_resumes_from_the_last_completed_epoch(tmp_path, tiny_config):
    run_dir = tmp_path / "run"
    args = [str(ROOT / "train.py"), "--model", tiny_config, *SMALL_DATA, "--epochs", "3", "--batch-size", "64",
            "--output-dir", str(run_dir), "--augment", "none"]
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        state = run_dir / "state.json"
        if state.exists() and json.loads(state.read_text())["epochs_done"] >= 1:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    done = json.loads((run_dir / "state.json").read_text())["epochs_done"]
    assert 1 <= done < 3

    result = cli(*args[1:])
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
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None and not (
                (run_dir / ".lock").exists() and (run_dir / ".lock").read_text().strip() == str(proc.pid)):
            time.sleep(0.05)
        assert proc.poll() is None, "the first command ended before it could be raced"
        assert train_cli.main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"error: {run_dir} is in use by another training command (PID {proc.pid}); wait for it to "
                       "finish or stop it, or pass another --output-dir."]
    finally:
        proc.kill()
        proc.wait()
    with rundir.RunDir(run_dir).lock():  # the kernel released the dead command's lock
        assert (run_dir / ".lock").read_text() == f"{os.getpid()}\n"


def test_mirrored_strategy_over_two_logical_cpus(tmp_path, tiny_config):
    run_dir = tmp_path / "run"
    result = cli("--model", tiny_config, *SMALL_DATA, "--epochs", "1", "--batch-size", "64",
                 "--steps-per-epoch", "4", "--strategy", "mirrored", "--logical-cpus", "2", "--output-dir", str(run_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["strategy"] == "MirroredStrategy" and config["replicas"] == 2
    assert len(history(run_dir)) == 1


@pytest.mark.parametrize("args, message", [
    (["--model", "b9"], "Unknown variant 'b9'"),
    (["--model", "b0", "--resolution", "16"], "below 32 pixels"),
    (["--model", "simple-cnn", "--width", "2"], "fixed baseline"),
    (["--model", "b0", "--alpha", "1.2"], "missing: --beta, --gamma, --phi"),
    (["--model", "b0", "--weights", "/nonexistent/w.h5"], "no such file"),
    (["--model", "b0", "--augment", "sparkles"], "augmentation policy 'sparkles'"),
    (["--model", "simple-cnn", "--classes", "3,x"], "--classes '3,x': expected comma-separated labels"),
    (["--model", "simple-cnn", "--classes", "3,3"], "give 2 or more distinct labels in 0..9"),
    (["--model", "simple-cnn", "--expected-counts", "5"], "--expected-counts '5': expected TRAIN,TEST"),
    (["--model", "simple-cnn", "--expected-counts", "any"], "--expected-counts applies to data read from files"),
    (["--model", "simple-cnn", "--train-images", "0"], "--train-images must be >= 1, got 0"),
    (["--model", "b0", "--gamma", "inf", "--alpha", "1.2", "--beta", "1.1", "--phi", "1"],
     "--gamma must be a finite number > 0, got inf"),
    (["--model", "b0", "--alpha", "1e200", "--beta", "1.1", "--gamma", "1.15", "--phi", "2"],
     "--alpha 1e+200 with --phi 2 scales depth by"),
    (["--model", "b0", "--alpha", "1.2", "--beta", "1.1", "--gamma", "1.15", "--phi", "nan"],
     "--phi must be a finite number, got nan"),
    (["--model", "b0", "--scale", "LIST", "--phi", "1"], "expected a JSON object with alpha, beta, gamma"),
    (["--model", "../../escape.json"], "'name' is '../../escape'"),
    (["--model", "simple-cnn", "--seed", "-1"], "--seed must be >= 0, got -1"),
    (["--model", "simple-cnn", "--logical-cpus", "-2"], "--logical-cpus must be >= 0, got -2"),
    (["--model", "simple-cnn", "--progressive-stages", "0"], "--progressive-stages must be >= 1, got 0"),
    (["--model", "simple-cnn", "--dropout", "1.5"], "--dropout must be a number >= 0 and < 1, got 1.5"),
    (["--model", "b0", "--drop-connect", "1.5"], "--drop-connect must be a number >= 0 and < 1, got 1.5"),
    (["--model", "simple-cnn", "--ema", "5"], "--ema must be a number > 0 and < 1, got 5.0"),
    (["--model", "simple-cnn", "--phi", "1"], "fixed baseline"),
    (["--model", "b0", "--scale", "BEST", "--alpha", "1.3", "--phi", "1"], "drop --alpha or --scale"),
])
def test_bad_settings_exit_2_with_one_message(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "LIST").write_text("[1.2, 1.1, 1.15]")
    (tmp_path / "BEST").write_text(json.dumps({"alpha": 1.2, "beta": 1.1, "gamma": 1.15}))
    config = ek.get_config("b0")
    config["name"] = "../../escape"
    (tmp_path / "escape.json").write_text(json.dumps(config))
    args = [str(tmp_path / "escape.json") if a == "../../escape.json" else a for a in args]
    assert train_cli.main([*args, *SMALL_DATA, "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_batch_larger_than_the_training_set_is_refused_before_training(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train_cli.main(["--model", "simple-cnn", "--dataset", "synthetic", "--synthetic-train", "10",
                           "--synthetic-test", "10", "--batch-size", "16", "--output-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--batch-size 16 is larger than the 10 training images" in err[0]
    assert "use --batch-size 10 or less" in err[0]
    assert not (run_dir / "model.keras").exists() and not (run_dir / "history.csv").exists()


def test_unwritable_output_dir_and_offline_imagenet(tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.write_text("a file, not a folder")
    assert train_cli.main(["--model", "simple-cnn", *SMALL_DATA, "--output-dir", str(locked / "run")]) == 2
    assert "not writable" in capsys.readouterr().err

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    assert train_cli.main(["--model", "b0", "--weights", "imagenet", *SMALL_DATA]) == 2
    assert "Offline?" in capsys.readouterr().err


def test_batch_not_divisible_by_replicas(monkeypatch, capsys):
    class TwoReplicas:
        num_replicas_in_sync = 2

    monkeypatch.setattr(training.runtime, "make_strategy", lambda name: TwoReplicas())
    assert train_cli.main(["--model", "simple-cnn", *SMALL_DATA, "--batch-size", "63"]) == 2
    assert "not divisible by the 2 replicas" in capsys.readouterr().err


def test_diverging_run_reports_clearly(tmp_path, tiny_config):
    result = cli("--model", tiny_config, *SMALL_DATA, "--epochs", "1", "--steps-per-epoch", "3", "--batch-size", "32",
                 "--lr", "1e30", "--warmup-epochs", "0", "--output-dir", str(tmp_path / "run"))
    assert result.returncode == 1
    assert "NaN/Inf in epoch 1" in result.stderr and "lower --lr" in result.stderr


def test_compound_scaling_flags_and_absolute_overrides():
    plan = settings.plan_model(settings.TrainSettings(model="b0", alpha=1.2, beta=1.1, gamma=1.15, phi=1,
                                                      resolution=64))
    assert plan.config["alpha"] == 1.2 and plan.resolution == 64 and plan.config["width"] == pytest.approx(1.1)
    plan = settings.plan_model(settings.TrainSettings(model="b3", width=0.5))
    assert plan.config["width"] == 0.5 and plan.config["depth"] == 1.4 and plan.resolution == 300
    assert settings.plan_model(settings.TrainSettings(model="resnet152")).resolution == 224
    assert np.isclose(settings.plan_model(settings.TrainSettings(model="v2-s")).resolution, 300)


def test_scale_file_from_the_tuner_with_phi(tmp_path):
    scale = tmp_path / "best.json"
    scale.write_text(json.dumps({"alpha": 1.2, "beta": 1.1, "gamma": 1.15, "base": "b0", "val_accuracy": 0.9}))
    plan = settings.plan_model(settings.TrainSettings(model="b0", scale=str(scale), phi=2))
    assert plan.config["depth"] == pytest.approx(1.44) and plan.resolution == round(224 * 1.15**2)
    with pytest.raises(errors.UsageError, match="missing: --phi"):
        settings.plan_model(settings.TrainSettings(model="b0", scale=str(scale)))


def test_progressive_run_trains_each_stage_at_its_size_and_serves_the_final_one(tmp_path, tiny_config):
    run_dir = tmp_path / "run"
    result = cli("--model", tiny_config, *SMALL_DATA, "--resolution", "48", "--epochs", "2", "--steps-per-epoch", "4",
                 "--batch-size", "32", "--progressive", "--progressive-stages", "2", "--augment", "basic+mixup",
                 "--output-dir", str(run_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "epochs 1-1 at 32px" in result.stdout and "epochs 2-2 at 48px" in result.stdout
    assert [int(r["epoch"]) for r in history(run_dir)] == [1, 2]
    assert keras.models.load_model(run_dir / "model.keras").input_shape == (None, 32, 32, 3)


def test_transfer_learning_loads_the_backbone_and_freezes_it(tmp_path, tiny_config):
    backbone = ek.build_model(tiny_config, include_top=False, pooling="avg", input_shape=(32, 32, 3))
    path = tmp_path / "backbone.weights.h5"
    backbone.save_weights(path)
    s = settings.TrainSettings(model=tiny_config, weights=str(path), freeze_backbone=True, dropout=0.1)
    plan = settings.plan_model(s)
    model = training.build_classifier(s, plan, 10, (32, 32, 3), s.weights)
    loaded = model.get_layer(index=1)
    assert not loaded.trainable and all(not w.trainable for w in loaded.weights)
    for a, b in zip(loaded.get_weights(), backbone.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert [w.name for w in model.trainable_weights] == ["kernel", "bias"]  # only the new head trains
    assert model.get_layer("top_dropout").rate == 0.1 and model.output_shape == (None, 10)


@pytest.mark.parametrize("image_shape, resolution", [((32, 32, 3), 64), ((28, 28, 1), 40)])
def test_serving_model_takes_raw_uint8_and_resizes_inside(image_shape, resolution):
    """Grey images are also repeated into the three channels the classifier takes."""
    inner = keras.Sequential(
        [keras.Input((resolution, resolution, 3)), keras.layers.Conv2D(2, 3), keras.layers.GlobalAveragePooling2D()]
    )
    model = training.serving_model(training.resized(inner, image_shape, resolution, "core"), "serving")
    assert model.input.dtype == "uint8" and tuple(model.input.shape) == (None, *image_shape)
    images = np.random.default_rng(0).integers(0, 256, (2, *image_shape), dtype=np.uint8)
    up = np.asarray(resize_layer(resolution)(images))
    assert up.shape == (2, resolution, resolution, image_shape[-1]) and up.dtype == np.float32
    rgb = np.repeat(up, 3 // image_shape[-1], axis=-1)
    np.testing.assert_allclose(np.asarray(model(images)), np.asarray(inner(rgb)), rtol=1e-5, atol=1e-5)


def grey_arrays(n_train, n_test, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n_train, 28, 28, 1), dtype=np.uint8), np.arange(n_train) % 10,
            rng.integers(0, 256, (n_test, 28, 28, 1), dtype=np.uint8), np.arange(n_test) % 10)


def test_fashion_mnist_files_train_on_some_classes_and_export_raw_grey_images(tmp_path):
    data_dir, run_dir = tmp_path / "data", tmp_path / "run"
    write_fashion_mnist(data_dir, *grey_arrays(200, 50))
    result = cli("--model", "simple-cnn", "--dataset", "fashion-mnist", "--data-dir", str(data_dir),
                 "--expected-counts", "200,50", "--classes", "0,9,5", "--epochs", "1", "--steps-per-epoch", "2",
                 "--batch-size", "16", "--output-dir", str(run_dir), "--export")
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["image_shape"] == [28, 28, 1] and config["train_images"] == 60
    assert config["class_names"] == ["t-shirt/top", "ankle boot", "sandal"]
    model = keras.models.load_model(run_dir / "model.keras")
    assert model.input.dtype == "uint8" and model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 3)
    assert (run_dir / "export" / "labels.txt").read_text().splitlines() == config["class_names"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "run"]


def test_cifar_archive_pickled_by_python3_with_own_counts_trains_with_the_flag(tmp_path, capsys):
    data_dir = tmp_path / "data"
    rng = np.random.default_rng(0)
    write_cifar_archive(data_dir, "cifar10", rng.integers(0, 256, (200, 32, 32, 3), dtype=np.uint8),
                        np.arange(200) % 10, rng.integers(0, 256, (50, 32, 32, 3), dtype=np.uint8),
                        np.arange(50) % 10, protocol=2)
    args = ["--model", "simple-cnn", "--dataset", "cifar10", "--data-dir", str(data_dir), "--epochs", "1",
            "--steps-per-epoch", "2", "--batch-size", "16"]
    assert train_cli.main([*args, "--output-dir", str(tmp_path / "refused")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "200 train images, expected 50000" in err[0] and "--expected-counts 200,50" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "refused"]
    assert sorted(p.name for p in data_dir.iterdir()) == ["cifar-10-python.tar.gz"]  # no cache of refused data
    result = cli(*args, "--expected-counts", "any", "--output-dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train_images"] == 200


def test_ctrl_c_says_how_to_resume(monkeypatch, capsys):
    def interrupted(settings):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_cli, "train", interrupted)
    assert train_cli.main(["--model", "simple-cnn", *SMALL_DATA]) == 130
    assert "run the same command again to resume" in capsys.readouterr().err
