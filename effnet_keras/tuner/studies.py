"""The seed's empirical study (one dimension at a time, and compound) and model comparisons, each
a KerasTuner project of trials that train with the project's one recipe (resumable, distributable)."""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import keras
import numpy as np

from effnet_keras.bounds import POSITIVE, range_problem
from effnet_keras.models.scaling import compound_scale, cost_ratio, override, round_resolution
from effnet_keras.training.rundir import RunDir
from effnet_keras.training.settings import TrainSettings
from effnet_keras.tuner.oracle import PointsOracle
from effnet_keras.tuner.search import base_config
from effnet_keras.tuner.space import SpaceError
from effnet_keras.tuner.trials import TrainingTuner

DIMENSIONS = ("width", "depth", "resolution", "compound")


def study_points(dimensions: list[str], multipliers: list[float]) -> list[dict]:
    """The base model once, then every (dimension, multiplier > 1 or < 1) pair, in order."""
    unknown = sorted(set(dimensions) - set(DIMENSIONS))
    if unknown or not dimensions:
        raise SpaceError(f"--dimension {','.join(unknown) or '(none)'}: allowed values: {', '.join(DIMENSIONS)}, all.")
    if not multipliers:
        raise SpaceError("--multipliers is empty; give positive numbers, e.g. 1.0,1.2,1.4,1.6,1.8,2.0.")
    if problem := next(filter(None, (range_problem("--multipliers", m, POSITIVE) for m in multipliers)), None):
        raise SpaceError(problem)
    points = [{"dimension": "base", "multiplier": 1.0}]
    points += [{"dimension": d, "multiplier": float(m)} for d in dimensions for m in multipliers if m != 1.0]
    return points


def compound_phi(multiplier: float, alpha: float, beta: float, gamma: float) -> float:
    """phi whose formula cost (alpha*beta^2*gamma^2)^phi equals multiplier^2, the cost of scaling
    width or resolution alone by `multiplier`, so compound points line up with theirs in MACs."""
    return 2 * math.log(multiplier) / math.log(cost_ratio(alpha, beta, gamma))


def study_config(base: dict, dimension: str, multiplier: float, coefficients: tuple[float, float, float]) -> dict:
    """The base config scaled along one dimension (or compound) by `multiplier`."""
    if dimension == "base":
        return base
    if dimension == "width":
        return override(base, width=base["width"] * multiplier)
    if dimension == "depth":
        return override(base, depth=base["depth"] * multiplier)
    if dimension == "resolution":
        return override(base, resolution=round_resolution(base["resolution"] * multiplier))
    return compound_scale(*coefficients, phi=compound_phi(multiplier, *coefficients), base=base)


class StudyTuner(TrainingTuner):
    """A trial trains the base scaled along one dimension; the model config is kept in the trial."""

    def __init__(self, oracle: PointsOracle, settings: TrainSettings, base: dict, coefficients: tuple, **kwargs):
        super().__init__(oracle, settings, **kwargs)
        self.base, self.coefficients = base, coefficients

    def settings_for(self, values: dict, trial_dir: Path) -> TrainSettings:
        config = study_config(self.base, values["dimension"], values["multiplier"], self.coefficients)
        return dataclasses.replace(self.settings, model=config, resolution=None)


