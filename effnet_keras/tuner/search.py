"""Step 1 of compound scaling as a KerasTuner search: each trial trains the phi=1 model of one
feasible (alpha, beta, gamma) with the project's one training recipe."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import keras_tuner

from effnet_keras.models.builder import architecture, build_model, stage_repeats
from effnet_keras.models.configs import load_config
from effnet_keras.models.flops import count_macs
from effnet_keras.models.scaling import compound_scale, cost_ratio, override
from effnet_keras.training import runtime
from effnet_keras.training.settings import TrainSettings
from effnet_keras.tuner.bayes import Box, SurfaceOracle
from effnet_keras.tuner.halving import HalvingOracle
from effnet_keras.tuner.measured import MeasuredSurface, Ratio
from effnet_keras.tuner.oracle import PointsOracle
from effnet_keras.tuner.space import PointKey, SearchSpace, point_dict, point_key
from effnet_keras.tuner.steptime import step_time_cache
from effnet_keras.tuner.trials import TrainingTuner

OBJECTIVES = {"accuracy": "val_accuracy", "score": "score"}


def base_config(base: str, resolution: int | None) -> dict:
    """The base variant/config at the base resolution (pixels), before any scaling."""
    config = load_config(base)
    return override(config, resolution=resolution) if resolution else config


def model_macs(config: dict, num_classes: int) -> int:
    """Counted MACs of the model a config builds (at its resolution)."""
    return count_macs(build_model(config, num_classes=num_classes))


def mac_ratios(base: dict, num_classes: int, base_macs: int) -> Ratio:
    """(alpha, beta, gamma) -> counted MACs of base * (alpha, beta, gamma)^1 over `base_macs`, the
    base's; each distinct architecture is built once."""
    counted: dict[tuple, float] = {}

    def ratio(alpha: float, beta: float, gamma: float) -> float:
        config = compound_scale(alpha, beta, gamma, phi=1, base=base)
        key = architecture(config)
        if key not in counted:
            counted[key] = model_macs(config, num_classes) / base_macs
        return counted[key]

    return ratio


class ScalingTuner(TrainingTuner):
    """A trial trains base * (alpha, beta, gamma)^1. Besides the common metrics it reports
    formula_ratio, measured_ratio (MACs over the base's), step_time_ratio (when the search timed
    it) and the MnasNet-style score val_accuracy * (measured_ratio / target)^score_weight."""

    def __init__(self, oracle: keras_tuner.Oracle, settings: TrainSettings, base: dict, base_macs: int,
                 target: float, score_weight: float = -0.07, step_times: Mapping[PointKey, float] | None = None,
                 **kwargs):
        super().__init__(oracle, settings, **kwargs)
        self.base, self.base_macs, self.target, self.score_weight = base, base_macs, target, score_weight
        self.step_times = step_times or {}

    def settings_for(self, values: dict, trial_dir: Path) -> TrainSettings:
        return dataclasses.replace(self.settings, model=self.base, base=self.base, alpha=values["alpha"],
                                   beta=values["beta"], gamma=values["gamma"], phi=1.0)

    def extra_metrics(self, values: dict, runs: list[dict], trial_dir: Path) -> dict[str, float]:
        measured = runs[0]["macs"] / self.base_macs
        val = sum(r["best_val_accuracy"] for r in runs) / len(runs)
        step_time = self.step_times.get(point_key(values))
        return {"formula_ratio": cost_ratio(values["alpha"], values["beta"], values["gamma"]),
                "measured_ratio": measured, "score": val * (measured / self.target) ** self.score_weight,
                **({"step_time_ratio": step_time} if step_time is not None else {})}


@dataclass(frozen=True)
class Algorithm:
    """How the search picks its trials: "grid" (every feasible point), "halving" (successive halving
    over them from `min_epochs`, keeping 1/`eta` per rung) or "bayes" (`max_trials` proposals on the
    constraint surface inside `box`: a formula `Surface`, or with the measured constraint a plain `Box`)."""

    name: str = "grid"
    min_epochs: int = 1
    eta: int = 3
    box: Box | None = None


