"""The plan of one run, made from the resolved settings (`settings.ResolvedSettings`), the files they
name (`inputs.Inputs`) and the kind of device, with no I/O: model, recipe, precision, XLA, strategy
name, augmentation and the progressive-learning stages."""

from __future__ import annotations

from dataclasses import dataclass

from effnet_keras.models.baselines import DEFAULT_RESOLUTION
from effnet_keras.models.configs import MIN_RESOLUTION
from effnet_keras.models.scaling import compound_scale, override
from effnet_keras.models.size import size_problem
from effnet_keras.training import runtime
from effnet_keras.training.errors import UsageError
from effnet_keras.training.inputs import Inputs, read_inputs
from effnet_keras.training.recipe import Recipe
from effnet_keras.training.settings import ResolvedSettings, TrainSettings, check_settings


@dataclass(frozen=True)
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
    """Everything `train` decides before it touches data, devices or the run directory.

    device: "cpu", "gpu" or "tpu", which precision and XLA were chosen for. strategy: the
    `runtime.make_strategy` name. stop_epoch: the last epoch this command trains (--stop-epoch, else
    --epochs); the stages and the learning-rate schedule span --epochs. notes: what the plan changed
    on its own, to tell the user.
    """

    settings: TrainSettings
    model: ModelPlan
    recipe: Recipe
    device: str
    precision: str
    jit: bool
    augment: str
    strategy: str
    stages: tuple[Stage, ...]
    stop_epoch: int
    notes: tuple[str, ...] = ()


def plan_model(resolved: ResolvedSettings, inputs: Inputs) -> ModelPlan:
    """The baseline of --model, or the config of `inputs` compound-scaled or with the --width, --depth
    and --resolution overrides and the recipe's BatchNorm momentum; UsageError when the config is
    estimated larger than --max-params or --max-activation-gib (`models.size`)."""
    s, bn_momentum = resolved.settings, resolved.recipe.bn_momentum
    if inputs.config is None:
        return ModelPlan(s.model, s.resolution or DEFAULT_RESOLUTION[s.model], baseline=s.model,
                         bn_momentum=bn_momentum)
    try:
        if inputs.coefficients:
            config = compound_scale(**inputs.coefficients, base=inputs.config, width=s.width, depth=s.depth,
                                    resolution=s.resolution)
        else:
            config = override(inputs.config, width=s.width, depth=s.depth, resolution=s.resolution)
        if bn_momentum is not None:
            config = override(config, bn_momentum=bn_momentum)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if problem := size_problem(config, s.max_params, s.max_activation_gib):
        raise UsageError(f"{config['name']} is too large to build: {problem}. Use a smaller width, depth, kernel or "
                         "resolution, or raise --max-params / --max-activation-gib if it does fit.")
    return ModelPlan(config["name"], config["train_resolution"], config=config)


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


def plan_run(resolved: ResolvedSettings, inputs: Inputs, device: str) -> RunPlan:
    """Plan the run of settings `check_settings` resolved on a `device` ("cpu", "gpu", "tpu");
    UsageError with what to change. TypeError for settings that were not resolved."""
    if not isinstance(resolved, ResolvedSettings):
        raise TypeError(f"plan_run takes the ResolvedSettings that check_settings returns, got "
                        f"{type(resolved).__name__}.")
    s, augment = resolved.settings, resolved.augment
    model = plan_model(resolved, inputs)
    jit = runtime.resolve_jit(s.jit_compile, device)
    notes = ()
    if jit and "randaugment" in augment:
        if s.jit_compile == "on":
            raise UsageError("--augment randaugment does not compile under XLA (Keras' RandAugment); use "
                             "--jit-compile off or another policy.")
        jit, notes = False, ("XLA off: Keras' RandAugment does not compile under XLA.",)
    return RunPlan(s, model, resolved.recipe, device, runtime.resolve_precision(s.precision, device), jit,
                   augment, s.strategy, tuple(plan_stages(s, model)), s.stop_epoch or s.epochs, notes)


def check_run(s: TrainSettings) -> ModelPlan:
    """Every check `train` makes before it touches data or devices (the plan's errors do not depend on
    the device); the model it would build. UsageError with what to change."""
    resolved = check_settings(s)
    return plan_run(resolved, read_inputs(s), "cpu").model
