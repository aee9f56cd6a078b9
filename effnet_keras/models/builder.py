"""Decode a config into per-block arguments, then build a Keras functional model from them.

Model code: `keras` only (layers, ops), so it builds under the TensorFlow, JAX and PyTorch
backends. Input images are float or uint8 pixels in 0..255, `[batch, H, W, 3]`; rescaling and
normalisation happen inside the model (as in keras.applications).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
from keras import layers

from effnet_keras.models.blocks import BLOCKS, CONV_INITIALIZER, BlockArgs, conv_bn, correct_pad
from effnet_keras.models.configs import resolution_problem
from effnet_keras.models.scaling import override, round_repeats, scaled_filters
from effnet_keras.models.weights import IMAGENET_MEAN, IMAGENET_STDDEV, check_weights_arguments, load_weights

POOLING = (None, "avg", "max")
CLASSIFIER_INITIALIZER = "zeros"
"""The classifier starts at zero: uniform predictions, loss ln(classes). keras.applications' scaled
uniform init starts B0 at a loss of 3.8 for 10 classes, and from scratch on Fashion-MNIST it cost
half the first epoch's accuracy (README, "From-scratch recipe"). Pretrained heads are loaded over it."""


def block_letter(index: int) -> str:
    """Block suffix within a stage: a..z, then aa, ab, ... for very deep scaled stages."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(97 + rem) + letters
    return letters


def stage_repeats(config: Mapping[str, Any]) -> tuple[int, ...]:
    """Blocks per stage after depth rounding: what alpha changes in a model."""
    return tuple(round_repeats(stage["repeats"], config["depth"]) for stage in config["blocks"])


def drop_connect_rates(config: Mapping[str, Any]) -> list[float]:
    """Stochastic-depth rate of every block: rate * b / total over all blocks after rounding."""
    total = sum(stage_repeats(config))
    return [config["drop_connect_rate"] * b / total for b in range(total)]


def decode_blocks(config: Mapping[str, Any]) -> list[BlockArgs]:
    """Expand the stage list into one `BlockArgs` per block, with channels and repeats rounded."""
    family = config["family"]
    rates = drop_connect_rates(config)
    decoded = []
    for i, (stage, repeats) in enumerate(zip(config["blocks"], stage_repeats(config))):
        filters_in, filters_out = (scaled_filters(config, stage[key]) for key in ("filters_in", "filters_out"))
        for j in range(repeats):
            decoded.append(BlockArgs(
                name=f"block{i + 1}{block_letter(j)}_",
                type=stage["type"],
                kernel=stage["kernel"],
                filters_in=filters_in if j == 0 else filters_out,
                filters_out=filters_out,
                expand_ratio=stage["expand_ratio"],
                strides=stage["strides"] if j == 0 else 1,
                se_ratio=stage["se_ratio"],
                drop_rate=rates[len(decoded)],
                activation=config["activation"],
                bn_momentum=config["bn_momentum"],
                bn_epsilon=config["bn_epsilon"],
                explicit_padding=family == "v1",
                depthwise_name="dwconv" if family == "v1" else "dwconv2",
            ))
    return decoded


def architecture(config: Mapping[str, Any]) -> tuple:
    """What the layers a config builds depend on once coefficients are rounded: the resolutions
    (pixels), stem and head channels and every decoded block. Configs that differ only in their
    width/depth coefficients within one rounding step have equal architectures (and equal MACs)."""
    return (config["resolution"], config["train_resolution"], scaled_filters(config, config["stem_filters"]),
            scaled_filters(config, config["head_filters"]), tuple(decode_blocks(config)))


def _preprocess(x, preprocessing: str, channels: int):
    """Map 0..255 pixels to the network's input range, as keras.applications does per family."""
    if preprocessing == "minus_one_to_one":
        return layers.Rescaling(1.0 / 128.0, offset=-1.0, name="rescaling")(x)
    if channels != 3:
        raise ValueError(f"Preprocessing {preprocessing!r} normalises 3 RGB channels, but the input has "
                         f"{channels}; pass include_preprocessing=False and normalise the images yourself.")
    x = layers.Rescaling(1.0 / 255.0, name="rescaling")(x)
    if preprocessing == "normalization":
        # Holds mean/variance weights (identity until loaded), like keras.applications V1.
        return layers.Normalization(axis=-1, name="normalization")(x)
    return layers.Normalization(mean=list(IMAGENET_MEAN), variance=[s**2 for s in IMAGENET_STDDEV], axis=-1,
                                name="normalization")(x)


def _resolve_input_shape(input_shape: Sequence[int | None] | None, resolution: int) -> tuple:
    if input_shape is None:
        return (resolution, resolution, 3)
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}.")
    for size in shape[:2]:
        if size is not None and (problem := resolution_problem(size)):
            raise ValueError(f"input_shape {input_shape!r}: height and width must be None or sizes in pixels; "
                             f"{problem}, e.g. with a Resizing layer.")
    return shape


def head_dtype():
    """Keep the classifier in float32 under mixed precision so logits/probabilities are float32."""
    return "float32" if keras.config.dtype_policy().compute_dtype != "float32" else None