def make_search(space: SearchSpace, settings: TrainSettings, base: str, *, directory: str, project_name: str,
                objective: str = "accuracy", max_trials: int | None = None, executions: int = 1,
                score_weight: float = -0.07, num_classes: int = 10, algorithm: Algorithm = Algorithm(),
                clock: Callable[[], float] = time.perf_counter) -> ScalingTuner:
    """Build the oracle of `algorithm` and the tuner, reloading an existing project directory
    (resume) when there is one. Grid and halving run over the feasible points of `space` (measured
    ratios counted once, step times cached in the project; the first `max_trials` of them).

    Args:
        space: the candidate (alpha, beta, gamma) points and their cost constraint (`grid_space`,
            `candidate_space` in `effnet_keras.tuner.space`).
        settings: the training settings every trial starts from (its model is replaced by the point's).
        base: the base variant name or config JSON file, scaled by phi = 1 per point.
        directory: the folder holding projects.
        project_name: the project's folder inside `directory`.
        objective: "accuracy" (best val_accuracy) or "score" (MnasNet's accuracy-cost product).
        max_trials: grid and halving: the first N feasible points; bayes: proposals (default 10).
        executions: training runs per point (repeats, seeds `settings.seed` + k).
        score_weight: exponent w of the "score" objective.
        num_classes: classifier outputs, for counting MACs.
        algorithm: "grid", "halving" or "bayes" and their parameters.
        clock: the timer of the step-time constraint (seconds).

    Returns:
        A KerasTuner tuner; `tuner.search()` trains the trials, then `write_report(directory/project_name)`
        writes `results.md`, `results.csv`, `search.png` and `best.json`.

    Raises:
        SpaceError: no feasible point, or a project directory made by another search space.

    Example:
        >>> from effnet_keras.training.settings import TrainSettings
        >>> from effnet_keras.tuner.search import make_search
        >>> from effnet_keras.tuner.space import candidate_space
        >>> settings = TrainSettings(dataset="synthetic", epochs=1, steps_per_epoch=2, batch_size=32)
        >>> tuner = make_search(candidate_space("1.2,1.1,1.15"), settings, "examples/b0-mini.json",
        ...                     directory="runs/tuning", project_name="api-demo")
        >>> tuner.search()
    """
    base_cfg = base_config(base, settings.resolution)
    base_macs = model_macs(base_cfg, num_classes)
    signature = {"kind": "search", **space.signature()}
    step_times = None
    ratio = mac_ratios(base_cfg, num_classes, base_macs)
    if algorithm.name == "bayes":
        surface = algorithm.box
        if space.constraint == "measured":
            surface = MeasuredSurface(surface, space.tolerance, ratio, base_resolution=base_cfg["resolution"],
                                      depth=lambda alpha: stage_repeats(compound_scale(alpha, 1, 1, 1, base_cfg)))
        oracle = SurfaceOracle(surface, signature, max_trials or 10, OBJECTIVES[objective], seed=settings.seed)
    else:
        if space.constraint == "step-time":
            def config_of(point):
                return compound_scale(*point, phi=1, base=base_cfg)

            jit = runtime.resolve_jit(settings.jit_compile, runtime.accelerator())
            measure = step_times = step_time_cache(Path(directory, project_name), base_cfg, config_of, num_classes,
                                                   settings.batch_size, jit, clock)
        else:
            def measure(point):
                return ratio(*point)
        points = [point_dict(p) for p in space.feasible(measure)][:max_trials]
        if algorithm.name == "halving":
            oracle = HalvingOracle(points, signature, algorithm.min_epochs, settings.epochs, algorithm.eta,
                                   OBJECTIVES[objective], seed=settings.seed)
        else:
            oracle = PointsOracle(points, signature, objective=OBJECTIVES[objective], seed=settings.seed)
    settings = dataclasses.replace(settings, resolution=None)  # the base config already carries it
    return ScalingTuner(oracle, settings, base_cfg, base_macs, space.target, score_weight=score_weight,
                        step_times=step_times.ratios if step_times else None, executions=executions,
                        directory=directory, project_name=project_name)
