"""Predictions on image files: load a trained model (a run directory, a `.keras` file with the run's
config.json beside it, or an exported SavedModel), decode files as training did, and write top-k
class names and probabilities as CSV (`python -m effnet_keras predict`)."""

from __future__ import annotations

import argparse
import csv
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from effnet_keras.cli_common import HelpFormatter
from effnet_keras.data.images import IMAGE_EXTENSIONS, read_image_file
from effnet_keras.training.errors import UsageError
from effnet_keras.training.export import (
    INPUT_NAME,
    MANIFEST,
    OUTPUT_NAME,
    SIGNATURE,
    check_model,
    load_model,
    read_run,
    resize_policy,
)
from effnet_keras.training.rundir import RunDir

MODEL_HELP = ("a run directory, a .keras model file (its run's config.json beside it) "
              "or an exported SavedModel directory")
DEFAULT_TOP_K = 5
DEFAULT_BATCH_SIZE = 64


@dataclass(frozen=True)
class Predictor:
    """A trained model ready for raw images.

    class_names: in label order; image_shape: (H, W, C) of the uint8 images it takes; resize: the
    policy training decoded files with; probabilities: uint8 [B, H, W, C] -> float32 [B, classes].
    """

    path: Path
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    resize: str
    probabilities: Callable[[np.ndarray], np.ndarray]

    def read(self, path: str | os.PathLike) -> np.ndarray:
        """The image file at `path` as uint8 [H, W, C], decoded and resized as training did."""
        return read_image_file(path, self.image_shape, self.resize)


def load_predictor(model: str | os.PathLike) -> Predictor:
    """The Predictor of MODEL (see MODEL_HELP); UsageError (or ExportError) saying what is wrong."""
    path = Path(model)
    if not path.exists():
        raise UsageError(f"MODEL {path} does not exist; pass {MODEL_HELP}.")
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return _saved_model(path)
    if path.is_dir() and RunDir(path).model_file.is_file():
        run_dir, model_file = path, RunDir(path).model_file
    elif path.is_file() and path.suffix == ".keras":
        run_dir, model_file = path.parent, path
    else:
        raise UsageError(f"MODEL {path} is not a run directory (no model.keras), a .keras file or a SavedModel "
                         f"directory (no saved_model.pb); pass {MODEL_HELP}.")
    config = read_run(run_dir)
    names, shape = tuple(config["class_names"]), tuple(config["image_shape"])
    keras_model = load_model(model_file)
    check_model(keras_model, shape, len(names))

    def probabilities(images: np.ndarray) -> np.ndarray:
        return np.asarray(keras_model.predict_on_batch(images), np.float32)

    return Predictor(path, names, shape, resize_policy(config), probabilities)


def _saved_model(path: Path) -> Predictor:
    """A SavedModel written by `export`: labels.txt for class names, the signature for the image shape,
    the export manifest for the resize policy."""
    import tensorflow as tf

    labels = path / "labels.txt"
    if not labels.is_file():
        raise UsageError(f"SavedModel {path} has no labels.txt, so its class names are unknown; export the run "
                         "again with `python -m effnet_keras export RUN_DIR`.")
    names = tuple(labels.read_text(encoding="utf-8").splitlines())
    try:
        serve = tf.saved_model.load(str(path)).signatures.get(SIGNATURE)
    except Exception as e:  # TensorFlow raises many types for a damaged SavedModel
        raise UsageError(f"SavedModel {path} cannot be loaded ({type(e).__name__}: {str(e).splitlines()[0]}); export "
                         "the run again with `python -m effnet_keras export RUN_DIR`.") from None
    spec = serve.structured_input_signature[1].get(INPUT_NAME) if serve is not None else None
    if spec is None or spec.dtype != tf.uint8 or spec.shape.rank != 4 or None in spec.shape[1:]:
        raise UsageError(f"SavedModel {path} has no {SIGNATURE!r} signature taking uint8 {INPUT_NAME!r} "
                         "[batch, H, W, C], so the image shape is unknown; export the run with "
                         "`python -m effnet_keras export RUN_DIR`.")
    outputs = serve.structured_outputs[OUTPUT_NAME].shape[-1]
    if outputs != len(names):
        raise UsageError(f"SavedModel {path} gives {outputs} probabilities but its labels.txt names {len(names)} "
                         "classes; export the run again.")
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    resize = manifest.get("resize", "squash")  # exports made before the manifest recorded it: arrays, no resize

    def probabilities(images: np.ndarray) -> np.ndarray:
        return serve(**{INPUT_NAME: tf.constant(images)})[OUTPUT_NAME].numpy()

    return Predictor(path, names, tuple(spec.shape[1:]), resize, probabilities)


def _visible(name: str) -> bool:
    return not name.startswith(".")


