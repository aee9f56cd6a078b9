"""An allow-list unpickler for the CIFAR python archives: they are pickles, and a plain
`pickle.load` runs whatever code a tampered file names."""

from __future__ import annotations

import io
import pickle

import numpy as np

from effnet_keras.data.spec import DOWNLOAD_PAGE, DataError

_RECONSTRUCT = np.zeros(0).__reduce__()[0]  # numpy's array rebuilder, wherever numpy keeps it
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
"""The only globals the official batch files (and `write_cifar_archive`) reference: the numpy
array reconstruction of their b"data" entry, under its numpy 1 and numpy 2 module paths."""


class _AllowListUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, where: str):
        super().__init__(io.BytesIO(data), encoding="bytes")
        self.where = where

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DataError(
                f"{self.where}: refused to unpickle: it names {module}.{name}, which a CIFAR "
                f"batch file never contains (it may be malicious; nothing in it was run). "
                f"Replace it with the official file from {DOWNLOAD_PAGE}."
            ) from None


def safe_loads(data: bytes, where: str) -> object:
    """Unpickle `data` (the bytes of file `where`) allowing only numpy array reconstruction.

    Raises DataError naming `where` for a forbidden global or a truncated/corrupt pickle.
    """
    try:
        return _AllowListUnpickler(data, where).load()
    except DataError:
        raise
    except Exception as exc:  # a damaged pickle raises any of a dozen exception types
        raise DataError(
            f"{where}: not a readable pickle ({type(exc).__name__}: {exc}); the file is "
            f"truncated or corrupt. Download it again from {DOWNLOAD_PAGE}."
        ) from exc
