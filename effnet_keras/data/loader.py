"""`load_dataset`: pick a source, read, validate, subset and split a data set."""

from __future__ import annotations

import os

import numpy as np

from effnet_keras.data.archives import (
    LAYOUTS,
    expected_names,
    find_archive,
    read_archive,
    search_places,
)
from effnet_keras.data.spec import (
    CIFAR10_3_LABELS,
    CIFAR10_CLASSES,
    CIFAR100_COARSE_CLASSES,
    CIFAR100_FINE_CLASSES,
    DOWNLOAD_PAGE,
    OFFICIAL_COUNTS,
    DataError,
    Dataset,
)
from effnet_keras.data.synthetic import SYNTHETIC_CLASSES, make_synthetic
from effnet_keras.data.tfds_source import read_tfds, tfds_home

DATASETS = ("cifar10", "cifar100", "cifar10-3", "synthetic")
SOURCES = ("auto", "archive", "tfds")
LABEL_MODES = ("fine", "coarse")


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
    expected_counts: tuple[int, int] | None = None,
) -> Dataset:
    """Load data set `name` (one of DATASETS) into host memory.

    source: "archive" (official CIFAR files in `data_dir`, the Keras cache or TFDS's manual
        folder), "tfds" (`tfds.load` with `data_dir`), or "auto" (archive, then tfds).
        Ignored for "synthetic", which is generated.
    val_split: None validates on the official test split; a fraction in (0, 1) holds out a
        seeded (`seed`), class-stratified slice of train instead, leaving test untouched.
    label_mode: "fine", or "coarse" for CIFAR-100's 20 super-classes.
    seed: seeds the validation split and the synthetic images.
    synthetic_train, synthetic_test: synthetic set sizes.
    expected_counts: (train, test) images the CIFAR source must hold before subsetting;
        None insists on the official (50000, 10000). Only for deliberately small test archives.

    Raises DataError when nothing is found (listing every place looked and the files to place
    there), or when what was read is incomplete, corrupt or unsafe. Never substitutes data.
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    if source not in SOURCES:
        raise DataError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}.")
    if label_mode not in LABEL_MODES or (label_mode == "coarse" and name != "cifar100"):
        raise DataError(
            f"label_mode={label_mode!r} is invalid for {name}: use 'fine', or 'coarse' with "
            f"cifar100 (its 20 super-classes)."
        )
    if val_split is not None and not 0 < val_split < 1:
        raise DataError(f"val_split must be a fraction in (0, 1) or None, got {val_split}.")
    if name == "synthetic":
        x_train, y_train, x_test, y_test = make_synthetic(synthetic_train, synthetic_test, seed)
        class_names = list(SYNTHETIC_CLASSES)
        origin = f"synthetic (seed={seed})"
    else:
        cifar = "cifar10" if name == "cifar10-3" else name
        (x_train, y_train, x_test, y_test), origin = _read_cifar(
            cifar, source, data_dir, label_mode, expected_counts
        )
        class_names = {
            "cifar10": list(CIFAR10_CLASSES),
            "cifar100": list(CIFAR100_FINE_CLASSES if label_mode == "fine" else CIFAR100_COARSE_CLASSES),
            "cifar10-3": [CIFAR10_CLASSES[i] for i in CIFAR10_3_LABELS],
        }[name]
        if name == "cifar10-3":
            x_train, y_train = _keep_three(x_train, y_train)
            x_test, y_test = _keep_three(x_test, y_test)
    if val_split is None:
        x_val, y_val = x_test, y_test
    else:
        train_idx, val_idx = stratified_split(y_train, val_split, seed)
        x_val, y_val = x_train[val_idx], y_train[val_idx]
        x_train, y_train = x_train[train_idx], y_train[train_idx]
    return Dataset(name, origin, class_names, x_train, y_train, x_val, y_val, x_test, y_test)


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


def _keep_three(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cat/deer/dog images of CIFAR-10, labels mapped 3, 4, 5 -> 0, 1, 2."""
    keep = np.isin(labels, CIFAR10_3_LABELS)
    return images[keep], np.searchsorted(CIFAR10_3_LABELS, labels[keep]).astype(np.int64)


def _read_cifar(dataset, source, data_dir, label_mode, expected_counts):
    """((x_train, y_train, x_test, y_test), description of the source) from the first source
    that has `dataset`; DataError listing every attempt if none has."""
    attempts = []
    if source in ("auto", "archive"):
        places = search_places(dataset, data_dir)
        location = find_archive(dataset, places)
        if location is not None:
            arrays = read_archive(location, label_mode)
            _check_counts(arrays, dataset, str(location), expected_counts)
            return arrays, f"archive {location}"
        attempts.append(
            "archive: looked for\n"
            + "".join(f"      {names}\n" for names in expected_names(dataset))
            + "    in\n"
            + "\n".join(f"      {place}" for place in places)
        )
    if source in ("auto", "tfds"):
        try:
            arrays = read_tfds(dataset, data_dir, label_mode)
        except DataError as exc:
            attempts.append(f"tfds: {exc}")
        else:
            where = f"tfds {dataset} in {tfds_home(data_dir)}"
            _check_counts(arrays, dataset, where, expected_counts)
            return arrays, where
    url = LAYOUTS[(dataset, "python")].url
    raise DataError(
        f"no {dataset} data found (source={source!r}).\n"
        + "\n".join(f"  {attempt}" for attempt in attempts)
        + f"\nTo fix: download {url} and put it, packed or extracted, into the folder you pass "
        f"as --data-dir (or into ~/.keras/datasets/ to need no flag); or run once with network "
        f"access and --source tfds, which downloads into --data-dir."
    )


def _check_counts(arrays, dataset, where, expected_counts):
    x_train, _, x_test, _ = arrays
    expected = expected_counts or OFFICIAL_COUNTS[dataset]
    for split, found, wanted in zip(("train", "test"), (len(x_train), len(x_test)), expected):
        if found != wanted:
            raise DataError(
                f"{where}: {found} {split} images, expected {wanted}"
                + (" (the official count)" if expected_counts is None else "")
                + f". The copy is incomplete or not the official one; download it again from {DOWNLOAD_PAGE}."
            )
