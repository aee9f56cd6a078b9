"""Export a training run's `model.keras` as a TensorFlow SavedModel that serves raw images.

The SavedModel's `serving_default` (and `serve`) signature takes `images`: uint8 `[batch, H, W, C]`
(H, W, C = the run's `image_shape`: 32, 32, 3 for CIFAR, 28, 28, 1 for Fashion-MNIST; batch any
size) and returns `probabilities`: float32 `[batch, num_classes]`. Casting, resizing, grey to three
channels and normalisation are inside the model. A second signature, `serving_bytes`, takes
`image_bytes`: tf.string `[batch]` of encoded JPEG, PNG, BMP or GIF files (TF Serving's usual image
input), decodes and resizes them in the graph as training decoded image files
(`effnet_keras.data.graph_images`), and returns the same `probabilities`. `labels.txt` beside it
holds one class name per line, in label order, and `export-manifest.json` lists every file (with
its size and SHA-256) and folder of the export with the run's `image_shape` and `resize` policy.

Verification reloads the SavedModel with `tf.saved_model.load` in a fresh Python process that
never imports `effnet_keras` and compares its outputs with the Keras model's on a fixed batch of
random images. Both sides run on the CPU, so the check can run beside a training process holding
the GPU and does not depend on GPU kernel choices (TF32, cuDNN algorithms). The export is written
to a staging directory next to OUT_DIR and moved into place only once it has passed, so a failed
export leaves any previous export at OUT_DIR, and the run directory, untouched. An existing OUT_DIR
is replaced only when it is empty or holds exactly what its manifest lists, each file with the
checksum recorded there: an export never deletes a file it did not write, nor one edited since.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from effnet_keras.cli_common import HelpFormatter
from effnet_keras.errors import EffnetError
from effnet_keras.training.rundir import RunDir, file_record

#: Max abs difference allowed between the SavedModel's and the Keras model's probabilities, per
#: training precision. The check itself runs the same graph on both sides and measures 0.0 on CPU
#: for all three. The bounds leave room for kernels or fusions that round differently (another
#: TensorFlow build, oneDNN path): the same model run eagerly instead of as a graph differs by up to
#: 6e-7 (float32), 1.8e-3 (mixed_float16) and 8.6e-3 (mixed_bfloat16), measured on CPU.
TOLERANCES = {"float32": 1e-5, "mixed_float16": 5e-3, "mixed_bfloat16": 3e-2}

MANIFEST = "export-manifest.json"
SIGNATURE = "serving_default"
INPUT_NAME = "images"
BYTES_SIGNATURE = "serving_bytes"
BYTES_INPUT_NAME = "image_bytes"
OUTPUT_NAME = "probabilities"
VERIFY_IMAGES = 8
VERIFY_SEED = 0
VERIFY_TIMEOUT_S = 600
CHECKS = {
    "signature": "its signatures are not uint8 `images` [None, H, W, C] and string `image_bytes` [None] -> float32 "
                 "`probabilities` [None, num_classes]",
    "within_tolerance": "it does not reproduce the Keras model: the max abs difference of the probabilities exceeds "
                        "the tolerance",
    "empty_batch": "a batch of 0 images does not give [0, num_classes]",
    "refuses_other_sizes": "it accepts images of another size",
    "bytes_match": f"{BYTES_SIGNATURE!r} differs from {SIGNATURE!r} on PNG files of the same images",
    "without_effnet_keras": "reloading it imported effnet_keras",
}
"""Each check of `verify_export` -> what its failure means."""

# Runs in a fresh interpreter: reload with TensorFlow alone, describe the signatures, run them on the
# whole batch, on its first image alone and on no image, and record the outcome of each check in
# CHECKS that the reloaded side can make.
_RELOAD_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf

export_dir, images_path, result_path = sys.argv[1:4]
signatures = tf.saved_model.load(export_dir).signatures
fn, from_bytes = signatures[%(signature)r], signatures[%(bytes_signature)r]
inputs = fn.structured_input_signature[1]
outputs = fn.structured_outputs
images = np.load(images_path)
(input_name,), (output_name,) = list(inputs), list(outputs)
batch = fn(**{input_name: tf.constant(images)})[output_name].numpy()
single = fn(**{input_name: tf.constant(images[:1])})[output_name].numpy()
empty = fn(**{input_name: tf.constant(images[:0])})[output_name].numpy()
try:
    fn(**{input_name: tf.zeros((1, images.shape[1] + 1, *images.shape[2:]), tf.uint8)})
    refuses_other_sizes = False
except (ValueError, TypeError, tf.errors.InvalidArgumentError):
    refuses_other_sizes = True
encoded = tf.stack([tf.io.encode_png(image) for image in images])
(bytes_output,) = from_bytes.structured_outputs
decoded = from_bytes(**{%(bytes_input)r: encoded})[bytes_output].numpy()
checks = {"empty_batch": empty.shape == (0, batch.shape[1]), "refuses_other_sizes": refuses_other_sizes,
          "bytes_match": bool(np.array_equal(decoded, batch)),
          "without_effnet_keras": "effnet_keras" not in sys.modules}
np.savez(result_path + ".npz", batch=batch, single=single)


def spec(s):
    return {"shape": s.shape.as_list(), "dtype": s.dtype.name}


def describe(fn):
    return {"inputs": {k: spec(v) for k, v in fn.structured_input_signature[1].items()},
            "outputs": {k: spec(v) for k, v in fn.structured_outputs.items()}}


with open(result_path, "w") as f:
    json.dump({"signature": {name: describe(signatures[name]) for name in (%(signature)r, %(bytes_signature)r)},
               "checks": checks}, f)
""" % {"signature": SIGNATURE, "bytes_signature": BYTES_SIGNATURE, "bytes_input": BYTES_INPUT_NAME}  # noqa: UP031 (the script has braces)


