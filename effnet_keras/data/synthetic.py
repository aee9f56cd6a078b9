"""A built-in, seeded, procedurally generated 10-class image set for offline runs and tests.

Each image is a noisy background of random colour with one class-specific figure drawn in a
contrasting random colour at a random position, size and phase: a small CNN learns it well above
chance in one epoch, while no single pixel gives the class away.
"""

from __future__ import annotations

import numpy as np

from effnet_keras.data.spec import SPECS, SYNTHETIC_CLASSES, DataRequestError

_SIZE, _, _CHANNELS = SPECS["synthetic"].image_shape


def make_synthetic(
    n_train: int = 5000, n_test: int = 1000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): uint8 [N, 32, 32, 3] images, int64 [N] labels with
    classes as balanced as N allows. The same seed gives the same arrays; train and test are
    drawn independently."""
    if n_train < 1 or n_test < 1:
        raise DataRequestError(
            f"synthetic sizes must be positive, got {n_train} train and {n_test} test images."
        )
    x_train, y_train = _generate(n_train, np.random.default_rng([seed, 0]))
    x_test, y_test = _generate(n_test, np.random.default_rng([seed, 1]))
    return x_train, y_train, x_test, y_test


def _generate(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.permutation(np.arange(n) % len(SYNTHETIC_CLASSES)).astype(np.int64)
    center_y, center_x, radius, period, phase = (
        rng.uniform(low, high, size=(n, 1, 1)).astype(np.float32)
        for low, high in ((9, 23), (9, 23), (5, 9), (5, 9), (0, 2 * np.pi))
    )
    dots = rng.uniform(3, 29, size=(n, 4, 2, 1, 1)).astype(np.float32)
    background = rng.uniform(0, 255, size=(n, 1, 1, _CHANNELS)).astype(np.float32)
    foreground = (background + rng.uniform(90, 166, size=(n, 1, 1, _CHANNELS)).astype(np.float32)) % 256
    images = rng.standard_normal(size=(n, _SIZE, _SIZE, _CHANNELS), dtype=np.float32) * 20
    for label in range(len(SYNTHETIC_CLASSES)):
        i = labels == label
        mask = _figure(label, center_y[i], center_x[i], radius[i], period[i], phase[i], dots[i])
        images[i] += np.where(mask[..., None], foreground[i], background[i])
    return np.clip(np.rint(images), 0, 255).astype(np.uint8), labels


def _figure(label, center_y, center_x, radius, period, phase, dots) -> np.ndarray:
    """Boolean masks [n, 32, 32] of class `label`'s figure; parameters are float [n, 1, 1]
    (dots: [n, 4, 2, 1, 1] centres of the "dots" class)."""
    y, x = np.mgrid[0:_SIZE, 0:_SIZE].astype(np.float32)
    dy, dx = y - center_y, x - center_x
    dist = np.sqrt(dy**2 + dx**2)
    box = np.maximum(np.abs(dy), np.abs(dx))

    def wave(coord):
        return np.sin(2 * np.pi * coord / period + phase) > 0

    figures = {
        0: lambda: dist < radius,
        1: lambda: np.abs(dist - radius) < 1.5,
        2: lambda: box < radius * 0.8,
        3: lambda: ((np.abs(dy) < 1.6) | (np.abs(dx) < 1.6)) & (box < radius),
        4: lambda: wave(y),
        5: lambda: wave(x),
        6: lambda: wave((x + y) / np.sqrt(2)),
        7: lambda: wave(y) ^ wave(x),
        8: lambda: (dy > -radius) & (dy < radius) & (np.abs(dx) < (dy + radius) / 2),
        9: lambda: ((y - dots[:, :, 0]) ** 2 + (x - dots[:, :, 1]) ** 2 < 2.5**2).any(axis=1),
    }
    return figures[label]()
