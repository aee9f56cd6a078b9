"""Training settings: every knob of a run (`TrainSettings`), and `check_settings`, which checks them
without reading a file and resolves them once into `ResolvedSettings` (the recipe and the
augmentation policy they give), the only form `plan.plan_run` accepts."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from effnet_keras.bounds import Bounds, range_problem
from effnet_keras.data import DataError, Selection, parse_classes, parse_expected_counts, select_dataset
from effnet_keras.data.images import RESIZE_POLICIES
from effnet_keras.data.loader import DEFAULT_VAL_SPLIT, check_val_split
from effnet_keras.data.spec import FOLDER_PREFIX, TFDS_PREFIX, parse_image_size
from effnet_keras.models.baselines import BASELINES
from effnet_keras.models.configs import resolution_problem
from effnet_keras.models.size import MAX_ACTIVATION_GIB, MAX_PARAMS
from effnet_keras.training import runtime
from effnet_keras.training.augment import policy_parts
from effnet_keras.training.errors import UsageError
from effnet_keras.training.limits import check_ranges
from effnet_keras.training.recipe import SCHEDULES, Recipe, choose_recipe, customised


@dataclass(frozen=True)
class TrainSettings:
    """Every knob of a run. Field names equal the train.py flags (dashes for underscores). Frozen:
    `dataclasses.replace` makes a changed copy.

    Recipe fields left None take the value of `recipe` (see `recipe.RECIPES`). `model` and `base`
    also take a config dict (how the tuner hands its configs to training).
    """

    model: str | dict = "b0"
    dataset: str = "synthetic"
    data_dir: str | None = None
    source: str = "auto"
    val_split: float = DEFAULT_VAL_SPLIT
    label_mode: str = "fine"
    synthetic_train: int = 5000
    synthetic_test: int = 1000
    train_images: int | None = None
    classes: str | None = None
    expected_counts: str | None = None
    image_size: str | None = None
    resize: str | None = None
    skip_bad_images: bool = False
    stream: bool = False
    in_memory_limit_gib: float | None = None
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
        `stop_epoch`: a run stopped early continues under a later stop). Fields at their default are
        left out, so a later version that adds a flag still resumes the runs of an earlier one."""
        defaults = TrainSettings()
        ignored = ("output_dir", "runs_root", "restart", "export", "max_params", "max_activation_gib", "stop_epoch",
                   "stream", "in_memory_limit_gib")
        defining = {k: v for k, v in dataclasses.asdict(self).items()
                    if k not in ignored and v != getattr(defaults, k)}
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


@dataclass(frozen=True)
class ResolvedSettings:
    """Settings that passed `check_settings`, with what they resolve to; made once per run.

    recipe: `training_recipe(settings)`. augment: --augment, or for "auto" the recipe's policy for a
    run of --epochs epochs (`Recipe.augment_for`).
    """

    settings: TrainSettings
    recipe: Recipe
    augment: str


def dataset_arguments(s: TrainSettings) -> dict[str, Any]:
    """The keyword arguments of `load_dataset` that the data flags of `s` give (--classes,
    --expected-counts and --image-size parsed); UsageError for unparsable ones."""
    try:
        classes, expected_counts = parse_classes(s.classes), parse_expected_counts(s.expected_counts)
        image_size = parse_image_size(s.image_size)
    except DataError as e:
        raise UsageError(str(e)) from None
    return {"name": s.dataset, "source": s.source, "data_dir": s.data_dir, "val_split": s.val_split,
            "label_mode": s.label_mode, "seed": s.seed, "synthetic_train": s.synthetic_train,
            "synthetic_test": s.synthetic_test, "classes": classes, "expected_counts": expected_counts,
            "train_images": s.train_images, "image_size": image_size, "resize": s.resize or "squash",
            "skip_bad_images": s.skip_bad_images, "stream": s.stream, "memory_limit_gib": s.in_memory_limit_gib}


def dataset_selection(s: TrainSettings) -> Selection:
    """What the data flags of `s` select (image shape, class names), checked without reading data;
    UsageError saying what to change."""
    args = dataset_arguments(s)
    try:
        return select_dataset(args["name"], args["label_mode"], args["classes"], args["expected_counts"],
                              args["image_size"], args["data_dir"])
    except DataError as e:
        raise UsageError(str(e)) from None