class ExportError(EffnetError, RuntimeError, ValueError):
    """An export that cannot be made or did not reproduce the Keras model, with what to do about it
    (exit code 2, from `python -m effnet_keras export|predict|evaluate` and `train.py --export` alike)."""

    exit_code = 2


def read_run(run_dir: Path) -> dict[str, Any]:
    """Check RUN_DIR holds model.keras and a usable config.json; return the config."""
    if not run_dir.is_dir():
        raise ExportError(f"Run directory {run_dir} does not exist. Pass the directory a training run wrote "
                          "(it holds model.keras and config.json).")
    run = RunDir(run_dir)
    if not run.model_file.is_file():
        raise ExportError(f"{run_dir} has no model.keras: the run has not finished an epoch yet, or this is not "
                          "a run directory. Train until a model is saved, or pass the right RUN_DIR.")
    config_path = run.config_file
    if not config_path.is_file():
        raise ExportError(f"{run_dir} has no config.json (class names and precision come from it). "
                          "Pass a run directory written by the training CLI.")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ExportError(f"{config_path} is not readable JSON ({e}). Restore it from the training run.") from e
    if not isinstance(config, dict):
        raise ExportError(f"{config_path} must hold a JSON object, got {type(config).__name__}.")
    names = config.get("class_names")
    if (not isinstance(names, list) or not names
            or not all(isinstance(n, str) and n and "\n" not in n and "\r" not in n for n in names)):
        raise ExportError(f"{config_path}: 'class_names' must be a non-empty list of one-line strings, "
                          f"got {names!r}.")
    expected = _data_set_labels(config.get("settings"))
    if expected is not None and names != expected:
        raise ExportError(f"{config_path}: 'class_names' {names} are not the labels of the data set the run "
                          f"trained on ({config['settings']['dataset']}: {expected}); labels.txt would name "
                          "predictions wrongly. Restore config.json from the training run.")
    if config.get("precision") not in TOLERANCES:
        raise ExportError(f"{config_path}: 'precision' is {config.get('precision')!r}; allowed values: "
                          f"{', '.join(TOLERANCES)}.")
    shape = config.get("image_shape")
    if (not isinstance(shape, list) or len(shape) != 3
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape)):
        raise ExportError(f"{config_path}: 'image_shape' must be [height, width, channels] (positive integers: the "
                          f"raw images the model takes), got {shape!r}.")
    return config


