"""effnet-keras: compound-scaled EfficientNet and EfficientNetV2 for Keras 3."""

from effnet_keras import absl_logs  # noqa: F401 (first: Keras without TensorFlow's start-up log lines)
from effnet_keras.models.builder import build_model, decode_blocks, drop_connect_rates
from effnet_keras.models.configs import VARIANTS, get_config, load_config, validate_config
from effnet_keras.models.flops import count_macs, mac_breakdown
from effnet_keras.models.scaling import (
    compound_scale,
    cost_ratio,
    override,
    round_filters,
    round_repeats,
    round_resolution,
)
from effnet_keras.models.weights import WeightsError

__version__ = "0.1.0"

__all__ = [
    "VARIANTS",
    "WeightsError",
    "build_model",
    "compound_scale",
    "cost_ratio",
    "count_macs",
    "decode_blocks",
    "drop_connect_rates",
    "get_config",
    "load_config",
    "mac_breakdown",
    "override",
    "round_filters",
    "round_repeats",
    "round_resolution",
    "validate_config",
]
