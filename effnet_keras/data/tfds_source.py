"""Data sets from TensorFlow Datasets: prepared data in its data_dir, or a download when online."""

from __future__ import annotations

import os
import socket

import numpy as np

from effnet_keras.data.spec import SPECS, DataError, check_split, num_classes_of


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
