"""Facts about the supported data sets (`DatasetSpec`, `SPECS`), the flags' parsers, the `Dataset`
container and the `DataError` they raise. (Class selection, which reads folder and TFDS class names,
is in `selection`.)"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from effnet_keras.errors import EffnetError

CIFAR_PAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"
FASHION_MNIST_PAGE = "https://github.com/zalandoresearch/fashion-mnist"

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

FASHION_MNIST_CLASSES = (
    "t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot",
)

SYNTHETIC_CLASSES = (
    "disc", "ring", "square", "cross", "horizontal_stripes",
    "vertical_stripes", "diagonal_stripes", "checkerboard", "triangle", "dots",
)

_SUPERCLASSES = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}
CIFAR100_COARSE_CLASSES = tuple(sorted(_SUPERCLASSES))
CIFAR100_FINE_CLASSES = tuple(sorted(name for names in _SUPERCLASSES.values() for name in names))
CIFAR100_FINE_TO_COARSE = np.array(
    [
        next(i for i, coarse in enumerate(CIFAR100_COARSE_CLASSES) if fine in _SUPERCLASSES[coarse])
        for fine in CIFAR100_FINE_CLASSES
    ],
    dtype=np.int64,
)
"""Super-class index of each CIFAR-100 fine label, shape [100]."""


class DataError(EffnetError, ValueError):
    """A data set could not be found, read or validated; the message says what to do (exit code 2)."""

    exit_code = 2


class DataRequestError(DataError):
    """The data cannot serve what the arguments ask (more images than there are, a split left
    empty, a --data-dir that does not exist): bad input, which commands report with exit code 2."""


@dataclass(frozen=True)
class DatasetSpec:
    """What a data set is, before any file is read.

    image_shape: (height, width, channels) of its raw uint8 images, as the pipeline serves them
        and the trained model takes them.
    class_names: label mode ("fine"; CIFAR-100 also "coarse") -> class names in label order.
    official_counts: images in the official (train, test) splits; None for a generated set.
    tfds_name, download_host: its TensorFlow Datasets name and the host TFDS downloads it from
        (None: not in TFDS).
    download_page: where people get the files.
    """

    name: str
    image_shape: tuple[int, int, int]
    class_names: Mapping[str, tuple[str, ...]]
    official_counts: tuple[int, int] | None = None
    tfds_name: str | None = None
    download_host: str | None = None
    download_page: str | None = None


SPECS = {
    "cifar10": DatasetSpec("cifar10", (32, 32, 3), {"fine": CIFAR10_CLASSES}, (50000, 10000), "cifar10",
                           "www.cs.toronto.edu", CIFAR_PAGE),
    "cifar100": DatasetSpec("cifar100", (32, 32, 3),
                            {"fine": CIFAR100_FINE_CLASSES, "coarse": CIFAR100_COARSE_CLASSES}, (50000, 10000),
                            "cifar100", "www.cs.toronto.edu", CIFAR_PAGE),
    "fashion-mnist": DatasetSpec("fashion-mnist", (28, 28, 1), {"fine": FASHION_MNIST_CLASSES}, (60000, 10000),
                                 "fashion_mnist", "fashion-mnist.s3-website.eu-central-1.amazonaws.com",
                                 FASHION_MNIST_PAGE),
    "synthetic": DatasetSpec("synthetic", (32, 32, 3), {"fine": SYNTHETIC_CLASSES}),
}
"""Every data set `load_dataset` reads, by name."""

ALIASES = {"cifar10-3": ("cifar10", (3, 4, 5))}
"""Names for a data set narrowed to some classes: cifar10-3 is cat, deer, dog of CIFAR-10."""

DATASETS = tuple(sorted([*SPECS, *ALIASES]))
"""Every fixed name `load_dataset` takes (besides folder:PATH and tfds:NAME)."""
FOLDER_PREFIX, TFDS_PREFIX = "folder:", "tfds:"
DATASET_FORMS = (f"{', '.join(DATASETS)}, folder:PATH (a folder of class folders of images) or tfds:NAME (a TFDS "
                 f"image classification set prepared in --data-dir)")
IMAGE_SIZE_RANGE = (4, 2048)
"""Smallest and largest --image-size side (pixels)."""
DEFAULT_IMAGE_SIZE = 32
"""Height and width (pixels) folder images, and TFDS images of no fixed size, are resized to by default."""
LABEL_MODES = ("fine", "coarse")


def num_classes_of(dataset: str, label_mode: str) -> int:
    """Classes of data set `dataset` (a key of SPECS) under `label_mode`."""
    return len(SPECS[dataset].class_names[label_mode])


def keras_datasets_folder() -> Path:
    """Where `keras.datasets.*.load_data()` caches downloads: $KERAS_HOME/datasets or ~/.keras/datasets."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "datasets"


