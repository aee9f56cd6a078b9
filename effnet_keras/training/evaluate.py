"""Scoring a trained model on labelled images (`python -m effnet_keras evaluate`): a folder of class
folders, or a data set's test split; per-class accuracy as Markdown and CSV, and a confusion-matrix PNG."""

from __future__ import annotations

import argparse
import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from effnet_keras.cli_common import HelpFormatter
from effnet_keras.tables import markdown_table
from effnet_keras.training.errors import UsageError
from effnet_keras.training.predict import (
    DEFAULT_BATCH_SIZE,
    MODEL_HELP,
    Predictor,
    check_batch_size,
    image_files,
    load_predictor,
    predict_batches,
    predict_files,
)

PER_CLASS_CSV = "per_class.csv"
PER_CLASS_MD = "per_class.md"
CONFUSION_PNG = "confusion.png"


def _model_labels(predictor: Predictor, names: Sequence[str], where: str) -> np.ndarray:
    """The model's label of each class name; UsageError naming the first one it does not know."""
    unknown = [n for n in names if n not in predictor.class_names]
    if unknown:
        raise UsageError(f"{where}: class {unknown[0]!r} is not one of the model's classes "
                         f"({', '.join(predictor.class_names)}); remove it or evaluate another model.")
    return np.array([predictor.class_names.index(n) for n in names], np.int64)


def folder_files(folder: str | os.PathLike) -> tuple[list[Path], list[str]]:
    """FOLDER/<class>/* -> (image files, class name of each), classes in sorted order. UsageError for
    a missing folder, one without class folders, or an empty class folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"DATA {folder} is not a folder; pass a folder of class folders (DATA/<class>/*.png).")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise UsageError(f"DATA {folder} has no class folders; put each class's images in DATA/<class>/.")
    files, names = [], []
    for name in classes:
        found = image_files([folder / name])
        files += found
        names += [name] * len(found)
    return files, names


def score(predictor: Predictor, probabilities: np.ndarray, labels: np.ndarray) -> tuple[list[dict], np.ndarray]:
    """Per-class rows {class, images, correct, accuracy} (classes with images, model order, then "all")
    and the confusion matrix int64 [classes, classes] (rows true, columns predicted)."""
    classes = len(predictor.class_names)
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((classes, classes), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    rows = [{"class": name, "images": int(confusion[i].sum()), "correct": int(confusion[i, i])}
            for i, name in enumerate(predictor.class_names) if confusion[i].sum()]
    rows.append({"class": "all", "images": len(labels), "correct": int(np.trace(confusion))})
    for row in rows:
        row["accuracy"] = row["correct"] / row["images"]
    return rows, confusion


def write_report(rows: list[dict], confusion: np.ndarray, class_names: Sequence[str], out_dir: Path,
                 title: str) -> str:
    """Write PER_CLASS_CSV, PER_CLASS_MD and CONFUSION_PNG into `out_dir`; return the Markdown table."""
    from effnet_keras.training.plots import plot_confusion

    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / PER_CLASS_CSV, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["class", "images", "correct", "accuracy"])
        writer.writeheader()
        writer.writerows({**r, "accuracy": f"{r['accuracy']:.6f}"} for r in rows)
    table = markdown_table(["class", "images", "correct", "accuracy"],
                           [[r["class"], str(r["images"]), str(r["correct"]), f"{r['accuracy']:.2%}"] for r in rows])
    (out_dir / PER_CLASS_MD).write_text(f"# {title}\n\n{table}\n", encoding="utf-8")
    plot_confusion(confusion.tolist(), class_names, out_dir / CONFUSION_PNG, title)
    return table


def _dataset_split(predictor: Predictor, args: argparse.Namespace):
    """(count, images(start, stop), labels in the model's order) of a data set's test split."""
    from effnet_keras.data import DataError, load_dataset

    try:
        data = load_dataset(args.dataset, data_dir=args.data_dir)
    except DataError as e:
        raise UsageError(str(e)) from None
    if tuple(data.image_shape) != predictor.image_shape:
        raise UsageError(f"--dataset {args.dataset} has {list(data.image_shape)} images but the model takes "
                         f"{list(predictor.image_shape)}; evaluate a model trained on such images.")
    labels = _model_labels(predictor, data.class_names, f"--dataset {args.dataset}")[data.y_test]
    return len(labels), lambda a, b: data.x_test[a:b], labels


def _run_evaluate_command(args: argparse.Namespace) -> int:
    check_batch_size(args.batch_size)
    if (args.data is None) == (args.dataset is None):
        raise UsageError("Pass either DATA (a folder of class folders) or --dataset NAME, not both or neither.")
    if args.data is not None:
        files, names = folder_files(args.data)
    predictor = load_predictor(args.model)
    if args.data is not None:
        labels = _model_labels(predictor, names, f"DATA {args.data}")
        probabilities = predict_files(predictor, files, args.batch_size)
        source = str(args.data)
    else:
        count, images, labels = _dataset_split(predictor, args)
        probabilities = predict_batches(predictor, count, images, args.batch_size)
        source = f"{args.dataset} test split"
    rows, confusion = score(predictor, probabilities, labels)
    title = f"{predictor.path.name} on {source}: {rows[-1]['accuracy']:.2%} of {rows[-1]['images']} images"
    print(write_report(rows, confusion, predictor.class_names, Path(args.output_dir), title))
    print(f"Wrote {PER_CLASS_MD}, {PER_CLASS_CSV} and {CONFUSION_PNG} to {args.output_dir}")
    return 0


def add_evaluate_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `evaluate MODEL [DATA] [--dataset NAME] [--output-dir DIR]`; returns the parser."""
    parser = subparsers.add_parser(
        "evaluate", help="score a trained run or export on labelled images: per-class accuracy and confusion matrix",
        formatter_class=HelpFormatter,
        description="Predict every image of DATA (a folder of class folders, DATA/<class>/*, class names as the "
                    "model's; files decoded as training did) or of a data set's test split (--dataset), and write "
                    f"{PER_CLASS_MD} and {PER_CLASS_CSV} (images, correct and accuracy per class, and all) and "
                    f"{CONFUSION_PNG} (rows true, columns predicted) into --output-dir.")
    parser.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    parser.add_argument("data", metavar="DATA", nargs="?", default=None, help="folder of class folders of images")
    parser.add_argument("--dataset", metavar="NAME", default=None,
                        help="a data set's test split instead of DATA, e.g. fashion-mnist")
    parser.add_argument("--data-dir", metavar="DIR", default=None,
                        help="where --dataset's files are (as train.py's --data-dir)")
    parser.add_argument("--output-dir", metavar="DIR", default="evaluation", help="folder for the tables and the PNG")
    parser.add_argument("--batch-size", metavar="N", type=int, default=DEFAULT_BATCH_SIZE, help="images per batch")
    parser.set_defaults(run=_run_evaluate_command)
    return parser
