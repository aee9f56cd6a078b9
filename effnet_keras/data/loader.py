"""`load_dataset`: pick a source, read, validate, narrow to some classes and split a data set."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from effnet_keras.bounds import Bounds
from effnet_keras.data import archives, fashion_mnist
from effnet_keras.data.cache import cache_folder, cached
from effnet_keras.data.folder import TEST_FRACTION, read_folder
from effnet_keras.data.selection import Selection, select_dataset
from effnet_keras.data.spec import (
    FOLDER_PREFIX,
    TFDS_PREFIX,
    DataError,
    DataRequestError,
    Dataset,
    DatasetSpec,
)
from effnet_keras.data.synthetic import make_synthetic
from effnet_keras.data.tfds_source import read_named, read_tfds, tfds_home

SOURCES = ("auto", "archive", "tfds")
DEFAULT_VAL_SPLIT = 0.1
"""Share of the training images held out for validation unless asked otherwise."""

_FILES = {"cifar10": archives, "cifar100": archives, "fashion-mnist": fashion_mnist}
"""Data set -> the module that finds and reads its files. Each offers search_places(dataset,
data_dir), find(dataset, places) -> a location with files() or None, expected_names(dataset),
read(location, label_mode) and how_to_get(dataset)."""


def load_dataset(
    name: str,
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    val_split: float = DEFAULT_VAL_SPLIT,
    label_mode: str = "fine",
    seed: int = 0,
    synthetic_train: int = 5000,
    synthetic_test: int = 1000,
    *,
    classes: Sequence[int | str] | None = None,
    expected_counts: tuple[int, int] | str | None = None,
    cache: bool = True,
    train_images: int | None = None,
    image_size: tuple[int, int] | None = None,
    resize: str = "squash",
    skip_bad_images: bool = False,
    stream: bool = False,
    memory_limit_gib: float | None = None,
) -> Dataset:
    """Load data set `name` (one of DATASETS, folder:PATH or tfds:NAME) into host memory.

    folder:PATH reads a folder of class folders of images (layouts in `folder`); tfds:NAME a TFDS
    image classification set prepared in `data_dir` (TFDS's data_dir), offline. Without a test
    split of their own, a seeded TEST_FRACTION of each class tests; a split of their own named
    val/ (TFDS: validation) validates instead of `val_split`.

    Args:
        name: a name in DATASETS, folder:PATH or tfds:NAME.
        source: "archive" (the official files: CIFAR archives in `data_dir`, the Keras cache or
            TFDS's manual folder; Fashion-MNIST IDX files in `data_dir`, the Keras cache or the
            Debian package's folder), "tfds" (`tfds.load` with `data_dir`), or "auto" (archive,
            then tfds). Ignored for "synthetic", which is generated.
        val_split: what validates (chooses the best epoch, ranks trials): a fraction in (0, 1) or a
            count >= 1 of the training images, held out seeded (`seed`) and class-stratified, so the
            test split is used by nobody but the final evaluation; 0 validates on the test split
            itself (then the test split chose the model: `Dataset.selected_on_test`).
        label_mode: "fine", or "coarse" for CIFAR-100's 20 super-classes.
        seed: seeds the validation split and the synthetic images.
        synthetic_train: synthetic set: training images.
        synthetic_test: synthetic set: test images.
        classes: keep only these labels (or class names), relabelled 0..k-1 in this order (class names follow);
            e.g. (3, 4, 5) of cifar10 is cifar10-3.
        expected_counts: (train, test) images the source must hold before narrowing; None insists
            on the official counts, "any" accepts any (archives users made themselves).
        cache: read and write decoded arrays of archive/IDX files and image folders under
            `cache_folder(data_dir)`.
        train_images: train on a seeded, class-stratified subset of this many of the training
            images left after narrowing and the validation split (None: all of them).
        image_size: (height, width) that folder images, and TFDS images of no fixed size, are
            resized to with policy `resize` (images.RESIZE_POLICIES); None: DEFAULT_IMAGE_SIZE.
        skip_bad_images: leave undecodable folder files out (listed in `Dataset.decoding`) instead of
            raising DataRequestError naming the first.
        stream: serve a folder as file paths decoded by the pipeline (see `folder.read_folder`).
        memory_limit_gib: stream a folder when its decoded images would exceed this many GiB.

    Returns:
        A `Dataset`: uint8 images `[N, *image_shape]` (or file paths when streamed) and int64 labels
        `[N]` for train, validation and test, with `class_names` and `image_shape`.

    Raises:
        DataError: nothing found (listing every place looked and how to get the files), or what was
            read is incomplete, corrupt or unsafe.
        DataRequestError: the arguments ask what the data cannot give (a `data_dir` that does not
            exist, more `train_images` than there are, a split left empty).

    Never substitutes data.

    Example:
        >>> from effnet_keras.data import load_dataset
        >>> d = load_dataset("synthetic", synthetic_train=500, synthetic_test=100)
        >>> d.image_shape, d.class_names[:2]
        ((32, 32, 3), ['disc', 'ring'])
    """
    selection = select_dataset(name, label_mode, classes, expected_counts, image_size, data_dir)
    if source not in SOURCES:
        raise DataError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}.")
    check_val_split(val_split)
    own_val = decoding = None
    if name.startswith((FOLDER_PREFIX, TFDS_PREFIX)):
        (x_train, y_train, x_test, y_test), own_val, decoding, origin = _read_own(
            selection, data_dir, seed, resize, skip_bad_images=skip_bad_images, stream=stream,
            memory_limit_gib=memory_limit_gib, cache=cache)
    elif selection.spec.official_counts is None:
        x_train, y_train, x_test, y_test = make_synthetic(synthetic_train, synthetic_test, seed)
        origin = f"synthetic (seed={seed})"
    else:
        if data_dir is not None and not Path(data_dir).expanduser().is_dir():
            raise DataRequestError(f"--data-dir {data_dir} does not exist or is not a folder; pass the folder that "
                                   "holds the files, or leave it out to search the usual places.")
        (x_train, y_train, x_test, y_test), origin = _read(selection, source, data_dir, cache)
    x_train, y_train = selection.narrow(x_train, y_train)
    x_test, y_test = selection.narrow(x_test, y_test)
    if own_val is not None:
        x_val, y_val = selection.narrow(*own_val)
    elif val_split == 0:
        x_val, y_val = x_test, y_test
    else:
        train_idx, val_idx = holdout_split(y_train, val_split, seed)
        x_val, y_val = x_train[val_idx], y_train[val_idx]
        x_train, y_train = x_train[train_idx], y_train[train_idx]
    if train_images is not None:
        keep = stratified_subset(y_train, train_images, seed)
        x_train, y_train = x_train[keep], y_train[keep]
    return Dataset(name, origin, selection.class_names, selection.image_shape, x_train, y_train, x_val, y_val,
                   x_test, y_test, selected_on_test=val_split == 0 and own_val is None, decoding=decoding)


def _read_own(selection: Selection, data_dir, seed: int, resize: str, cache: bool, **folder_options):
    """((x_train, y_train, x_test, y_test), own validation split or None, FileDecoding or None,
    origin) of a folder:PATH or tfds:NAME set (before narrowing)."""
    name = selection.name
    if name.startswith(FOLDER_PREFIX):
        path = name[len(FOLDER_PREFIX):]
        splits, decoding = read_folder(path, selection.spec.class_names["fine"], selection.image_shape, resize,
                                       cache_dir=cache_folder(data_dir) if cache else None, **folder_options)
        origin = f"folder {Path(path).expanduser().resolve()}"
    else:
        splits, decoding = read_named(selection.spec, data_dir, resize)
        origin = f"tfds {name[len(TFDS_PREFIX):]} in {tfds_home(data_dir)}"
    train = splits.pop("all", None) or splits["train"]
    test = splits.get("test")
    if test is None:
        train, test = split_off_test(*train, selection.spec.class_names["fine"], origin, seed)
    return (*train, *test), splits.get("val"), decoding, origin


def split_off_test(images: np.ndarray, labels: np.ndarray, class_names: Sequence[str], where: str, seed: int
                   ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((train images, labels), (test images, labels)): a seeded TEST_FRACTION of each class
    tests; DataRequestError naming `where` and the class when a class is too small to give one."""
    counts = np.bincount(labels, minlength=len(class_names))
    least = int(np.argmin(counts))
    if round(counts[least] * TEST_FRACTION) < 1:
        raise DataRequestError(f"{where}: class {class_names[least]!r} has {counts[least]} images; without a test "
                               f"split of its own, {TEST_FRACTION:.0%} of each class tests, so each needs at least "
                               f"{math.ceil(0.5 / TEST_FRACTION)} images.")
    train, test = stratified_split(labels, TEST_FRACTION, seed)
    return (images[train], labels[train]), (images[test], labels[test])


def check_val_split(val_split: float) -> None:
    """DataError unless `val_split` is 0, a fraction in (0, 1) or a whole count >= 1."""
    if not Bounds(0).admits(val_split) or not (val_split < 1 or float(val_split).is_integer()):
        raise DataError(f"val_split must be a fraction in (0, 1), a whole number of images >= 1, or 0 (validate on "
                        f"the test split), got {val_split}.")


def stratified_subset(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Sorted indices of `count` labels drawn without replacement (seeded), each class's share
    within one image of its share of `labels`; DataError unless 1 <= count <= len(labels)."""
    if not 1 <= count <= len(labels):
        raise DataRequestError(f"train_images={count}: choose between 1 and the {len(labels)} training images "
                               "available.")
    rng = np.random.default_rng(seed)
    order, keys = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        order.append(members)
        keys.append((np.arange(len(members)) + 0.5) / len(members))
    chosen = np.concatenate(order)[np.argsort(np.concatenate(keys), kind="stable")[:count]]
    return np.sort(chosen)


def holdout_split(labels: np.ndarray, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices), both sorted and disjoint: `val_split` >= 1 images, or a
    fraction < 1 of them (at least one), each class's share within one image of its share of `labels`."""
    count = int(val_split) if val_split >= 1 else max(1, round(val_split * len(labels)))
    if count >= len(labels):
        raise DataRequestError(f"val_split={val_split:g} holds out {count} of the {len(labels)} training images and "
                               f"leaves none to train on; hold out fewer, e.g. --val-split 0.1.")
    val = stratified_subset(labels, count, seed)
    return np.setdiff1d(np.arange(len(labels)), val), val


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices), both sorted: a seeded `fraction` of each class
    (rounded per class) goes to validation."""
    rng = np.random.default_rng(seed)
    val = np.sort(np.concatenate([
        members[: round(fraction * len(members))]
        for members in (rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels))
    ]))
    if len(val) in (0, len(labels)):
        raise DataRequestError(
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
