"""Recipes, their flag overrides, learning-rate schedules and weight-decay exclusions, and a B0 that learns."""

import csv
import math

import keras
import numpy as np
import pytest
from helpers import TINY

from effnet_keras.models.baselines import build_baseline
from effnet_keras.training.errors import UsageError
from effnet_keras.training.loop import train
from effnet_keras.training.plan import check_run
from effnet_keras.training.recipe import (
    OPTIMIZER_DEFAULTS,
    RECIPES,
    WarmupSchedule,
    choose_recipe,
    customised,
    make_optimizer,
)
from effnet_keras.training.settings import TrainSettings, check_settings, training_recipe


def lr_at(schedule, *steps):
    return [float(schedule(step)) for step in steps]


def test_warmup_rises_linearly_to_the_peak():
    schedule = WarmupSchedule(1.0, total_steps=100, warmup_steps=10)
    np.testing.assert_allclose(lr_at(schedule, 0, 4, 9), [0.1, 0.5, 1.0], rtol=1e-6)


def test_cosine_decays_from_the_peak_to_zero_at_the_last_step():
    schedule = WarmupSchedule(2.0, total_steps=110, warmup_steps=10, kind="cosine")
    np.testing.assert_allclose(lr_at(schedule, 10, 60, 110, 500), [2.0, 1.0, 0.0, 0.0], atol=1e-6)


def test_exponential_multiplies_by_the_rate_every_period():
    schedule = WarmupSchedule(1.0, total_steps=100, warmup_steps=0, kind="exponential", decay_rate=0.5,
                              decay_steps=10)
    np.testing.assert_allclose(lr_at(schedule, 0, 9, 10, 25), [1.0, 1.0, 0.5, 0.25], rtol=1e-6)


def test_constant_stays_at_the_peak_after_warmup():
    schedule = WarmupSchedule(0.3, total_steps=100, warmup_steps=5, kind="constant")
    np.testing.assert_allclose(lr_at(schedule, 5, 99), [0.3, 0.3], rtol=1e-6)


def test_auto_recipe_is_transfer_with_pretrained_weights_and_scratch_without():
    assert choose_recipe("auto", pretrained=False) is RECIPES["scratch"]
    assert choose_recipe("auto", pretrained=True) is RECIPES["transfer"]
    assert choose_recipe("imagenet", pretrained=False).optimizer == "rmsprop"
    with pytest.raises(ValueError, match="allowed values: auto, scratch"):
        choose_recipe("fast", pretrained=False)


@pytest.mark.parametrize("epochs, recipe, want", [
    (3, "scratch", "flip"), (10, "scratch", "flip"), (11, "scratch", "basic"), (100, "scratch", "basic"),
    (3, "transfer", "basic"), (3, "imagenet", "basic"),
])
def test_auto_augmentation_is_flip_for_short_scratch_runs_and_basic_for_long_ones(epochs, recipe, want):
    assert check_settings(TrainSettings(epochs=epochs, recipe=recipe)).augment == want


def test_an_explicit_augmentation_wins_over_the_recipe():
    assert check_settings(TrainSettings(epochs=3, augment="basic+mixup")).augment == "basic+mixup"


def test_flags_replace_recipe_fields_and_unset_flags_keep_them():
    recipe = customised(RECIPES["scratch"], lr=0.01, label_smoothing=None, bn_momentum=0.97)
    assert recipe.lr == 0.01 and recipe.bn_momentum == 0.97
    assert recipe.label_smoothing == RECIPES["scratch"].label_smoothing


def test_another_optimizer_starts_from_its_own_standard_values_not_the_recipes():
    scratch = RECIPES["scratch"]
    other = next(name for name in OPTIMIZER_DEFAULTS if name != scratch.optimizer)
    recipe = customised(scratch, optimizer=other)
    assert (recipe.lr, recipe.weight_decay) == OPTIMIZER_DEFAULTS[other]
    assert customised(scratch, optimizer=other, lr=0.5).lr == 0.5


