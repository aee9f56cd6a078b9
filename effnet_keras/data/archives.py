"""The official CIFAR archives: where to find them, how to read them safely, how to write them.

Two formats exist for each of CIFAR-10 and CIFAR-100 (https://www.cs.toronto.edu/~kriz/cifar.html):
- python: pickled dicts with b"data" (uint8 [N, 3072], channel-planar: 1024 red, 1024 green,
  1024 blue bytes, rows top to bottom) and b"labels" (CIFAR-10) or b"fine_labels" and
  b"coarse_labels" (CIFAR-100).
- binary: records of 1 label byte (CIFAR-100: coarse then fine) followed by the same 3072 bytes.
Each comes packed (`.tar.gz`) or extracted into its folder.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from effnet_keras.data.safe_pickle import safe_loads
from effnet_keras.data.spec import (
    CIFAR10_CLASSES,
    CIFAR100_COARSE_CLASSES,
    CIFAR100_FINE_CLASSES,
    CIFAR100_FINE_TO_COARSE,
    SPECS,
    DataError,
    check_split,
    keras_datasets_folder,
    num_classes_of,
)
from effnet_keras.data.tfds_source import tfds_home

FORMATS = ("python", "binary")
CIFAR_IMAGE_SHAPE = SPECS["cifar10"].image_shape
_PIXELS = int(np.prod(CIFAR_IMAGE_SHAPE))


@dataclass(frozen=True)
class Layout:
    """Where one format of one data set keeps its files."""

    dataset: str
    fmt: str
    folder: str
    archive: str
    aliases: tuple[str, ...]
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]

    @property
    def url(self) -> str:
        return f"https://www.cs.toronto.edu/~kriz/{self.archive}"


LAYOUTS = {
    ("cifar10", "python"): Layout(
        "cifar10", "python", "cifar-10-batches-py", "cifar-10-python.tar.gz",
        ("cifar-10-batches-py.tar.gz", "cifar-10-batches-py-target_archive"),
        tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",),
    ),
    ("cifar10", "binary"): Layout(
        "cifar10", "binary", "cifar-10-batches-bin", "cifar-10-binary.tar.gz", (),
        tuple(f"data_batch_{i}.bin" for i in range(1, 6)), ("test_batch.bin",),
    ),
    ("cifar100", "python"): Layout(
        "cifar100", "python", "cifar-100-python", "cifar-100-python.tar.gz",
        ("cifar-100-python-target_archive",), ("train",), ("test",),
    ),
    ("cifar100", "binary"): Layout(
        "cifar100", "binary", "cifar-100-binary", "cifar-100-binary.tar.gz", (),
        ("train.bin",), ("test.bin",),
    ),
}
"""(data set, format) -> layout. `aliases` are the names Keras caches the same archive under."""


@dataclass(frozen=True)
class Location:
    """A found copy of a data set: an archive file (packed) or its extracted folder."""

    layout: Layout
    path: Path
    packed: bool

    def __str__(self) -> str:
        return f"{self.path} ({self.layout.fmt} format)"

    def files(self) -> list[Path]:
        """The files this location reads: the archive, or the batch files of the folder."""
        if self.packed:
            return [self.path]
        return [self.path / name for name in self.layout.train_files + self.layout.test_files]


def search_places(dataset: str, data_dir: str | os.PathLike | None) -> list[Path]:
    """Folders searched for `dataset`'s archives or extracted folders, in order of preference."""
    places = []
    if data_dir is not None:
        places += [Path(data_dir), Path(data_dir) / "downloads" / "manual"]
    keras_datasets = keras_datasets_folder()
    keras_target = keras_datasets / f"{LAYOUTS[(dataset, 'python')].folder}-target"
    places += [keras_datasets, keras_target, Path(tfds_home(None)) / "downloads" / "manual"]
    return list(dict.fromkeys(p.expanduser() for p in places))


def find(dataset: str, places: list[Path]) -> Location | None:
    """The first copy of `dataset` in `places` (each place: python before binary, folder
    before archive), or None."""
    for place in places:
        for fmt in FORMATS:
            layout = LAYOUTS[(dataset, fmt)]
            if (place / layout.folder).is_dir():
                return Location(layout, place / layout.folder, packed=False)
            for name in (layout.archive, *layout.aliases):
                if (place / name).is_file():
                    return Location(layout, place / name, packed=True)
    return None