def build_model(
    name_or_config: str | Mapping[str, Any],
    num_classes: int = 1000,
    input_shape: Sequence[int | None] | None = None,
    include_top: bool = True,
    pooling: str | None = None,
    weights: str | None = None,
    include_preprocessing: bool = True,
    dropout_rate: float | None = None,
    drop_connect_rate: float | None = None,
    classifier_activation: str | None = "softmax",
    name: str | None = None,
) -> keras.Model:
    """Build an EfficientNet / EfficientNetV2 functional model from a variant name, JSON file or dict.

    Args:
        name_or_config: `"b0"`..`"b7"`, `"v2-b0"`..`"v2-l"`, a path to a config JSON file, or a dict.
        num_classes: outputs of the classifier (include_top only).
        input_shape: (H, W, 3) in pixels, H and W >= 32 or None; default: the config's `resolution`.
        include_top: add pooling, dropout and the `predictions` Dense layer.
        pooling: without the top, None (4D features), "avg" or "max" (2D features).
        weights: None, "imagenet" (official keras.applications weights) or a weights-file path.
        include_preprocessing: rescale/normalise 0..255 pixels inside the model.
        dropout_rate: overrides the config's dropout before the classifier.
        drop_connect_rate: overrides the config's stochastic-depth rate of the last block.
        classifier_activation: "softmax" (probabilities) or None (logits); float32 under mixed precision.
        name: the model's name (default: the config's `name`).

    Returns:
        A `keras.Model` taking uint8-range pixels `[batch, H, W, 3]` (0..255) and returning
        `[batch, num_classes]` (with the top) or features (without it). Layer names and weight order
        equal keras.applications'.

    Raises:
        ValueError: an unknown variant, a bad config key or value, or a bad argument, with the
            allowed values.

    Example:
        >>> import effnet_keras as ek
        >>> model = ek.build_model("b0", num_classes=10, input_shape=(32, 32, 3))
        >>> model.output_shape
        (None, 10)
    """
    rates = {"dropout": dropout_rate, "drop_connect_rate": drop_connect_rate}
    config = override(name_or_config, **{key: rate for key, rate in rates.items() if rate is not None})
    if pooling not in POOLING:
        raise ValueError(f"pooling is {pooling!r}; allowed values: None, 'avg', 'max'.")
    if include_top and (not isinstance(num_classes, int) or num_classes < 1):
        raise ValueError(f"num_classes is {num_classes!r}; allowed values: an integer >= 1.")
    if weights is not None:
        check_weights_arguments(weights, include_top, num_classes)
    shape = _resolve_input_shape(input_shape, config["resolution"])

    inputs = layers.Input(shape=shape, name="input_layer")
    x = _preprocess(inputs, config["preprocessing"], shape[-1]) if include_preprocessing else inputs
    x = _stem(x, _stem_args(config, shape[-1]))
    for args in decode_blocks(config):
        x = BLOCKS[args.type](x, args)
    x = _top(x, config)
    if include_top:
        x = _classifier(x, config["dropout"], num_classes, classifier_activation)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    model = keras.Model(inputs, x, name=name or f"efficientnet-{config['name']}")
    if weights is not None:
        load_weights(model, config, weights, include_top)
    return model


def _stem_args(config: dict, channels: int) -> BlockArgs:
    filters = scaled_filters(config, config["stem_filters"])
    return BlockArgs(name="stem", type="stem", kernel=3, filters_in=channels, filters_out=filters, expand_ratio=1,
                     strides=config["stem_strides"], se_ratio=0, drop_rate=0, activation=config["activation"],
                     bn_momentum=config["bn_momentum"], bn_epsilon=config["bn_epsilon"],
                     explicit_padding=config["family"] == "v1", depthwise_name="")


def _top(x, config: dict):
    """1x1 conv to the (width-rounded) head filters -> BatchNorm -> activation: `top_conv`, `top_bn`, ..."""
    filters = scaled_filters(config, config["head_filters"])
    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, kernel_initializer=CONV_INITIALIZER,
                      name="top_conv")(x)
    x = layers.BatchNormalization(axis=-1, momentum=config["bn_momentum"], epsilon=config["bn_epsilon"],
                                  name="top_bn")(x)
    return layers.Activation(config["activation"], name="top_activation")(x)


def _classifier(x, dropout: float, num_classes: int, activation: str | None):
    """Global average pooling -> dropout (when > 0) -> `predictions` Dense, float32 under mixed precision."""
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="top_dropout")(x)
    return layers.Dense(num_classes, activation=activation, kernel_initializer=CLASSIFIER_INITIALIZER,
                        bias_initializer="zeros", name="predictions", dtype=head_dtype())(x)


def _stem(x, args: BlockArgs):
    """3x3 conv (stride 2, or 1) -> BatchNorm -> activation, named `stem_conv`, `stem_bn`, `stem_activation`."""
    padding = "same"
    if args.explicit_padding and args.strides == 2:
        x = layers.ZeroPadding2D(correct_pad(tuple(x.shape[1:3]), args.kernel), name="stem_conv_pad")(x)
        padding = "valid"
    return conv_bn(x, args, args.filters_out, args.kernel, args.strides, "", padding=padding)
