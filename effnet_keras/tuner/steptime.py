"""The step-time cost of a candidate: its measured training step time on this device over the base's.

FLOPs are not speed (the EfficientNetV2 argument: depthwise convolutions are slow on
accelerators), so `--constraint step-time` prices a candidate by timing it. Each candidate is
timed once, interleaved with the base (base, candidate, base, candidate, ...) so that drift of the
machine cancels in each pair's ratio, and the median ratio is cached in the project.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from effnet_keras.models.builder import build_model
from effnet_keras.training.rundir import write_atomically
from effnet_keras.tuner.project import ProjectDir
from effnet_keras.tuner.space import PointKey, point_key

Clock = Callable[[], float]
STEPS_PER_TIMING = 3
"""Training steps in each timed call."""


def median_ratio(candidate: Callable[[], None], base: Callable[[], None], repeats: int = 5, warmup: int = 1,
                 clock: Clock = time.perf_counter) -> float:
    """Median over `repeats` back-to-back pairs of (candidate seconds / base seconds), after `warmup`
    untimed calls of each (tracing)."""
    for _ in range(warmup):
        base()
        candidate()
    ratios = []
    for _ in range(repeats):
        start = clock()
        base()
        middle = clock()
        candidate()
        end = clock()
        ratios.append((end - middle) / max(middle - start, 1e-12))
    return float(statistics.median(ratios))


def training_steps(config: dict, num_classes: int, batch_size: int, jit: bool) -> Callable[[], None]:
    """A function that runs STEPS_PER_TIMING training steps of the model `config` builds on one fixed
    batch of `batch_size` random images at the config's resolution."""
    model = build_model(config, num_classes=num_classes)
    model.compile(optimizer="adamw", loss="sparse_categorical_crossentropy", jit_compile=jit)
    size = config["train_resolution"]
    images = np.random.default_rng(0).uniform(0, 255, (batch_size, size, size, 3)).astype("float32")
    labels = np.zeros(batch_size, "int32")

    def steps() -> None:
        for _ in range(STEPS_PER_TIMING):
            model.train_on_batch(images, labels)

    return steps


class StepTimeCache:
    """Step-time ratios of points by `point_key`, stored in `path` (JSON: "[alpha, beta, gamma]" -> ratio)
    and measured by `measure(point)` only when missing, so a resumed or repeated search times nothing twice."""

    def __init__(self, path: str | Path, measure: Callable[[tuple], float]):
        self.path, self.measure = Path(path), measure
        try:
            stored = json.loads(self.path.read_text())
        except (OSError, ValueError):
            stored = {}
        self.ratios: dict[PointKey, float] = {point_key(json.loads(text)): ratio for text, ratio in stored.items()}

    def __call__(self, point: tuple) -> float:
        key = point_key(point)
        if key not in self.ratios:
            self.ratios[key] = self.measure(point)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            stored = {json.dumps(list(k)): ratio for k, ratio in self.ratios.items()}
            write_atomically(self.path, json.dumps(stored, indent=1).encode())
        return self.ratios[key]


def step_time_ratio(config: dict, base: dict, num_classes: int, batch_size: int, jit: bool, repeats: int = 5,
                    clock: Clock = time.perf_counter) -> float:
    """Training step time of the model `config` builds over `base`'s: `median_ratio` of fresh models
    on one random batch of `batch_size` images each (the Keras session is cleared first)."""
    keras.backend.clear_session()
    base_steps = training_steps(base, num_classes, batch_size, jit)
    return median_ratio(training_steps(config, num_classes, batch_size, jit), base_steps, repeats=repeats, clock=clock)


def step_time_cache(project_dir: str | Path, base: dict, config_of: Callable[[tuple], dict], num_classes: int,
                    batch_size: int, jit: bool, clock: Clock = time.perf_counter) -> StepTimeCache:
    """The project's step_times.json, timing a missing point's `config_of(point)` against `base`."""
    def measure(point: tuple) -> float:
        ratio = step_time_ratio(config_of(point), base, num_classes, batch_size, jit, clock=clock)
        print(f"step time of ({', '.join(f'{v:g}' for v in point)}): {ratio:.3f} x the base's", flush=True)
        return ratio

    return StepTimeCache(ProjectDir(project_dir).step_times_file, measure)
