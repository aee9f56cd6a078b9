"""What a data set choice serves (`select_dataset` -> `Selection`): its image shape and class names,
checked without reading any image (a folder's class folders and a TFDS set's info are read for their
class names)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from effnet_keras.data import folder, tfds_source
from effnet_keras.data.spec import (
    ALIASES,
    DATASET_FORMS,
    DATASETS,
    DEFAULT_IMAGE_SIZE,
    FOLDER_PREFIX,
    SPECS,
    TFDS_PREFIX,
    DataError,
    DatasetSpec,
)


@dataclass(frozen=True)
class Selection:
    """A data set under a label mode, maybe narrowed to some of its classes: what `load_dataset`
    serves. `classes` holds the source labels kept, in the order of their new labels 0..k-1
    (None keeps every class with its own label); `expected_counts` the (train, test) images the
    source must hold (None: the official counts; "any")."""

    name: str
    spec: DatasetSpec
    label_mode: str
    classes: tuple[int, ...] | None
    expected_counts: tuple[int, int] | str | None = None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.spec.image_shape

    @property
    def class_names(self) -> list[str]:
        names = self.spec.class_names[self.label_mode]
        return [names[i] for i in self.classes] if self.classes is not None else list(names)

    def narrow(self, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The images of the kept classes (in their original order) and their new labels."""
        if self.classes is None:
            return images, labels
        new_label = np.full(len(self.spec.class_names[self.label_mode]), -1, np.int64)
        new_label[list(self.classes)] = np.arange(len(self.classes))
        keep = new_label[labels] >= 0
        return images[keep], new_label[labels[keep]]


def select_dataset(name: str, label_mode: str = "fine", classes: Sequence[int | str] | None = None,
                   expected_counts: tuple[int, int] | str | None = None, image_size: tuple[int, int] | None = None,
                   data_dir: str | os.PathLike | None = None) -> Selection:
    """Check `name` (one of DATASETS, folder:PATH or tfds:NAME), `label_mode`, `classes` (source
    labels or class names to keep, relabelled 0..k-1 in this order; at least 2, distinct),
    `expected_counts` ((train, test) images, "any", or None for the official counts; only for the
    official files) and `image_size` ((height, width) that folder images, and TFDS images of no
    fixed size, are resized to) without reading any image; a folder's class folders and a TFDS
    set's info (in `data_dir`) are read for their class names. Raise DataError saying what to change."""
    if name.startswith((FOLDER_PREFIX, TFDS_PREFIX)):
        base, alias_classes, spec = name, None, _named_spec(name, image_size, data_dir)
    elif name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose {DATASET_FORMS}.")
    elif image_size is not None:
        raise DataError(f"--image-size applies to folder:PATH and tfds:NAME data sets; {name} has its own image size "
                        f"(the model resizes to --resolution).")
    else:
        base, alias_classes = ALIASES.get(name, (name, None))
        spec = SPECS[base]
    if label_mode not in spec.class_names:
        raise DataError(
            f"label_mode={label_mode!r} is invalid for {name}: use 'fine', or 'coarse' with "
            f"cifar100 (its 20 super-classes)."
        )
    if expected_counts is not None and spec.official_counts is None:
        raise DataError(f"--expected-counts applies to the official CIFAR and Fashion-MNIST files; {name} "
                        + ("is generated with --synthetic-train and --synthetic-test images." if name == "synthetic"
                           else "holds the images it has."))
    if expected_counts not in (None, "any") and not (
            isinstance(expected_counts, tuple) and len(expected_counts) == 2
            and all(isinstance(n, int) and n >= 1 for n in expected_counts)):
        raise DataError(f"expected_counts={expected_counts!r}: give (train, test) image counts, 'any' or None "
                        f"(the official counts).")
    if classes is not None and alias_classes is not None:
        raise DataError(
            f"{name} already keeps classes {','.join(map(str, alias_classes))} of {base}; to choose "
            f"others use --dataset {base} --classes ..."
        )
    if classes is None:
        return Selection(name, spec, label_mode, alias_classes, expected_counts)
    names = spec.class_names[label_mode]
    unknown = [c for c in classes if isinstance(c, str) and c not in names]
    if unknown:
        raise DataError(f"--classes: {name} has no class {unknown[0]!r}; its classes are {', '.join(names)}.")
    count = len(names)
    classes = tuple(names.index(c) if isinstance(c, str) else c for c in classes)
    if (len(classes) < 2 or len(set(classes)) != len(classes)
            or not all(isinstance(c, (int, np.integer)) and 0 <= c < count for c in classes)):
        raise DataError(
            f"classes {list(classes)} are invalid for {name}: give 2 or more distinct labels in "
            f"0..{count - 1}, e.g. --classes 3,4,5."
        )
    return Selection(name, spec, label_mode, tuple(int(c) for c in classes), expected_counts)


def _named_spec(name: str, image_size: tuple[int, int] | None, data_dir: str | os.PathLike | None) -> DatasetSpec:
    """The DatasetSpec of folder:PATH (class folder names, RGB images of `image_size`) or tfds:NAME
    (from its TFDS info in `data_dir`)."""
    if name.startswith(TFDS_PREFIX):
        return tfds_source.named_spec(name[len(TFDS_PREFIX):], image_size, data_dir)
    path = name[len(FOLDER_PREFIX):]
    if not path:
        raise DataError(f"--dataset {name!r}: give the folder, e.g. folder:photos or folder:/data/photos.")
    height, width = image_size or (DEFAULT_IMAGE_SIZE,) * 2
    return DatasetSpec(name, (height, width, 3), {"fine": folder.class_names_of(path)})
