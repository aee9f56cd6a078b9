"""`decode_image` in TensorFlow ops, for graphs that take encoded images (the SavedModel's
`serving_bytes` signature): the same pixels as the Pillow decoder that training used.

It follows `effnet_keras.data.images` step by step: JPEG files are decoded at the 1/2, 1/4 or 1/8
scale Pillow's draft mode picks, RGB becomes grey by Pillow's integer formula, 16-bit samples
keep their high byte, and every resize policy resamples with Pillow's antialiased bilinear
(triangle) filter, first along the width, then along the height, rounding to uint8 after each
pass as Pillow does. Not applied: EXIF orientation (TensorFlow's decoders do not read it).
"""

from __future__ import annotations

import tensorflow as tf

from effnet_keras.data.images import RESIZE_POLICIES

_JPEG_SCALES = (1, 2, 4, 8)
_PRECISION_BITS = 22


def decode_image_graph(data: tf.Tensor, image_shape: tuple[int, int, int], resize: str = "squash") -> tf.Tensor:
    """Encoded image bytes (tf.string scalar: JPEG, PNG, BMP or GIF's first frame) -> uint8
    [H, W, C] of `image_shape`, resized with `resize` (one of RESIZE_POLICIES)."""
    if resize not in RESIZE_POLICIES:
        raise ValueError(f"resize policy {resize!r} is unknown; choose one of {', '.join(RESIZE_POLICIES)}.")
    height, width, channels = image_shape
    rgb = tf.cond(tf.io.is_jpeg(data), lambda: _decode_jpeg(data, max(height, width)),
                  lambda: tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False))
    image = _grey(rgb) if channels == 1 else rgb
    resized = {"squash": _squash, "center-crop": _center_crop, "pad": _pad}[resize](image, height, width)
    return tf.ensure_shape(resized, image_shape)


def _decode_jpeg(data: tf.Tensor, side: int) -> tf.Tensor:
    """RGB uint8 [h, w, 3] at the largest of 1/8, 1/4, 1/2, 1 scale that keeps both sides >= `side`."""
    size = tf.io.extract_jpeg_shape(data)
    fits = tf.reduce_min(size[:2]) // side
    branch = tf.reduce_sum(tf.cast(fits >= tf.constant(_JPEG_SCALES[1:], size.dtype), tf.int32))
    decoders = [lambda s=s: tf.io.decode_jpeg(data, channels=3, ratio=s, dct_method="INTEGER_ACCURATE")
                for s in _JPEG_SCALES]  # Pillow decodes with libjpeg's accurate integer IDCT
    return tf.switch_case(branch, decoders)


def _grey(rgb: tf.Tensor) -> tf.Tensor:
    """RGB uint8 [h, w, 3] -> grey uint8 [h, w, 1], as Pillow's convert("L") (ITU-R 601-2 luma)."""
    weights = tf.constant([19595, 38470, 7471], tf.int32)
    luma = (tf.reduce_sum(tf.cast(rgb, tf.int32) * weights, axis=-1, keepdims=True) + 0x8000) // 0x10000
    return tf.cast(luma, tf.uint8)