def _check_recipe(r: Recipe) -> None:
    """UsageError naming the flag when a recipe number is out of its range."""
    if r.schedule not in SCHEDULES:
        raise UsageError(f"Unknown schedule {r.schedule!r}; allowed values: {', '.join(SCHEDULES)}.")
    check_ranges((("--lr", r.lr), ("--weight-decay", r.weight_decay), ("--warmup-epochs", r.warmup_epochs),
                  ("--label-smoothing", r.label_smoothing), ("--bn-momentum", r.bn_momentum),
                  ("--decay-rate", r.decay_rate), ("--decay-epochs", r.decay_epochs)))


def check_settings(s: TrainSettings) -> ResolvedSettings:
    """Every check of `s` that reads no file and touches no device: names, ranges and combinations of
    the flags; UsageError with what to change. (`inputs.read_inputs` checks the files they name.)
    Returns `s` resolved, for `plan.plan_run` and everything after it to read."""
    dataset_selection(s)
    _check_folder_flags(s)
    check_ranges((("--epochs", s.epochs), ("--batch-size", s.batch_size), ("--seed", s.seed),
                  ("--logical-cpus", s.logical_cpus), ("--progressive-stages", s.progressive_stages),
                  ("--steps-per-epoch", s.steps_per_epoch), ("--train-images", s.train_images),
                  ("--synthetic-train", s.synthetic_train), ("--synthetic-test", s.synthetic_test),
                  ("--dropout", s.dropout), ("--drop-connect", s.drop_connect), ("--ema", s.ema),
                  ("--max-params", s.max_params), ("--max-activation-gib", s.max_activation_gib)))
    if s.stop_epoch is not None and (problem := range_problem("--stop-epoch", s.stop_epoch, Bounds(1, s.epochs))):
        raise UsageError(problem)
    try:
        check_val_split(s.val_split)
    except DataError as e:
        raise UsageError(f"--{e}".replace("val_split", "val-split", 1)) from None
    if s.resolution is not None and (problem := resolution_problem(s.resolution)):
        raise UsageError(f"--resolution {problem} (inside the model).")
    if is_baseline(s) and any(v is not None for v in (s.alpha, s.beta, s.gamma, s.phi, s.base, s.scale, s.width,
                                                      s.depth, s.weights)):
        raise UsageError(f"--model {s.model} is a fixed baseline: scaling flags and --weights apply to "
                         "EfficientNet models only.")
    if s.strategy not in runtime.STRATEGIES:
        raise UsageError(f"Unknown strategy {s.strategy!r}; allowed values: {', '.join(runtime.STRATEGIES)}.")
    recipe = training_recipe(s)
    augment = recipe.augment_for(s.epochs) if s.augment == "auto" else s.augment
    try:
        policy_parts(augment, s.augment_magnitude)
        runtime.resolve_precision(s.precision, "cpu")
        runtime.resolve_jit(s.jit_compile, "cpu")
    except ValueError as e:
        raise UsageError(str(e)) from None
    return ResolvedSettings(s, recipe, augment)


def _check_folder_flags(s: TrainSettings) -> None:
    """UsageError for an image-file flag that does not apply to --dataset or is out of range."""
    if s.resize is not None and s.resize not in RESIZE_POLICIES:
        raise UsageError(f"--resize {s.resize!r}: choose one of {', '.join(RESIZE_POLICIES)}.")
    check_ranges((("--in-memory-limit-gib", s.in_memory_limit_gib),))
    folder_only = {"--skip-bad-images": s.skip_bad_images, "--stream": s.stream,
                   "--in-memory-limit-gib": s.in_memory_limit_gib is not None}
    given = [flag for flag, value in folder_only.items() if value]
    if given and not s.dataset.startswith(FOLDER_PREFIX):
        raise UsageError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to --dataset folder:PATH only.")
    if s.resize is not None and not s.dataset.startswith((FOLDER_PREFIX, TFDS_PREFIX)):
        raise UsageError(f"--resize applies to folder:PATH and tfds:NAME data sets; {s.dataset} has its own "
                         "image size.")


def is_baseline(s: TrainSettings) -> bool:
    """Whether --model names a fixed baseline (simple-cnn, resnet152) rather than an EfficientNet."""
    return isinstance(s.model, str) and s.model in BASELINES
