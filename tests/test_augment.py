"""Specification of effnet_keras.training.augment: on-device augmentation policies and in-model resizing."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from effnet_keras.training.augment import POLICIES, build_augmenter, sample_beta

B, C = 8, 10


def batch(seed=0):
    """Images float [B, 32, 32, 3] in 1..255 (0 is reserved for padding) and distinct one-hot labels."""
    images = np.random.default_rng(seed).integers(1, 256, (B, 32, 32, 3)).astype("float32")
    return {"images": images, "labels": np.eye(C, dtype="float32")[:B]}


def run(policy, data=None, magnitude=0.5, seed=1, training=True):
    data = batch() if data is None else data
    out = build_augmenter(policy, magnitude, seed=seed)(data, training=training)
    return {key: np.asarray(value) for key, value in out.items()}


@pytest.mark.parametrize("policy", ["none", *POLICIES[1:], "basic+randaugment+cutout+mixup", "basic+cutmix"])
def test_every_policy_keeps_shapes_dtypes_and_label_mass(policy):
    data = batch()
    out = run(policy, data)
    assert out["images"].shape == (B, 32, 32, 3) and out["images"].dtype == np.float32
    assert out["labels"].shape == (B, C) and out["labels"].dtype == np.float32
    np.testing.assert_allclose(out["labels"].sum(axis=1), 1, rtol=1e-5)
    assert out["images"].min() >= 0 and out["images"].max() <= 255
    assert isinstance(data["images"], np.ndarray)  # the caller's dict is not modified
    if policy != "none":
        assert not np.array_equal(out["images"], data["images"])


@pytest.mark.parametrize("policy", POLICIES)
def test_inactive_outside_training(policy):
    data = batch()
    out = run(policy, data, training=False)
    np.testing.assert_array_equal(out["images"], data["images"])
    np.testing.assert_array_equal(out["labels"], data["labels"])


@pytest.mark.parametrize("policy", ["nonsense", "basic+mixup+cutmix", "none+basic", "flip+basic", ""])
def test_invalid_policies_are_refused(policy):
    with pytest.raises(ValueError, match="policy"):
        build_augmenter(policy)


def test_magnitude_outside_unit_interval_is_refused():
    with pytest.raises(ValueError, match="magnitude"):
        build_augmenter("mixup", magnitude=1.5)


def test_magnitude_zero_leaves_out_the_magnitude_parts():
    data = batch()
    out = run("randaugment+cutout+mixup", data, magnitude=0.0)
    np.testing.assert_array_equal(out["images"], data["images"])


def test_flip_mirrors_some_images_and_leaves_the_others_untouched():
    data = batch()
    out = run("flip", data)
    mirrored = [np.array_equal(a, o[:, ::-1]) for o, a in zip(data["images"], out["images"])]
    kept = [np.array_equal(a, o) for o, a in zip(data["images"], out["images"])]
    assert all(m != k for m, k in zip(mirrored, kept))  # each image exactly one of the two
    assert any(mirrored) and any(kept)  # drawn per image
    np.testing.assert_array_equal(out["labels"], data["labels"])


def test_basic_is_flip_and_pad_crop_by_at_most_4_pixels():
    data = batch()
    out = run("basic", data)
    shifts = set()
    for original, augmented in zip(data["images"], out["images"]):
        padded = np.pad(original, ((4, 4), (4, 4), (0, 0)))
        matches = [
            (dy, dx, flip)
            for flip in (False, True)
            for dy in range(9)
            for dx in range(9)
            if np.array_equal(augmented, (padded[:, ::-1] if flip else padded)[dy:dy + 32, dx:dx + 32])
        ]
        assert matches, "output is not a flipped/translated copy of its input"
        shifts.add(matches[0])
    assert len(shifts) > 1  # offsets and flips are drawn per image
    np.testing.assert_array_equal(out["labels"], data["labels"])


def test_cutout_fills_one_grey_square_and_keeps_the_rest():
    data = batch()
    out = run("cutout", data, magnitude=0.25)
    for original, augmented in zip(data["images"], out["images"]):
        changed = np.any(augmented != original, axis=-1)
        rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
        assert 0 < len(rows) <= 8 and 0 < len(cols) <= 8  # side 0.25 * 32, clipped at the border
        box = augmented[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        np.testing.assert_array_equal(box, 127.5)
    np.testing.assert_array_equal(out["labels"], data["labels"])


def test_mixup_blends_images_and_labels_with_the_same_weight():
    data = batch()
    out = run("mixup", data, magnitude=0.4)
    for i in range(B):
        weights = out["labels"][i]
        own = weights[i]
        partner = int(np.argmax(np.where(np.arange(C) == i, -1, weights))) if own < 1 else i
        expected = own * data["images"][i] + (1 - own) * data["images"][partner]
        np.testing.assert_allclose(out["images"][i], expected, rtol=1e-4, atol=1e-2)
    assert np.any(out["labels"].max(axis=1) < 0.99)


def test_cutmix_mixes_labels_by_pasted_area():
    # Image i is constant i + 1, so every pixel tells which image it came from.
    constant = np.arange(1, B + 1, dtype="float32")[:, None, None, None]
    data = {"images": np.broadcast_to(constant, (B, 32, 32, 3)).copy(), "labels": np.eye(C, dtype="float32")[:B]}
    out = run("cutmix", data, magnitude=1.0)
    for i in range(B):
        sources = out["images"][i, ..., 0].astype(int) - 1
        fractions = np.bincount(sources.ravel(), minlength=C) / sources.size
        np.testing.assert_allclose(out["labels"][i], fractions, atol=1e-5)
        assert len(np.unique(sources)) <= 2


@pytest.mark.parametrize("alpha", [0.2, 1.0])
def test_beta_sampler_matches_the_beta_distribution(alpha):
    samples = np.asarray(sample_beta(40000, alpha, keras.random.SeedGenerator(0)))
    assert samples.min() >= 0 and samples.max() <= 1
    assert abs(samples.mean() - 0.5) < 0.01
    assert abs(samples.var() - 1 / (4 * (2 * alpha + 1))) < 0.005
    reference = np.sort(np.random.default_rng(0).beta(alpha, alpha, 40000))
    assert np.max(np.abs(np.sort(samples) - reference)) < 0.03  # quantiles agree


def test_seeded_augmenters_repeat_and_seeds_differ():
    a, b = run("basic+cutout+mixup", seed=7), run("basic+cutout+mixup", seed=7)
    np.testing.assert_array_equal(a["images"], b["images"])
    assert not np.array_equal(a["images"], run("basic+cutout+mixup", seed=8)["images"])


@pytest.mark.parametrize("policy", ["basic+cutout+mixup", "cutmix"])
def test_compiles_under_xla(policy):
    augmenter = build_augmenter(policy, seed=0)
    step = tf.function(lambda data: augmenter(data, training=True), jit_compile=True)
    out = step({key: tf.constant(value) for key, value in batch().items()})
    assert out["images"].shape == (B, 32, 32, 3)


def test_mixed_precision_policy_keeps_augmentation_in_float32():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        data = batch()
        out = build_augmenter("basic+mixup", seed=0)(
            {"images": data["images"].astype("float16"), "labels": data["labels"]}
        )
    finally:
        keras.config.set_dtype_policy(previous)
    assert out["images"].dtype == "float32" and out["labels"].dtype == "float32"