def test_weight_decay_can_skip_batchnorm_and_bias_variables():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()])
    model.layers[1].gamma.assign(np.full(3, 2.0, "float32"))
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    optimizer = make_optimizer("adamw", WarmupSchedule(0.5, total_steps=10), weight_decay=0.5,
                               decay_norm_and_bias=False)
    optimizer.apply_gradients([(keras.ops.zeros_like(v), v) for v in model.trainable_variables])
    changed = {v.path for v in model.trainable_variables if not np.allclose(v.numpy(), before[v.path])}
    assert changed == {model.layers[0].kernel.path}


@pytest.mark.parametrize("flag, value, message", [
    ("lr", -1.0, "--lr must be a number > 0"),
    ("lr", float("nan"), "--lr must be a number > 0"),
    ("weight_decay", -1.0, "--weight-decay must be a number >= 0"),
    ("warmup_epochs", -5.0, "--warmup-epochs must be a number >= 0"),
    ("label_smoothing", 5.0, "--label-smoothing must be a number >= 0 and < 1"),
    ("bn_momentum", 1.5, "--bn-momentum must be a number >= 0 and < 1"),
])
def test_out_of_range_recipe_numbers_are_refused_naming_the_flag(flag, value, message):
    with pytest.raises(UsageError, match=message):
        check_run(TrainSettings(model="b0", resolution=32, **{flag: value}))


def test_scratch_recipe_sets_the_models_batchnorm_momentum_and_imagenet_keeps_the_variants():
    assert check_run(TrainSettings(model="b0")).config["bn_momentum"] == RECIPES["scratch"].bn_momentum
    assert check_run(TrainSettings(model="b0", recipe="imagenet")).config["bn_momentum"] == 0.99
    assert check_run(TrainSettings(model="b0", bn_momentum=0.95)).config["bn_momentum"] == 0.95
    assert training_recipe(TrainSettings(weights="imagenet")).name == "transfer"


def test_baseline_batchnorm_momentum_reaches_every_layer():
    model = build_baseline("simple-cnn", 10, (32, 32, 3), bn_momentum=0.95)
    momenta = {layer.momentum for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)}
    assert momenta == {0.95}


def _learn(tmp_path, **settings):
    """4 epochs of 48 steps of 32 images of the micro network (B0's blocks at width and depth 0.25) on the
    synthetic set at 32 px, validated on all 256 test images; its history rows and metrics."""
    metrics = train(TrainSettings(model=TINY, resolution=32, dataset="synthetic", synthetic_train=1536,
                                  synthetic_test=256, epochs=4, batch_size=32, val_split=0,
                                  output_dir=str(tmp_path / "run"), **settings), log=lambda *_: None)
    with open(tmp_path / "run" / "history.csv") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)], metrics


def test_a_small_b0_family_network_at_32px_learns_a_small_learnable_set_with_the_default_recipe(tmp_path):
    """What caught nothing before: from scratch at 32 px with the defaults, a B0-family network must learn
    within a few hundred steps, and BatchNorm's moving statistics must serve validation. (B0 itself at
    32 px on real data: docs/benchmarks.md.)"""
    rows, metrics = _learn(tmp_path)
    assert all(math.isfinite(r["val_loss"]) and r["val_loss"] < 10 for r in rows)
    assert rows[-1]["val_accuracy"] > rows[-1]["accuracy"] - 0.15
    # Chance is 0.1 (and the old momentum's, below). Measured on 2 cores: 0.37-0.45 (seeds 0-4, alone or
    # after other tests), once 0.22 in a full `make test`, where training stalled at 0.21 and validation
    # still followed it.
    assert metrics["test_accuracy"] > 0.18


def test_with_the_old_batchnorm_momentum_validation_stays_at_chance_while_training_accuracy_rises(tmp_path):
    """Why the recipe sets momentum 0.9: at 0.99 the moving statistics have not left their initial values
    after 192 steps, so inference-mode validation is at chance whatever the network has learnt."""
    rows, metrics = _learn(tmp_path, bn_momentum=0.99)
    assert rows[-1]["accuracy"] > 0.15 and metrics["test_accuracy"] < 0.15  # measured: 0.275 and 0.102
