"""Training settings: every knob of a run, and the checks that need neither data nor training."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass
from typing import Any

from effnet_keras.training import runtime
from effnet_keras.training.augment import build_augmenter
from effnet_keras.training.errors import UsageError
from effnet_keras.models.baselines import BASELINES, DEFAULT_RESOLUTION
from effnet_keras.models.configs import MIN_RESOLUTION, load_config, resolution_problem
from effnet_keras.data import DATASETS, DataError, Selection, parse_classes, parse_expected_counts, select_dataset
from effnet_keras.training.recipe import Recipe, WarmupSchedule, choose_recipe, customised
from effnet_keras.models.scaling import compound_scale, load_coefficients, override
from effnet_keras.models.weights import fetch_imagenet_weights


MAX_SCALE_FACTOR = 100.0
"""Largest factor compound scaling may apply to depth, width or resolution (B7 is 3.1x, 2.0x, 2.7x)."""


@dataclass
class TrainSettings:
    """Every knob of a run. Field names equal the train.py flags (dashes for underscores).

    Recipe fields left None take the value of `recipe` (see `recipe.RECIPES`). `model` and `base`
    also take a config dict (how the tuner hands its configs to training).
    """

    model: str | dict = "b0"
    dataset: str = "synthetic"
    data_dir: str | None = None
    source: str = "auto"
    val_split: float | None = None
    label_mode: str = "fine"
    synthetic_train: int = 5000
    synthetic_test: int = 1000
    train_images: int | None = None
    classes: str | None = None
    expected_counts: str | None = None
    alpha: float | None = None
    beta: float | None = None
    gamma: float | None = None
    phi: float | None = None
    base: str | dict | None = None
    scale: str | None = None
    width: float | None = None
    depth: float | None = None
    resolution: int | None = None
    epochs: int = 30
    batch_size: int = 128
    steps_per_epoch: int | None = None
    recipe: str = "auto"
    optimizer: str | None = None
    lr: float | None = None
    lr_scaling: bool = True
    schedule: str | None = None
    warmup_epochs: float | None = None
    decay_rate: float | None = None
    decay_epochs: float | None = None
    weight_decay: float | None = None
    decay_norm_and_bias: bool | None = None
    label_smoothing: float | None = None
    bn_momentum: float | None = None
    dropout: float | None = None
    drop_connect: float | None = None
    augment: str = "auto"
    augment_magnitude: float = 0.5
    ema: float | None = None
    precision: str = "auto"
    strategy: str = "auto"
    jit_compile: str = "auto"
    logical_cpus: int = 0
    weights: str | None = None
    freeze_backbone: bool = False
    progressive: bool = False
    progressive_stages: int = 3
    output_dir: str | None = None
    runs_root: str = "runs"
    seed: int = 0
    export: str | None = None
    restart: bool = False

    def fingerprint(self) -> str:
        """Hash of the settings that define the run (not where it is written or whether to restart)."""
        defining = {k: v for k, v in dataclasses.asdict(self).items()
                    if k not in ("output_dir", "runs_root", "restart", "export")}
        return hashlib.sha256(json.dumps(defining, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class ModelPlan:
    """What to build: an EfficientNet config or a baseline name, at `resolution` pixels.

    `bn_momentum`: the BatchNorm momentum a baseline is built with (None: its own); an
    EfficientNet's is in its config.
    """

    name: str
    resolution: int
    config: dict | None = None
    baseline: str | None = None
    bn_momentum: float | None = None


def training_recipe(s: TrainSettings) -> Recipe:
    """The recipe `s.recipe` (auto: "transfer" with --weights, else "scratch") with every recipe flag
    that is set replacing its default; UsageError naming the flag of a number out of range."""
    names = ("optimizer", "lr", "weight_decay", "decay_norm_and_bias", "schedule", "warmup_epochs",
             "label_smoothing", "bn_momentum", "decay_rate", "decay_epochs")
    try:
        recipe = customised(choose_recipe(s.recipe, s.weights is not None), **{n: getattr(s, n) for n in names})
    except ValueError as e:
        raise UsageError(str(e)) from None
    _check_recipe(recipe)
    return recipe


def augment_policy(s: TrainSettings) -> str:
    """--augment, or for "auto" the recipe's policy for a run of --epochs epochs (`Recipe.augment_for`)."""
    return training_recipe(s).augment_for(s.epochs) if s.augment == "auto" else s.augment