def _size(image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    shape = tf.cast(tf.shape(image), tf.float64)
    return shape[0], shape[1]


def _weights(in_size: tf.Tensor, start: tf.Tensor, stop: tf.Tensor, out_size: tf.Tensor) -> tf.Tensor:
    """Pillow's fixed-point bilinear resampling weights (22 fractional bits) mapping the span
    [start, stop) (pixels; float32 in Pillow) of `in_size` input pixels onto `out_size` outputs:
    float64 [out_size, in_size] holding integers."""
    start32, stop32 = tf.cast(start, tf.float32), tf.cast(stop, tf.float32)
    scale = tf.cast(stop32 - start32, tf.float64) / tf.cast(out_size, tf.float64)
    filter_scale = tf.maximum(scale, 1.0)
    support = filter_scale  # the triangle's support, 1, times the filter scale
    centre = tf.cast(start32, tf.float64) + (tf.range(out_size, dtype=tf.float64) + 0.5) * scale
    first = tf.maximum(tf.floor(centre - support + 0.5), 0.0)[:, None]
    last = tf.minimum(tf.floor(centre + support + 0.5), tf.cast(in_size, tf.float64))[:, None]
    pixel = tf.range(in_size, dtype=tf.float64)[None]
    weight = tf.maximum(1.0 - tf.abs((pixel - centre[:, None] + 0.5) / filter_scale), 0.0)
    weight = tf.where((pixel >= first) & (pixel < last), weight, 0.0)
    total = tf.reduce_sum(weight, axis=1, keepdims=True)
    weight = tf.math.divide_no_nan(weight, total)
    return tf.floor(weight * (1 << _PRECISION_BITS) + 0.5)


def _resample(image: tf.Tensor, height, width, box: tuple[tf.Tensor, ...]) -> tf.Tensor:
    """The region `box` = (top, left, bottom, right) (float64 pixels) of uint8 `image` [h, w, C]
    resampled to [height, width, C] (ints or int32 scalars) exactly as Pillow's bilinear resize:
    a width pass, rounded to uint8, then a height pass, rounded to uint8 (float64 sums of integers
    below 2^53, so exact)."""
    top, left, bottom, right = box
    shape = tf.shape(image)

    def rounded(x):
        return tf.clip_by_value(tf.math.floordiv(x + (1 << (_PRECISION_BITS - 1)), 1 << _PRECISION_BITS), 0.0, 255.0)

    x = tf.cast(image, tf.float64)
    x = rounded(tf.einsum("hwc,ow->hoc", x, _weights(shape[1], left, right, width)))
    x = rounded(tf.einsum("hwc,oh->owc", x, _weights(shape[0], top, bottom, height)))
    return tf.cast(x, tf.uint8)


def _unchanged_or(image: tf.Tensor, height: int, width: int, resample) -> tf.Tensor:
    """`image` itself when it is already [height, width, C] (Pillow returns it untouched), else `resample()`."""
    same = tf.reduce_all(tf.shape(image)[:2] == tf.constant([height, width]))
    return tf.cond(same, lambda: image, resample)


def _squash(image: tf.Tensor, height: int, width: int) -> tf.Tensor:
    h, w = _size(image)
    zero = tf.constant(0.0, tf.float64)
    return _unchanged_or(image, height, width, lambda: _resample(image, height, width, (zero, zero, h, w)))


def _center_crop(image: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """The largest centred box of the output's aspect ratio, resampled (Pillow's ImageOps.fit)."""
    h, w = _size(image)
    ratio = tf.constant(width / height, tf.float64)
    crop_w = tf.where(w / h > ratio, ratio * h, w)
    crop_h = tf.where(w / h < ratio, w / ratio, h)
    top, left = (h - crop_h) * 0.5, (w - crop_w) * 0.5
    box = (top, left, top + crop_h, left + crop_w)
    return _unchanged_or(image, height, width, lambda: _resample(image, height, width, box))


def _pad(image: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """Resampled to fit inside [height, width] keeping the aspect ratio, centred on black (Pillow's
    ImageOps.pad: sizes and offsets rounded half to even, as Python's round)."""
    h, w = _size(image)
    wider = w / h > width / height
    fit_h = tf.cast(tf.where(wider, tf.round(h / w * width), height), tf.int32)
    fit_w = tf.cast(tf.where(wider, width, tf.round(w / h * height)), tf.int32)
    channels = image.shape[-1]

    def fitted():
        zero = tf.constant(0.0, tf.float64)
        inner = _resample(image, fit_h, fit_w, (zero, zero, h, w))
        top = tf.cast(tf.round(tf.cast(height - fit_h, tf.float64) * 0.5), tf.int32)
        left = tf.cast(tf.round(tf.cast(width - fit_w, tf.float64) * 0.5), tf.int32)
        return tf.pad(inner, [[top, height - fit_h - top], [left, width - fit_w - left], [0, 0]])

    empty = tf.minimum(fit_h, fit_w) < 1  # Pillow gives a black image
    return _unchanged_or(image, height, width, lambda: tf.cond(
        empty, lambda: tf.zeros((height, width, channels), tf.uint8), fitted))
