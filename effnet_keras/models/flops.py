"""Analytic multiply-add (MAC) counting of a built Keras model.

The single place where cost is counted. Counts convolutions (regular, grouped, depthwise,
separable) and dense layers from the layers' kernels and static output shapes, the convention of
the EfficientNet papers' "FLOPS". Biases, normalisation, activations and pooling count zero.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import keras
from keras import layers

# Layers that hold weights but do no multiply-adds worth counting.
_ZERO_COST = (layers.BatchNormalization, layers.LayerNormalization, layers.GroupNormalization,
              layers.Normalization)


@dataclass
class MacReport:
    """Total MACs, MACs per layer name, and names of weighted layers the counter does not know."""

    total: int = 0
    per_layer: dict[str, int] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)


def _spatial_positions(layer) -> int:
    shape = layer.output.shape
    if any(d is None for d in shape[1:]):
        raise ValueError(f"Layer {layer.name!r} has an unknown output shape {tuple(shape)}; build the model "
                         "with a fixed input_shape (e.g. (224, 224, 3)) to count MACs.")
    return math.prod(shape[1:-1])


def _layer_macs(layer) -> int | None:
    """MACs of one call of `layer`, or None when the layer type is unknown."""
    if isinstance(layer, layers.SeparableConv2D) or isinstance(layer, layers.SeparableConv1D):
        kernels = layer.depthwise_kernel.shape, layer.pointwise_kernel.shape
        return _spatial_positions(layer) * sum(math.prod(k) for k in kernels)
    if isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Conv3D, layers.DepthwiseConv1D,
                          layers.DepthwiseConv2D)):
        kernel = layer.depthwise_kernel if hasattr(layer, "depthwise_kernel") else layer.kernel
        return _spatial_positions(layer) * math.prod(kernel.shape)
    if isinstance(layer, layers.Dense):
        return _spatial_positions(layer) * math.prod(layer.kernel.shape)
    if isinstance(layer, _ZERO_COST) or not layer.weights:
        return 0
    return None


def mac_breakdown(model: keras.Model) -> MacReport:
    """Count MACs per layer, descending into nested models (e.g. a backbone inside a training model)."""
    report = MacReport()

    def visit(container, prefix):
        for layer in container.layers:
            if isinstance(layer, keras.Model):
                visit(layer, f"{prefix}{layer.name}/")
                continue
            macs = _layer_macs(layer)
            if macs is None:
                report.unknown.append(f"{prefix}{layer.name} ({type(layer).__name__})")
            elif macs:
                report.per_layer[f"{prefix}{layer.name}"] = macs
                report.total += macs

    visit(model, "")
    return report


def count_macs(model: keras.Model, strict: bool = False) -> int:
    """Multiply-adds of one forward pass of one image through `model`.

    Weighted layers of unknown type are reported with a warning (or a ValueError when `strict`),
    never silently skipped.
    """
    report = mac_breakdown(model)
    if report.unknown:
        message = (f"count_macs: {len(report.unknown)} weighted layer(s) of unknown type not counted: "
                   f"{', '.join(report.unknown)}")
        if strict:
            raise ValueError(message)
        warnings.warn(message, stacklevel=2)
    return report.total
