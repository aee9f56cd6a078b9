"""Specification of effnet_keras.training.runtime: precision, XLA and strategy chosen per device."""

import pytest

from effnet_keras.training import runtime


@pytest.mark.parametrize("device, want", [("gpu", "mixed_float16"), ("tpu", "mixed_bfloat16"), ("cpu", "float32")])
def test_auto_precision_is_half_on_accelerators_and_float32_on_cpu(device, want):
    assert runtime.resolve_precision("auto", device) == want


@pytest.mark.parametrize("name", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_an_explicit_precision_wins_on_every_device(name):
    assert {runtime.resolve_precision(name, device) for device in ("cpu", "gpu", "tpu")} == {name}


@pytest.mark.parametrize("device, want", [("gpu", True), ("tpu", True), ("cpu", False)])
def test_auto_xla_is_on_for_accelerators_only_and_on_off_are_explicit(device, want):
    assert runtime.resolve_jit("auto", device) is want
    assert runtime.resolve_jit("on", device) is True and runtime.resolve_jit("off", device) is False


@pytest.mark.parametrize("resolve, name, message", [
    (runtime.resolve_precision, "fp16", "Unknown precision 'fp16'; allowed values: auto, float32"),
    (runtime.resolve_jit, "yes", "Unknown --jit-compile 'yes'; allowed values: auto, on, off"),
])
def test_unknown_names_list_the_allowed_values(resolve, name, message):
    with pytest.raises(ValueError, match=message):
        resolve(name, "cpu")


def test_multiworker_without_tf_config_says_what_is_missing(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        runtime.make_strategy("multiworker")


def test_default_strategy_on_a_single_device_has_one_replica():
    assert runtime.make_strategy("auto").num_replicas_in_sync == 1
