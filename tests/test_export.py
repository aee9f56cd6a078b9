"""SavedModel export of a run directory: signature, reload without effnet_keras, precision, errors."""

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import TINY as MICRO

import effnet_keras as ek
from effnet_keras import cli
from effnet_keras.training import export
from effnet_keras.training.export import ExportError, add_export_command, export_run, verify_export

pytestmark = pytest.mark.xdist_group("export")  # its module-scoped fixtures are built once, on one worker

NAMES = ["airplane", "chat noir", "über", "deer", "frog"]
PASSED = dict.fromkeys(export.CHECKS, True)
TINY = ek.override(MICRO, resolution=64, head_filters=1280)  # 320 features: peaked probabilities


def make_model(precision="float32", seed=0, num_classes=5):
    """uint8 [batch, 32, 32, 3] -> float -> Resizing(64) -> micro EfficientNet -> float32 probabilities, like a run."""
    keras.utils.clear_session()  # keeps export tracing fast (about 2x slower beside earlier models)
    keras.utils.set_random_seed(seed)
    keras.config.set_dtype_policy(precision)
    try:
        inputs = keras.Input((32, 32, 3), dtype="uint8", name="image")
        # Cast first: Resizing called eagerly on uint8 returns rounded uint8 (float in graphs).
        x = keras.layers.Rescaling(1.0, name="cast")(inputs)
        x = keras.layers.Resizing(64, 64, name="resize")(x)
        backbone = ek.build_model(TINY, num_classes=num_classes, input_shape=(64, 64, 3), dropout_rate=0.0,
                                  drop_connect_rate=0.0)
        model = keras.Model(inputs, backbone(x), name="run_model")
    finally:
        keras.config.set_dtype_policy("float32")
    # Untrained, the network's features are ~1e-5 and its probabilities near uniform whatever the image.
    # Set every BatchNorm's moving statistics to those of a batch (as training would) and give the
    # head logits of std ~4 whatever the features' scale, so the probabilities are peaked and depend
    # on the image.
    rng = np.random.default_rng(seed)
    batch = rng.uniform(0, 255, (32, 64, 64, 3)).astype("float32")
    norms = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0
    backbone(batch, training=True)
    for layer in norms:
        layer.momentum = TINY["bn_momentum"]
    dense = backbone.get_layer("predictions")
    features = keras.Model(backbone.input, dense.input)(batch)
    feature_rms = float(np.sqrt(np.mean(np.square(keras.ops.convert_to_numpy(features)))))
    kernel, bias = dense.get_weights()  # a new classifier starts at zero
    kernel = rng.standard_normal(kernel.shape).astype("float32")
    dense.set_weights([kernel * 4 / (np.sqrt(kernel.shape[0]) * feature_rms), bias])
    return model


def make_run(path, precision="float32"):
    """A run directory as the trainer leaves it: model.keras and config.json."""
    path.mkdir(parents=True)
    make_model(precision).save(path / "model.keras")
    (path / "config.json").write_text(json.dumps({"class_names": NAMES, "precision": precision,
                                                  "image_shape": [32, 32, 3]}))
    return path


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(directory):
    return [p.name for p in directory.iterdir() if ".partial-" in p.name or ".old-" in p.name]


