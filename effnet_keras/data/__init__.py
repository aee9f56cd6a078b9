"""Data sets for effnet-keras: CIFAR-10, CIFAR-100 (and its cat/deer/dog subset `cifar10-3`),
Fashion-MNIST and a built-in synthetic set, read from the official files or TFDS into uint8
host arrays of each data set's raw image shape, and served by tf.data pipelines.

Modules: `spec` (facts, `DatasetSpec`, `Dataset`, `DataError`), `selection` (`select_dataset`), `archives`
(find/read/write the CIFAR files), `safe_pickle`, `idx` and `fashion_mnist` (the IDX files),
`tfds_source`, `synthetic`, `cache` (decoded arrays), `loader` (`load_dataset`), `pipeline`.
"""

from effnet_keras.data.archives import write_cifar_archive
from effnet_keras.data.fashion_mnist import write_fashion_mnist
from effnet_keras.data.loader import SOURCES, load_dataset
from effnet_keras.data.pipeline import make_pipeline
from effnet_keras.data.selection import Selection, select_dataset
from effnet_keras.data.spec import (
    DATASETS,
    LABEL_MODES,
    SPECS,
    DataError,
    DataRequestError,
    Dataset,
    DatasetSpec,
    parse_classes,
    parse_expected_counts,
)

__all__ = [
    "DATASETS",
    "LABEL_MODES",
    "SOURCES",
    "SPECS",
    "DataError",
    "DataRequestError",
    "Dataset",
    "DatasetSpec",
    "Selection",
    "load_dataset",
    "make_pipeline",
    "parse_classes",
    "parse_expected_counts",
    "select_dataset",
    "write_cifar_archive",
    "write_fashion_mnist",
]
