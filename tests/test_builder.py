"""Builder behaviour: input sizes, heads, pooling, mixed precision, .keras round trip."""

import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import effnet_keras as ek

TINY = ek.override("b0", width=0.25, depth=0.25, resolution=32)


def _images(n=2, size=32, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


@pytest.mark.parametrize("size", [32, 33, 64, 97, 128])
def test_any_input_size_of_at_least_32_works(size):
    model = ek.build_model("b0", num_classes=10, input_shape=(size, size, 3))
    out = model(_images(size=size))
    assert out.shape == (2, 10)
    np.testing.assert_allclose(np.asarray(out).sum(axis=1), 1.0, rtol=1e-5)


def test_v2_works_at_cifar_size():
    assert ek.build_model("v2-b0", num_classes=100, input_shape=(32, 32, 3))(_images()).shape == (2, 100)


def test_input_below_32_pixels_is_refused_with_advice():
    with pytest.raises(ValueError, match="from 32 to 100,000 pixels; up-sample smaller images, e.g. with a Resizing"):
        ek.build_model("b0", input_shape=(16, 16, 3))


def test_default_input_is_the_configs_resolution():
    assert ek.build_model(TINY).input_shape == (None, 32, 32, 3)
    assert ek.build_model("v2-s", include_top=False).input_shape == (None, 384, 384, 3)


@pytest.mark.parametrize("pooling, shape", [(None, (2, 1, 1, 320)), ("avg", (2, 320)), ("max", (2, 320))])
def test_feature_extractor_pooling(pooling, shape):
    model = ek.build_model(TINY, include_top=False, pooling=pooling)
    assert model(_images()).shape == shape
    assert "predictions" not in [layer.name for layer in model.layers]


def test_stride_1_stem_halves_the_output_stride():
    assert ek.validate_config({k: v for k, v in TINY.items() if k != "stem_strides"})["stem_strides"] == 2
    model = ek.build_model(ek.override(TINY, stem_strides=1), include_top=False)
    assert model(_images()).shape == (2, 2, 2, 320)
    with pytest.raises(ValueError, match="stem_strides"):
        ek.override(TINY, stem_strides=3)


def test_a_new_classifier_starts_with_uniform_predictions():
    out = np.asarray(ek.build_model(TINY, num_classes=7)(_images()))
    np.testing.assert_allclose(out, 1 / 7, rtol=1e-6)


def test_logits_and_rates_overrides():
    model = ek.build_model(TINY, num_classes=5, classifier_activation=None, dropout_rate=0.0, drop_connect_rate=0.0)
    names = [layer.name for layer in model.layers]
    assert "top_dropout" not in names and not any(n.endswith("_drop") for n in names)
    assert not np.allclose(np.asarray(model(_images())).sum(axis=1), 1.0)
    dropped = ek.build_model(ek.override(TINY, depth=0.5), drop_connect_rate=0.5)
    rates = [layer.rate for layer in dropped.layers if layer.name.endswith("_drop")]
    assert rates and max(rates) < 0.5


def test_bad_pooling_and_classes_are_refused():
    with pytest.raises(ValueError, match="pooling"):
        ek.build_model(TINY, include_top=False, pooling="mean")
    with pytest.raises(ValueError, match="num_classes"):
        ek.build_model(TINY, num_classes=0)


def test_model_code_does_not_import_tensorflow():
    modules = sorted(pathlib.Path("effnet_keras/models").glob("*.py")) + [pathlib.Path("effnet_keras/info.py")]
    assert len(modules) >= 8
    for module in modules:
        source = module.read_text(encoding="utf-8")
        assert "import tensorflow" not in source and "from tensorflow" not in source, module


@pytest.mark.parametrize("policy, compute", [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")])
def test_mixed_precision_computes_in_half_and_outputs_float32(policy, compute):
    keras.config.set_dtype_policy(policy)
    model = ek.build_model(TINY, num_classes=10)
    assert model.get_layer("stem_conv").compute_dtype == compute
    assert model.get_layer("block1a_project_conv").compute_dtype == compute
    out = model(_images())
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    assert np.isfinite(np.asarray(out)).all()


def test_keras_file_round_trip_in_a_fresh_process(tmp_path):
    model = ek.build_model(TINY, num_classes=7)
    x = _images(4)
    path = tmp_path / "m.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.asarray(model(x, training=False)))
    script = textwrap.dedent(f"""
        import numpy as np, keras, effnet_keras
        m = keras.models.load_model({str(path)!r})
        x = np.load({str(tmp_path / 'x.npy')!r})
        np.testing.assert_array_equal(np.asarray(m(x, training=False)), np.load({str(tmp_path / 'y.npy')!r}))
        print("identical")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "identical" in result.stdout


def test_the_architecture_key_changes_exactly_when_the_rounded_network_does():
    from effnet_keras.models.builder import architecture, stage_repeats

    base = ek.load_config("b0")
    assert architecture(ek.compound_scale(1.0, 1.001, 1.0, 1, base)) == architecture(base)  # same channels
    deeper = ek.compound_scale(1.001, 1.0, 1.0, 1, base)
    assert stage_repeats(deeper) == tuple(r + 1 for r in stage_repeats(base)) == (2, 3, 3, 4, 4, 5, 2)
    assert architecture(deeper) != architecture(base)
    assert architecture(ek.compound_scale(1.0, 1.0, 1.01, 1, base)) != architecture(base)  # 226 px
