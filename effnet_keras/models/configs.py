"""EfficientNet and EfficientNetV2 variants as plain, JSON-serialisable dicts.

This module is the single source of truth for variant numbers. A config holds the scaling
coefficients, resolutions (pixels), regularisation rates, BatchNorm settings, stem/head widths
(channels, before width scaling) and the list of block stages, all before rounding; the builder
applies the rounding rules.

Values follow the papers' reference code (tensorflow/tpu for V1, google/automl for V2).
Where keras.applications deviates, the config keeps the reference value and the builder still
produces weight-compatible models (dropout and drop-connect rates carry no weights):
- Keras passes dropout 0.2 to every EfficientNetV2 variant; the reference uses 0.2/0.2/0.3/0.3
  for B0-B3 and 0.2/0.3/0.4 for S/M/L (kept here).
- Keras V2 spreads the drop-connect schedule over the *unrounded* repeat count; we use the
  rounded count, as the reference does (see `builder.drop_connect_rates`).
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
from collections.abc import Mapping
from typing import Any

from effnet_keras.bounds import Bounds, range_problem

BLOCK_TYPES = ("mbconv", "fused")
FAMILIES = ("v1", "v2")
PREPROCESSING = ("normalization", "imagenet", "minus_one_to_one")
MIN_RESOLUTION = 32
MAX_RESOLUTION = 100_000
"""Largest image side; larger ones overflow the size estimate before it can refuse them."""
MAX_COEFFICIENT = 10_000
"""Largest width or depth coefficient (B7: 2.0 and 3.1); larger ones overflow before the size check."""
ACTIVATIONS = ("swish", "silu", "relu", "relu6", "gelu", "elu", "selu", "hard_swish", "hard_silu", "mish", "leaky_relu",
               "tanh", "sigmoid")
"""Keras activation names a config may use (EfficientNet: swish)."""


def resolution_problem(value: Any) -> str | None:
    """Why `value` is no usable image size (an integer from MIN_RESOLUTION to MAX_RESOLUTION pixels);
    None when it is."""
    if isinstance(value, int) and not isinstance(value, bool) and MIN_RESOLUTION <= value <= MAX_RESOLUTION:
        return None
    return (f"{value!r} is not an integer from {MIN_RESOLUTION} to {MAX_RESOLUTION:,} pixels; up-sample smaller "
            "images")

REQUIRED_KEYS = (
    "name",
    "family",
    "width",
    "depth",
    "resolution",
    "train_resolution",
    "dropout",
    "drop_connect_rate",
    "bn_momentum",
    "bn_epsilon",
    "depth_divisor",
    "stem_filters",
    "head_filters",
    "activation",
    "preprocessing",
    "blocks",
)
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
"""Config names: safe as a folder name (no separators, no leading dot) and as a Keras model name."""
SCALING_KEYS = ("alpha", "beta", "gamma", "phi", "base")
"""Keys `compound_scale` records in a scaled config (the coefficients and the base's name)."""
OPTIONAL_KEYS = {"stem_strides": 2}
"""Keys a config may omit, with the value they take: `stem_strides` 1 keeps the stem at full
resolution (output stride 16 instead of 32), for small inputs trained from scratch."""
BLOCK_KEYS = ("type", "kernel", "repeats", "filters_in", "filters_out", "expand_ratio", "strides", "se_ratio")

# (type, kernel, repeats, filters_in, filters_out, expand_ratio, strides, se_ratio)
_V1_STAGES = (
    ("mbconv", 3, 1, 32, 16, 1, 1, 0.25),
    ("mbconv", 3, 2, 16, 24, 6, 2, 0.25),
    ("mbconv", 5, 2, 24, 40, 6, 2, 0.25),
    ("mbconv", 3, 3, 40, 80, 6, 2, 0.25),
    ("mbconv", 5, 3, 80, 112, 6, 1, 0.25),
    ("mbconv", 5, 4, 112, 192, 6, 2, 0.25),
    ("mbconv", 3, 1, 192, 320, 6, 1, 0.25),
)
_V2_BASE_STAGES = (
    ("fused", 3, 1, 32, 16, 1, 1, 0.0),
    ("fused", 3, 2, 16, 32, 4, 2, 0.0),
    ("fused", 3, 2, 32, 48, 4, 2, 0.0),
    ("mbconv", 3, 3, 48, 96, 4, 2, 0.25),
    ("mbconv", 3, 5, 96, 112, 6, 1, 0.25),
    ("mbconv", 3, 8, 112, 192, 6, 2, 0.25),
)
_V2_S_STAGES = (
    ("fused", 3, 2, 24, 24, 1, 1, 0.0),
    ("fused", 3, 4, 24, 48, 4, 2, 0.0),
    ("fused", 3, 4, 48, 64, 4, 2, 0.0),
    ("mbconv", 3, 6, 64, 128, 4, 2, 0.25),
    ("mbconv", 3, 9, 128, 160, 6, 1, 0.25),
    ("mbconv", 3, 15, 160, 256, 6, 2, 0.25),
)
_V2_M_STAGES = (
    ("fused", 3, 3, 24, 24, 1, 1, 0.0),
    ("fused", 3, 5, 24, 48, 4, 2, 0.0),
    ("fused", 3, 5, 48, 80, 4, 2, 0.0),
    ("mbconv", 3, 7, 80, 160, 4, 2, 0.25),
    ("mbconv", 3, 14, 160, 176, 6, 1, 0.25),
    ("mbconv", 3, 18, 176, 304, 6, 2, 0.25),
    ("mbconv", 3, 5, 304, 512, 6, 1, 0.25),
)
_V2_L_STAGES = (
    ("fused", 3, 4, 32, 32, 1, 1, 0.0),
    ("fused", 3, 7, 32, 64, 4, 2, 0.0),
    ("fused", 3, 7, 64, 96, 4, 2, 0.0),
    ("mbconv", 3, 10, 96, 192, 4, 2, 0.25),
    ("mbconv", 3, 19, 192, 224, 6, 1, 0.25),
    ("mbconv", 3, 25, 224, 384, 6, 2, 0.25),
    ("mbconv", 3, 7, 384, 640, 6, 1, 0.25),
)

# name: (family, stages, width, depth, train_res, eval_res, dropout, stem, preprocessing)
_VARIANTS = {
    "b0": ("v1", _V1_STAGES, 1.0, 1.0, 224, 224, 0.2, 32, "normalization"),
    "b1": ("v1", _V1_STAGES, 1.0, 1.1, 240, 240, 0.2, 32, "normalization"),
    "b2": ("v1", _V1_STAGES, 1.1, 1.2, 260, 260, 0.3, 32, "normalization"),
    "b3": ("v1", _V1_STAGES, 1.2, 1.4, 300, 300, 0.3, 32, "normalization"),
    "b4": ("v1", _V1_STAGES, 1.4, 1.8, 380, 380, 0.4, 32, "normalization"),
    "b5": ("v1", _V1_STAGES, 1.6, 2.2, 456, 456, 0.4, 32, "normalization"),
    "b6": ("v1", _V1_STAGES, 1.8, 2.6, 528, 528, 0.5, 32, "normalization"),
    "b7": ("v1", _V1_STAGES, 2.0, 3.1, 600, 600, 0.5, 32, "normalization"),
    "v2-b0": ("v2", _V2_BASE_STAGES, 1.0, 1.0, 192, 224, 0.2, 32, "imagenet"),
    "v2-b1": ("v2", _V2_BASE_STAGES, 1.0, 1.1, 192, 240, 0.2, 32, "imagenet"),
    "v2-b2": ("v2", _V2_BASE_STAGES, 1.1, 1.2, 208, 260, 0.3, 32, "imagenet"),
    "v2-b3": ("v2", _V2_BASE_STAGES, 1.2, 1.4, 240, 300, 0.3, 32, "imagenet"),
    "v2-s": ("v2", _V2_S_STAGES, 1.0, 1.0, 300, 384, 0.2, 24, "minus_one_to_one"),
    "v2-m": ("v2", _V2_M_STAGES, 1.0, 1.0, 384, 480, 0.3, 24, "minus_one_to_one"),
    "v2-l": ("v2", _V2_L_STAGES, 1.0, 1.0, 384, 480, 0.4, 32, "minus_one_to_one"),
}
VARIANTS = tuple(_VARIANTS)

# BatchNorm (momentum, epsilon) per family: TF reference values.
_BATCH_NORM = {"v1": (0.99, 1e-3), "v2": (0.9, 1e-3)}


def _stage_dict(stage: tuple) -> dict:
    return dict(zip(BLOCK_KEYS, stage))


def get_config(name: str) -> dict:
    """Return a fresh config dict for a variant name (`b0`..`b7`, `v2-b0`..`v2-b3`, `v2-s/m/l`)."""
    key = name.lower().replace("_", "-")
    if key.startswith("efficientnet"):
        key = key[len("efficientnet"):].lstrip("-")
    if key not in _VARIANTS:
        raise ValueError(f"Unknown variant {name!r}. Allowed values: {', '.join(VARIANTS)}.")
    family, stages, width, depth, train_res, eval_res, dropout, stem, prep = _VARIANTS[key]
    momentum, epsilon = _BATCH_NORM[family]
    return {
        "name": key,
        "family": family,
        "width": width,
        "depth": depth,
        "resolution": eval_res,
        "train_resolution": train_res,
        "dropout": dropout,
        "drop_connect_rate": 0.2,
        "bn_momentum": momentum,
        "bn_epsilon": epsilon,
        "depth_divisor": 8,
        "stem_filters": stem,
        "head_filters": 1280,
        "activation": "swish",
        "preprocessing": prep,
        "blocks": [_stage_dict(s) for s in stages],
        **OPTIONAL_KEYS,
    }


def _require_number(config: Mapping, key: str, where: str, *, minimum: float, inclusive: bool,
                    maximum: float | None = None) -> None:
    if problem := range_problem(f"{where}{key!r}", config[key], Bounds(minimum, maximum, low_open=not inclusive)):
        raise ValueError(f"Invalid config: {problem}")


def _require_choice(config: Mapping, key: str, choices: tuple, where: str = "") -> None:
    value = config[key]
    if isinstance(value, bool) or type(value) not in {type(c) for c in choices} or value not in choices:
        raise ValueError(
            f"Invalid config: {where}{key!r} is {config[key]!r}; allowed values: {', '.join(map(repr, choices))}."
        )


def _require_keys(config: Mapping, keys: tuple, where: str) -> None:
    missing = [k for k in keys if k not in config]
    if missing:
        raise ValueError(f"Invalid config: {where}missing key(s) {', '.join(map(repr, missing))}; "
                         f"a config needs {', '.join(keys)}.")


def _refuse_unknown_keys(config: Mapping, known: tuple, where: str) -> None:
    for key in config:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"Invalid config: {where}unknown key {key!r}; {hint}allowed keys: {', '.join(known)}.")


