"""predict and evaluate on image files, from a run and from its SavedModel; the SavedModel's
serving_bytes signature against the Pillow decoder training uses; bad input."""

import csv
import io
import json

import numpy as np
import pytest
from helpers import TINY_RUN, in_process, png_size, train_py
from PIL import Image

from effnet_keras import cli
from effnet_keras.data import load_dataset
from effnet_keras.data.images import RESIZE_POLICIES, decode_image, read_image_file
from effnet_keras.data.spec import SYNTHETIC_CLASSES

pytestmark = pytest.mark.xdist_group("predict")  # its module-scoped fixtures are built once, on one worker

RUN_ARGS = [*TINY_RUN[:TINY_RUN.index("--epochs")], "--epochs", "1", "--steps-per-epoch", "4", "--batch-size", "16",
            "--augment", "none"]


def command(*args):
    return in_process(cli.main, args)


def write_image(path, pixels, **save):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **save)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A simple-cnn run on the synthetic set (32x32 RGB), exported, and a folder of its test images as
    PNG files of other sizes and modes, in class folders: (run, export, images folder, files)."""
    root = tmp_path_factory.mktemp("predict")
    result = train_py(*RUN_ARGS, "--output-dir", str(root / "run"), "--export")
    assert result.returncode == 0, result.stderr
    data = load_dataset("synthetic", synthetic_train=64, synthetic_test=24)
    files = []
    for i, (image, label) in enumerate(zip(data.x_test, data.y_test)):
        big = np.asarray(Image.fromarray(image).resize((40 + i, 48), Image.Resampling.BILINEAR))
        grey, rgba = big.mean(axis=2).astype(np.uint8), np.dstack([big, np.full(big.shape[:2], 200, np.uint8)])
        pixels = [big, grey, rgba][i % 3]
        files.append(write_image(root / "images" / SYNTHETIC_CLASSES[label] / f"test {i}.png", pixels))
    return root / "run", root / "run" / "export", root / "images", files


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_predict_from_a_run_and_from_its_saved_model_agree(trained, tmp_path):
    run, export, images, files = trained
    (images / ".hidden.png").write_bytes(b"not read")
    (images / "Thumbs.db").write_bytes(b"not read")
    (images / "notes.txt").write_text("not an image")
    rows = {}
    for name, model in [("run", run), ("export", export), ("keras", run / "model.keras")]:
        result = command("predict", str(model), str(images), "--top-k", "3", "--batch-size", "5",
                         "--output", str(tmp_path / f"{name}.csv"))
        assert result.returncode == 0, result.stderr
        assert f"Wrote top-3 predictions for {len(files)} images" in result.stdout
        rows[name] = read_csv(tmp_path / f"{name}.csv")
    assert list(rows["run"][0]) == ["file", "class_1", "probability_1", "class_2", "probability_2", "class_3",
                                    "probability_3"]
    assert sorted(r["file"] for r in rows["run"]) == sorted(map(str, files))  # hidden and non-image files left out
    for a, b, c in zip(rows["run"], rows["export"], rows["keras"]):
        assert a["file"] == b["file"] == c["file"] and a["class_1"] == b["class_1"] == c["class_1"]
        assert {a["class_1"], a["class_2"], a["class_3"]} <= set(SYNTHETIC_CLASSES)
        for k in (1, 2, 3):
            assert abs(float(a[f"probability_{k}"]) - float(b[f"probability_{k}"])) <= 1e-4
        assert float(a["probability_1"]) >= float(a["probability_2"]) >= float(a["probability_3"])
    # The probabilities are those of the model on the decoded file, not of anything else.
    import keras

    model = keras.models.load_model(run / "model.keras")
    first = rows["run"][0]
    expected = model.predict(read_image_file(first["file"], (32, 32, 3))[None], verbose=0)[0]
    assert float(first["probability_1"]) == pytest.approx(expected.max(), abs=1e-5)
    assert first["class_1"] == SYNTHETIC_CLASSES[int(expected.argmax())]


def test_evaluate_a_labelled_folder_and_a_data_set_split(trained, tmp_path):
    run, export, images, files = trained
    predicted = tmp_path / "predicted.csv"
    assert command("predict", str(export), str(images), "--output", str(predicted)).returncode == 0
    correct = sum(r["class_1"] == r["file"].split("/")[-2] for r in read_csv(predicted))
    result = command("evaluate", str(run), str(images), "--output-dir", str(tmp_path / "folder"))
    assert result.returncode == 0, result.stderr
    table = read_csv(tmp_path / "folder" / "per_class.csv")
    assert table[-1]["class"] == "all" and int(table[-1]["images"]) == len(files)
    assert int(table[-1]["correct"]) == correct
    assert sum(int(r["images"]) for r in table[:-1]) == len(files)
    assert [r["class"] for r in table[:-1]] == [c for c in SYNTHETIC_CLASSES if (images / c).is_dir()]
    assert "| all " in result.stdout and (tmp_path / "folder" / "per_class.md").read_text().count("\n|") >= 3
    width, height = png_size(tmp_path / "folder" / "confusion.png")
    assert width > 500 and height > 500

    result = command("evaluate", str(export), "--dataset", "synthetic", "--output-dir", str(tmp_path / "split"))
    assert result.returncode == 0, result.stderr
    table = read_csv(tmp_path / "split" / "per_class.csv")
    assert table[-1]["class"] == "all" and int(table[-1]["images"]) == 1000  # load_dataset's synthetic test split
    assert len(table) == len(SYNTHETIC_CLASSES) + 1


def png_files(tmp_path):
    """Real PNG files of several modes and sizes, as a user's folder would hold: (name, bytes)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:61, 0:83]
    smooth = np.stack([(127 + 120 * np.sin(xx / (7 + k) + yy / 11)) for k in range(3)], -1)
    rgb = np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)
    images = {"rgb": Image.fromarray(rgb), "grey": Image.fromarray(rgb[..., 1]),
              "rgba": Image.fromarray(np.dstack([rgb, rng.integers(0, 256, rgb.shape[:2], dtype=np.uint8)])),
              "palette": Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE),
              "16-bit": Image.fromarray(rgb[..., 0].astype(np.uint16) * 257),
              "small": Image.fromarray(rgb[:9, :13])}
    found = []
    for name, image in images.items():
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        found.append((name, buffer.getvalue()))
    return found


