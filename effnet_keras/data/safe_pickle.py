"""An allow-list unpickler for the CIFAR python archives: they are pickles, and a plain
`pickle.load` runs whatever code a tampered file names."""

from __future__ import annotations

import codecs
import io
import pickle

import numpy as np

from effnet_keras.data.spec import CIFAR_PAGE, DataError

_RECONSTRUCT = np.zeros(0).__reduce__()[0]  # numpy's array rebuilder, wherever numpy keeps it
_FROMBUFFER = np.zeros(0).__reduce_ex__(5)[0]  # numpy's protocol-5 array rebuilder


class _Refused(Exception):
    """A pickle asks for something a CIFAR batch file never needs."""


def _latin1_bytes(text: object, encoding: object) -> bytes:
    """`_codecs.encode(text, "latin1")`: how Python 3 pickles bytes at protocols 0-2. Other codecs
    (zlib, bz2, ...) are refused."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused(f"_codecs.encode with {type(text).__name__} and codec {encoding!r} (only latin1 text "
                       f"encodes bytes)")
    return codecs.encode(text, "latin1")


def _checked_frombuffer(buf: object, dtype: object, shape: object, order: object, axis_order: object = None):
    """numpy's protocol-5 `_frombuffer(buf, dtype, shape, order)`, after checking that `dtype`
    is a plain numeric dtype and that `shape` accounts for exactly the bytes of `buf`."""
    if not isinstance(buf, (bytes, bytearray)):
        raise _Refused(f"_frombuffer of a {type(buf).__name__} (expected the array's bytes)")
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biuf" or dtype.hasobject:
        raise _Refused(f"_frombuffer with dtype {dtype!r} (only plain numeric arrays are read)")
    if (not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape)
            or int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != len(buf)):
        raise _Refused(f"_frombuffer with shape {shape!r} for {len(buf)} bytes of {dtype}")
    if order == "K" and isinstance(axis_order, tuple) and sorted(axis_order) == list(range(len(shape))):
        return _FROMBUFFER(buf, dtype, shape, order, axis_order)  # a non-contiguous array's axis permutation
    if order not in ("C", "F") or axis_order is not None:
        raise _Refused(f"_frombuffer with order {order!r} and axis order {axis_order!r}")
    return _FROMBUFFER(buf, dtype, shape, order)


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy.core.numeric", "_frombuffer"): _checked_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _checked_frombuffer,
}
"""The only globals CIFAR batch files (and `write_cifar_archive`) reference: numpy's array
reconstruction under its numpy 1 and numpy 2 module paths (protocols 2-4: `_reconstruct`;
protocol 5: `_frombuffer`, checked) and, in files Python 3 wrote at protocol 2, `_codecs.encode`
for bytes (latin1 only)."""


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"it names {module}.{name}, which a CIFAR batch file never contains") from None


def safe_loads(data: bytes, where: str) -> object:
    """Unpickle `data` (the bytes of file `where`) allowing only numpy array reconstruction and
    latin1 bytes.

    Raises DataError naming `where` for a forbidden global or argument, or a truncated/corrupt pickle.
    """
    try:
        return _AllowListUnpickler(io.BytesIO(data), encoding="bytes").load()
    except _Refused as exc:
        raise DataError(
            f"{where}: refused to unpickle: {exc} (it may be malicious; nothing in it was run). Replace it "
            f"with the official file from {CIFAR_PAGE}."
        ) from None
    except Exception as exc:  # a damaged pickle raises any of a dozen exception types
        raise DataError(
            f"{where}: not a readable pickle ({type(exc).__name__}: {exc}); the file is "
            f"truncated or corrupt. Download it again from {CIFAR_PAGE}."
        ) from exc