def validate_config(config: Mapping[str, Any]) -> dict:
    """Check a config dict and return it as a plain dict; raise ValueError naming the bad key (and the
    closest valid one for a misspelt key)."""
    if not isinstance(config, Mapping):
        raise ValueError(f"A config must be a dict, got {type(config).__name__}.")
    _refuse_unknown_keys(config, (*REQUIRED_KEYS, *OPTIONAL_KEYS, *SCALING_KEYS), "")
    _require_keys(config, REQUIRED_KEYS, "")
    config = {**OPTIONAL_KEYS, **config}
    name = config["name"]
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"Invalid config: 'name' is {name!r}; allowed values: letters, digits, '.', '_' and '-', "
                         "starting with a letter or digit, at most 100 characters (it names run folders and "
                         "the Keras model).")
    _require_choice(config, "stem_strides", (1, 2))
    _require_choice(config, "family", FAMILIES)
    _require_choice(config, "preprocessing", PREPROCESSING)
    _require_choice(config, "activation", ACTIVATIONS)
    for key in ("width", "depth"):
        _require_number(config, key, "", minimum=0, inclusive=False, maximum=MAX_COEFFICIENT)
    for key in ("resolution", "train_resolution"):
        if problem := resolution_problem(config[key]):
            raise ValueError(f"Invalid config: {key!r}: {problem}.")
    for key in ("dropout", "drop_connect_rate", "bn_momentum"):
        _require_number(config, key, "", minimum=0, inclusive=True)
        if config[key] >= 1:
            raise ValueError(f"Invalid config: {key!r} is {config[key]!r}; allowed values: 0 <= {key} < 1.")
    _require_number(config, "bn_epsilon", "", minimum=0, inclusive=False)
    for key in ("depth_divisor", "stem_filters", "head_filters"):
        _require_number(config, key, "", minimum=1, inclusive=True)
    blocks = config["blocks"]
    if not isinstance(blocks, list) or not blocks:
        raise ValueError("Invalid config: 'blocks' must be a non-empty list of block-stage dicts.")
    for i, block in enumerate(blocks):
        where = f"blocks[{i}]: "
        if not isinstance(block, Mapping):
            raise ValueError(f"Invalid config: {where}each stage must be a dict with keys {', '.join(BLOCK_KEYS)}.")
        _refuse_unknown_keys(block, BLOCK_KEYS, where)
        _require_keys(block, BLOCK_KEYS, where)
        _require_choice(block, "type", BLOCK_TYPES, where)
        kernel = block["kernel"]
        if isinstance(kernel, bool) or not isinstance(kernel, int) or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"Invalid config: {where}'kernel' is {kernel!r}; allowed values: an odd integer "
                             "(1, 3, 5, 7, ...).")
        for key in ("repeats", "filters_in", "filters_out", "expand_ratio"):
            _require_number(block, key, where, minimum=1, inclusive=True)
        _require_choice(block, "strides", (1, 2), where)
        _require_number(block, "se_ratio", where, minimum=0, inclusive=True)
        if block["se_ratio"] > 1:
            raise ValueError(f"Invalid config: {where}'se_ratio' is {block['se_ratio']!r}; allowed values: 0..1.")
    return copy.deepcopy(dict(config))


def load_config(name_or_path: str | Mapping[str, Any]) -> dict:
    """Resolve a variant name, a path to a JSON config file, or a config dict to a validated dict."""
    if isinstance(name_or_path, Mapping):
        return validate_config(name_or_path)
    text = str(name_or_path)
    if text.endswith(".json") or os.path.sep in text:
        try:
            with open(text, encoding="utf-8") as f:
                data = json.load(f)
        except OSError as e:
            raise ValueError(f"Cannot read config file {text!r}: {e.strerror}.") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"Config file {text!r} is not valid JSON: {e}.") from None
        except RecursionError:
            raise ValueError(f"Config file {text!r} is nested too deeply to be a config.") from None
        return validate_config(data)
    return get_config(text)
