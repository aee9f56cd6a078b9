"""Comparison models: a plain course-style CIFAR CNN and keras.applications ResNet152.

Both take 0..255 pixels `[batch, H, W, 3]`, rescale inside, and end in a float32 classifier
(also under mixed precision), like `build_model`. Keras only, no TensorFlow.
"""

from __future__ import annotations

import keras
from keras import layers

from effnet_keras.models.builder import head_dtype

BASELINES = ("resnet152", "simple-cnn")
DEFAULT_RESOLUTION = {"resnet152": 224, "simple-cnn": 32}


def simple_cnn(num_classes: int, input_shape: tuple, dropout: float = 0.3) -> keras.Model:
    """Three stages of (conv3x3-BN-ReLU) x2 + max-pool + dropout (32/64/128 filters), then a dense head."""
    inputs = keras.Input(input_shape, name="input_layer")
    x = layers.Rescaling(1.0 / 255.0, name="rescaling")(inputs)
    for stage, filters in enumerate((32, 64, 128), start=1):
        for conv in (1, 2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"stage{stage}_conv{conv}")(x)
            x = layers.BatchNormalization(momentum=0.9, name=f"stage{stage}_bn{conv}")(x)
            x = layers.Activation("relu", name=f"stage{stage}_relu{conv}")(x)
        x = layers.MaxPooling2D(name=f"stage{stage}_pool")(x)
        x = layers.Dropout(dropout, name=f"stage{stage}_dropout")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dense(128, activation="relu", name="fc")(x)
    x = layers.Dropout(dropout, name="top_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions", dtype=head_dtype())(x)
    return keras.Model(inputs, outputs, name="simple-cnn")


def resnet152(num_classes: int, input_shape: tuple, dropout: float = 0.0) -> keras.Model:
    """keras.applications ResNet152 (weights=None) with inputs scaled to -1..1 and a float32 head."""
    inputs = keras.Input(input_shape, name="input_layer")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescaling")(inputs)
    backbone = keras.applications.ResNet152(weights=None, include_top=False, pooling="avg", input_shape=input_shape)
    x = backbone(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="top_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions", dtype=head_dtype())(x)
    return keras.Model(inputs, outputs, name="resnet152")


def build_baseline(name: str, num_classes: int, input_shape: tuple, dropout: float | None = None,
                   bn_momentum: float | None = None) -> keras.Model:
    """Build `resnet152` or `simple-cnn` for `num_classes` at `input_shape` (H, W, 3).

    bn_momentum: the moving-average momentum of every BatchNormalization layer (None: the
    model's own, 0.99 in keras.applications ResNet, 0.9 in the simple CNN).
    """
    builders = {"resnet152": resnet152, "simple-cnn": simple_cnn}
    if name not in builders:
        raise ValueError(f"Unknown baseline {name!r}; allowed values: {', '.join(BASELINES)}.")
    kwargs = {} if dropout is None else {"dropout": dropout}
    model = builders[name](num_classes, tuple(input_shape), **kwargs)
    if bn_momentum is not None:
        for layer in _all_layers(model):
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = bn_momentum
    return model


def _all_layers(model: keras.Model) -> list:
    """Every layer of `model`, nested models' layers included."""
    found = []
    for layer in model.layers:
        found += [layer, *(_all_layers(layer) if isinstance(layer, keras.Model) else [])]
    return found