def plan_model(s: TrainSettings) -> ModelPlan:
    """Resolve --model, compound scaling (--alpha.. or --scale), overrides and the recipe's BatchNorm
    momentum into a ModelPlan."""
    bn_momentum = training_recipe(s).bn_momentum
    if s.resolution is not None:
        if resolution_problem(s.resolution):
            raise UsageError(f"--resolution {s.resolution} is below {MIN_RESOLUTION} pixels; use {MIN_RESOLUTION} or "
                             "more (smaller images are up-sampled inside the model).")
    if isinstance(s.model, str) and s.model in BASELINES:
        if any(v is not None for v in (s.alpha, s.beta, s.gamma, s.phi, s.base, s.scale, s.width, s.depth, s.weights)):
            raise UsageError(f"--model {s.model} is a fixed baseline: scaling flags and --weights apply to "
                             "EfficientNet models only.")
        return ModelPlan(s.model, s.resolution or DEFAULT_RESOLUTION[s.model], baseline=s.model,
                         bn_momentum=bn_momentum)
    coefficients = _scaling_coefficients(s)
    name = coefficients.pop("base") if coefficients else s.model
    try:
        base = load_config(name)
    except ValueError as e:
        label = name if isinstance(name, str) else "the model config"
        raise UsageError(f"{label}: {e} Models: a variant name, a config JSON file, {', '.join(BASELINES)}.") from None
    try:
        if coefficients:
            config = compound_scale(**coefficients, base=base, width=s.width, depth=s.depth, resolution=s.resolution)
        else:
            config = override(base, width=s.width, depth=s.depth, resolution=s.resolution)
        if bn_momentum is not None:
            config = override(config, bn_momentum=bn_momentum)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return ModelPlan(config["name"], config["train_resolution"], config=config)


def dataset_arguments(s: TrainSettings) -> dict[str, Any]:
    """The keyword arguments of `load_dataset` that the data flags of `s` give (--classes and
    --expected-counts parsed); UsageError for unparsable ones."""
    try:
        classes, expected_counts = parse_classes(s.classes), parse_expected_counts(s.expected_counts)
    except DataError as e:
        raise UsageError(str(e)) from None
    return {"name": s.dataset, "source": s.source, "data_dir": s.data_dir, "val_split": s.val_split,
            "label_mode": s.label_mode, "seed": s.seed, "synthetic_train": s.synthetic_train,
            "synthetic_test": s.synthetic_test, "classes": classes, "expected_counts": expected_counts,
            "train_images": s.train_images}


def dataset_selection(s: TrainSettings) -> Selection:
    """What the data flags of `s` select (image shape, class names), checked without reading data;
    UsageError saying what to change."""
    args = dataset_arguments(s)
    try:
        return select_dataset(args["name"], args["label_mode"], args["classes"], args["expected_counts"])
    except DataError as e:
        raise UsageError(str(e)) from None


def _scaling_coefficients(s: TrainSettings) -> dict | None:
    """alpha, beta, gamma from --scale FILE or the flags (not both), phi and base from the flags or the file."""
    values: dict[str, Any] = {}
    if s.scale:
        given = [f"--{k}" for k in ("alpha", "beta", "gamma") if getattr(s, k) is not None]
        if given:
            raise UsageError(f"--scale {s.scale} gives alpha, beta and gamma; drop {', '.join(given)} or --scale.")
        try:
            values = load_coefficients(s.scale)
        except ValueError as e:
            raise UsageError(f"--scale {e}") from None
    for key in ("alpha", "beta", "gamma", "phi", "base"):
        if getattr(s, key) is not None:
            values[key] = getattr(s, key)
    if not any(k in values for k in ("alpha", "beta", "gamma", "phi")):
        return None
    missing = [k for k in ("alpha", "beta", "gamma", "phi") if k not in values]
    if missing:
        raise UsageError(f"Compound scaling needs --alpha, --beta, --gamma and --phi (or --scale FILE with "
                         f"--phi); missing: {', '.join('--' + k for k in missing)}.")
    for key in ("alpha", "beta", "gamma", "phi"):
        value = values[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
                key != "phi" and value <= 0):
            raise UsageError(f"--{key} must be a finite number{'' if key == 'phi' else ' > 0'}, got {value!r}.")
    for key, flag in (("alpha", "depth"), ("beta", "width"), ("gamma", "resolution")):
        factor = math.exp(min(700.0, abs(values["phi"] * math.log(values[key]))))
        if factor > MAX_SCALE_FACTOR:
            raise UsageError(f"--{key} {values[key]:g} with --phi {values['phi']:g} scales {flag} by "
                             f"{factor:.3g}x (at most {MAX_SCALE_FACTOR:g}x either way); choose smaller values.")
    values.setdefault("base", "b0" if isinstance(s.model, str) and s.model in BASELINES else s.model)
    return values