def snapshot(directory):
    return {p.relative_to(directory).as_posix(): sha256(p) for p in directory.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def float32_run(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("run") / "run")
    summary = export_run(run)
    keras.utils.clear_session()
    return run, summary


# Reloads the export with TensorFlow alone and reports the signature, its outputs on 5 images and
# the output shape for a batch of 0 images.
RELOAD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    fn = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
    images = np.random.default_rng(7).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    out = fn(images=tf.constant(images))
    empty = fn(images=tf.constant(images[:0]))["probabilities"]
    print(json.dumps({
        "empty": empty.shape.as_list(),
        "imported": sorted(m for m in sys.modules if m.startswith("effnet_keras")),
        "inputs": {k: [v.shape.as_list(), v.dtype.name] for k, v in fn.structured_input_signature[1].items()},
        "outputs": {k: [v.dtype.name, v.numpy().tolist()] for k, v in out.items()},
    }))
""")


@pytest.fixture(scope="module")
def reloaded(float32_run, tmp_path_factory):
    run, summary = float32_run
    proc = subprocess.run([sys.executable, "-c", RELOAD, summary["path"]], capture_output=True, text=True,
                          cwd=tmp_path_factory.mktemp("fresh"), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_float32_export_matches_the_keras_model_within_1e_5(float32_run, reloaded):
    run, summary = float32_run
    assert summary["path"] == str(run / "export") and (run / "export" / "saved_model.pb").is_file()
    assert summary["verified"] and summary["ok"] is True and summary["tolerance"] == 1e-5
    assert summary["checks"] == PASSED and len(PASSED) == 6 and 0.0 <= summary["max_abs_diff"] <= 1e-5
    images = np.random.default_rng(7).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    expected = keras.models.load_model(run / "model.keras").predict(images, verbose=0)
    served = np.array(reloaded["outputs"]["probabilities"][1])
    assert np.ptp(expected, axis=1).min() > 0.1  # far from uniform, so a wrong graph cannot hide
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-5)
    assert reloaded["imported"] == []


def test_signature_takes_uint8_batches_and_returns_float32_probabilities(float32_run, reloaded):
    _, summary = float32_run
    assert reloaded["inputs"] == {"images": [[None, 32, 32, 3], "uint8"]}
    dtype, probabilities = reloaded["outputs"]["probabilities"]
    probabilities = np.array(probabilities)
    assert dtype == "float32" and probabilities.shape == (5, len(NAMES))
    assert reloaded["empty"] == [0, len(NAMES)]
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    outputs = {"probabilities": {"shape": [None, len(NAMES)], "dtype": "float32"}}
    assert summary["signature"] == {
        "serving_default": {"inputs": {"images": {"shape": [None, 32, 32, 3], "dtype": "uint8"}}, "outputs": outputs},
        "serving_bytes": {"inputs": {"image_bytes": {"shape": [None], "dtype": "string"}}, "outputs": outputs}}


def test_labels_file_lists_class_names_in_label_order(float32_run):
    run, summary = float32_run
    assert summary["labels"] == str(run / "export" / "labels.txt")
    assert (run / "export" / "labels.txt").read_text(encoding="utf-8") == "".join(f"{n}\n" for n in NAMES)


def test_cli_command_replaces_an_earlier_export(float32_run, capsys):
    run, _ = float32_run
    parser = argparse.ArgumentParser()
    add_export_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["export", str(run), "--no-verify"])
    assert args.out_dir is None and args.no_verify
    before = (run / "export" / "saved_model.pb").stat().st_mtime_ns
    assert args.run(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["path"] == str(run / "export") and printed["verified"] is False
    assert printed["max_abs_diff"] is None and printed["checks"] is None and printed["ok"] is None
    assert (run / "export" / "saved_model.pb").stat().st_mtime_ns != before
    assert (run / "export" / "labels.txt").is_file() and leftovers(run) == []
    assert parser.parse_args(["export", "r", "o"]).out_dir == "o"


def test_grey_run_serves_raw_one_channel_images_and_refuses_other_shapes(tmp_path):
    """A Fashion-MNIST run: model.keras and the SavedModel take uint8 [N, 28, 28, 1]; a client
    sending other shapes or dtypes gets TensorFlow's signature error, never a resized result."""
    import tensorflow as tf

    from effnet_keras.training.loop import resized, serving_model

    keras.utils.set_random_seed(0)
    classifier = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3),
                                   keras.layers.GlobalAveragePooling2D(),
                                   keras.layers.Dense(len(NAMES), activation="softmax")])
    run = tmp_path / "run"
    run.mkdir()
    serving_model(resized(classifier, (28, 28, 1), 32, "core"), "grey").save(run / "model.keras")
    (run / "config.json").write_text(json.dumps({"class_names": NAMES, "precision": "float32",
                                                 "image_shape": [28, 28, 1]}))
    summary = export_run(run)
    assert summary["ok"] is True and summary["checks"] == PASSED and summary["max_abs_diff"] <= 1e-5
    assert summary["signature"]["serving_default"]["inputs"] == {"images": {"shape": [None, 28, 28, 1],
                                                                            "dtype": "uint8"}}
    serve = tf.saved_model.load(summary["path"]).signatures["serving_default"]
    assert serve(images=tf.zeros((2, 28, 28, 1), tf.uint8))["probabilities"].shape == (2, len(NAMES))
    for wrong, error in [((2, 32, 32, 3), r"Shape of tensor images \[2,32,32,3\] is not compatible"),
                         ((2, 56, 56, 1), r"Shape of tensor images \[2,56,56,1\] is not compatible")]:
        with pytest.raises(tf.errors.InvalidArgumentError, match=error):
            serve(images=tf.zeros(wrong, tf.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a uint8 tensor"):
        serve(images=tf.zeros((2, 28, 28, 1), tf.float32))


def _float16_unsupported():
    try:
        keras.config.set_dtype_policy("mixed_float16")
        keras.layers.Conv2D(2, 3)(np.zeros((1, 8, 8, 3), "float16"))
        return None
    except Exception as e:  # a missing CPU kernel
        return f"mixed_float16 does not run on this CPU: {type(e).__name__}"
    finally:
        keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("precision, compute_dtype", [("mixed_bfloat16", "bfloat16"), ("mixed_float16", "float16")])
def test_mixed_precision_export_within_stated_tolerance(tmp_path, precision, compute_dtype):
    if precision == "mixed_float16" and (reason := _float16_unsupported()):
        pytest.skip(reason)
    run = make_run(tmp_path / "run", precision)
    model = keras.models.load_model(run / "model.keras")
    assert compute_dtype in {layer.compute_dtype for layer in model.get_layer("efficientnet-micro").layers}
    summary = export_run(run, tmp_path / "served")
    assert summary["tolerance"] == {"mixed_bfloat16": 3e-2, "mixed_float16": 5e-3}[precision]
    assert summary["ok"] is True and summary["checks"] == PASSED
    assert 0.0 <= summary["max_abs_diff"] <= summary["tolerance"]
    assert summary["signature"]["serving_default"]["outputs"]["probabilities"]["dtype"] == "float32"


def test_mismatch_fails_and_keeps_the_run_and_the_earlier_export(float32_run, monkeypatch):
    run, _ = float32_run
    model_hash, export_hash = sha256(run / "model.keras"), sha256(run / "export" / "saved_model.pb")
    other = make_model(seed=1)  # same architecture, other weights: the export cannot match it
    checked = verify_export(run / "export", other, tolerance=1e-5)
    assert checked["ok"] is False and checked["checks"] == {**PASSED, "within_tolerance": False}
    assert checked["max_abs_diff"] > 1000 * 1e-5  # far outside the tolerance (measured 0.06 to over 0.1)
    monkeypatch.setattr(export, "verify_export", lambda path, model, **kw: checked)
    with pytest.raises(ExportError, match=r"failed verification: it does not reproduce the Keras model: the max abs "
                                          r"difference of the probabilities exceeds the tolerance \(0\.\d+ > 1e-05\)"):
        export_run(run)
    assert sha256(run / "model.keras") == model_hash
    assert sha256(run / "export" / "saved_model.pb") == export_hash
    assert leftovers(run) == []


def test_unloadable_export_and_foreign_signature_are_reported(tmp_path):
    model = keras.Sequential([keras.Input((32, 32, 3), dtype="uint8"), keras.layers.Flatten(),
                              keras.layers.Dense(len(NAMES), activation="softmax")])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "saved_model.pb").write_bytes(b"not a SavedModel")
    with pytest.raises(ExportError, match="Reloading the SavedModel .* failed"):
        verify_export(tmp_path / "broken", model, tolerance=1e-5)
    model.export(tmp_path / "plain", format="tf_saved_model", verbose=False)  # output named output_0
    with pytest.raises(ExportError, match="(?s)Reloading the SavedModel .* failed.*KeyError: 'serving_bytes'"):
        verify_export(tmp_path / "plain", model, tolerance=1e-5)


def test_run_directory_errors_say_what_to_do(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        export_run(tmp_path / "missing")
    (tmp_path / "config.json").write_text(json.dumps({"class_names": NAMES, "precision": "float32",
                                                      "image_shape": [32, 32, 3]}))
    with pytest.raises(ExportError, match="no model.keras.*Train until a model is saved"):
        export_run(tmp_path)
    (tmp_path / "config.json").unlink()
    (tmp_path / "model.keras").write_bytes(b"")
    with pytest.raises(ValueError, match="no config.json"):  # ExportError is a ValueError for the CLI
        export_run(tmp_path)
    for bad, match in [({"precision": "float64"}, "'precision' is 'float64'; allowed values: float32"),
                       ({"class_names": []}, "'class_names' must be a non-empty list"),
                       ({"image_shape": 32}, r"'image_shape' must be \[height, width, channels\]"),
                       ({"image_shape": [32, 32]}, r"'image_shape' must be \[height, width, channels\]")]:
        config = {"class_names": NAMES, "precision": "float32", "image_shape": [32, 32, 3], **bad}
        (tmp_path / "config.json").write_text(json.dumps(config))
        with pytest.raises(ExportError, match=match):
            export_run(tmp_path)
    assert issubclass(ExportError, RuntimeError)


def test_class_names_that_are_not_the_data_sets_labels_are_refused(tmp_path, float32_run):
    run, _ = float32_run
    (tmp_path / "model.keras").write_bytes((run / "model.keras").read_bytes())
    cifar = ["airplane", "automobile", "bird", "cat", "deer"]
    settings = {"dataset": "cifar10", "classes": "0,1,2,3,4", "label_mode": "fine"}
    config = {"class_names": cifar[::-1], "precision": "float32", "image_shape": [32, 32, 3], "settings": settings}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ExportError, match=r"are not the labels of the data set the run trained on \(cifar10: "):
        export_run(tmp_path, verify=False)
    (tmp_path / "config.json").write_text(json.dumps({**config, "class_names": cifar}))
    assert (Path(export_run(tmp_path, verify=False)["labels"]).read_text().splitlines()) == cifar


def test_model_not_matching_its_config_is_refused(tmp_path, float32_run):
    run, _ = float32_run
    fewer = tmp_path / "fewer"
    fewer.mkdir()
    (fewer / "config.json").write_text(json.dumps({"class_names": NAMES[:3], "precision": "float32",
                                                   "image_shape": [32, 32, 3]}))
    (fewer / "model.keras").write_bytes((run / "model.keras").read_bytes())
    with pytest.raises(ExportError, match=r"output shape \(None, 5\) does not match the 3 class names"):
        export_run(fewer)
    (fewer / "config.json").write_text(json.dumps({"class_names": NAMES, "precision": "float32",
                                                   "image_shape": [28, 28, 1]}))
    with pytest.raises(ExportError, match=r"input shape \(None, 32, 32, 3\) does not take \[batch, 28, 28, 1\]"):
        export_run(fewer)
    (fewer / "model.keras").write_bytes(b"corrupt")
    with pytest.raises(ExportError, match="Cannot load .*model.keras"):
        export_run(fewer)
    assert leftovers(fewer) == [] and not (fewer / "export").exists()


def test_out_dir_errors_say_what_to_do(tmp_path, float32_run):
    run, _ = float32_run
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ExportError, match="Cannot write the export to .*Pass a writable OUT_DIR"):
        export_run(run, blocker / "export")
    with pytest.raises(ExportError, match="exists and is not a directory"):
        export_run(run, blocker)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="holds files no earlier export wrote .*: keep.txt. Exporting would delete"):
        export_run(run, tmp_path / "notes")
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"
    with pytest.raises(ExportError, match="would replace the run directory"):
        export_run(run, run)


