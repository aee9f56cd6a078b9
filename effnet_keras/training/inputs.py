"""The files a run's settings name, read once before planning: a model config (variant name, JSON
file or dict), the coefficients of --scale FILE, the --weights file or ImageNet weights."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from effnet_keras.bounds import POSITIVE, Bounds, range_problem
from effnet_keras.models.baselines import BASELINES
from effnet_keras.models.configs import load_config
from effnet_keras.models.scaling import load_coefficients
from effnet_keras.models.weights import fetch_imagenet_weights
from effnet_keras.training.errors import UsageError
from effnet_keras.training.settings import TrainSettings, is_baseline

MAX_SCALE_FACTOR = 100.0
"""Largest factor compound scaling may apply to depth, width or resolution (B7 is 3.1x, 2.0x, 2.7x)."""


@dataclass(frozen=True)
class Inputs:
    """What the settings name, read and checked.

    config: the EfficientNet config to build, or to scale when `coefficients` is set (None for a
        baseline). coefficients: alpha, beta, gamma and phi of compound scaling, or None.
    """

    config: dict | None = None
    coefficients: dict[str, float] | None = None


def read_inputs(s: TrainSettings) -> Inputs:
    """Read the config, --scale and --weights files of `s` (ImageNet weights are fetched into Keras'
    cache); UsageError naming the flag and what to change."""
    if is_baseline(s):
        return Inputs()
    coefficients = _scaling_coefficients(s)
    name = coefficients.pop("base") if coefficients else s.model
    try:
        config = load_config(name)
    except ValueError as e:
        label = name if isinstance(name, str) else "the model config"
        raise UsageError(f"{label}: {e} Models: a variant name, a config JSON file, {', '.join(BASELINES)}.") from None
    if s.weights == "imagenet":
        try:
            fetch_imagenet_weights(config, include_top=False)
        except ValueError as e:
            raise UsageError(str(e)) from None
    elif s.weights is not None and not os.path.isfile(s.weights):
        raise UsageError(f"--weights {s.weights}: no such file. Pass 'imagenet' or a weights file saved from the "
                         "same variant without its top (include_top=False).")
    return Inputs(config, coefficients)


def _scaling_coefficients(s: TrainSettings) -> dict[str, Any] | None:
    """alpha, beta, gamma from --scale FILE or the flags (not both), phi and base from the flags or the
    file; None without compound scaling."""
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
        if problem := range_problem(f"--{key}", values[key], Bounds() if key == "phi" else POSITIVE):
            raise UsageError(problem)
    for key, flag in (("alpha", "depth"), ("beta", "width"), ("gamma", "resolution")):
        factor = math.exp(min(700.0, abs(values["phi"] * math.log(values[key]))))
        if factor > MAX_SCALE_FACTOR:
            raise UsageError(f"--{key} {values[key]:g} with --phi {values['phi']:g} scales {flag} by "
                             f"{factor:.3g}x (at most {MAX_SCALE_FACTOR:g}x either way); choose smaller values.")
    values.setdefault("base", s.model)
    return values