def _check_recipe(r: Recipe) -> None:
    """UsageError naming the flag when a recipe number is out of its range."""
    ranges = (("--lr", r.lr, 0, None, False), ("--weight-decay", r.weight_decay, 0, None, True),
              ("--warmup-epochs", r.warmup_epochs, 0, None, True), ("--label-smoothing", r.label_smoothing, 0, 1, True),
              ("--bn-momentum", r.bn_momentum, 0, 1, True), ("--decay-rate", r.decay_rate, 0, 1, False),
              ("--decay-epochs", r.decay_epochs, 0, None, False))
    _check_ranges(ranges)


def _check_ranges(ranges) -> None:
    """UsageError for the first (flag, value, low, high, low_inclusive) whose set value is out of range."""
    for flag, value, low, high, inclusive in ranges:
        if value is None:
            continue
        ok = math.isfinite(value) and (value >= low if inclusive else value > low) and (high is None or value < high)
        if not ok:
            bound = f"{'>=' if inclusive else '>'} {low}" + (f" and < {high}" if high is not None else "")
            raise UsageError(f"{flag} must be a number {bound}, got {value}.")


def validate(s: TrainSettings) -> ModelPlan:
    """All checks that need no data and no training; raises UsageError with what to change."""
    if s.dataset not in DATASETS:
        raise UsageError(f"Unknown dataset {s.dataset!r}; allowed values: {', '.join(DATASETS)}.")
    dataset_selection(s)
    for name, value, low in (("--epochs", s.epochs, 1), ("--batch-size", s.batch_size, 1), ("--seed", s.seed, 0),
                             ("--logical-cpus", s.logical_cpus, 0), ("--progressive-stages", s.progressive_stages, 1)):
        if value < low:
            raise UsageError(f"{name} must be >= {low}, got {value}.")
    if s.seed >= 2**32:
        raise UsageError(f"--seed must be < 2**32, got {s.seed}.")
    _check_ranges((("--dropout", s.dropout, 0, 1, True), ("--drop-connect", s.drop_connect, 0, 1, True),
                   ("--ema", s.ema, 0, 1, False)))
    if s.steps_per_epoch is not None and s.steps_per_epoch < 1:
        raise UsageError(f"--steps-per-epoch must be >= 1, got {s.steps_per_epoch}.")
    if s.train_images is not None and s.train_images < 1:
        raise UsageError(f"--train-images must be >= 1, got {s.train_images}.")
    if s.val_split is not None and not 0 < s.val_split < 1:
        raise UsageError(f"--val-split must be a fraction in (0, 1), got {s.val_split}.")
    recipe = training_recipe(s)
    plan = plan_model(s)
    try:
        build_augmenter(augment_policy(s), s.augment_magnitude)
        WarmupSchedule(1.0, 1, kind=recipe.schedule)
        runtime.resolve_precision(s.precision, "cpu")
        runtime.resolve_jit(s.jit_compile, "cpu")
    except ValueError as e:
        raise UsageError(str(e)) from None
    if s.strategy not in runtime.STRATEGIES:
        raise UsageError(f"Unknown strategy {s.strategy!r}; allowed values: {', '.join(runtime.STRATEGIES)}.")
    if s.weights == "imagenet":
        try:
            fetch_imagenet_weights(plan.config, include_top=False)
        except ValueError as e:
            raise UsageError(str(e)) from None
    elif s.weights is not None and not os.path.isfile(s.weights):
        raise UsageError(f"--weights {s.weights}: no such file. Pass 'imagenet' or a weights file saved from the "
                         "same variant without its top (include_top=False).")
    return plan