def dataset_slug(name: str) -> str:
    """`name` as part of a file name: folder:/data/photos -> photos, tfds:oxford_flowers102 ->
    oxford_flowers102, others as they are."""
    if name.startswith(FOLDER_PREFIX):
        return Path(name[len(FOLDER_PREFIX):].rstrip("/\\")).expanduser().resolve().name or "folder"
    return name.removeprefix(TFDS_PREFIX).replace("/", "-")


def parse_classes(text: str | None) -> tuple[int | str, ...] | None:
    """`--classes 3,4,5` -> (3, 4, 5); `--classes cat,dog` -> ("cat", "dog") (class names, checked by
    `select_dataset`); None stays None. Raises DataError for an empty part."""
    if text is None:
        return None
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise DataError(f"--classes {text!r}: expected comma-separated labels or class names, e.g. 3,4,5 or cat,dog.")
    return tuple(int(part) if part.isdigit() else part for part in parts)


def parse_image_size(text: str | None) -> tuple[int, int] | None:
    """`--image-size 64` -> (64, 64); `--image-size 48,64` -> (48, 64) (height, width); None stays
    None. Raises DataError unless each side is a whole number in IMAGE_SIZE_RANGE."""
    if text is None:
        return None
    low, high = IMAGE_SIZE_RANGE
    try:
        sides = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        sides = ()
    if len(sides) not in (1, 2) or not all(low <= side <= high for side in sides):
        raise DataError(f"--image-size {text!r}: expected H or H,W in pixels, each from {low} to {high}, e.g. 64 "
                        f"or 48,64.")
    return (sides * 2)[:2]


def parse_expected_counts(text: str | None) -> tuple[int, int] | str | None:
    """`--expected-counts 200,50` -> (200, 50); "any" stays "any"; None (the official counts) stays
    None. Raises DataError for anything else."""
    if text is None or text == "any":
        return text
    try:
        train, test = (int(part) for part in text.split(","))
    except ValueError:
        train = test = 0
    if train < 1 or test < 1:
        raise DataError(
            f"--expected-counts {text!r}: expected TRAIN,TEST image counts (positive integers, e.g. "
            f"200,50) or 'any'."
        )
    return train, test


@dataclass(frozen=True)
class FileDecoding:
    """How a data set of image files was decoded: the `resize` policy; `streamed` when its splits
    hold file paths [N] (str) that the pipeline decodes, not images; `skipped`: undecodable files
    left out (--skip-bad-images)."""

    resize: str
    streamed: bool = False
    skipped: tuple[str, ...] = ()


@dataclass
class Dataset:
    """A data set in host memory.

    Images are uint8 arrays [N, *image_shape] (0..255), or file paths [N] when `decoding.streamed`;
    labels int64 arrays [N] in
    0..num_classes-1. `x_val`/`y_val` are held out of the training images, unless
    `selected_on_test`: then they are the test split itself (`load_dataset(val_split=0)`).
    """

    name: str
    source: str
    class_names: list[str]
    image_shape: tuple[int, int, int]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    selected_on_test: bool = False
    decoding: FileDecoding | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def pipeline_decoding(self) -> tuple[tuple[int, int, int], str] | None:
        """`make_pipeline`'s `decoding`: (image_shape, resize) when the splits are file paths, else None."""
        return (self.image_shape, self.decoding.resize) if self.decoding and self.decoding.streamed else None


def batch_shape(image_shape: Sequence[int]) -> str:
    """(28, 28, 1) -> "[N, 28, 28, 1]", for messages."""
    return f"[N, {', '.join(map(str, image_shape))}]"


def check_split(
    images: np.ndarray, labels: np.ndarray, image_shape: tuple[int, ...], num_classes: int, where: str
) -> None:
    """Raise `DataError` naming `where` unless images are uint8 [N, *image_shape] and labels [N]
    integers in 0..num_classes-1."""
    if images.dtype != np.uint8 or images.shape[1:] != tuple(image_shape):
        raise DataError(
            f"{where}: images are {images.dtype} {list(images.shape)}, expected uint8 "
            f"{batch_shape(image_shape)}; the file is corrupt or belongs to another data set."
        )
    if labels.ndim != 1 or len(labels) != len(images) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"{where}: {len(images)} images but labels of shape {list(labels.shape)} and type "
            f"{labels.dtype}; expected one integer label per image. The file is corrupt."
        )
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if bad.size:
        raise DataError(
            f"{where}: {bad.size} labels out of range 0..{num_classes - 1} (first: {bad[0]}); "
            f"the file is corrupt or belongs to another data set."
        )
