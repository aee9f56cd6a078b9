"""Training settings: every knob of a run, and the checks of them that read no file."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from effnet_keras.training import runtime
from effnet_keras.training.augment import policy_parts
from effnet_keras.training.errors import UsageError
from effnet_keras.models.baselines import BASELINES
from effnet_keras.models.configs import MIN_RESOLUTION, resolution_problem
from effnet_keras.models.size import MAX_ACTIVATION_GIB, MAX_PARAMS
from effnet_keras.data import DATASETS, DataError, Selection, parse_classes, parse_expected_counts, select_dataset
from effnet_keras.training.recipe import SCHEDULES, Recipe, choose_recipe, customised


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
    stop_epoch: int | None = None
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
    max_params: float = MAX_PARAMS
    max_activation_gib: float = MAX_ACTIVATION_GIB
    progressive: bool = False
    progressive_stages: int = 3
    output_dir: str | None = None
    runs_root: str = "runs"
    seed: int = 0
    export: str | None = None
    restart: bool = False

    def fingerprint(self) -> str:
        """Hash of the settings that define the run (not where it is written, whether to restart, or
        `stop_epoch`: a run stopped early continues under a later stop)."""
        defining = {k: v for k, v in dataclasses.asdict(self).items()
                    if k not in ("output_dir", "runs_root", "restart", "export", "max_params", "max_activation_gib",
                                 "stop_epoch")}
        return hashlib.sha256(json.dumps(defining, sort_keys=True).encode()).hexdigest()[:16]


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


def _check_recipe(r: Recipe) -> None:
    """UsageError naming the flag when a recipe number is out of its range."""
    ranges = (("--lr", r.lr, 0, None, False), ("--weight-decay", r.weight_decay, 0, None, True),
              ("--warmup-epochs", r.warmup_epochs, 0, None, True), ("--label-smoothing", r.label_smoothing, 0, 1, True),
              ("--bn-momentum", r.bn_momentum, 0, 1, True), ("--decay-rate", r.decay_rate, 0, 1, False),
              ("--decay-epochs", r.decay_epochs, 0, None, False))
    if r.schedule not in SCHEDULES:
        raise UsageError(f"Unknown schedule {r.schedule!r}; allowed values: {', '.join(SCHEDULES)}.")
    check_ranges(ranges)


def check_ranges(ranges) -> None:
    """UsageError for the first (flag, value, low, high, low_inclusive) whose set value is out of range."""
    for flag, value, low, high, inclusive in ranges:
        if value is None:
            continue
        ok = math.isfinite(value) and (value >= low if inclusive else value > low) and (high is None or value < high)
        if not ok:
            bound = f"{'>=' if inclusive else '>'} {low}" + (f" and < {high}" if high is not None else "")
            raise UsageError(f"{flag} must be a number {bound}, got {value}.")


def check_settings(s: TrainSettings) -> None:
    """Every check of `s` that reads no file and touches no device: names, ranges and combinations of
    the flags; UsageError with what to change. (`inputs.read_inputs` checks the files they name.)"""
    if s.dataset not in DATASETS:
        raise UsageError(f"Unknown dataset {s.dataset!r}; allowed values: {', '.join(DATASETS)}.")
    dataset_selection(s)
    for name, value, low in (("--epochs", s.epochs, 1), ("--batch-size", s.batch_size, 1), ("--seed", s.seed, 0),
                             ("--logical-cpus", s.logical_cpus, 0), ("--progressive-stages", s.progressive_stages, 1)):
        if value < low:
            raise UsageError(f"{name} must be >= {low}, got {value}.")
    if s.seed >= 2**32:
        raise UsageError(f"--seed must be < 2**32, got {s.seed}.")
    check_ranges((("--dropout", s.dropout, 0, 1, True), ("--drop-connect", s.drop_connect, 0, 1, True),
                  ("--ema", s.ema, 0, 1, False), ("--max-params", s.max_params, 0, None, False),
                  ("--max-activation-gib", s.max_activation_gib, 0, None, False)))
    if s.stop_epoch is not None and not 1 <= s.stop_epoch <= s.epochs:
        raise UsageError(f"--stop-epoch must be between 1 and --epochs ({s.epochs}), got {s.stop_epoch}.")
    if s.steps_per_epoch is not None and s.steps_per_epoch < 1:
        raise UsageError(f"--steps-per-epoch must be >= 1, got {s.steps_per_epoch}.")
    if s.train_images is not None and s.train_images < 1:
        raise UsageError(f"--train-images must be >= 1, got {s.train_images}.")
    if s.val_split is not None and not 0 < s.val_split < 1:
        raise UsageError(f"--val-split must be a fraction in (0, 1), got {s.val_split}.")
    if s.resolution is not None and resolution_problem(s.resolution):
        raise UsageError(f"--resolution {s.resolution} is below {MIN_RESOLUTION} pixels; use {MIN_RESOLUTION} or "
                         "more (smaller images are up-sampled inside the model).")
    if is_baseline(s) and any(v is not None for v in (s.alpha, s.beta, s.gamma, s.phi, s.base, s.scale, s.width,
                                                      s.depth, s.weights)):
        raise UsageError(f"--model {s.model} is a fixed baseline: scaling flags and --weights apply to "
                         "EfficientNet models only.")
    if s.strategy not in runtime.STRATEGIES:
        raise UsageError(f"Unknown strategy {s.strategy!r}; allowed values: {', '.join(runtime.STRATEGIES)}.")
    try:
        policy_parts(augment_policy(s), s.augment_magnitude)
        runtime.resolve_precision(s.precision, "cpu")
        runtime.resolve_jit(s.jit_compile, "cpu")
    except ValueError as e:
        raise UsageError(str(e)) from None


def is_baseline(s: TrainSettings) -> bool:
    """Whether --model names a fixed baseline (simple-cnn, resnet152) rather than an EfficientNet."""
    return isinstance(s.model, str) and s.model in BASELINES
