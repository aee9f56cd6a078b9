"""Data sets from TensorFlow Datasets: the built-in sets (prepared data in its data_dir, or a download
when online) and any image classification set by name (`tfds:NAME`, prepared data only)."""

from __future__ import annotations

import os
import socket

import numpy as np

from effnet_keras.data.folder import decode_many
from effnet_keras.data.images import decode_image
from effnet_keras.data.spec import (
    DEFAULT_IMAGE_SIZE,
    SPECS,
    TFDS_PREFIX,
    DataError,
    DataRequestError,
    DatasetSpec,
    FileDecoding,
    check_split,
    num_classes_of,
)


def tfds_home(data_dir: str | os.PathLike | None) -> str:
    """The folder TFDS reads and writes for `data_dir` (None: its default)."""
    if data_dir is not None:
        return os.fspath(data_dir)
    default = os.path.join(os.path.expanduser("~"), "tensorflow_datasets")
    return os.environ.get("TFDS_DATA_DIR", default)


def network_available(host: str, timeout_s: float = 5.0) -> bool:
    """Whether a TCP connection to `host`:443 opens within `timeout_s` (TFDS retries an
    unreachable host for minutes, so this is asked first)."""
    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
        return True
    except OSError:
        return False


def read_tfds(
    dataset: str, data_dir: str | os.PathLike | None, label_mode: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) of `dataset` (a key of SPECS with a `tfds_name`) via
    `tfds.load`: uint8 [N, *image_shape] images and int64 [N] labels ("coarse" label_mode:
    CIFAR-100 super-classes).

    Uses prepared data in `data_dir` if present, else downloads when the host is reachable;
    raises DataError otherwise.
    """
    import tensorflow_datasets as tfds

    spec = SPECS[dataset]
    key = "coarse_label" if label_mode == "coarse" else "label"
    data_dir = None if data_dir is None else os.fspath(data_dir)
    try:
        splits = tfds.load(spec.tfds_name, split=["train", "test"], data_dir=data_dir, download=False)
    except AssertionError:  # what TFDS raises for data that was never prepared
        if not network_available(spec.download_host):
            raise DataError(
                f"TFDS has no prepared {spec.tfds_name} in {tfds_home(data_dir)} and {spec.download_host} "
                f"cannot be reached to download it."
            ) from None
        try:
            splits = tfds.load(spec.tfds_name, split=["train", "test"], data_dir=data_dir, download=True)
        except Exception as exc:  # download, checksum and preparation failures vary by version
            raise DataError(
                f"TFDS could not download and prepare {spec.tfds_name} into {tfds_home(data_dir)}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    arrays = []
    for split, name in zip(splits, ("train", "test")):
        pairs = split.map(lambda ex: (ex["image"], ex[key])).batch(1 << 16)
        images, labels = (np.concatenate(parts) for parts in zip(*pairs.as_numpy_iterator()))
        where = f"TFDS {spec.tfds_name} {name} split in {tfds_home(data_dir)}"
        check_split(images, labels, spec.image_shape, num_classes_of(dataset, label_mode), where)
        arrays += [images, labels.astype(np.int64)]
    return tuple(arrays)


def named_spec(name: str, image_size: tuple[int, int] | None, data_dir: str | os.PathLike | None) -> DatasetSpec:
    """The DatasetSpec of the TFDS image classification set `name` prepared in `data_dir`, read
    offline from its info: class names from features["label"], image shape from features["image"]
    (sides of no fixed size, or all sides when `image_size` is given: `image_size`, default
    DEFAULT_IMAGE_SIZE; channels other than 1 or 3: 3). DataError naming the set and the folder
    when it is not prepared there or is not an image classification set."""
    image, labels = _features(_prepared_builder(name, data_dir), name)
    height, width, channels = image.shape
    if image_size is not None or height is None or width is None:
        height, width = image_size or (DEFAULT_IMAGE_SIZE,) * 2
    return DatasetSpec(f"{TFDS_PREFIX}{name}", (height, width, channels if channels in (1, 3) else 3),
                       {"fine": tuple(labels.names)})


def read_named(spec: DatasetSpec, data_dir: str | os.PathLike | None, resize: str
               ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], FileDecoding | None]:
    """({split: (uint8 images [N, *spec.image_shape], int64 labels [N])}, decoding) of the TFDS set
    that `named_spec` described: "train", and "test" and "val" when the set has them (TFDS splits
    "test"; "validation" or "val"). Images TFDS stores in `spec.image_shape` are read as they are;
    others are decoded from their encoded bytes by `decode_image` with `resize` (decoding says so)."""
    import tensorflow_datasets as tfds

    name = spec.name[len(TFDS_PREFIX):]
    builder = _prepared_builder(name, data_dir)
    image, _ = _features(builder, name)
    own_size = tuple(image.shape) == spec.image_shape
    found = {split: next((n for n in names if n in builder.info.splits), None) for split, names in NAMED_SPLITS.items()}
    if found["train"] is None:
        raise DataRequestError(f"TFDS {name} in {tfds_home(data_dir)} has no train split (it has "
                               f"{', '.join(builder.info.splits)}); pick another set.")
    splits = {}
    for split, tfds_split in found.items():
        if tfds_split is None:
            continue
        decoders = None if own_size else {"image": tfds.decode.SkipDecoding()}
        pairs = builder.as_dataset(split=tfds_split, decoders=decoders).map(lambda ex: (ex["image"], ex["label"]))
        parts = list(pairs.batch(1 << 12).as_numpy_iterator())
        images, labels = (np.concatenate(p) for p in zip(*parts)) if parts else (np.zeros(0), np.zeros(0, np.int64))
        if not own_size:
            images, _ = decode_many(len(images), lambda i: decode_image(images[i], spec.image_shape, resize,  # noqa: B023 (called at once)
                                                                         f"TFDS {name} {tfds_split} image {i}"),  # noqa: B023
                                    spec.image_shape, False, f"TFDS {name} {tfds_split}")
        where = f"TFDS {name} {tfds_split} split in {tfds_home(data_dir)}"
        check_split(images, labels, spec.image_shape, len(spec.class_names["fine"]), where)
        splits[split] = (images, labels.astype(np.int64))
    return splits, None if own_size else FileDecoding(resize)


NAMED_SPLITS = {"train": ("train",), "test": ("test",), "val": ("validation", "val")}
"""Our split -> the TFDS split names it maps from, first found wins."""


def _prepared_builder(name: str, data_dir: str | os.PathLike | None):
    """TFDS's builder of `name` reading prepared data in `data_dir` (no network); DataError naming
    the set and the folder when it is unknown or not prepared there."""
    import tensorflow_datasets as tfds

    home = tfds_home(data_dir)
    prepare = (f"Prepare it where the network is reachable (`tfds build {name} --data_dir DIR`), copy DIR here and "
               f"pass it as --data-dir.")
    try:
        builder = tfds.builder(name, data_dir=None if data_dir is None else os.fspath(data_dir))
    except tfds.core.registered.DatasetNotFoundError:
        raise DataError(f"TFDS has no data set {name!r}, neither registered nor prepared in {home}. "
                        f"{prepare}") from None
    if not os.path.isfile(os.path.join(builder.data_dir, "dataset_info.json")):
        raise DataError(f"TFDS {name} is not prepared in {home}. {prepare}")
    return builder


def _features(builder, name: str):
    """(image feature, label feature) of an image classification set; DataError otherwise."""
    import tensorflow_datasets as tfds

    features = builder.info.features
    image, labels = (features[key] if key in features else None for key in ("image", "label"))
    if not isinstance(image, tfds.features.Image) or not isinstance(labels, tfds.features.ClassLabel):
        raise DataError(f"TFDS {name} is not an image classification set: it needs an 'image' feature and a "
                        f"'label' class feature (it has {', '.join(features.keys())}).")
    return image, labels