def make_study(settings: TrainSettings, base: str, dimensions: list[str], multipliers: list[float],
               coefficients: tuple[float, float, float], *, directory: str, project_name: str,
               executions: int = 1) -> StudyTuner:
    """A tuner that trains the base once, then the base scaled along each dimension by each multiplier.

    Args:
        settings: the training settings every trial starts from.
        base: the base variant name or config JSON file.
        dimensions: some of "width", "depth", "resolution", "compound".
        multipliers: scale factors (> 0); a compound point with multiplier m has the formula cost of
            width or resolution alone times m.
        coefficients: (alpha, beta, gamma) of the compound points.
        directory: the folder holding projects.
        project_name: the project's folder inside `directory`.
        executions: training runs per point (repeats).

    Returns:
        A KerasTuner tuner; `tuner.search()` trains the trials (resuming an existing project), then
        `write_report` writes `report.md`, `report.csv` and `study.png`.

    Raises:
        SpaceError: an unknown dimension or a non-positive multiplier.

    Example:
        >>> from effnet_keras.training.settings import TrainSettings
        >>> from effnet_keras.tuner.studies import make_study
        >>> settings = TrainSettings(dataset="synthetic", epochs=1, steps_per_epoch=2, batch_size=32)
        >>> tuner = make_study(settings, "examples/b0-mini.json", ["width"], [1.0, 1.5], (1.2, 1.1, 1.15),
        ...                    directory="runs/tuning", project_name="api-study")
        >>> tuner.search()
    """
    points = study_points(dimensions, multipliers)
    base_cfg = base_config(base, settings.resolution)
    signature = {"kind": "study", "base": base_cfg["name"], "resolution": base_cfg["resolution"],
                 "points": points, "coefficients": list(coefficients)}
    oracle = PointsOracle(points, signature, seed=settings.seed)
    return StudyTuner(oracle, settings, base_cfg, coefficients, executions=executions, directory=directory,
                      project_name=project_name)


def inference_ms_per_image(model: keras.Model, batch: int, repeats: int = 3) -> float:
    """Median wall time of one forward pass of a random uint8 batch, per image, in milliseconds."""
    images = np.random.default_rng(0).integers(0, 256, (batch, *model.input_shape[1:]), dtype=np.uint8)
    model.predict_on_batch(images)  # trace and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_on_batch(images)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times)) / batch


class CompareTuner(TrainingTuner):
    """A trial trains one model of the comparison; it also times inference of the best model."""

    def __init__(self, oracle: PointsOracle, settings: TrainSettings, latency_batches: list[int], **kwargs):
        super().__init__(oracle, settings, **kwargs)
        self.latency_batches = latency_batches

    def settings_for(self, values: dict, trial_dir: Path) -> TrainSettings:
        return dataclasses.replace(self.settings, model=values["model"])

    def extra_metrics(self, values: dict, runs: list[dict], trial_dir: Path) -> dict[str, float]:
        model = keras.models.load_model(RunDir(runs[0]["run_dir"]).model_file)
        return {f"latency_ms_b{b}": inference_ms_per_image(model, b) for b in self.latency_batches}


def make_compare(settings: TrainSettings, models: list[str], latency_batches: list[int], *, directory: str,
                 project_name: str, executions: int = 1) -> CompareTuner:
    """A tuner that trains several models alike and measures their inference latency.

    Args:
        settings: the training settings of every model (its `model` is replaced by each of `models`).
        models: distinct variant names, config JSON files, "resnet152" or "simple-cnn".
        latency_batches: batch sizes of the inference-latency measurement (ms per image).
        directory: the folder holding projects.
        project_name: the project's folder inside `directory`.
        executions: training runs per model (repeats).

    Returns:
        A KerasTuner tuner; `tuner.search()` trains the models (resuming an existing project), then
        `write_report` writes `report.md`, `report.csv` and its plots.

    Raises:
        SpaceError: an empty or repeated model list.

    Example:
        >>> from effnet_keras.training.settings import TrainSettings
        >>> from effnet_keras.tuner.studies import make_compare
        >>> settings = TrainSettings(dataset="synthetic", epochs=1, steps_per_epoch=2, batch_size=32)
        >>> tuner = make_compare(settings, ["examples/b0-mini.json", "simple-cnn"], [1],
        ...                      directory="runs/tuning", project_name="api-compare")
        >>> tuner.search()
    """
    if not models or len(set(models)) != len(models):
        raise SpaceError("--models needs distinct model names, e.g. b0,b3,v2-b0,v2-s,resnet152,simple-cnn.")
    points = [{"model": m} for m in models]
    signature = {"kind": "compare", "models": models, "resolution": settings.resolution}
    oracle = PointsOracle(points, signature, seed=settings.seed)
    return CompareTuner(oracle, settings, latency_batches, executions=executions, directory=directory,
                        project_name=project_name)