def resize_policy(config: dict[str, Any]) -> str:
    """The resize policy a run decoded its image files with (config.json "decoding"); "squash" for runs
    of arrays (built-in data sets, recorded before policies existed), whose images need none."""
    return (config.get("decoding") or {}).get("resize", "squash")


def _data_set_labels(settings: Any) -> list[str] | None:
    """The class names, in label order, of the data set that recorded `settings` select (--dataset,
    --label-mode, --classes); None when they do not name a fixed one (folder:PATH and tfds:NAME
    class names were read from the data, and config.json is their record)."""
    from effnet_keras.data.spec import FOLDER_PREFIX, TFDS_PREFIX
    from effnet_keras.training.errors import UsageError
    from effnet_keras.training.settings import TrainSettings, dataset_selection

    if not isinstance(settings, dict) or str(settings.get("dataset")).startswith((FOLDER_PREFIX, TFDS_PREFIX)):
        return None
    known = {f.name for f in dataclasses.fields(TrainSettings)}
    try:
        return list(dataset_selection(TrainSettings(**{k: v for k, v in settings.items() if k in known})).class_names)
    except (TypeError, UsageError):
        return None


def _sibling(path: Path, kind: str) -> Path:
    """A hidden, unique path next to `path` for staging or retiring an export."""
    return path.parent / f".{path.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _tree(folder: Path) -> list[str]:
    """Every file and folder below `folder` as sorted relative POSIX paths (links not followed)."""
    found = []
    for root, dirs, files in os.walk(folder):
        found += [(Path(root).relative_to(folder) / name).as_posix() for name in dirs + files]
    return sorted(found)


def _listing(folder: Path) -> dict[str, Any]:
    """What an export in `folder` holds, for its manifest: every folder, and every file with its size
    and SHA-256."""
    paths = _tree(folder)
    return {"folders": [p for p in paths if (folder / p).is_dir()],
            "files": {p: file_record(folder / p) for p in paths if not (folder / p).is_dir()}}


def _check_replaceable(out_dir: Path) -> None:
    """Refuse an OUT_DIR holding anything an earlier export did not write as it is: an entry its
    manifest does not list, a link, or a file whose size or SHA-256 differs from the manifest's
    (anything at all without a manifest with checksums). Nothing is deleted unless this passes."""
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
        folders, files = set(manifest["folders"]), dict(manifest["files"])
    except (OSError, ValueError, KeyError, TypeError):
        folders, files = set(), {}

    def written(path: str) -> bool:
        full = out_dir / path
        if full.is_symlink():
            return False
        if full.is_dir():
            return path in folders
        return (path == MANIFEST and bool(files)) or files.get(path) == file_record(full)

    foreign = [path for path in _tree(out_dir) if not written(path)]
    if foreign:
        shown = ", ".join(foreign[:10]) + (f" and {len(foreign) - 10} more" if len(foreign) > 10 else "")
        raise ExportError(f"OUT_DIR {out_dir} holds files no earlier export wrote (not in its {MANIFEST}, or not "
                          f"matching the SHA-256 recorded there): {shown}. Exporting would delete them; move them "
                          "away or pass a new or empty directory.")


