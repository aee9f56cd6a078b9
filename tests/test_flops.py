"""MAC counting: known figures, resolution scaling, foreign models, unknown layers reported."""

import keras
import pytest
from keras import layers

import effnet_keras as ek


def test_b0_at_cifar_and_imagenet_resolution():
    model = ek.build_model("b0", num_classes=10, input_shape=(32, 32, 3))
    assert ek.count_macs(model) == pytest.approx(8.5e6, rel=0.01)
    assert ek.count_macs(ek.build_model("b0")) == pytest.approx(0.386e9, rel=0.01)


def test_cost_grows_with_resolution_squared():
    small = ek.count_macs(ek.build_model("b0", include_top=False, input_shape=(128, 128, 3)))
    large = ek.count_macs(ek.build_model("b0", include_top=False, input_shape=(256, 256, 3)))
    assert large / small == pytest.approx(4.0, rel=0.02)


def test_counts_by_hand_on_a_small_model():
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same")(inputs)          # 8*8 * 3*3*3*4 = 6912
    x = layers.DepthwiseConv2D(3, strides=2, padding="same")(x)  # 4*4 * 3*3*4 = 576
    x = layers.SeparableConv2D(2, 1)(x)                       # 4*4 * (1*1*4*1 + 1*1*4*2) = 192
    x = layers.BatchNormalization()(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(5)(x)                              # 32 * 5 = 160
    model = keras.Model(inputs, outputs)
    report = ek.mac_breakdown(model)
    assert report.total == ek.count_macs(model) == 6912 + 576 + 192 + 160
    assert len(report.per_layer) == 4 and not report.unknown


def test_counts_keras_resnet152_and_nested_models():
    resnet = keras.applications.ResNet152(weights=None)
    assert ek.count_macs(resnet) == pytest.approx(11.3e9, rel=0.02)  # the ResNet paper's 11.3 GFLOPs
    inputs = keras.Input((32, 32, 3))
    backbone = ek.build_model("b0", include_top=False, pooling="avg", input_shape=(32, 32, 3))
    wrapper = keras.Model(inputs, layers.Dense(10)(backbone(inputs)))
    assert ek.count_macs(wrapper) == ek.count_macs(backbone) + 1280 * 10


class Mystery(layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],))

    def call(self, x):
        return x * self.w


def test_unknown_weighted_layers_are_reported_not_skipped():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, layers.Dense(2)(Mystery(name="mystery")(inputs)))
    with pytest.warns(UserWarning, match="mystery"):
        assert ek.count_macs(model) == 8
    with pytest.raises(ValueError, match=r"mystery \(Mystery\)"):
        ek.count_macs(model, strict=True)


def test_unknown_spatial_size_asks_for_a_fixed_input_shape():
    model = ek.build_model(ek.override("b0", width=0.25, depth=0.25), include_top=False, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="fixed input_shape"):
        ek.count_macs(model)
