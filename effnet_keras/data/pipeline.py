"""tf.data input pipelines over in-memory uint8 images, or over image files decoded as they stream."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from effnet_keras.data.images import read_image_file
from effnet_keras.data.spec import DataError


def make_pipeline(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    training: bool,
    seed: int = 0,
    deterministic: bool = False,
    drop_remainder: bool = False,
    decoding: tuple[tuple[int, int, int], str] | None = None,
) -> tf.data.Dataset:
    """Batches of (uint8 images [B, H, W, C], integer labels [B]) from host arrays of uint8
    images [N, H, W, C] (the data set's raw shape) and labels [N], or from image file paths [N]
    (str) when `decoding` = (image_shape, resize policy) is given.

    Images stay uint8 (0..255): casting, resizing and augmentation belong to the model on the
    accelerator. The arrays are held once as tensors; each batch is one gather of shuffled
    indices, so the host does no per-image work.

    batch_size: the global batch; under a tf.distribute strategy each replica gets
        batch_size / replicas (auto-sharding is set to DATA, as the data has no files).
    training: shuffle the whole set with `seed`, reshuffling every epoch (pass with
        `.repeat()` or per-epoch iteration); otherwise keep the arrays' order.
    deterministic: produce batches in a reproducible order (same seed, same batches); False
        lets parallel batch assembly finish out of order for speed.
    drop_remainder: drop the last partial batch (static shapes for XLA/TPU).
    decoding: stream the files: each batch of paths is decoded by `images.read_image_file` (the
        same pixels as in-memory decoding) in parallel batches, prefetched.
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if decoding is not None:
        return _with_options(_file_batches(images, labels, batch_size, training, seed, drop_remainder, *decoding),
                             deterministic)
    if images.dtype != np.uint8 or images.ndim != 4 or labels.shape != images.shape[:1]:
        raise DataError(
            f"make_pipeline needs uint8 images [N, H, W, C] and labels [N]; got "
            f"{images.dtype} {list(images.shape)} and {list(labels.shape)}."
        )
    if batch_size < 1:
        raise DataError(f"batch_size must be positive, got {batch_size}.")
    images_t, labels_t = tf.constant(images), tf.constant(labels)
    indices = tf.data.Dataset.range(len(images))
    if training:
        indices = indices.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = indices.batch(batch_size, drop_remainder=drop_remainder).map(
        lambda i: (tf.gather(images_t, i), tf.gather(labels_t, i)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return _with_options(dataset, deterministic)


def _file_batches(paths: np.ndarray, labels: np.ndarray, batch_size: int, training: bool, seed: int,
                  drop_remainder: bool, image_shape: tuple[int, int, int], resize: str) -> tf.data.Dataset:
    """Batches of (uint8 images [B, *image_shape], labels [B]) decoded from file `paths` [N]."""
    if paths.ndim != 1 or paths.dtype.kind not in "UO" or labels.shape != paths.shape:
        raise DataError(f"make_pipeline with decoding needs file paths [N] and labels [N]; got {paths.dtype} "
                        f"{list(paths.shape)} and {list(labels.shape)}.")

    def decode(batch: np.ndarray) -> np.ndarray:
        return np.stack([read_image_file(path.decode(), image_shape, resize) for path in batch])

    def load(batch_paths, batch_labels):
        images = tf.numpy_function(decode, [batch_paths], tf.uint8, stateful=False)
        return tf.ensure_shape(images, [None, *image_shape]), batch_labels

    dataset = tf.data.Dataset.from_tensor_slices((paths.astype(str), labels))
    if training:
        dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size, drop_remainder=drop_remainder).map(load, num_parallel_calls=tf.data.AUTOTUNE)


def _with_options(dataset: tf.data.Dataset, deterministic: bool) -> tf.data.Dataset:
    """`dataset` with its order policy and DATA auto-sharding, prefetched."""
    options = tf.data.Options()
    options.deterministic = deterministic
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
