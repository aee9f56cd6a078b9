"""Training settings: every knob of a run, and the checks that need neither data nor training."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from effnet_keras import runtime
from effnet_keras.augment import build_augmenter
from effnet_keras.baselines import BASELINES, DEFAULT_RESOLUTION
from effnet_keras.configs import MIN_RESOLUTION, load_config
from effnet_keras.data import DATASETS, DataError, Selection, parse_classes, parse_expected_counts, select_dataset
from effnet_keras.recipe import OPTIMIZERS, WarmupSchedule
from effnet_keras.scaling import compound_scale, override
from effnet_keras.weights import fetch_imagenet_weights


class UsageError(ValueError):
    """Bad settings, found before any training starts (the CLI exits with code 2)."""


class TrainingError(RuntimeError):
    """Training stopped (e.g. the loss became NaN/Inf); the last good checkpoint is kept."""


@dataclass
class TrainSettings:
    """Every knob of a run. Field names equal the train.py flags (dashes for underscores)."""

    model: str = "b0"
    dataset: str = "synthetic"
    data_dir: str | None = None
    source: str = "auto"
    val_split: float | None = None
    label_mode: str = "fine"
    synthetic_train: int = 5000
    synthetic_test: int = 1000
    classes: str | None = None
    expected_counts: str | None = None
    alpha: float | None = None
    beta: float | None = None
    gamma: float | None = None
    phi: float | None = None
    base: str | None = None
    scale: str | None = None
    width: float | None = None
    depth: float | None = None
    resolution: int | None = None
    epochs: int = 30
    batch_size: int = 128
    steps_per_epoch: int | None = None
    optimizer: str = "sgd"
    lr: float | None = None
    lr_scaling: bool = True
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    decay_rate: float = 0.97
    decay_epochs: float = 2.4
    weight_decay: float | None = None
    label_smoothing: float = 0.1
    dropout: float | None = None
    drop_connect: float | None = None
    augment: str = "basic"
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
    """What to build: an EfficientNet config or a baseline name, at `resolution` pixels."""

    name: str
    resolution: int
    config: dict | None = None
    baseline: str | None = None
    extra: dict = field(default_factory=dict)


def plan_model(s: TrainSettings) -> ModelPlan:
    """Resolve --model, compound scaling (--alpha.. or --scale) and overrides into a ModelPlan."""
    if s.resolution is not None:
        _check_resolution(s.resolution)
    if s.model in BASELINES:
        if any(v is not None for v in (s.alpha, s.scale, s.width, s.depth, s.weights)):
            raise UsageError(f"--model {s.model} is a fixed baseline: scaling flags and --weights apply to "
                             "EfficientNet models only.")
        return ModelPlan(s.model, s.resolution or DEFAULT_RESOLUTION[s.model], baseline=s.model)
    coefficients = _scaling_coefficients(s)
    name = coefficients.pop("base") if coefficients else s.model
    try:
        base = load_config(name)
    except ValueError as e:
        raise UsageError(f"{name}: {e} Models: a variant name, a config JSON file, {', '.join(BASELINES)}.") from None
    try:
        if coefficients:
            config = compound_scale(**coefficients, base=base, width=s.width, depth=s.depth, resolution=s.resolution)
        else:
            config = override(base, width=s.width, depth=s.depth, resolution=s.resolution)
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
            "synthetic_test": s.synthetic_test, "classes": classes, "expected_counts": expected_counts}


def dataset_selection(s: TrainSettings) -> Selection:
    """What the data flags of `s` select (image shape, class names), checked without reading data;
    UsageError saying what to change."""
    args = dataset_arguments(s)
    try:
        return select_dataset(args["name"], args["label_mode"], args["classes"], args["expected_counts"])
    except DataError as e:
        raise UsageError(str(e)) from None


def _check_resolution(resolution: int) -> None:
    if resolution < MIN_RESOLUTION:
        raise UsageError(f"--resolution {resolution} is below {MIN_RESOLUTION} pixels; small images are up-sampled, "
                         f"so use {MIN_RESOLUTION} or more.")


def _scaling_coefficients(s: TrainSettings) -> dict | None:
    """alpha, beta, gamma, phi and base from --scale FILE and/or the flags (flags win)."""
    values: dict[str, Any] = {}
    if s.scale:
        try:
            with open(s.scale, encoding="utf-8") as f:
                values = {k: v for k, v in json.load(f).items() if k in ("alpha", "beta", "gamma", "phi", "base")}
        except (OSError, json.JSONDecodeError) as e:
            raise UsageError(f"--scale {s.scale}: cannot read the coefficients JSON ({e}).") from None
    for key in ("alpha", "beta", "gamma", "phi", "base"):
        if getattr(s, key) is not None:
            values[key] = getattr(s, key)
    if not any(k in values for k in ("alpha", "beta", "gamma", "phi")):
        return None
    missing = [k for k in ("alpha", "beta", "gamma", "phi") if k not in values]
    if missing:
        raise UsageError(f"Compound scaling needs --alpha, --beta, --gamma and --phi (or --scale FILE with "
                         f"--phi); missing: {', '.join('--' + k for k in missing)}.")
    values.setdefault("base", s.model if s.model not in BASELINES else "b0")
    return values


def validate(s: TrainSettings) -> ModelPlan:
    """All checks that need no data and no training; raises UsageError with what to change."""
    if s.dataset not in DATASETS:
        raise UsageError(f"Unknown dataset {s.dataset!r}; allowed values: {', '.join(DATASETS)}.")
    dataset_selection(s)
    if s.optimizer not in OPTIMIZERS:
        raise UsageError(f"Unknown optimizer {s.optimizer!r}; allowed values: {', '.join(OPTIMIZERS)}.")
    for name, value, low in (("--epochs", s.epochs, 1), ("--batch-size", s.batch_size, 1)):
        if value < low:
            raise UsageError(f"{name} must be >= {low}, got {value}.")
    if s.steps_per_epoch is not None and s.steps_per_epoch < 1:
        raise UsageError(f"--steps-per-epoch must be >= 1, got {s.steps_per_epoch}.")
    if s.val_split is not None and not 0 < s.val_split < 1:
        raise UsageError(f"--val-split must be a fraction in (0, 1), got {s.val_split}.")
    plan = plan_model(s)
    try:
        build_augmenter(s.augment, s.augment_magnitude)
        WarmupSchedule(1.0, 1, kind=s.schedule)
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


