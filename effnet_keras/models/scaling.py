"""Rounding rules and compound scaling of configs.

Compound scaling (EfficientNet, section 3.3): with depth = alpha^phi, width = beta^phi and
resolution = gamma^phi, the cost d * w^2 * r^2 grows by (alpha * beta^2 * gamma^2)^phi, so
alpha * beta^2 * gamma^2 ~= 2 makes each unit of phi double the MACs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from effnet_keras.bounds import POSITIVE, Bounds, range_problem
from effnet_keras.models.configs import MIN_RESOLUTION, load_config, validate_config


def round_filters(filters: float, width: float, divisor: int = 8, family: str = "v1") -> int:
    """Scale a channel count by `width` and round it to a multiple of `divisor`.

    V1 adds one more `divisor` when rounding down lost over 10% of the channels; V2 does not.
    """
    scaled = filters * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if family == "v1" and new < 0.9 * scaled:
        new += divisor
    return int(new)


def scaled_filters(config: Mapping[str, Any], filters: float) -> int:
    """A channel count of the base architecture scaled by the config's width and rounded."""
    return round_filters(filters, config["width"], config["depth_divisor"], config["family"])


def round_repeats(repeats: int, depth: float) -> int:
    """Scale a stage's block count by `depth`, rounding up."""
    return int(math.ceil(depth * repeats))


def round_resolution(resolution: float) -> int:
    """Round a resolution in pixels to the nearest integer, halves up (not banker's rounding)."""
    return int(math.floor(resolution + 0.5))


def cost_ratio(alpha: float, beta: float, gamma: float) -> float:
    """The formula cost multiple alpha * beta^2 * gamma^2 of one phi step."""
    return alpha * beta**2 * gamma**2


def override(
    config: str | Mapping[str, Any],
    *,
    width: float | None = None,
    depth: float | None = None,
    resolution: int | None = None,
    **fields: Any,
) -> dict:
    """Return a copy of `config` with absolute coefficient overrides.

    `width`/`depth` replace the coefficients (``width=0.5`` on b3 gives 0.5, not 0.6);
    `resolution` (pixels) sets both the train and the eval resolution. Any other top-level
    config key (``dropout=0.1``) may be overridden too.

    Args:
        config: a variant name, a config JSON file or a config dict (not modified).
        width: absolute width coefficient.
        depth: absolute depth coefficient.
        resolution: train and eval resolution in pixels.
        **fields: other top-level config keys and their new values.

    Returns:
        The validated config dict.

    Raises:
        ValueError: an unknown key (listing the allowed ones) or a value the config does not allow.

    Example:
        >>> import effnet_keras as ek
        >>> ek.override("b3", width=0.5, resolution=64)["width"]
        0.5
    """
    cfg = load_config(config)
    if width is not None:
        cfg["width"] = width
    if depth is not None:
        cfg["depth"] = depth
    if resolution is not None:
        cfg["resolution"] = cfg["train_resolution"] = resolution
    for key, value in fields.items():
        if key not in cfg:
            raise ValueError(f"Unknown config key {key!r}; allowed keys: {', '.join(sorted(cfg))}.")
        cfg[key] = value
    return validate_config(cfg)


def compound_scale(
    alpha: float,
    beta: float,
    gamma: float,
    phi: float,
    base: str | Mapping[str, Any] = "b0",
    *,
    width: float | None = None,
    depth: float | None = None,
    resolution: int | None = None,
) -> dict:
    """Scale `base` by phi steps of (alpha, beta, gamma).

    depth = base_depth * alpha^phi, width = base_width * beta^phi, and each resolution =
    round_resolution(base_resolution * gamma^phi) (nearest pixel, halves up). The coefficients
    are recorded in the returned dict (`alpha`, `beta`, `gamma`, `phi`, `base`). Explicit
    `width`, `depth` or `resolution` then override the scaled value, for one-dimension studies.

    Args:
        alpha: depth multiplier per phi step (> 0).
        beta: width multiplier per phi step (> 0).
        gamma: resolution multiplier per phi step (> 0).
        phi: number of steps (>= 0); each costs about alpha * beta^2 * gamma^2 times the MACs.
        base: a variant name, a config JSON file or a config dict.
        width: absolute width coefficient, replacing the scaled one.
        depth: absolute depth coefficient, replacing the scaled one.
        resolution: pixels, replacing the scaled train and eval resolution.

    Returns:
        The scaled, validated config dict, named `<base>-a<alpha>-b<beta>-g<gamma>-phi<phi>`.

    Raises:
        ValueError: a coefficient that is not a positive number, a negative phi, or a bad base.

    Example:
        >>> import effnet_keras as ek
        >>> cfg = ek.compound_scale(alpha=1.2, beta=1.1, gamma=1.15, phi=1, base="b0")
        >>> cfg["resolution"], round(cfg["width"], 2)
        (258, 1.1)
    """
    for key, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma), ("phi", phi)):
        if problem := range_problem(key, value, Bounds(0) if key == "phi" else POSITIVE):
            raise ValueError(f"Invalid coefficient: {problem}")
    cfg = load_config(base)
    base_name = cfg["name"]
    cfg["depth"] = cfg["depth"] * alpha**phi
    cfg["width"] = cfg["width"] * beta**phi
    for key in ("resolution", "train_resolution"):
        cfg[key] = max(MIN_RESOLUTION, round_resolution(cfg[key] * gamma**phi))
    cfg.update(alpha=alpha, beta=beta, gamma=gamma, phi=phi, base=base_name)
    cfg["name"] = f"{base_name}-a{alpha:g}-b{beta:g}-g{gamma:g}-phi{phi:g}"
    return override(cfg, width=width, depth=depth, resolution=resolution)


COEFFICIENTS = ("alpha", "beta", "gamma")


def load_coefficients(path: str | Path) -> dict[str, Any]:
    """alpha, beta, gamma (finite numbers > 0) and, when present, phi and base (a config) from a JSON
    file such as the best.json a search's report writes; ValueError saying what is wrong."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read the coefficients JSON ({e}).") from None
    if not isinstance(data, dict) or not set(COEFFICIENTS) <= data.keys():
        got = type(data).__name__ if not isinstance(data, dict) else f"keys {', '.join(sorted(data)) or 'none'}"
        raise ValueError(f"{path}: not a best.json: expected a JSON object with alpha, beta, gamma (as "
                         f"`python -m tuner report` writes), got {got}.")
    for key in COEFFICIENTS:
        if problem := range_problem(key, data[key], POSITIVE):
            raise ValueError(f"{path}: {problem}")
    return {k: data[k] for k in (*COEFFICIENTS, "phi", "base") if k in data}
