"""The IDX format of MNIST and Fashion-MNIST: checked reading and writing, plain or gzipped.

An IDX file is a 4-byte magic number (0, 0, type code, number of dimensions), one big-endian
uint32 size per dimension, then the values in row-major order. Only type code 0x08 (uint8)
is used: images (magic 2051: [N, rows, cols]) and labels (magic 2049: [N]).
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from effnet_keras.data.spec import DataError

UINT8 = 0x08


def magic_number(ndim: int) -> int:
    """The magic number of a uint8 IDX file with `ndim` dimensions (1: 2049, 3: 2051)."""
    return UINT8 << 8 | ndim


def read_idx(path: str | os.PathLike, ndim: int, hint: str = "") -> np.ndarray:
    """The uint8 array of IDX file `path` (gzipped when its name ends in .gz), which must have
    `ndim` dimensions. Raises DataError naming the file when it is unreadable, truncated, too
    long, or not a uint8 IDX file of that rank; `hint` (what to do about it) ends the message."""
    path = Path(path)

    def error(problem: str) -> DataError:
        return DataError(" ".join(filter(None, [f"{path}: {problem}.", hint])))

    try:
        blob = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise error(f"not readable ({exc}); the file is truncated or corrupt") from exc
    header = 4 + 4 * ndim
    if len(blob) < header:
        raise error(f"{len(blob)} bytes, shorter than its IDX header; the file is truncated")
    magic = int.from_bytes(blob[:4], "big")
    if magic != magic_number(ndim):
        raise error(f"magic number {magic}, expected {magic_number(ndim)} (uint8 values in {ndim} dimensions); "
                    f"the file is corrupt or not this kind of IDX file")
    shape = tuple(int.from_bytes(blob[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(shape, dtype=np.int64))
    if len(blob) - header != size:
        raise error(f"the header announces {' x '.join(map(str, shape))} = {size} values but "
                    f"{len(blob) - header} bytes follow; the file is truncated or corrupt")
    return np.frombuffer(blob, np.uint8, count=size, offset=header).reshape(shape)


def write_idx(path: str | os.PathLike, values: np.ndarray) -> Path:
    """Write uint8 `values` (any rank) as an IDX file, gzipped when the name ends in .gz; return the path."""
    values = np.asarray(values)
    if values.dtype != np.uint8 or values.ndim < 1:
        raise DataError(f"write_idx needs a uint8 array of rank >= 1, got {values.dtype} {list(values.shape)}.")
    blob = b"".join([
        magic_number(values.ndim).to_bytes(4, "big"),
        *(size.to_bytes(4, "big") for size in values.shape),
        np.ascontiguousarray(values).tobytes(),
    ])
    path = Path(path)
    path.write_bytes(gzip.compress(blob, mtime=0) if path.suffix == ".gz" else blob)
    return path