def _prepare_out_dir(out_dir: Path, run_dir: Path) -> Path:
    """Refuse OUT_DIRs that would clobber other files; return a fresh staging directory beside it."""
    if out_dir == run_dir or out_dir in run_dir.parents:
        raise ExportError(f"OUT_DIR {out_dir} would replace the run directory {run_dir}. Pass a new directory, "
                          f"e.g. {run_dir / 'export'} (the default).")
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"OUT_DIR {out_dir} exists and is not a directory. Pass a new or empty directory.")
    if out_dir.is_dir():
        _check_replaceable(out_dir)
    staging = _sibling(out_dir, "partial")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        return staging
    except OSError as e:
        raise ExportError(f"Cannot write the export to {out_dir}: {e.strerror or e}. Pass a writable OUT_DIR "
                          "(`python -m effnet_keras export RUN_DIR OUT_DIR`).") from e


def load_model(path: Path):
    """The Keras model saved at `path`, uncompiled; ExportError saying why it cannot be loaded."""
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:
        raise ExportError(f"Cannot load {path} ({type(e).__name__}: {e}). It must be a Keras model saved by the "
                          "training CLI; retrain or restore it from checkpoints/.") from e


def check_model(model, image_shape: tuple[int, int, int], num_classes: int) -> None:
    """The model must take one [batch, H, W, C] image input and give [batch, num_classes] outputs."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ExportError(f"The model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; the export "
                          "serves models with one image input and one probability output.")
    in_shape, out_shape = tuple(model.inputs[0].shape), tuple(model.outputs[0].shape)
    if len(in_shape) != 4 or any(d is not None and d != w for d, w in zip(in_shape[1:], image_shape)):
        raise ExportError(f"The model's input shape {in_shape} does not take "
                          f"[batch, {', '.join(map(str, image_shape))}] images (config.json 'image_shape'); "
                          "resizing to the model resolution belongs inside "
                          "the model.")
    if len(out_shape) != 2 or out_shape[1] != num_classes:
        raise ExportError(f"The model's output shape {out_shape} does not match the {num_classes} class names in "
                          "config.json.")


def _signature_spec(image_shape: tuple[int, int, int], num_classes: int) -> dict[str, Any]:
    """The serving signatures as JSON: signature name -> input and output names with shape and dtype."""
    outputs = {OUTPUT_NAME: {"shape": [None, num_classes], "dtype": "float32"}}
    return {SIGNATURE: {"inputs": {INPUT_NAME: {"shape": [None, *image_shape], "dtype": "uint8"}}, "outputs": outputs},
            BYTES_SIGNATURE: {"inputs": {BYTES_INPUT_NAME: {"shape": [None], "dtype": "string"}}, "outputs": outputs}}


def _write_saved_model(model, path: Path, image_shape: tuple[int, int, int], resize: str) -> None:
    """Write a SavedModel whose serving signature maps uint8 `images` [batch, *image_shape] to float32
    `probabilities`, and whose `serving_bytes` signature maps encoded images (tf.string [batch]),
    decoded and resized with policy `resize`, to the same. Images of another shape fail TensorFlow's
    shape check (signature functions do not check shapes themselves, and the model's resizing would
    accept them). A batch of 0 images gives [0, num_classes] without running the model (TensorFlow's
    fused CPU kernels fail on it)."""
    import keras
    import tensorflow as tf

    from effnet_keras.data.graph_images import decode_image_graph

    input_dtype, num_classes = model.inputs[0].dtype, model.outputs[0].shape[-1]

    def serve(images):
        images = tf.ensure_shape(images, (None, *image_shape))

        def predict():
            return tf.cast(model(tf.cast(images, input_dtype), training=False), tf.float32)

        def nothing():
            return tf.zeros((0, num_classes), tf.float32)

        return {OUTPUT_NAME: tf.cond(tf.shape(images)[0] > 0, predict, nothing)}

    def serve_bytes(image_bytes):
        images = tf.map_fn(lambda data: decode_image_graph(data, image_shape, resize), image_bytes,
                           fn_output_signature=tf.TensorSpec(image_shape, tf.uint8))
        return serve(images)

    archive = keras.export.ExportArchive()
    archive.track(model)
    # The first endpoint is also written as `serving_default`.
    archive.add_endpoint("serve", serve, input_signature=[
        tf.TensorSpec((None, *image_shape), tf.uint8, name=INPUT_NAME)])
    archive.add_endpoint(BYTES_SIGNATURE, serve_bytes, input_signature=[
        tf.TensorSpec((None,), tf.string, name=BYTES_INPUT_NAME)])
    # Inference only: leaving out the custom-gradient functions halves the export time.
    archive.write_out(str(path), options=tf.saved_model.SaveOptions(experimental_custom_gradients=False),
                      verbose=False)


def verify_export(export_dir: str | os.PathLike, model, *, tolerance: float,
                  image_shape: tuple[int, int, int] | None = None) -> dict[str, Any]:
    """Reload `export_dir` in a fresh process without effnet_keras and compare it with `model`.

    Runs the `serving_default` signature on VERIFY_IMAGES random uint8 images `[8, H, W, C]`
    (`image_shape`, default the model's input shape; on the first alone; on none; on one of another
    size), `serving_bytes` on the same images as PNG files and `model.predict` on the same images,
    all on the CPU. Returns `{"signature": {...}, "max_abs_diff": float, "checks": {name: passed},
    "ok": bool}`: one entry per check of CHECKS, and `ok` whether all passed. Raises ExportError
    only when the export does not reload and run at all.
    """
    import tensorflow as tf

    export_dir = Path(export_dir)
    image_shape = tuple(image_shape or model.inputs[0].shape[1:])
    images = np.random.default_rng(VERIFY_SEED).integers(0, 256, (VERIFY_IMAGES, *image_shape), dtype=np.uint8)
    with tf.device("/CPU:0"):
        expected = np.asarray(model.predict(tf.constant(images, model.inputs[0].dtype), batch_size=VERIFY_IMAGES,
                                            verbose=0), np.float64)
    with tempfile.TemporaryDirectory(prefix="effnet-export-verify-") as tmp:
        images_path, result_path = os.path.join(tmp, "images.npy"), os.path.join(tmp, "result.json")
        np.save(images_path, images)
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "-1"}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            proc = subprocess.run([sys.executable, "-c", _RELOAD_SCRIPT, str(export_dir), images_path, result_path],
                                  cwd=tmp, env=env, capture_output=True, text=True, timeout=VERIFY_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            raise ExportError(f"Reloading the SavedModel at {export_dir} in a fresh process took over "
                              f"{VERIFY_TIMEOUT_S} s; check the machine's load, or export with --no-verify.") from e
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
            raise ExportError(f"Reloading the SavedModel at {export_dir} with tf.saved_model.load in a fresh process "
                              f"failed (exit {proc.returncode}); the export is not usable:\n{tail}")
        with open(result_path, encoding="utf-8") as f:
            reloaded = json.load(f)
        with np.load(result_path + ".npz") as arrays:
            batch, single = arrays["batch"], arrays["single"]
    signature = reloaded["signature"]
    same_shapes = batch.shape == expected.shape and single.shape == expected[:1].shape
    diff = float(max(np.abs(batch - expected).max(), np.abs(single - expected[:1]).max())) if same_shapes else math.inf
    checks = {"signature": signature == _signature_spec(image_shape, expected.shape[-1]),
              "within_tolerance": diff <= tolerance, **reloaded["checks"]}
    return {"signature": signature, "max_abs_diff": diff, "checks": checks, "ok": all(checks.values())}


def _failures(export_dir: Path, checked: dict[str, Any], tolerance: float) -> str:
    """The ExportError message for a `verify_export` result whose checks did not all pass."""
    measured = {"within_tolerance": f" ({checked['max_abs_diff']:.3g} > {tolerance:g})",
                "signature": f" (got {checked['signature']})"}
    failed = [CHECKS[name] + measured.get(name, "") for name, passed in checked["checks"].items() if not passed]
    return (f"The SavedModel at {export_dir} failed verification: {'; '.join(failed)}. Do not serve it; report this "
            "with the run's config.json.")


def export_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None, *,
               verify: bool = True) -> dict[str, Any]:
    """Export RUN_DIR/model.keras as a SavedModel in `out_dir` (default RUN_DIR/export), with labels.txt.

    Signature `serving_default`: `images` uint8 `[None, H, W, C]` -> `probabilities` float32
    `[None, num_classes]`, (H, W, C) = config.json `image_shape`; `serving_bytes`: `image_bytes`
    string `[None]` (encoded files, decoded as training did) -> the same. With `verify`, the export must reload in a
    fresh process without effnet_keras and match the Keras model within TOLERANCES[precision].
    An existing export at `out_dir` is replaced only by one that passed, and only when `out_dir` holds
    nothing but what its MANIFEST lists, with matching checksums (ExportError naming the other files
    otherwise). Returns `{"path", "labels", "precision", "signature", "verified", "max_abs_diff",
    "tolerance", "checks", "ok"}`: `checks` the outcome of each check of `verify_export` and `ok`
    whether all passed (all three None when not verified). An export that fails a check raises
    ExportError naming the failures, leaving the run's files and any earlier export as they were.
    """
    run = Path(run_dir).resolve()
    config = read_run(run)
    out = Path(out_dir).resolve() if out_dir is not None else run / "export"
    names, shape, precision = config["class_names"], tuple(config["image_shape"]), config["precision"]
    resize = resize_policy(config)

    staging = _prepare_out_dir(out, run)
    try:
        model = load_model(RunDir(run).model_file)
        check_model(model, shape, len(names))
        _write_saved_model(model, staging, shape, resize)
        (staging / "labels.txt").write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
        checked = verify_export(staging, model, tolerance=TOLERANCES[precision], image_shape=shape) if verify else {}
        if verify and not checked["ok"]:
            raise ExportError(_failures(out, checked, TOLERANCES[precision]))
        manifest = {**_listing(staging), "image_shape": list(shape), "resize": resize}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if out.exists():
            _check_replaceable(out)  # again: files may have appeared while the export ran
            old = _sibling(out, "old")
            os.replace(out, old)
            os.replace(staging, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, out)
    except OSError as e:
        raise ExportError(f"Cannot write the export to {out}: {e}. Pass a writable OUT_DIR.") from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    signature = checked.get("signature", _signature_spec(shape, len(names)))
    return {"path": str(out), "labels": str(out / "labels.txt"), "precision": precision, "signature": signature,
            "verified": verify, "max_abs_diff": checked.get("max_abs_diff"), "tolerance": TOLERANCES[precision],
            "checks": checked.get("checks"), "ok": checked.get("ok")}


def _run_export_command(args: argparse.Namespace) -> int:
    summary = export_run(args.run_dir, args.out_dir, verify=not args.no_verify)
    print(json.dumps(summary, indent=2))
    return 0


def add_export_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `export RUN_DIR [OUT_DIR] [--no-verify]` on the CLI's subparsers; returns the parser."""
    parser = subparsers.add_parser(
        "export", help="write a run's model as a TensorFlow SavedModel serving raw uint8 images",
        formatter_class=HelpFormatter,
        description="Export RUN_DIR/model.keras as a TensorFlow SavedModel: signature serving_default takes "
                    "uint8 images [batch, H, W, C] of the run's raw image shape and returns float32 probabilities "
                    "[batch, classes]; signature serving_bytes takes encoded JPEG/PNG/BMP/GIF files (string "
                    "[batch], input image_bytes) and decodes and resizes them in the graph as training did; "
                    "labels.txt lists the class names. Prints a JSON summary.")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="training run directory (model.keras, config.json)")
    parser.add_argument("out_dir", metavar="OUT_DIR", nargs="?", default=None,
                        help="where to write the SavedModel (default: RUN_DIR/export)")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip reloading the export in a fresh process and comparing it with the Keras model")
    parser.set_defaults(run=_run_export_command)
    return parser
