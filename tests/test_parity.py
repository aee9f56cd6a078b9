"""Parity with keras.applications, our oracle: parameter counts, layer names, weights, outputs."""

import keras
import numpy as np
import pytest
from helpers import randomise_statistics, refresh_normalization
from keras import applications

import effnet_keras as ek

# Conv+dense MACs at the default resolution: measured on Keras (reference.md), and the papers'
# figures (automl's 8.4B/24.7B/56.3B for V2-S/M/L, whose paper table disagrees with the architecture).
MACS = {"b0": (0.386, 0.39), "b1": (0.687, 0.70), "b2": (0.994, 1.0), "b3": (1.827, 1.8), "b4": (4.394, 4.2),
        "b5": (10.266, 9.9), "b6": (19.068, 19), "b7": (37.746, 37), "v2-b0": (0.718, 0.72),
        "v2-b1": (1.197, 1.2), "v2-b2": (1.698, 1.7), "v2-b3": (3.011, 3.0), "v2-s": (8.366, 8.4),
        "v2-m": (24.582, 24.7), "v2-l": (56.080, 56.3)}
REFERENCE = {  # Keras total params and trainable params, include_top, 1000 classes
    "b0": (applications.EfficientNetB0, 5_330_571, 5_288_548),
    "b1": (applications.EfficientNetB1, 7_856_239, 7_794_184),
    "b2": (applications.EfficientNetB2, 9_177_569, 9_109_994),
    "b3": (applications.EfficientNetB3, 12_320_535, 12_233_232),
    "b4": (applications.EfficientNetB4, 19_466_823, 19_341_616),
    "b5": (applications.EfficientNetB5, 30_562_527, 30_389_784),
    "b6": (applications.EfficientNetB6, 43_265_143, 43_040_704),
    "b7": (applications.EfficientNetB7, 66_658_687, 66_347_960),
    "v2-b0": (applications.EfficientNetV2B0, 7_200_312, 7_139_704),
    "v2-b1": (applications.EfficientNetV2B1, 8_212_124, 8_141_052),
    "v2-b2": (applications.EfficientNetV2B2, 10_178_374, 10_096_086),
    "v2-b3": (applications.EfficientNetV2B3, 14_467_622, 14_358_406),
    "v2-s": (applications.EfficientNetV2S, 21_612_360, 21_458_488),
    "v2-m": (applications.EfficientNetV2M, 54_431_388, 54_139_356),
    "v2-l": (applications.EfficientNetV2L, 119_027_848, 118_515_272),
}
SIZE = 64
# Outputs are compared for one network of each family's base table, a scaled member of each family and
# V2-S (the first of V2's own large tables): the blocks and the builder are the same code for all 15,
# which differ in coefficients and block tables only, and those the structural test pins down for all.
OUTPUTS = ("b0", "b3", "v2-b0", "v2-b3", "v2-s")


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _weights(model):
    return [(w.path, tuple(w.shape)) for w in model.weights]


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(REFERENCE))
def test_matches_keras_applications_layer_for_layer(variant):
    constructor, total, trainable = REFERENCE[variant]
    with keras.StatelessScope():  # counts, names and shapes need no initialised weights (B4: 8 s, not 11 s)
        ours = ek.build_model(variant)
        ref = constructor(weights=None)
    assert ours.count_params() == total
    assert _trainable(ours) == trainable
    measured, paper = MACS[variant]
    macs = ek.count_macs(ours) / 1e9
    assert macs == pytest.approx(measured, rel=0.01) and macs == pytest.approx(paper, rel=0.05)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in ref.layers]
    assert _weights(ours) == _weights(ref)


@pytest.mark.slow
@pytest.mark.parametrize("variant", OUTPUTS)
def test_computes_what_keras_applications_computes_with_its_weights(variant):
    constructor = REFERENCE[variant][0]
    ref = constructor(weights=None, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    small = ek.build_model(variant, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    randomise_statistics(ref)
    small.set_weights(ref.get_weights())
    refresh_normalization(small)
    x = np.random.default_rng(1).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    expected = np.asarray(ref(x, training=False))
    assert expected.std() > 1e-3, "the comparison would be trivial"
    np.testing.assert_allclose(np.asarray(small(x, training=False)), expected, rtol=0, atol=1e-5)
