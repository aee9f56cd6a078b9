"""The IDX format of MNIST and Fashion-MNIST: checked reading and writing, plain or gzipped.

An IDX file is a 4-byte magic number (0, 0, type code, number of dimensions), one big-endian
uint32 size per dimension, then the values in row-major order. Only type code 0x08 (uint8)
is used: images (magic 2051: [N, rows, cols]) and labels (magic 2049: [N]).
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from effnet_keras.data.spec import DataError

UINT8 = 0x08
CHUNK_BYTES = 1 << 20
"""Largest read from an IDX file at once."""
MAX_VALUES = 1 << 31
"""Most values an IDX header may announce (2 GiB: 2.7 million 28 x 28 images; Fashion-MNIST has 70,000)."""


def magic_number(ndim: int) -> int:
    """The magic number of a uint8 IDX file with `ndim` dimensions (1: 2049, 3: 2051)."""
    return UINT8 << 8 | ndim


def read_idx(path: str | os.PathLike, ndim: int, hint: str = "") -> np.ndarray:
    """The uint8 array of IDX file `path` (gzipped when its name ends in .gz), which must have
    `ndim` dimensions. Reads in chunks of at most CHUNK_BYTES and never more than the header
    announces plus one byte (a gzip bomb is refused after that much), announcing at most
    MAX_VALUES values. Raises DataError naming the file when it is unreadable, truncated, too
    long, or not a uint8 IDX file of that rank; `hint` (what to do about it) ends the message."""
    path = Path(path)

    def error(problem: str) -> DataError:
        return DataError(" ".join(filter(None, [f"{path}: {problem}.", hint])))

    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as stream:
            return _read_values(stream, ndim, error)
    except (OSError, EOFError, zlib.error) as exc:
        raise error(f"not readable ({exc}); the file is truncated or corrupt") from exc


def _read_values(stream: BinaryIO, ndim: int, error: Callable[[str], DataError]) -> np.ndarray:
    """The header's shape of values read from `stream`: the header, then exactly the values it announces."""
    header = stream.read(4 + 4 * ndim)
    if len(header) < 4 + 4 * ndim:
        raise error(f"{len(header)} bytes, shorter than its IDX header; the file is truncated")
    magic = int.from_bytes(header[:4], "big")
    if magic != magic_number(ndim):
        raise error(f"magic number {magic}, expected {magic_number(ndim)} (uint8 values in {ndim} dimensions); "
                    f"the file is corrupt or not this kind of IDX file")
    shape = tuple(int.from_bytes(header[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    size = math.prod(shape)
    announced = f"the header announces {' x '.join(map(str, shape))} = {size} values"
    if size > MAX_VALUES:
        raise error(f"{announced}, more than the {MAX_VALUES:,} an IDX file may hold here; the file is corrupt")
    values = np.empty(size, np.uint8)
    view, filled = memoryview(values), 0
    while filled < size:
        count = stream.readinto(view[filled: filled + CHUNK_BYTES])
        if not count:
            raise error(f"{announced} but {filled} bytes follow; the file is truncated or corrupt")
        filled += count
    if stream.read(1):
        raise error(f"{announced} but more bytes follow (reading stopped there); the file is corrupt")
    return values.reshape(shape)


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