def test_export_lists_its_files_and_never_deletes_files_it_did_not_write(float32_run, tmp_path, capsys):
    """OUT_DIR is replaced only when it holds exactly what an earlier export's manifest lists, each
    file with the SHA-256 recorded at export time: not after a file or the manifest was edited."""
    run, _ = float32_run
    manifest = json.loads((run / "export" / export.MANIFEST).read_text())
    listed = sorted([*manifest["folders"], *manifest["files"]])
    assert listed == sorted(p.relative_to(run / "export").as_posix() for p in (run / "export").rglob("*")
                            if p.name != export.MANIFEST)
    assert {"saved_model.pb", "labels.txt", "variables"} <= set(listed)
    assert manifest["files"]["labels.txt"]["sha256"] == sha256(run / "export" / "labels.txt")
    legacy, added, listed_by_hand, edited = (tmp_path / name for name in ("legacy", "added", "listed", "edited"))
    legacy.mkdir()
    (legacy / "saved_model.pb").write_bytes(b"an export's file, but no manifest")
    (legacy / "precious.txt").write_text("mine")
    shutil.copytree(run / "export", added)
    (added / "variables" / "notes.txt").write_text("mine")
    shutil.copytree(run / "export", listed_by_hand)
    (listed_by_hand / "precious.txt").write_text("mine")
    manifest["files"]["precious.txt"] = manifest["files"]["labels.txt"]
    (listed_by_hand / export.MANIFEST).write_text(json.dumps(manifest))
    shutil.copytree(run / "export", edited)
    (edited / "labels.txt").write_text("my own labels\n")
    for out, named in [(legacy, "precious.txt, saved_model.pb"), (added, "variables/notes.txt"),
                       (listed_by_hand, "precious.txt"), (edited, "labels.txt")]:
        before = snapshot(out)
        assert cli.main(["export", str(run), str(out), "--no-verify"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and (f"no earlier export wrote (not in its {export.MANIFEST}, or not matching the "
                                  f"SHA-256 recorded there): {named}.") in err[0], err
        assert snapshot(out) == before and leftovers(tmp_path) == []


def test_files_appearing_in_out_dir_during_the_export_are_kept(float32_run, tmp_path, monkeypatch):
    run, _ = float32_run
    out = tmp_path / "export"
    shutil.copytree(run / "export", out)
    before = snapshot(out)

    def write_while_a_user_saves(model, path, image_shape, resize):
        (path / "saved_model.pb").write_bytes(b"new export")
        (out / "late.txt").write_text("mine")

    monkeypatch.setattr(export, "_write_saved_model", write_while_a_user_saves)
    with pytest.raises(ExportError, match="holds files no earlier export wrote .*: late.txt."):
        export_run(run, out, verify=False)
    assert snapshot(out) == {**before, "late.txt": sha256(out / "late.txt")} and leftovers(tmp_path) == []
