"""What a config will cost before it is built: parameters and training activation memory, estimated
from the stage list (repeats are multiplied, not expanded), so an absurd config (width 1000, kernel
10001, resolution 100000, a million repeats) is refused in microseconds instead of exhausting memory."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from effnet_keras.models.scaling import round_repeats, scaled_filters

MAX_PARAMS = 2_000_000_000
"""Default bound on a model's parameters (B7: 66M, V2-L: 119M, ResNet152: 60M)."""
MAX_ACTIVATION_GIB = 16.0
"""Default bound on the activation memory one training image needs (B7 at 600 px: about 2 GiB)."""
KEPT_PER_OUTPUT = 3
"""Tensors training keeps per convolution output (the convolution, BatchNorm and activation)."""


@dataclass(frozen=True)
class SizeEstimate:
    """params: weights of the network without its classifier. activation_bytes: float32 activations
    kept for the backward pass of one image at the config's train_resolution."""

    params: int
    activation_bytes: int

    @property
    def activation_gib(self) -> float:
        return self.activation_bytes / 2**30


def estimate_size(config: Mapping[str, Any]) -> SizeEstimate:
    """Estimate a validated config's parameters and per-image training activation memory."""
    filters = functools.partial(scaled_filters, config)
    side = math.ceil(config["train_resolution"] / config["stem_strides"])
    channels = filters(config["stem_filters"])
    params, floats = 27 * channels, side * side * channels
    for stage in config["blocks"]:
        repeats = round_repeats(stage["repeats"], config["depth"])
        out = filters(stage["filters_out"])
        first_params, first_floats, side_out = _block(stage, filters(stage["filters_in"]), out, side, stage["strides"])
        rest_params, rest_floats, _ = _block(stage, out, out, side_out, 1)
        params += first_params + (repeats - 1) * rest_params
        floats += first_floats + (repeats - 1) * rest_floats
        side, channels = side_out, out
    head = filters(config["head_filters"])
    params += channels * head
    floats += side * side * head
    return SizeEstimate(params, 4 * KEPT_PER_OUTPUT * floats)


def _block(stage: Mapping[str, Any], cin: int, cout: int, side: int, strides: int) -> tuple[int, int, int]:
    """(params, floats per image, output side) of one MBConv or Fused-MBConv block."""
    k, expanded = stage["kernel"], max(1, round(cin * stage["expand_ratio"]))
    side_out = math.ceil(side / strides)
    squeeze = max(1, int(cin * stage["se_ratio"])) if stage["se_ratio"] else 0
    if stage["type"] == "fused":
        params = k * k * cin * expanded + (expanded * cout if expanded != cin else 0)
        floats = side_out * side_out * (expanded + cout)
    else:
        params = (cin * expanded if expanded != cin else 0) + k * k * expanded + expanded * cout
        floats = side * side * expanded + side_out * side_out * (expanded + cout)
    return params + 2 * expanded * squeeze, floats, side_out


def size_problem(config: Mapping[str, Any], max_params: float = MAX_PARAMS,
                 max_activation_gib: float = MAX_ACTIVATION_GIB) -> str | None:
    """What makes `config` too large to build and train under the bounds, or None."""
    size = estimate_size(config)
    if size.params > max_params:
        return f"about {size.params:.3g} parameters, above the bound of {max_params:.3g}"
    if size.activation_gib > max_activation_gib:
        return (f"about {size.activation_gib:.3g} GiB of activations per training image at "
                f"{config['train_resolution']} px, above the bound of {max_activation_gib:g} GiB")
    return None
