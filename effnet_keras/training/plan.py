"""The plan of one run, resolved before any data is read: model, recipe, device, precision, XLA,
strategy, augmentation and the progressive-learning stages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import tensorflow as tf

from effnet_keras.models.configs import MIN_RESOLUTION
from effnet_keras.training import runtime
from effnet_keras.training.errors import UsageError
from effnet_keras.training.recipe import Recipe
from effnet_keras.training.settings import ModelPlan, TrainSettings, augment_policy, training_recipe, validate


@dataclass(frozen=True)
class Stage:
    """Epochs [start, end) trained at `resolution` px with augmentation `magnitude` and `dropout`."""

    start: int
    end: int
    resolution: int
    magnitude: float
    dropout: float | None


@dataclass(frozen=True)
class RunPlan:
    """Everything `train` decides from the settings and the machine before it reads data or opens the
    run directory (`validate` only checks that named files exist, and may fetch ImageNet weights)."""

    settings: TrainSettings
    model: ModelPlan
    recipe: Recipe
    device: str
    precision: str
    jit: bool
    augment: str
    strategy: tf.distribute.Strategy
    stages: tuple[Stage, ...]

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync


def plan_stages(s: TrainSettings, plan: ModelPlan) -> list[Stage]:
    """One stage, or EfficientNetV2 progressive learning: image size (from half the resolution,
    even pixels, at least MIN_RESOLUTION), augmentation magnitude (from 0) and dropout (from 0.1)
    grow linearly to their final values over `progressive_stages` equal stages."""
    if not s.progressive:
        return [Stage(0, s.epochs, plan.resolution, s.augment_magnitude, None)]
    count = max(1, min(s.progressive_stages, s.epochs))
    final_dropout = s.dropout if s.dropout is not None else (plan.config or {}).get("dropout", 0.2)
    stages = []
    for i in range(count):
        frac = i / (count - 1) if count > 1 else 1.0
        size = plan.resolution if frac == 1 else max(MIN_RESOLUTION,
                                                      2 * round((0.5 + 0.5 * frac) * plan.resolution / 2))
        stages.append(Stage(round(i * s.epochs / count), round((i + 1) * s.epochs / count), size,
                            frac * s.augment_magnitude, min(0.1, final_dropout) * (1 - frac) + final_dropout * frac))
    return stages


def plan_run(s: TrainSettings, log: Callable[[str], None] = print) -> RunPlan:
    """Validate `s` and resolve it on this machine; UsageError with what to change."""
    runtime.split_host_cpu(s.logical_cpus)  # before anything initialises TensorFlow's devices
    model = validate(s)
    device = runtime.accelerator()
    jit = runtime.resolve_jit(s.jit_compile, device)
    augment = augment_policy(s)
    if jit and "randaugment" in augment:
        if s.jit_compile == "on":
            raise UsageError("--augment randaugment does not compile under XLA (Keras' RandAugment); use "
                             "--jit-compile off or another policy.")
        jit = False
        log("XLA off: Keras' RandAugment does not compile under XLA.")
    strategy = runtime.make_strategy(s.strategy)
    replicas = strategy.num_replicas_in_sync
    if s.batch_size % replicas:
        raise UsageError(f"--batch-size {s.batch_size} is not divisible by the {replicas} replicas; use a multiple "
                         f"of {replicas} (the global batch is split evenly).")
    return RunPlan(s, model, training_recipe(s), device, runtime.resolve_precision(s.precision, device), jit,
                   augment, strategy, tuple(plan_stages(s, model)))
