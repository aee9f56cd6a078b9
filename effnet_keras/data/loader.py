"""`load_dataset`: pick a source, read, validate, narrow to some classes and split a data set."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from effnet_keras.data import archives, fashion_mnist
from effnet_keras.data.cache import cache_folder, cached
from effnet_keras.data.spec import DataError, Dataset, DatasetSpec, Selection, select_dataset
from effnet_keras.data.synthetic import make_synthetic
from effnet_keras.data.tfds_source import read_tfds, tfds_home

SOURCES = ("auto", "archive", "tfds")

_FILES = {"cifar10": archives, "cifar100": archives, "fashion-mnist": fashion_mnist}
"""Data set -> the module that finds and reads its files. Each offers search_places(dataset,
data_dir), find(dataset, places) -> a location with files() or None, expected_names(dataset),
read(location, label_mode) and how_to_get(dataset)."""


def load_dataset(
    name: str,
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    val_split: float | None = None,
    label_mode: str = "fine",
    seed: int = 0,
    synthetic_train: int = 5000,
    synthetic_test: int = 1000,
    *,
    classes: Sequence[int] | None = None,
    expected_counts: tuple[int, int] | str | None = None,
    cache: bool = True,
    train_images: int | None = None,
) -> Dataset:
    """Load data set `name` (one of DATASETS) into host memory.

    source: "archive" (the official files: CIFAR archives in `data_dir`, the Keras cache or
        TFDS's manual folder; Fashion-MNIST IDX files in `data_dir`, the Keras cache or the
        Debian package's folder), "tfds" (`tfds.load` with `data_dir`), or "auto" (archive,
        then tfds). Ignored for "synthetic", which is generated.
    val_split: None validates on the official test split; a fraction in (0, 1) holds out a
        seeded (`seed`), class-stratified slice of train instead, leaving test untouched.
    label_mode: "fine", or "coarse" for CIFAR-100's 20 super-classes.
    seed: seeds the validation split and the synthetic images.
    synthetic_train, synthetic_test: synthetic set sizes.
    classes: keep only these labels, relabelled 0..k-1 in this order (class names follow);
        e.g. (3, 4, 5) of cifar10 is cifar10-3.
    expected_counts: (train, test) images the source must hold before narrowing; None insists
        on the official counts, "any" accepts any (archives users made themselves).
    cache: read and write decoded arrays of archive/IDX files under `cache_folder(data_dir)`.
    train_images: train on a seeded, class-stratified subset of this many of the training
        images left after narrowing and the validation split (None: all of them).

    Raises DataError when nothing is found (listing every place looked and how to get the
    files), or when what was read is incomplete, corrupt or unsafe. Never substitutes data.
    """
    selection = select_dataset(name, label_mode, classes, expected_counts)
    if source not in SOURCES:
        raise DataError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}.")
    if val_split is not None and not 0 < val_split < 1:
        raise DataError(f"val_split must be a fraction in (0, 1) or None, got {val_split}.")
    if selection.spec.official_counts is None:
        x_train, y_train, x_test, y_test = make_synthetic(synthetic_train, synthetic_test, seed)
        origin = f"synthetic (seed={seed})"
    else:
        (x_train, y_train, x_test, y_test), origin = _read(selection, source, data_dir, cache)
    x_train, y_train = selection.narrow(x_train, y_train)
    x_test, y_test = selection.narrow(x_test, y_test)
    if val_split is None:
        x_val, y_val = x_test, y_test
    else:
        train_idx, val_idx = stratified_split(y_train, val_split, seed)
        x_val, y_val = x_train[val_idx], y_train[val_idx]
        x_train, y_train = x_train[train_idx], y_train[train_idx]
    if train_images is not None:
        keep = stratified_subset(y_train, train_images, seed)
        x_train, y_train = x_train[keep], y_train[keep]
    return Dataset(name, origin, selection.class_names, selection.image_shape, x_train, y_train, x_val, y_val,
                   x_test, y_test)


def stratified_subset(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Sorted indices of `count` labels drawn without replacement (seeded), each class's share
    within one image of its share of `labels`; DataError unless 1 <= count <= len(labels)."""
    if not 1 <= count <= len(labels):
        raise DataError(f"train_images={count}: choose between 1 and the {len(labels)} training images available.")
    rng = np.random.default_rng(seed)
    order, keys = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        order.append(members)
        keys.append((np.arange(len(members)) + 0.5) / len(members))
    chosen = np.concatenate(order)[np.argsort(np.concatenate(keys), kind="stable")[:count]]
    return np.sort(chosen)


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices), both sorted: a seeded `fraction` of each class
    (rounded per class) goes to validation."""
    rng = np.random.default_rng(seed)
    val = np.sort(np.concatenate([
        members[: round(fraction * len(members))]
        for members in (rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels))
    ]))
    if len(val) in (0, len(labels)):
        raise DataError(
            f"val_split={fraction} leaves {len(val)} of {len(labels)} training images for "
            f"validation; choose a fraction that leaves both parts non-empty."
        )
    return np.setdiff1d(np.arange(len(labels)), val), val


def _read(selection: Selection, source: str, data_dir, cache: bool):
    """((x_train, y_train, x_test, y_test), description of the source) of the whole data set
    (before narrowing) from the first source that has it; DataError listing every attempt if
    none has."""
    spec, label_mode, expected_counts = selection.spec, selection.label_mode, selection.expected_counts
    attempts = []
    files = _FILES[spec.name]
    if source in ("auto", "archive"):
        places = files.search_places(spec.name, data_dir)
        location = files.find(spec.name, places)
        if location is not None:
            def decode():
                return files.read(location, label_mode)

            def check(arrays):
                _check_counts(arrays, spec, str(location), expected_counts)

            folder = cache_folder(data_dir) if cache else None
            arrays = cached(folder, f"{spec.name}-{label_mode}", location.files(), decode, check)
            return arrays, f"archive {location}"
        attempts.append(
            "archive: looked for\n"
            + "".join(f"      {names}\n" for names in files.expected_names(spec.name))
            + "    in\n"
            + "\n".join(f"      {place}" for place in places)
        )
    if source in ("auto", "tfds"):
        try:
            arrays = read_tfds(spec.name, data_dir, label_mode)
        except DataError as exc:
            attempts.append(f"tfds: {exc}")
        else:
            where = f"tfds {spec.tfds_name} in {tfds_home(data_dir)}"
            _check_counts(arrays, spec, where, expected_counts)
            return arrays, where
    raise DataError(
        f"no {spec.name} data found (source={source!r}).\n"
        + "\n".join(f"  {attempt}" for attempt in attempts)
        + f"\n{files.how_to_get(spec.name)}"
    )


def _check_counts(arrays, spec: DatasetSpec, where: str, expected_counts) -> None:
    """Raise DataError unless the (train, test) image counts are as expected (the official ones
    when `expected_counts` is None, anything when it is "any")."""
    if expected_counts == "any":
        return
    found = (len(arrays[0]), len(arrays[2]))
    expected = expected_counts or spec.official_counts
    for split, count, wanted in zip(("train", "test"), found, expected):
        if count != wanted:
            raise DataError(
                f"{where}: {count} {split} images, expected {wanted}"
                + (" (the official count)" if expected_counts is None else " (--expected-counts)")
                + f". If you made this copy yourself (a subset, other data in the same format), pass "
                f"--expected-counts {found[0]},{found[1]} or --expected-counts any (expected_counts= in "
                f"Python); otherwise the copy is incomplete: get it again from {spec.download_page}."
            )