def image_files(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """The files named in `paths`, each folder replaced by its image files (extensions IMAGE_EXTENSIONS,
    any case), walked recursively in sorted order with hidden files and folders left out. UsageError
    for a path that does not exist and for a folder without image files."""
    found = []
    for given in map(Path, paths):
        if given.is_file():
            found.append(given)
        elif given.is_dir():
            inside = []
            for root, dirs, files in os.walk(given):
                dirs[:] = sorted(filter(_visible, dirs))
                inside += [Path(root) / f for f in sorted(filter(_visible, files))
                           if Path(f).suffix.lower() in IMAGE_EXTENSIONS]
            if not inside:
                raise UsageError(f"Folder {given} holds no image files ({', '.join(IMAGE_EXTENSIONS)}); pass a "
                                 "folder of images or the image files themselves.")
            found += inside
        else:
            raise UsageError(f"{given} does not exist; pass image files or folders of them.")
    return found


def predict_batches(predictor: Predictor, count: int, images: Callable[[int, int], np.ndarray],
                    batch_size: int = DEFAULT_BATCH_SIZE, verbose: int = 1) -> np.ndarray:
    """Probabilities float32 [count, classes] of `count` images, `images(start, stop)` giving uint8
    [stop - start, H, W, C], `batch_size` at a time with a progress bar (keras.utils.Progbar;
    `verbose` 0 hides it)."""
    import keras

    progress = keras.utils.Progbar(count, unit_name="image", verbose=verbose)
    batches = [np.zeros((0, len(predictor.class_names)), np.float32)]
    for start in range(0, count, batch_size):
        stop = min(start + batch_size, count)
        batches.append(predictor.probabilities(images(start, stop)))
        progress.add(stop - start)
    return np.concatenate(batches)


def predict_files(predictor: Predictor, files: Sequence[Path], batch_size: int = DEFAULT_BATCH_SIZE,
                  verbose: int = 1) -> np.ndarray:
    """Probabilities float32 [len(files), classes] of image files (see `predict_batches`); DataError
    naming the first file that is not a decodable image."""
    return predict_batches(predictor, len(files), lambda a, b: np.stack([predictor.read(f) for f in files[a:b]]),
                           batch_size, verbose)


def write_predictions(path: str | os.PathLike, files: Sequence[Path], probabilities: np.ndarray,
                      class_names: Sequence[str], top_k: int) -> None:
    """CSV: `file`, then `class_1`, `probability_1` ... `class_k`, `probability_k`, most likely first."""
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_k]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["file", *(f"{kind}_{i}" for i in range(1, top_k + 1) for kind in ("class", "probability"))])
        for file, row, ranked in zip(files, probabilities, order):
            writer.writerow([str(file), *(cell for i in ranked for cell in (class_names[i], f"{row[i]:.6f}"))])


def check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise UsageError(f"--batch-size {batch_size}: give a positive number of images per batch.")


def _run_predict_command(args: argparse.Namespace) -> int:
    check_batch_size(args.batch_size)
    files = image_files(args.images)
    predictor = load_predictor(args.model)
    top_k = min(DEFAULT_TOP_K, len(predictor.class_names)) if args.top_k is None else args.top_k
    if not 1 <= top_k <= len(predictor.class_names):
        raise UsageError(f"--top-k {top_k}: give 1 to {len(predictor.class_names)} (the model's classes).")
    probabilities = predict_files(predictor, files, args.batch_size)
    write_predictions(args.output, files, probabilities, predictor.class_names, top_k)
    print(f"Wrote top-{top_k} predictions for {len(files)} images to {args.output}")
    return 0


def add_predict_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `predict MODEL IMAGES... [--top-k K] [--output CSV] [--batch-size N]`; returns the parser."""
    parser = subparsers.add_parser(
        "predict", help="label image files with a trained run or an exported SavedModel (top-k classes as CSV)",
        formatter_class=HelpFormatter,
        description="Decode each image file as the run's training did (its image_shape and resize policy from "
                    "config.json, or from an export's signature and manifest; EXIF orientation applied, grey/RGB "
                    "converted to the model's channels), predict in batches, and write one CSV row per file: "
                    "file, then class_1, probability_1 ... class_K, probability_K, most likely first. Folders "
                    f"are walked recursively for {', '.join(IMAGE_EXTENSIONS)} files; hidden files are ignored.")
    parser.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    parser.add_argument("images", metavar="IMAGES", nargs="+", help="image files and folders of them")
    parser.add_argument("--top-k", metavar="K", type=int, default=None,
                        help=f"classes per file (default: {DEFAULT_TOP_K}, or all when the model has fewer)")
    parser.add_argument("--output", metavar="CSV", default="predictions.csv",
                        help="CSV file to write (default: predictions.csv)")
    parser.add_argument("--batch-size", metavar="N", type=int, default=DEFAULT_BATCH_SIZE,
                        help=f"images per batch (default: {DEFAULT_BATCH_SIZE})")
    parser.set_defaults(run=_run_predict_command)
    return parser
