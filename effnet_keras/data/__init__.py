"""Data sets for effnet-keras: CIFAR-10, CIFAR-100, the cat/deer/dog subset `cifar10-3` and a
built-in synthetic set, read from the official archives or TFDS into uint8 host arrays, and
served by tf.data pipelines.

Modules: `spec` (facts, `Dataset`, `DataError`), `archives` (find/read/write the official
files), `safe_pickle`, `tfds_source`, `synthetic`, `loader` (`load_dataset`), `pipeline`.
"""

from effnet_keras.data.archives import write_cifar_archive
from effnet_keras.data.loader import DATASETS, LABEL_MODES, SOURCES, load_dataset
from effnet_keras.data.pipeline import make_pipeline
from effnet_keras.data.spec import DataError, Dataset

__all__ = [
    "DATASETS",
    "LABEL_MODES",
    "SOURCES",
    "DataError",
    "Dataset",
    "load_dataset",
    "make_pipeline",
    "write_cifar_archive",
]
