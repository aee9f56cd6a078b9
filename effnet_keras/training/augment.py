"""Augmentation and resizing as Keras layers that run on the accelerator, inside the model step.

The host pipeline serves raw uint8 images of the data set's shape (CIFAR 32x32x3, Fashion-MNIST
28x28x1). The training step calls an augmenter from `build_augmenter` on {"images", "labels"}
batches (training only; it is not part of the model and never exported). The model itself starts
with `resize_layer` (and `grey_to_rgb` for one-channel data), so the trained and exported model
takes raw images. Augmentation computes in float32 whatever the global dtype policy (mixed
precision safe), and every part except "randaugment" compiles under XLA (jit_compile=True):
Keras's own RandomTranslation, MixUp and CutMix do not (ImageProjectiveTransformV3 and
StatelessRandomGammaV3 have no XLA kernels), hence the small layers below.
"""

from __future__ import annotations

import keras
from keras import ops

POLICIES = ("none", "flip", "basic", "randaugment", "cutout", "mixup", "cutmix")
"""Augmentation parts; combine with "+", e.g. "basic+randaugment+mixup". They run in this order."""


class Augmenter(keras.layers.Layer):
    """Applies augmentation steps in sequence to {"images": [B, H, W, C] in 0..255, "labels":
    one-hot [B, C]} and returns a new dict of float32 tensors of the same shapes.

    With training=False it returns the inputs unchanged (cast to float32).
    """

    def __init__(self, steps: list[keras.layers.Layer], **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self.steps = steps

    def build(self, input_shape: dict) -> None:
        """Nothing to build here: each step builds on its first call."""

    def call(self, data: dict, training: bool = True) -> dict:
        data = {key: ops.cast(data[key], "float32") for key in ("images", "labels")}
        if training:
            for step in self.steps:
                data = step(data)
        return data


class RandomPadCrop(keras.layers.Layer):
    """Pads each image with `pad` zero pixels per side and crops it back to size at a random
    offset: a random integer translation by up to `pad` pixels each way."""

    def __init__(self, pad: int = 4, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.pad = pad
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, data: dict) -> dict:
        images = data["images"]
        batch, height, width, channels = ops.shape(images)
        p = self.pad
        padded = ops.pad(images, [[0, 0], [p, p], [p, p], [0, 0]])
        offsets = keras.random.randint((batch, 2), 0, 2 * p + 1, seed=self.generator)
        rows = offsets[:, :1] + ops.arange(height)[None, :]
        cols = offsets[:, 1:] + ops.arange(width)[None, :]
        images = ops.take_along_axis(
            padded, ops.broadcast_to(rows[:, :, None, None], (batch, height, width + 2 * p, channels)), 1
        )
        images = ops.take_along_axis(
            images, ops.broadcast_to(cols[:, None, :, None], (batch, height, width, channels)), 2
        )
        return {**data, "images": images}


class RandomCutout(keras.layers.Layer):
    """Fills one square of side `fraction` x image height per image with `fill` (mid-grey:
    about the data mean, as Cutout's zero after normalisation). The square's centre is uniform
    over the image, so it may be clipped by the border (DeVries & Taylor, 2017)."""

    def __init__(self, fraction: float = 0.5, fill: float = 127.5, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.fraction = fraction
        self.fill = fill
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, data: dict) -> dict:
        images = data["images"]
        batch, height, width, _ = ops.shape(images)
        half = self.fraction * ops.cast(height, "float32") / 2
        centre_y, centre_x = _uniform_centres(batch, height, width, self.generator)
        mask = _box_mask(height, width, centre_y - half, centre_y + half, centre_x - half, centre_x + half)
        return {**data, "images": images * (1 - mask) + self.fill * mask}


class RandomMixup(keras.layers.Layer):
    """Mixup (Zhang et al., 2018): each image and its label become lam * own + (1 - lam) * a
    random partner's from the batch, lam ~ Beta(alpha, alpha) per image."""

    def __init__(self, alpha: float = 0.2, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, data: dict) -> dict:
        images, labels = data["images"], data["labels"]
        batch = ops.shape(images)[0]
        lam = sample_beta(batch, self.alpha, self.generator)
        partner = ops.argsort(keras.random.uniform((batch,), seed=self.generator))
        images = _blend(images, ops.take(images, partner, axis=0), lam[:, None, None, None])
        labels = _blend(labels, ops.take(labels, partner, axis=0), lam[:, None])
        return {"images": images, "labels": labels}


class RandomCutmix(keras.layers.Layer):
    """CutMix (Yun et al., 2019): pastes a box of a random partner image into each image; the
    box covers 1 - lam of the area, lam ~ Beta(alpha, alpha), centre uniform and clipped at the
    border. Labels mix by the pasted pixel fraction."""

    def __init__(self, alpha: float = 1.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, data: dict) -> dict:
        images, labels = data["images"], data["labels"]
        batch, height, width, _ = ops.shape(images)
        side = ops.sqrt(1 - sample_beta(batch, self.alpha, self.generator))
        half_h = side * ops.cast(height, "float32") / 2
        half_w = side * ops.cast(width, "float32") / 2
        centre_y, centre_x = _uniform_centres(batch, height, width, self.generator)
        mask = _box_mask(height, width, centre_y - half_h, centre_y + half_h, centre_x - half_w, centre_x + half_w)
        partner = ops.argsort(keras.random.uniform((batch,), seed=self.generator))
        images = _blend(images, ops.take(images, partner, axis=0), 1 - mask)
        kept = 1 - ops.mean(mask, axis=(1, 2, 3))
        labels = _blend(labels, ops.take(labels, partner, axis=0), kept[:, None])
        return {"images": images, "labels": labels}


def sample_beta(n, alpha: float, generator: keras.random.SeedGenerator, tries: int = 16):
    """n samples float32 [n] of Beta(alpha, alpha) by Johnk's method with `tries` fixed-shape
    proposals each (XLA-compilable, unlike gamma sampling). For alpha <= 1 all proposals fail
    with probability <= 2**-tries; such a sample is 0.5."""
    uniforms = keras.random.uniform((n, tries, 2), minval=1e-12, maxval=1.0, seed=generator)
    logs = ops.log(uniforms) / alpha
    accepted = ops.logaddexp(logs[..., 0], logs[..., 1]) <= 0
    ratios = ops.sigmoid(logs[..., 0] - logs[..., 1])
    first = ops.argmax(ops.cast(accepted, "int32"), axis=1)
    samples = ops.take_along_axis(ratios, first[:, None], axis=1)[:, 0]
    return ops.where(ops.any(accepted, axis=1), samples, 0.5)


def _blend(own, other, weight):
    return weight * own + (1 - weight) * other


def _uniform_centres(batch, height, width, generator):
    """Float pixel coordinates [B] of box centres, uniform over the image."""
    unit = keras.random.uniform((2, batch), seed=generator)
    return unit[0] * ops.cast(height, "float32"), unit[1] * ops.cast(width, "float32")


def _box_mask(height, width, top, bottom, left, right):
    """float32 [B, H, W, 1]: 1 at pixel centres inside [top, bottom) x [left, right) (each [B])."""
    rows = ops.cast(ops.arange(height), "float32")[None, :] + 0.5
    cols = ops.cast(ops.arange(width), "float32")[None, :] + 0.5
    in_rows = (rows >= top[:, None]) & (rows < bottom[:, None])
    in_cols = (cols >= left[:, None]) & (cols < right[:, None])
    return ops.cast(in_rows[:, :, None, None] & in_cols[:, None, :, None], "float32")


def policy_parts(policy: str, magnitude: float = 0.5) -> list[str]:
    """The parts of `policy` ("basic+mixup" -> ["basic", "mixup"]); ValueError saying what is wrong
    with the policy or a `magnitude` outside [0, 1]."""
    parts = [p for p in policy.replace(" ", "").split("+") if p]
    unknown = sorted(set(parts) - set(POLICIES))
    if not parts or unknown or ("none" in parts and len(parts) > 1):
        raise ValueError(
            f"augmentation policy {policy!r} is invalid: use 'none' or parts of "
            f"{', '.join(POLICIES[1:])} joined by '+', e.g. 'basic+mixup'."
        )
    if {"mixup", "cutmix"} <= set(parts):
        raise ValueError(f"augmentation policy {policy!r}: choose one of mixup and cutmix.")
    if {"flip", "basic"} <= set(parts):
        raise ValueError(f"augmentation policy {policy!r}: 'basic' already flips; drop 'flip'.")
    if not 0 <= magnitude <= 1:
        raise ValueError(f"augmentation magnitude must be in [0, 1], got {magnitude}.")
    return parts


def build_augmenter(policy: str = "basic", magnitude: float = 0.5, seed: int | None = None) -> Augmenter:
    """An `Augmenter` for `policy`: parts of POLICIES joined by "+" ("none" alone: identity).

    flip: random horizontal flip alone.
    basic: random horizontal flip and pad-and-crop by up to 4 pixels (zero fill).
    randaugment: keras.layers.RandAugment, 2 ops per batch at factor=magnitude (not XLA).
    cutout: one square of side magnitude x image side (0.5: 16 px on 32), grey.
    mixup: Beta(magnitude, magnitude) mixing. cutmix: Beta(magnitude, magnitude) boxes.
    mixup and cutmix exclude each other, and so do flip and basic.
    magnitude: strength in [0, 1] of randaugment, cutout, mixup and cutmix; at 0 they are left
        out, so a progressive schedule can start without them. "flip" and "basic" ignore it.
    seed: seeds each random layer (distinct per layer); None draws fresh randomness.
    """
    parts = policy_parts(policy, magnitude)

    def seed_for(i: int) -> int | None:
        return None if seed is None else seed + 1009 * i

    makers = {
        "flip": lambda: [keras.layers.RandomFlip("horizontal", seed=seed_for(0), dtype="float32")],
        "basic": lambda: [
            keras.layers.RandomFlip("horizontal", seed=seed_for(0), dtype="float32"),
            RandomPadCrop(4, seed=seed_for(1), dtype="float32"),
        ],
        "randaugment": lambda: [
            keras.layers.RandAugment(value_range=(0, 255), factor=magnitude, seed=seed_for(2), dtype="float32")
        ],
        "cutout": lambda: [RandomCutout(magnitude, seed=seed_for(3), dtype="float32")],
        "mixup": lambda: [RandomMixup(magnitude, seed=seed_for(4), dtype="float32")],
        "cutmix": lambda: [RandomCutmix(magnitude, seed=seed_for(5), dtype="float32")],
    }
    steps = []
    for part in POLICIES[1:]:
        if part in parts and (part in ("flip", "basic") or magnitude > 0):
            steps += makers[part]()
    return Augmenter(steps, name="augmenter")


def resize_layer(resolution: int, interpolation: str = "bilinear") -> keras.layers.Layer:
    """The model's first layer: raw images (uint8 or float, 0..255) [B, H, W, C] -> float
    [B, resolution, resolution, C] in 0..255, in the compute dtype. Not random; part of the
    exported model. Rescaling(1) does the cast (Resizing alone keeps uint8 and rounds)."""
    return keras.Sequential(
        [
            keras.layers.Rescaling(1.0, name="to_float"),
            keras.layers.Resizing(resolution, resolution, interpolation=interpolation, name="resizing"),
        ],
        name="resize",
    )


def grey_to_rgb(images):
    """One-channel images [B, H, W, 1] -> [B, H, W, 3], the grey value in every channel: a
    built-in Concatenate layer, so saved models load without custom objects."""
    return keras.layers.Concatenate(name="grey_to_rgb")([images, images, images])

