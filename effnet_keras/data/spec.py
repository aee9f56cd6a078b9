"""Facts about the supported data sets, the `Dataset` container and the `DataError` they raise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DOWNLOAD_PAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"

IMAGE_SHAPE = (32, 32, 3)
"""Height, width, channels of every image this package serves (uint8, 0..255)."""

OFFICIAL_COUNTS = {"cifar10": (50000, 10000), "cifar100": (50000, 10000)}
"""Images in the official (train, test) splits."""

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

CIFAR10_3_LABELS = (3, 4, 5)
"""The CIFAR-10 labels (cat, deer, dog) kept by `cifar10-3`, relabelled 0, 1, 2 in this order."""

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


def num_classes_of(dataset: str, label_mode: str) -> int:
    """Classes of "cifar10" or "cifar100" under label_mode "fine" or "coarse" (CIFAR-100 only)."""
    return {"cifar10": 10, "cifar100": 100 if label_mode == "fine" else 20}[dataset]


class DataError(ValueError):
    """A data set could not be found, read or validated; the message says what to do."""


@dataclass
class Dataset:
    """A data set in host memory.

    Images are uint8 arrays [N, 32, 32, 3] (0..255), labels int64 arrays [N] in 0..num_classes-1.
    Without a validation split, `x_val`/`y_val` are the test split itself.
    """

    name: str
    source: str
    class_names: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def check_split(
    images: np.ndarray, labels: np.ndarray, num_classes: int, where: str
) -> None:
    """Raise `DataError` naming `where` unless images are uint8 [N, 32, 32, 3] and labels [N]
    integers in 0..num_classes-1."""
    if images.dtype != np.uint8 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(
            f"{where}: images are {images.dtype} {list(images.shape)}, expected uint8 "
            f"[N, 32, 32, 3]; the file is corrupt or not a CIFAR file."
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
