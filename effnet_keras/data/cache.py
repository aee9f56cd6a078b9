"""A cache of decoded data files: the arrays of an archive or IDX set as one uncompressed .npz,
so later loads (and every tuner trial) skip the tar, gzip and pickle work.

An entry is keyed by the source files' paths, sizes and modification times: replacing or
touching a source file makes its entry stale, and the next load rewrites it. Entries are read
with `allow_pickle=False`; zip CRCs, the stored key, dtypes and shapes are checked on every read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

VERSION = 1
"""Bumped whenever decoding changes what an entry holds."""
NAMES = ("x_train", "y_train", "x_test", "y_test")

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def cache_folder(data_dir: str | os.PathLike | None) -> Path:
    """Where entries live: `<data_dir>/effnet_keras_cache/` when a data folder is given, else
    `$XDG_CACHE_HOME/effnet_keras/` (default `~/.cache/effnet_keras/`)."""
    if data_dir is not None:
        return Path(data_dir).expanduser() / "effnet_keras_cache"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser() / "effnet_keras"


def cached(folder: Path | None, name: str, files: list[Path], decode: Callable[[], Arrays],
           check: Callable[[Arrays], None]) -> Arrays:
    """(x_train, y_train, x_test, y_test) decoded from `files`, from the entry in `folder` when it
    is current, else from `decode()`, which is then written there.

    folder: None decodes without the cache. name: what is decoded (data set and label mode),
        part of the entry's file name.
    check: raises for arrays that must not be used; it runs before anything is written, so data
        it rejects leaves no entry. A source file that is missing skips the cache (`decode`
        then says what is wrong).
    """
    try:
        stats = [path.stat() for path in files]
    except OSError:
        folder = None
    if folder is None:
        return _checked(decode(), check)
    key = json.dumps({"version": VERSION, "name": name, "files": [
        [str(path.resolve()), st.st_size, st.st_mtime_ns] for path, st in zip(files, stats)]})
    digest = hashlib.sha256(json.dumps([name, [str(p.resolve()) for p in files]]).encode()).hexdigest()[:16]
    entry = folder / f"{name}-{digest}.npz"
    arrays = _read(entry, key)
    if arrays is not None:
        return _checked(arrays, check)
    arrays = _checked(decode(), check)
    _write(entry, key, arrays)
    return arrays


def _checked(arrays: Arrays, check: Callable[[Arrays], None]) -> Arrays:
    check(arrays)
    return arrays


def _read(entry: Path, key: str) -> Arrays | None:
    """The arrays of `entry` if it exists and holds `key`; None otherwise (with a warning when it
    exists but is damaged)."""
    if not entry.is_file():
        return None
    try:
        with np.load(entry, allow_pickle=False) as npz:
            if str(npz["key"]) != key:
                return None
            arrays = tuple(npz[name] for name in NAMES)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        warnings.warn(f"{entry}: damaged cache entry ({exc}); decoding the source files again.", stacklevel=3)
        return None
    images_ok = all(a.dtype == np.uint8 and a.ndim == 4 for a in arrays[::2])
    labels_ok = all(a.dtype == np.int64 and a.shape == b.shape[:1] for a, b in zip(arrays[1::2], arrays[::2]))
    if not images_ok or not labels_ok:
        warnings.warn(f"{entry}: cache entry with wrong dtypes or shapes; decoding the source files again.",
                      stacklevel=3)
        return None
    return arrays


def _write(entry: Path, key: str, arrays: Arrays) -> None:
    """Write `entry` atomically (a unique temporary file renamed into place); warn and go on when
    the folder is not writable."""
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(f, key=np.array(key), **dict(zip(NAMES, arrays)))
        os.replace(tmp, entry)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        warnings.warn(f"cannot write the decoded-data cache {entry} ({exc.strerror or exc}); the next load "
                      f"decodes the source files again. Pass a writable --data-dir to cache there.", stacklevel=3)
