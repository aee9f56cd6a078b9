"""Loading weights: files saved from keras.applications, the official-file path, clear errors."""

import functools
import hashlib
import sys

import h5py
import keras
import numpy as np
import pytest
from helpers import randomise_statistics

import effnet_keras as ek
from effnet_keras.models import weights as weights_module

SIZE = 64


def _x():
    return np.random.default_rng(3).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")


def write_official_h5(path, model):
    """`model`'s weights in the layout of the official keras.applications downloads (legacy HDF5): root
    attribute layer_names, and per layer a group whose weight_names list its datasets in the layer's
    order (trainable weights, then the others)."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        f.attrs["backend"], f.attrs["keras_version"] = b"tensorflow", b"2.3.0"
        for layer in model.layers:
            group = f.create_group(layer.name)
            variables = layer.trainable_weights + layer.non_trainable_weights
            names = [f"{layer.name}/{v.name}:0" for v in variables]
            group.attrs["weight_names"] = [name.encode() for name in names]
            for name, variable in zip(names, variables):
                group.create_dataset(name, data=np.asarray(variable))


@pytest.mark.parametrize("variant, constructor", [("b0", keras.applications.EfficientNetB0),
                                                  ("v2-b0", keras.applications.EfficientNetV2B0)])
def test_loads_a_weights_file_saved_from_keras_applications(tmp_path, variant, constructor):
    ref = constructor(weights=None, input_shape=(SIZE, SIZE, 3))
    randomise_statistics(ref)
    path = tmp_path / "ref.weights.h5"
    ref.save_weights(path)
    ours = ek.build_model(variant, input_shape=(SIZE, SIZE, 3), weights=str(path))
    np.testing.assert_allclose(np.asarray(ours(_x())), np.asarray(ref(_x())), atol=1e-5, rtol=0)


def test_a_file_from_another_variant_is_refused(tmp_path):
    path = tmp_path / "b1.weights.h5"
    ek.build_model("b1", input_shape=(SIZE, SIZE, 3)).save_weights(path)
    with pytest.raises(ek.WeightsError, match="does not fit.*same variant"):
        ek.build_model("b0", input_shape=(SIZE, SIZE, 3), weights=str(path))


def test_missing_file_and_bad_combinations_fail_before_building(tmp_path):
    with pytest.raises(ek.WeightsError, match="existing weights file"):
        ek.build_model("b0", weights=str(tmp_path / "nope.weights.h5"))
    with pytest.raises(ek.WeightsError, match="include_top=False"):
        ek.build_model("b0", num_classes=10, weights="imagenet")
    with pytest.raises(ek.WeightsError, match="No official ImageNet weights"):
        ek.build_model(ek.compound_scale(1.2, 1.1, 1.15, 1), include_top=False, weights="imagenet")


def test_imagenet_offline_says_how_to_pass_a_local_file(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(ek.WeightsError, match=r"Offline\?.*weights='/path/to/efficientnetb0_notop.h5'"):
        ek.build_model("b0", include_top=False, weights="imagenet")


def test_imagenet_path_loads_an_official_format_file(tmp_path, monkeypatch):
    """The official V1 files are legacy HDF5 with std-devs in the variance slot (keras#21529 area)."""
    source = keras.applications.EfficientNetB0(weights=None, include_top=False)
    randomise_statistics(source)
    norm = source.get_layer(index=2)
    mean, _, count = norm.get_weights()
    norm.set_weights([mean, np.array([0.229, 0.224, 0.225]).reshape(mean.shape), count])
    official = tmp_path / "efficientnetb0_notop.h5"
    write_official_h5(official, source)
    md5 = hashlib.md5(official.read_bytes()).hexdigest()
    monkeypatch.setattr(weights_module, "imagenet_weights_url",
                        lambda config, include_top: (official.name, "https://example.invalid/" + official.name, md5))
    cache = tmp_path / "keras_home"
    (cache / "models").mkdir(parents=True)
    (cache / "models" / official.name).write_bytes(official.read_bytes())
    monkeypatch.setattr(keras.utils, "get_file", functools.partial(keras.utils.get_file, cache_dir=str(cache)))

    ours = ek.build_model("b0", include_top=False, weights="imagenet")
    assert ours.get_layer("stem_conv").kernel.shape == (3, 3, 3, 32)
    np.testing.assert_allclose(np.asarray(ours.get_layer("normalization").variance).ravel(),
                               np.array([0.229, 0.224, 0.225]) ** 2, rtol=1e-6)
    for a, b in zip(ours.get_layer("top_conv").get_weights(), source.get_layer("top_conv").get_weights()):
        np.testing.assert_array_equal(a, b)


def test_official_addresses_follow_keras_applications():
    name, url, md5 = weights_module.imagenet_weights_url(ek.get_config("v2-s"), include_top=True)
    assert name == "efficientnetv2-s.h5" and url.endswith("/efficientnet_v2/efficientnetv2-s.h5") and len(md5) == 32
    assert weights_module.imagenet_weights_url(ek.get_config("b7"), False)[0] == "efficientnetb7_notop.h5"


def test_imagenet_file_table_matches_keras_applications():
    # The upstream table is module data, not API: read it from the modules of the public constructors.
    efficientnet = sys.modules[keras.applications.EfficientNetB0.__module__]
    efficientnet_v2 = sys.modules[keras.applications.EfficientNetV2B0.__module__]
    for name, md5 in weights_module.IMAGENET_MD5.items():
        module, key = (efficientnet, name) if not name.startswith("v2-") else (
            efficientnet_v2, name[3:] if name[3] == "b" else f"-{name[3:]}")
        assert md5 == module.WEIGHTS_HASHES[key], name
        url = weights_module.imagenet_weights_url(ek.get_config(name), include_top=False)[1]
        assert url.startswith(module.BASE_WEIGHTS_PATH), name
