"""Fashion-MNIST's four IDX files: where to find them, how to read them, how to write them.

`train-images-idx3-ubyte` (uint8 [60000, 28, 28]), `train-labels-idx1-ubyte` (uint8 [60000]),
`t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte` (10000), each plain or gzipped (`.gz`, as
the Debian package `dataset-fashion-mnist`, Keras and the official page ship them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from effnet_keras.data.idx import read_idx, write_idx
from effnet_keras.data.spec import SPECS, DataError, check_split, keras_datasets_folder, num_classes_of

SPEC = SPECS["fashion-mnist"]
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
"""Split -> (images file, labels file), without the optional .gz."""
DEBIAN_FOLDER = Path("/usr/share/datasets/fashion-mnist")
"""Where `apt-get install dataset-fashion-mnist` puts the files."""


@dataclass(frozen=True)
class Location:
    """A folder holding (some of) the four files."""

    folder: Path

    def __str__(self) -> str:
        return f"{self.folder} (IDX files)"

    def path(self, name: str) -> Path:
        """The file `name` in the folder: plain if present, else gzipped (which may be missing)."""
        plain = self.folder / name
        return plain if plain.is_file() else self.folder / f"{name}.gz"

    def files(self) -> list[Path]:
        """The four files this location reads."""
        return [self.path(name) for names in SPLITS.values() for name in names]


def search_places(dataset: str, data_dir: str | os.PathLike | None) -> list[Path]:
    """Folders searched, in order: --data-dir (and its fashion-mnist/), Keras' download cache,
    the Debian package's folder."""
    places = [] if data_dir is None else [Path(data_dir), Path(data_dir) / "fashion-mnist"]
    places += [keras_datasets_folder() / "fashion-mnist", DEBIAN_FOLDER]
    return list(dict.fromkeys(p.expanduser() for p in places))


def find(dataset: str, places: list[Path]) -> Location | None:
    """The first place holding any of the four files (a place with only some of them is found,
    so that reading it names the missing ones), or None."""
    for place in places:
        if any(Location(place).path(name).is_file() for names in SPLITS.values() for name in names):
            return Location(place)
    return None


def expected_names(dataset: str) -> list[str]:
    """What `find` looks for, one line."""
    names = [f"{name}.gz" for names in SPLITS.values() for name in names]
    return [f"{', '.join(names)} (or the same names without .gz)"]


def how_to_get(dataset: str) -> str:
    """The three ways to get the files, for "not found" messages."""
    return (
        "To fix, get the four files in one of three ways:\n"
        f"  - offline, Debian/Ubuntu: apt-get install dataset-fashion-mnist (as root) puts them in "
        f"{DEBIAN_FOLDER}/ (found with no flags);\n"
        "  - online, Keras: python -c \"import keras; keras.datasets.fashion_mnist.load_data()\" downloads "
        f"them into {keras_datasets_folder() / 'fashion-mnist'}/ (found with no flags);\n"
        f"  - download them from {SPEC.download_page} into a folder and pass it as --data-dir."
    )


def read(location: Location, label_mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): uint8 [N, 28, 28, 1] images, int64 [N] labels.

    Every file is checked (magic number, sizes, image size, one label per image, label range);
    a missing, truncated or corrupt file raises DataError naming it.
    """
    hint = f"Replace it with the official file ({SPEC.download_page}) or reinstall dataset-fashion-mnist."
    arrays = []
    for images_name, labels_name in SPLITS.values():
        images_path, labels_path = location.path(images_name), location.path(labels_name)
        for name in (images_name, labels_name):
            if not location.path(name).is_file():
                raise DataError(
                    f"{location.folder / name}.gz is missing (or plain {name}): {location.folder} must hold all four "
                    f"Fashion-MNIST files, {expected_names('fashion-mnist')[0]}.\n{how_to_get('fashion-mnist')}"
                )
        images = read_idx(images_path, 3, hint)[..., None]
        labels = read_idx(labels_path, 1, hint)
        if len(labels) != len(images):
            raise DataError(f"{labels_path}: {len(labels)} labels for the {len(images)} images of {images_path}; "
                            f"one of them is truncated or from another data set. {hint}")
        check_split(images, labels, SPEC.image_shape, num_classes_of("fashion-mnist", "fine"), str(images_path))
        arrays += [images, labels.astype(np.int64)]
    return tuple(arrays)


def write_fashion_mnist(
    directory: str | os.PathLike,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    gzipped: bool = True,
) -> Path:
    """Write arrays as the four Fashion-MNIST IDX files into `directory`; return the directory.

    Images: uint8 [N, 28, 28, 1] (or [N, 28, 28]); labels: ints [N] in 0..9. gzipped: write
    `.gz` files (as shipped) or plain ones.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for (images_name, labels_name), images, labels in zip(SPLITS.values(), (x_train, x_test), (y_train, y_test)):
        images, labels = np.asarray(images), np.asarray(labels)
        images = images[..., None] if images.ndim == 3 else images
        check_split(images, labels, SPEC.image_shape, num_classes_of("fashion-mnist", "fine"),
                    f"{images_name} arrays to write")
        suffix = ".gz" if gzipped else ""
        write_idx(directory / f"{images_name}{suffix}", images[..., 0])
        write_idx(directory / f"{labels_name}{suffix}", labels.astype(np.uint8))
    return directory