def expected_names(dataset: str) -> list[str]:
    """One line per format naming what `find` accepts for `dataset`."""
    return [
        f"{layout.archive} or its extracted folder {layout.folder}/ ({fmt} format)"
        for fmt in FORMATS
        for layout in [LAYOUTS[(dataset, fmt)]]
    ]


def how_to_get(dataset: str) -> str:
    """What to do when no copy of `dataset` is found."""
    return (
        f"To fix: download {LAYOUTS[(dataset, 'python')].url} and put it, packed or extracted, into the folder "
        f"you pass as --data-dir (or into ~/.keras/datasets/ to need no flag); or run once with network access "
        f"and --source tfds, which downloads into --data-dir."
    )


def read(location: Location, label_mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read (x_train, y_train, x_test, y_test): uint8 [N, 32, 32, 3] images, int64 [N] labels.

    `label_mode` is "fine" or "coarse" (CIFAR-100 only). Every file is checked for shape, dtype
    and label range; a missing, truncated or corrupt file raises DataError naming it.
    """
    layout = location.layout
    blobs = _read_members(location, layout.train_files + layout.test_files)
    num_classes = num_classes_of(layout.dataset, label_mode)
    decoded = {
        name: _decode(layout, blob, where, label_mode, num_classes)
        for name, (where, blob) in blobs.items()
    }

    def join(names):
        return (
            np.concatenate([decoded[n][0] for n in names]),
            np.concatenate([decoded[n][1] for n in names]),
        )

    return (*join(layout.train_files), *join(layout.test_files))


def _read_members(location: Location, names: tuple[str, ...]) -> dict[str, tuple[str, bytes]]:
    """name -> (description for errors, file bytes) for each of `names` in the location."""
    layout = location.layout
    if not location.packed:
        blobs = {}
        for name in names:
            path = location.path / name
            if not path.is_file():
                raise DataError(
                    f"{path} is missing: {location.path} must hold {', '.join(names)}. "
                    f"Extract {layout.archive} again ({layout.url})."
                )
            _check_size(layout, name, path.stat().st_size, str(path))
            blobs[name] = (str(path), path.read_bytes())
        return blobs
    blobs = {}
    try:
        with tarfile.open(location.path, "r:*") as tar:
            for member in tar:
                folder, _, name = member.name.removeprefix("./").rpartition("/")
                if folder == layout.folder and name in names and member.isfile():
                    _check_size(layout, name, member.size, f"{location.path}:{member.name}")
                    blobs[name] = (f"{location.path}:{member.name}", tar.extractfile(member).read())
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DataError(
            f"{location.path} is truncated or corrupt ({exc}). Download it again from "
            f"{layout.url}."
        ) from exc
    missing = [f"{layout.folder}/{name}" for name in names if name not in blobs]
    if missing:
        raise DataError(
            f"{location.path} lacks {', '.join(missing)}: it is incomplete or not the official "
            f"{layout.archive}. Download it again from {layout.url}."
        )
    return blobs


_MAX_BYTES_PER_IMAGE = 2 * _PIXELS + 128
"""Bytes one image may take in a batch file of official size: its 3072 pixels at up to 2 bytes
each (pickle protocol 2 from Python 3 stores bytes as latin-1 text in UTF-8, where each byte of
0x80 or more takes 2; Python 2 and protocols 3-5 store 1), plus 128 for its label(s), pickled
file name and framing (the official files hold about 3104 bytes per image)."""


def _check_size(layout: Layout, name: str, size: int, where: str) -> None:
    """Raise DataError unless `size` bytes fits batch file `name` of `layout` at official size.

    A file's bound is its share of the official images times `_MAX_BYTES_PER_IMAGE`, plus 1 MiB:
    checked before reading, so a file claiming gigabytes is refused without allocating them.
    """
    train_count, test_count = SPECS[layout.dataset].official_counts
    is_train = name in layout.train_files
    files = layout.train_files if is_train else layout.test_files
    limit = (train_count if is_train else test_count) // len(files) * _MAX_BYTES_PER_IMAGE + 2**20
    if size > limit:
        raise DataError(
            f"{where}: {size:,} bytes, more than the {limit:,} an official {layout.archive} batch file can "
            f"hold; it is corrupt or not CIFAR. Download {layout.archive} again from {layout.url}."
        )


def _python_batch(layout: Layout, blob: bytes, where: str, label_mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Pixel rows uint8 [N, 3072] and labels [N] of one python-format batch file.

    `data` must already be a uint8 array and the labels a flat sequence of ints, so that a small
    pickle of nested lists is refused without being expanded.
    """
    batch = safe_loads(blob, where)
    if not isinstance(batch, dict):
        raise DataError(f"{where}: holds a {type(batch).__name__}, not a CIFAR batch dict.")
    entries = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    key = "labels" if layout.dataset == "cifar10" else f"{label_mode}_labels"
    if "data" not in entries or key not in entries:
        raise DataError(f"{where}: no 'data' or {key!r} entry; it is not a CIFAR batch file.")
    data, labels = entries["data"], entries[key]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _PIXELS:
        described = f"{data.dtype} {list(data.shape)}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{where}: 'data' is {described}, expected uint8 [N, 3072]; the file is corrupt.")
    if isinstance(labels, np.ndarray):
        flat = labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer)
    else:
        flat = isinstance(labels, list) and all(type(v) is int and -2**63 <= v < 2**63 for v in labels)
    if not flat or len(labels) != len(data):
        raise DataError(
            f"{where}: {key!r} is not a list of {len(data)} integer labels, one per image; the file is corrupt."
        )
    return data, np.asarray(labels, np.int64)


