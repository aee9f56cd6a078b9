"""Decoding image files (JPEG, PNG, BMP, GIF, WebP, TIFF, ... as Pillow reads them) into uint8
arrays of one declared shape: the single decoder that training, streaming and prediction share."""

from __future__ import annotations

import contextlib
import io
import os
import stat
import struct
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from effnet_keras.data.spec import DataError

RESIZE_POLICIES = ("squash", "center-crop", "pad")
"""squash: resize to H x W, ignoring the aspect ratio (as Keras's image_dataset_from_directory);
center-crop: crop the largest centred H:W box, then resize; pad: resize to fit inside H x W,
keeping the aspect ratio, centred on black."""

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
"""Lower-case file extensions read as images."""

MAX_PIXELS = 8192 * 8192
MAX_FILE_BYTES = 256 * 2**20
"""Largest image file read (bytes): a bound on memory per file, far above any real photo's size."""
"""The most pixels (width x height, read from the header) a file may declare: bigger files are
refused as decompression bombs before any pixel is decoded."""

_SIXTEEN_BIT = ("I", "I;16", "I;16B", "I;16L", "I;16N")
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, Image.DecompressionBombError)


def decode_image(data: bytes, image_shape: tuple[int, int, int], resize: str = "squash", where: str = "") -> np.ndarray:
    """Encoded image bytes -> uint8 [H, W, C] of `image_shape` (C: 1 grey or 3 RGB).

    EXIF orientation is applied; grey, RGB, RGBA (alpha dropped, as Keras does), palette, CMYK
    and 16-bit images (scaled to 8 bits) become C channels; a GIF gives its first frame; the
    result is resized with policy `resize` (one of RESIZE_POLICIES, bilinear).

    Raises DataError naming `where` (e.g. the file's path) for bytes that are not a decodable
    image, a truncated file, or more than MAX_PIXELS pixels.
    """
    height, width, channels = _check_shape(image_shape, resize)
    with _opened(io.BytesIO(data), where or "image") as img:
        side = max(height, width)
        img.draft(None, (side, side))  # JPEG only: decode at 1/2..1/8 scale when still >= side
        img = _to_mode(ImageOps.exif_transpose(img), channels)
        pixels = np.asarray(_resized(img, (width, height), resize), dtype=np.uint8)
    return pixels.reshape(height, width, channels)


def read_image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of the image file at `path`, read from its header (no pixel decoded);
    DataError naming it when it is unreadable, not a regular file of at most MAX_FILE_BYTES, not an
    image or has more than MAX_PIXELS pixels."""
    with _open_image_file(path) as f, _opened(f, os.fspath(path)) as img:
        return img.size


def _open_image_file(path: str | os.PathLike) -> BinaryIO:
    """`path` opened for reading after checking (links followed) that it is a regular file of at most
    MAX_FILE_BYTES: a device, a named pipe or a huge file would block or exhaust memory."""
    label = os.fspath(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise DataError(f"{label}: not a regular file (a device, pipe or socket); remove it from the image folder.")
        if st.st_size > MAX_FILE_BYTES:
            raise DataError(f"{label}: {st.st_size:,} bytes, more than the {MAX_FILE_BYTES:,} an image file may have; "
                            "remove it or shrink it.")
        return open(path, "rb")
    except OSError as exc:
        raise DataError(f"{label}: cannot read the file ({exc.strerror or exc}).") from None


@contextlib.contextmanager
def _opened(fp: BinaryIO, label: str) -> Iterator[Image.Image]:
    """The image in `fp`, opened lazily after its header passed the pixel bound; any decoding
    failure inside the block becomes a DataError naming `label`."""
    try:
        with Image.open(fp) as img:
            if img.width * img.height > MAX_PIXELS:
                raise DataError(_bomb_message(label, img.width, img.height))
            yield img
    except DataError:
        raise
    except Image.DecompressionBombError:
        raise DataError(_bomb_message(label, None, None)) from None
    except Image.UnidentifiedImageError:
        raise DataError(f"{label}: not an image in a format Pillow reads (JPEG, PNG, BMP, GIF, WebP, TIFF, ...); "
                        f"remove the file or convert it.") from None
    except _DECODE_ERRORS as exc:
        raise DataError(f"{label}: not a decodable image ({type(exc).__name__}: {exc}); the file is truncated or "
                        f"corrupt.") from None


def read_image_file(path: str | os.PathLike, image_shape: tuple[int, int, int], resize: str = "squash") -> np.ndarray:
    """`decode_image` of the file at `path`; DataError naming it when it cannot be read."""
    with _open_image_file(path) as f:
        try:
            data = f.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise DataError(f"{os.fspath(path)}: cannot read the file ({exc.strerror or exc}).") from None
    return decode_image(data, image_shape, resize, where=os.fspath(path))


def _check_shape(image_shape: tuple[int, int, int], resize: str) -> tuple[int, int, int]:
    if resize not in RESIZE_POLICIES:
        raise DataError(f"resize policy {resize!r} is unknown; choose one of {', '.join(RESIZE_POLICIES)}.")
    if len(image_shape) != 3 or image_shape[2] not in (1, 3) or min(image_shape[:2]) < 1:
        raise DataError(f"image shape {tuple(image_shape)}: expected (height, width, channels) with channels 1 or 3.")
    return int(image_shape[0]), int(image_shape[1]), int(image_shape[2])


def _bomb_message(label: str, width: int | None, height: int | None) -> str:
    size = f"{width} x {height} pixels" if width else "too many pixels"
    return (f"{label}: {size}, more than the {MAX_PIXELS:,} (8192 x 8192) an image may have; refused as a "
            f"possible decompression bomb. Shrink the image or remove the file.")


def _to_mode(img: Image.Image, channels: int) -> Image.Image:
    """`img` as mode "L" (channels 1) or "RGB" (channels 3), 16-bit samples scaled to 8 bits."""
    if img.mode in _SIXTEEN_BIT:
        grey = np.right_shift(np.clip(np.asarray(img, dtype=np.int64), 0, 65535), 8).astype(np.uint8)
        img = Image.fromarray(grey, "L")
    elif img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return img.convert("L" if channels == 1 else "RGB")


def _resized(img: Image.Image, size: tuple[int, int], resize: str) -> Image.Image:
    """`img` brought to `size` (width, height) with the named policy."""
    if img.size == size:
        return img
    if resize == "squash":
        return img.resize(size, Image.Resampling.BILINEAR)
    if resize == "center-crop":
        return ImageOps.fit(img, size, Image.Resampling.BILINEAR)
    return ImageOps.pad(img, size, Image.Resampling.BILINEAR, color=0)