@pytest.mark.parametrize("image_shape", [(32, 32, 3), (28, 28, 1), (61, 40, 3)])
def test_graph_decoder_matches_pillow_on_png_files(tmp_path, image_shape):
    """The serving_bytes decoder against decode_image: exact when one side or none is resized,
    within 1 grey level when both are (Pillow picks the order of its two passes itself)."""
    import tensorflow as tf

    from effnet_keras.data.graph_images import decode_image_graph

    exact = 0
    for name, data in png_files(tmp_path):
        for policy in RESIZE_POLICIES:
            want = decode_image(data, image_shape, policy, where=name).astype(int)
            got = decode_image_graph(tf.constant(data), image_shape, policy).numpy().astype(int)
            assert got.shape == want.shape == image_shape
            assert np.abs(got - want).max() <= 1, (name, policy)
            exact += np.array_equal(got, want)
            if image_shape[0] == 61 and policy == "squash" and name != "small":  # height kept: one pass
                assert np.array_equal(got, want), (name, policy)
    assert exact >= 6


def test_saved_model_bytes_signature_serves_real_files_as_the_raw_one(trained):
    import tensorflow as tf

    run, export, _, files = trained
    signatures = tf.saved_model.load(str(export)).signatures
    raw = np.stack([read_image_file(f, (32, 32, 3)) for f in files])
    from_raw = signatures["serving_default"](images=tf.constant(raw))["probabilities"].numpy()
    encoded = tf.constant([f.read_bytes() for f in files])
    from_bytes = signatures["serving_bytes"](image_bytes=encoded)["probabilities"].numpy()
    assert from_bytes.shape == (len(files), len(SYNTHETIC_CLASSES))
    assert np.array_equal(from_raw.argmax(axis=1), from_bytes.argmax(axis=1))
    np.testing.assert_allclose(from_bytes, from_raw, atol=2e-3)
    manifest = json.loads((export / "export-manifest.json").read_text())
    assert manifest["image_shape"] == [32, 32, 3] and manifest["resize"] == "squash"


def test_bad_input_is_one_message_and_exit_2(trained, tmp_path):
    run, export, images, files = trained
    (tmp_path / "empty").mkdir()
    fake = tmp_path / "fake.png"
    fake.write_text("this is not a PNG")
    write_image(tmp_path / "extra" / "unicorn" / "a.png", np.zeros((8, 8, 3), np.uint8))
    cases = [
        (["predict", str(run), str(tmp_path / "missing.png")], "missing.png does not exist"),
        (["predict", str(run), str(fake), "--output", str(tmp_path / "p.csv")], "fake.png: not an image"),
        (["predict", str(run), str(tmp_path / "empty")], "holds no image files"),
        (["predict", str(tmp_path / "empty"), str(files[0])], "is not a run directory"),
        (["predict", str(tmp_path / "nowhere"), str(files[0])], "nowhere does not exist"),
        (["predict", str(fake), str(files[0])], "is not a run directory"),
        (["predict", str(run), str(files[0]), "--top-k", "11"], "--top-k 11: give 1 to 10"),
        (["evaluate", str(run), str(tmp_path / "extra")], "class 'unicorn' is not one of the model's classes"),
        (["evaluate", str(run), str(tmp_path / "empty")], "has no class folders"),
        (["evaluate", str(run)], "Pass either DATA"),
    ]
    for args, message in cases:
        result = command(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)
        assert result.stderr.count("error:") == 1
    assert not (tmp_path / "p.csv").exists()
