"""EfficientNet building blocks: MBConv, Fused-MBConv and squeeze-and-excitation.

Pure functional-API helpers over `keras.layers`, so models build on any Keras backend. Layer
names and creation order follow keras.applications (`block2b_expand_conv`, `block2b_se_reduce`,
...), which makes weight files interchangeable. Tensors are channels-last `[batch, H, W, C]`.
"""

from __future__ import annotations

from dataclasses import dataclass

from keras import initializers, layers

CONV_INITIALIZER = initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="truncated_normal")


@dataclass(frozen=True)
class BlockArgs:
    """One decoded block, after width/depth rounding.

    `filters_*` are channels; `drop_rate` is the stochastic-depth rate of the residual branch;
    `explicit_padding` pads before a "valid" strided depthwise conv (V1) instead of "same" (V2).
    """

    name: str
    type: str
    kernel: int
    filters_in: int
    filters_out: int
    expand_ratio: float
    strides: int
    se_ratio: float
    drop_rate: float
    activation: str
    bn_momentum: float
    bn_epsilon: float
    explicit_padding: bool
    depthwise_name: str

    @property
    def has_skip(self) -> bool:
        """A residual connection exists only when the block keeps both shape and channels."""
        return self.strides == 1 and self.filters_in == self.filters_out

    @property
    def expanded_filters(self) -> int:
        return int(self.filters_in * self.expand_ratio)


def correct_pad(input_size: tuple, kernel: int) -> tuple:
    """Zero padding ((top, bottom), (left, right)) that centres a stride-2 "valid" conv.

    `input_size` is (H, W) in pixels; unknown sizes (None) are treated as even.
    """
    adjust = tuple(1 if size is None else 1 - size % 2 for size in input_size)
    half = kernel // 2
    return ((half - adjust[0], half), (half - adjust[1], half))


def conv_bn(x, args: BlockArgs, filters: int, kernel: int, strides: int, suffix: str, activation: bool = True,
            padding: str = "same"):
    """Conv2D (no bias) -> BatchNorm -> optional activation, named `<block>{suffix}_conv/_bn/_activation`."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False,
                      kernel_initializer=CONV_INITIALIZER, name=f"{args.name}{suffix}_conv")(x)
    x = batch_norm(x, args, f"{suffix}_bn")
    if activation:
        x = layers.Activation(args.activation, name=f"{args.name}{suffix}_activation")(x)
    return x


def batch_norm(x, args: BlockArgs, suffix: str):
    return layers.BatchNormalization(axis=-1, momentum=args.bn_momentum, epsilon=args.bn_epsilon,
                                     name=f"{args.name}{suffix}")(x)


def squeeze_excite(x, args: BlockArgs):
    """Channel attention: pool to [B, C], squeeze to se_ratio * filters_in channels, gate x."""
    filters = x.shape[-1]
    squeezed = max(1, int(args.filters_in * args.se_ratio))
    se = layers.GlobalAveragePooling2D(name=f"{args.name}se_squeeze")(x)
    se = layers.Reshape((1, 1, filters), name=f"{args.name}se_reshape")(se)
    se = layers.Conv2D(squeezed, 1, padding="same", activation=args.activation,
                       kernel_initializer=CONV_INITIALIZER, name=f"{args.name}se_reduce")(se)
    se = layers.Conv2D(filters, 1, padding="same", activation="sigmoid",
                       kernel_initializer=CONV_INITIALIZER, name=f"{args.name}se_expand")(se)
    return layers.multiply([x, se], name=f"{args.name}se_excite")


def residual(x, inputs, args: BlockArgs):
    """Add the block input back, dropping the branch per sample at `drop_rate` while training."""
    if not args.has_skip:
        return x
    if args.drop_rate > 0:
        x = layers.Dropout(args.drop_rate, noise_shape=(None, 1, 1, 1), name=f"{args.name}drop")(x)
    return layers.add([x, inputs], name=f"{args.name}add")


def mbconv_block(inputs, args: BlockArgs):
    """Inverted residual: 1x1 expand -> kxk depthwise -> SE -> 1x1 project (+ skip)."""
    x = inputs
    if args.expand_ratio != 1:
        x = conv_bn(x, args, args.expanded_filters, 1, 1, "expand")
    padding = "same"
    if args.strides == 2 and args.explicit_padding:
        x = layers.ZeroPadding2D(correct_pad(tuple(x.shape[1:3]), args.kernel), name=f"{args.name}dwconv_pad")(x)
        padding = "valid"
    x = layers.DepthwiseConv2D(args.kernel, strides=args.strides, padding=padding, use_bias=False,
                               depthwise_initializer=CONV_INITIALIZER,
                               name=f"{args.name}{args.depthwise_name}")(x)
    x = batch_norm(x, args, "bn")
    x = layers.Activation(args.activation, name=f"{args.name}activation")(x)
    if 0 < args.se_ratio <= 1:
        x = squeeze_excite(x, args)
    x = conv_bn(x, args, args.filters_out, 1, 1, "project", activation=False)
    return residual(x, inputs, args)


def fused_mbconv_block(inputs, args: BlockArgs):
    """Fused inverted residual (EfficientNetV2): kxk expand conv -> SE -> 1x1 project (+ skip).

    With expand_ratio 1 the single kxk conv is the projection, followed by an activation.
    """
    x = inputs
    if args.expand_ratio != 1:
        x = conv_bn(x, args, args.expanded_filters, args.kernel, args.strides, "expand")
    if 0 < args.se_ratio <= 1:
        x = squeeze_excite(x, args)
    if args.expand_ratio != 1:
        x = conv_bn(x, args, args.filters_out, 1, 1, "project", activation=False)
    else:
        x = conv_bn(x, args, args.filters_out, args.kernel, args.strides, "project")
    return residual(x, inputs, args)


BLOCKS = {"mbconv": mbconv_block, "fused": fused_mbconv_block}