def _decode(
    layout: Layout, blob: bytes, where: str, label_mode: str, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N, 32, 32, 3] and labels int64 [N] of one batch file."""
    if layout.fmt == "python":
        data, labels = _python_batch(layout, blob, where, label_mode)
    else:
        label_bytes = 1 if layout.dataset == "cifar10" else 2
        record = label_bytes + _PIXELS
        if not blob or len(blob) % record:
            raise DataError(
                f"{where}: {len(blob)} bytes is not a whole number of {record}-byte records; "
                f"the file is truncated or corrupt. Download {layout.archive} again ({layout.url})."
            )
        rows = np.frombuffer(blob, np.uint8).reshape(-1, record)
        labels = rows[:, 0 if label_mode == "coarse" or label_bytes == 1 else 1]
        data = rows[:, label_bytes:]
    height, width, channels = CIFAR_IMAGE_SHAPE
    images = data.reshape(-1, channels, height, width).transpose(0, 2, 3, 1)
    check_split(images, labels, CIFAR_IMAGE_SHAPE, num_classes, where)
    return images, labels.astype(np.int64)


def write_cifar_archive(
    directory: str | os.PathLike,
    dataset: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    fmt: str = "python",
    packed: bool = True,
    coarse_train: np.ndarray | None = None,
    coarse_test: np.ndarray | None = None,
    protocol: int = 4,
) -> Path:
    """Write arrays as an official-format CIFAR archive into `directory`; return its path.

    dataset: "cifar10" or "cifar100". Images: uint8 [N, 32, 32, 3]; labels: ints [N] (fine
    labels for CIFAR-100). fmt: "python" or "binary". packed: write the `.tar.gz` (True) or the
    extracted folder (False). coarse_train/coarse_test: CIFAR-100 super-class labels; default:
    the official super-class of each fine label. protocol: pickle protocol of the python format
    (2 is what Python 3 users write to stay compatible, 5 is Python 3.14's default). CIFAR-10's
    training set is split over 5 batches.
    """
    if (dataset, fmt) not in LAYOUTS:
        raise DataError(
            f"cannot write dataset={dataset!r} fmt={fmt!r}: dataset is 'cifar10' or 'cifar100', "
            f"fmt is one of {FORMATS}."
        )
    layout = LAYOUTS[(dataset, fmt)]
    splits = []
    for images, labels, coarse, split in (
        (x_train, y_train, coarse_train, "train"),
        (x_test, y_test, coarse_test, "test"),
    ):
        images, labels = np.asarray(images), np.asarray(labels)
        check_split(images, labels, CIFAR_IMAGE_SHAPE, num_classes_of(dataset, "fine"), f"{split} arrays to write")
        if dataset == "cifar100":
            coarse = CIFAR100_FINE_TO_COARSE[labels] if coarse is None else np.asarray(coarse)
            check_split(images, coarse, CIFAR_IMAGE_SHAPE, num_classes_of(dataset, "coarse"),
                        f"{split} coarse labels to write")
        splits.append((images, labels, coarse))
    files = _encode(layout, splits, protocol)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if not packed:
        (directory / layout.folder).mkdir(exist_ok=True)
        for name, blob in files.items():
            (directory / layout.folder / name).write_bytes(blob)
        return directory / layout.folder
    path = directory / layout.archive
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in files.items():
            info = tarfile.TarInfo(f"{layout.folder}/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def _encode(layout: Layout, splits: list, protocol: int) -> dict[str, bytes]:
    """File name -> contents for the batch and meta files of `layout`."""
    (train, train_labels, train_coarse), (test, test_labels, test_coarse) = splits
    if layout.dataset == "cifar10":
        train_parts = list(zip(np.array_split(train, 5), np.array_split(train_labels, 5)))
        batches = dict(zip(layout.train_files + layout.test_files, train_parts + [(test, test_labels)]))
        if layout.fmt == "binary":
            files = {name: _records(images, labels) for name, (images, labels) in batches.items()}
            files["batches.meta.txt"] = "\n".join(CIFAR10_CLASSES).encode() + b"\n"
            return files
        files = {
            name: _pickle_batch(f"batch {name}", images, {b"labels": labels}, protocol)
            for name, (images, labels) in batches.items()
        }
        files["batches.meta"] = pickle.dumps(
            {b"label_names": [n.encode() for n in CIFAR10_CLASSES], b"num_vis": _PIXELS},
            protocol=protocol,
        )
        return files
    batches = {"train": (train, train_labels, train_coarse), "test": (test, test_labels, test_coarse)}
    if layout.fmt == "binary":
        files = {
            f"{name}.bin": _records(images, coarse, fine) for name, (images, fine, coarse) in batches.items()
        }
        files["coarse_label_names.txt"] = "\n".join(CIFAR100_COARSE_CLASSES).encode() + b"\n"
        files["fine_label_names.txt"] = "\n".join(CIFAR100_FINE_CLASSES).encode() + b"\n"
        return files
    files = {
        name: _pickle_batch(name, images, {b"fine_labels": fine, b"coarse_labels": coarse}, protocol)
        for name, (images, fine, coarse) in batches.items()
    }
    files["meta"] = pickle.dumps(
        {
            b"fine_label_names": [n.encode() for n in CIFAR100_FINE_CLASSES],
            b"coarse_label_names": [n.encode() for n in CIFAR100_COARSE_CLASSES],
        },
        protocol=protocol,
    )
    return files


def _planar(images: np.ndarray) -> np.ndarray:
    """uint8 [N, 32, 32, 3] -> uint8 [N, 3072] channel-planar rows."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(len(images), _PIXELS)


def _records(images: np.ndarray, *label_columns: np.ndarray) -> bytes:
    """Binary-format bytes: per image, one byte per label column, then 3072 pixel bytes."""
    columns = [np.asarray(c, np.uint8)[:, None] for c in label_columns]
    return np.concatenate([*columns, _planar(images)], axis=1).tobytes()


def _pickle_batch(batch_label: str, images: np.ndarray, labels: dict, protocol: int) -> bytes:
    """Python-format bytes of one batch: the official dict keys, labels as lists of ints."""
    batch = {
        b"batch_label": batch_label.encode(),
        **{key: [int(v) for v in values] for key, values in labels.items()},
        b"data": _planar(images),
        b"filenames": [f"image_{i:05d}.png".encode() for i in range(len(images))],
    }
    return pickle.dumps(batch, protocol=protocol)
