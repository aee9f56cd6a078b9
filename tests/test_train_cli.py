"""Specification of train.py (effnet_keras.train_cli): one message and exit code 2 for bad flags and
bad data, a required --dataset, the same exit code for an export error as `python -m effnet_keras export`,
training from data files, and what Ctrl-C says."""

import json

import keras
import numpy as np
import pytest
from helpers import SMALL_DATA, TINY_RUN, in_process, train_py

import effnet_keras as ek
from effnet_keras import cli, train_cli
from effnet_keras.data import write_cifar_archive, write_fashion_mnist


@pytest.mark.parametrize("args, message", [
    (["--model", "b9"], "Unknown variant 'b9'"),
    (["--model", "b0", "--resolution", "16"], "--resolution 16 is not an integer from 32 to 100,000 pixels"),
    (["--model", "b0", "--resolution", "1" + "0" * 200], "is not an integer from 32 to 100,000 pixels"),
    (["--model", "simple-cnn", "--width", "2"], "fixed baseline"),
    (["--model", "b0", "--alpha", "1.2"], "missing: --beta, --gamma, --phi"),
    (["--model", "b0", "--weights", "/nonexistent/w.h5"], "no such file"),
    (["--model", "b0", "--augment", "sparkles"], "augmentation policy 'sparkles'"),
    (["--model", "simple-cnn", "--classes", "3,x"], "--classes: synthetic has no class 'x'; its classes are disc,"),
    (["--model", "simple-cnn", "--classes", "3,3"], "give 2 or more distinct labels in 0..9"),
    (["--model", "simple-cnn", "--expected-counts", "5"], "--expected-counts '5': expected TRAIN,TEST"),
    (["--model", "simple-cnn", "--expected-counts", "any"], "--expected-counts applies to the official CIFAR and"),
    (["--model", "simple-cnn", "--train-images", "0"], "--train-images must be a number >= 1 and <= 100,000,000"),
    (["--model", "b0", "--gamma", "inf", "--alpha", "1.2", "--beta", "1.1", "--phi", "1"],
     "--gamma must be a number > 0, got inf"),
    (["--model", "b0", "--alpha", "1e200", "--beta", "1.1", "--gamma", "1.15", "--phi", "2"],
     "--alpha 1e+200 with --phi 2 scales depth by"),
    (["--model", "b0", "--alpha", "1.2", "--beta", "1.1", "--gamma", "1.15", "--phi", "nan"],
     "--phi must be a finite number, got nan"),
    (["--model", "b0", "--scale", "LIST", "--phi", "1"], "expected a JSON object with alpha, beta, gamma"),
    (["--model", "../../escape.json"], "'name' is '../../escape'"),
    (["--model", "simple-cnn", "--seed", "-1"], "--seed must be a number >= 0 and <= 4,294,967,295, got -1"),
    (["--model", "simple-cnn", "--logical-cpus", "-2"], "--logical-cpus must be a number >= 0 and <= 1,024, got -2"),
    (["--model", "simple-cnn", "--progressive-stages", "0"], "--progressive-stages must be a number >= 1 and <= 100"),
    (["--model", "simple-cnn", "--dropout", "1.5"], "--dropout must be a number >= 0 and < 1, got 1.5"),
    (["--model", "b0", "--drop-connect", "1.5"], "--drop-connect must be a number >= 0 and < 1, got 1.5"),
    (["--model", "simple-cnn", "--ema", "5"], "--ema must be a number > 0 and < 1, got 5.0"),
    (["--model", "simple-cnn", "--phi", "1"], "fixed baseline"),
    (["--model", "b0", "--scale", "BEST", "--alpha", "1.3", "--phi", "1"], "drop --alpha or --scale"),
    (["--model", "b0", "--width", "1000"], "too large to build: about"),
    (["--model", "b0", "--resolution", "100000"], "GiB of activations per training image"),
    (["--model", "b0", "--max-params", "0"], "--max-params must be a number > 0"),
    (["--model", "simple-cnn", "--stop-epoch", "2"], "--stop-epoch must be a number >= 1 and <= 1, got 2"),
    (["--model", "simple-cnn", "--stop-epoch", "0"], "--stop-epoch must be a number >= 1 and <= 1, got 0"),
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


def grey_arrays(n_train, n_test, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n_train, 28, 28, 1), dtype=np.uint8), np.arange(n_train) % 10,
            rng.integers(0, 256, (n_test, 28, 28, 1), dtype=np.uint8), np.arange(n_test) % 10)


def test_fashion_mnist_files_train_on_some_classes_and_export_raw_grey_images(tmp_path):
    data_dir, run_dir = tmp_path / "data", tmp_path / "run"
    write_fashion_mnist(data_dir, *grey_arrays(200, 50))
    result = train_py("--model", "simple-cnn", "--dataset", "fashion-mnist", "--data-dir", str(data_dir),
                 "--expected-counts", "200,50", "--classes", "0,9,5", "--epochs", "1", "--steps-per-epoch", "2",
                 "--batch-size", "16", "--output-dir", str(run_dir), "--export")
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["image_shape"] == [28, 28, 1] and config["train_images"] == 54  # 6 of 60 validate
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
    assert train_cli.main([*args, "--output-dir", str(tmp_path / "refused")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "200 train images, expected 50000" in err[0] and "--expected-counts 200,50" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no empty run folder
    assert sorted(p.name for p in data_dir.iterdir()) == ["cifar-10-python.tar.gz"]  # no cache of refused data
    result = train_py(*args, "--expected-counts", "any", "--output-dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train_images"] == 180  # 20 validate


def test_the_data_set_must_be_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = train_py("--model", "simple-cnn", "--epochs", "1")
    assert result.returncode == 2 and result.stderr.startswith("usage: train.py")
    assert result.stderr.strip().splitlines()[-1] == (
        "train.py: error: --dataset is required: cifar10, cifar10-3, cifar100, fashion-mnist, synthetic, "
        "folder:PATH (a folder of class folders of images) or tfds:NAME (a TFDS image classification set prepared "
        "in --data-dir); --dataset synthetic gives made-up images for demos and tests.")
    assert list(tmp_path.iterdir()) == []


def test_an_export_error_has_the_same_exit_code_from_train_py_and_the_export_command(tmp_path):
    run, blocker = tmp_path / "run", tmp_path / "a-file"
    blocker.write_text("not a folder")
    trained = train_py(*TINY_RUN, "--epochs", "1", "--output-dir", str(run), "--export", str(blocker))
    exported = in_process(cli.main, ["export", str(run), str(blocker), "--no-verify"])
    for result in (trained, exported):
        err = result.stderr.strip().splitlines()
        assert result.returncode == 2 and err[-1].startswith("error: OUT_DIR") and "is not a directory" in err[-1]
        assert "Traceback" not in result.stderr
    assert (run / "model.keras").is_file() and blocker.read_text() == "not a folder"


def test_an_unexpected_exception_keeps_its_traceback(monkeypatch):
    def broken(settings):
        raise ValueError("a bug, not a user mistake")

    monkeypatch.setattr(train_cli, "train", broken)
    with pytest.raises(ValueError, match="a bug"):
        train_cli.main(["--model", "simple-cnn", *SMALL_DATA])


def test_ctrl_c_says_how_to_resume(monkeypatch, capsys):
    def interrupted(settings):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_cli, "train", interrupted)
    assert train_cli.main(["--model", "simple-cnn", *SMALL_DATA]) == 130
    assert "run the same command again to resume" in capsys.readouterr().err
