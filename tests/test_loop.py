"""Specification of effnet_keras.training.loop: `train` end to end on tiny models and data (the run
directory, strategies, divergence, progressive learning, transfer learning, the serving model)."""

import json

import keras
import numpy as np
import pytest
from helpers import SMALL_DATA, TINY, history, markdown_rows, train_py, train_py_process

import effnet_keras as ek
from effnet_keras import train_cli
from effnet_keras.training import loop, rundir, settings
from effnet_keras.training.augment import resize_layer
from effnet_keras.training.plan import check_run
from effnet_keras.training.settings import TrainSettings


def test_one_epoch_learns_and_writes_a_complete_run_directory(tmp_path):
    run_dir = tmp_path / "run"
    result = train_py("--model", "simple-cnn", "--dataset", "synthetic", "--synthetic-train", "5000",
                 "--synthetic-test", "500", "--epochs", "1", "--batch-size", "64", "--optimizer", "adamw",
                      "--lr", "0.004", "--output-dir", str(run_dir))
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

    again = train_py("--model", "simple-cnn", "--dataset", "synthetic", "--synthetic-train", "5000",
                "--synthetic-test", "500", "--epochs", "1", "--batch-size", "64", "--optimizer", "adamw",
                     "--lr", "0.004", "--output-dir", str(run_dir))
    assert again.returncode == 0 and "already complete" in again.stdout


def test_mirrored_strategy_over_two_logical_cpus(tmp_path):
    run_dir = tmp_path / "run"
    result = train_py_process("--model", TINY, *SMALL_DATA, "--epochs", "1", "--batch-size", "64",
                              "--steps-per-epoch", "4", "--strategy", "mirrored", "--logical-cpus", "2",
                              "--output-dir", str(run_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["strategy"] == "MirroredStrategy" and config["replicas"] == 2
    assert len(history(run_dir)) == 1


def test_batch_larger_than_the_training_set_is_refused_before_training(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train_cli.main(["--model", "simple-cnn", "--dataset", "synthetic", "--synthetic-train", "10",
                           "--synthetic-test", "10", "--batch-size", "16", "--output-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--batch-size 16 is larger than the 9 training images" in err[0]  # 1 held out
    assert "use --batch-size 9 or less" in err[0]
    assert not run_dir.exists()  # nothing was trained, so no run folder is left


def test_batch_not_divisible_by_replicas(monkeypatch, capsys):
    class TwoReplicas:
        num_replicas_in_sync = 2

    monkeypatch.setattr(loop.runtime, "make_strategy", lambda name: TwoReplicas())
    assert train_cli.main(["--model", "simple-cnn", *SMALL_DATA, "--batch-size", "63"]) == 2
    assert "not divisible by the 2 replicas" in capsys.readouterr().err


def test_diverging_run_reports_clearly(tmp_path):
    result = train_py("--model", TINY, *SMALL_DATA, "--epochs", "1", "--steps-per-epoch", "3", "--batch-size", "32",
                 "--lr", "1e30", "--warmup-epochs", "0", "--output-dir", str(tmp_path / "run"))
    assert result.returncode == 1
    assert "NaN/Inf in epoch 1" in result.stderr and "lower --lr" in result.stderr


def test_progressive_run_trains_each_stage_at_its_size_and_serves_the_final_one(tmp_path):
    run_dir = tmp_path / "run"
    result = train_py("--model", TINY, *SMALL_DATA, "--resolution", "48", "--epochs", "2", "--steps-per-epoch", "4",
                 "--batch-size", "32", "--progressive", "--progressive-stages", "2", "--augment", "basic+mixup",
                 "--output-dir", str(run_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "epochs 1-1 at 32px" in result.stdout and "epochs 2-2 at 48px" in result.stdout
    assert [int(r["epoch"]) for r in history(run_dir)] == [1, 2]
    assert keras.models.load_model(run_dir / "model.keras").input_shape == (None, 32, 32, 3)


def test_transfer_learning_loads_the_backbone_and_freezes_it(tmp_path):
    backbone = ek.build_model(TINY, include_top=False, pooling="avg", input_shape=(32, 32, 3))
    path = tmp_path / "backbone.weights.h5"
    backbone.save_weights(path)
    s = TrainSettings(model=TINY, weights=str(path), freeze_backbone=True, dropout=0.1)
    plan = check_run(s)
    model = loop.build_classifier(s, plan, 10, (32, 32, 3), s.weights)
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
    model = loop.serving_model(loop.resized(inner, image_shape, resolution, "core"), "serving")
    assert model.input.dtype == "uint8" and tuple(model.input.shape) == (None, *image_shape)
    images = np.random.default_rng(0).integers(0, 256, (2, *image_shape), dtype=np.uint8)
    up = np.asarray(resize_layer(resolution)(images))
    assert up.shape == (2, resolution, resolution, image_shape[-1]) and up.dtype == np.float32
    rgb = np.repeat(up, 3 // image_shape[-1], axis=-1)
    np.testing.assert_allclose(np.asarray(model(images)), np.asarray(inner(rgb)), rtol=1e-5, atol=1e-5)


def counted(monkeypatch, module, name: str) -> list:
    """Replace `module.name` by a wrapper that calls it and appends 1 to the list returned, per call."""
    calls, original = [], getattr(module, name)

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


def test_the_train_step_is_traced_and_the_settings_resolved_once_per_run(tmp_path, monkeypatch):
    """The optimizer is built before fit: building it inside the first traced step made TensorFlow
    trace that step a second time (about 12 s of a tiny run on 2 CPU cores). The settings are checked
    (`check_settings` selects the data set once) and the recipe customised once; the rest reads them."""
    traced = []
    original = loop.Trainer.train_step

    def counting(self, data):
        traced.append(1)  # the Python body runs once per trace, not once per step
        return original(self, data)

    monkeypatch.setattr(loop.Trainer, "train_step", counting)
    checks, recipes = counted(monkeypatch, settings, "dataset_selection"), counted(monkeypatch, settings, "customised")
    metrics = loop.train(TrainSettings(model=TINY, dataset="synthetic", synthetic_train=128, synthetic_test=32,
                                       epochs=2, steps_per_epoch=2, batch_size=32, augment="none",
                                       output_dir=str(tmp_path / "run")), log=lambda *_: None)
    assert len(traced) == 1 and metrics["epochs"] == 2
    assert (len(checks), len(recipes)) == (1, 1)
