"""Specification of effnet_keras.models.size: parameter and activation estimates from a config,
close to the built model's, and absurd configs refused from the stage list alone (repeats
multiplied, nothing built)."""

import pytest

import effnet_keras as ek
from effnet_keras.models.size import MAX_PARAMS, estimate_size, size_problem


@pytest.mark.parametrize("name", ["b0", "v2-b0"])
def test_the_parameter_estimate_is_within_10_percent_of_the_built_backbone(name):
    config = ek.override(name, resolution=32)
    built = ek.build_model(config, include_top=False, input_shape=(32, 32, 3)).count_params()
    assert estimate_size(config).params == pytest.approx(built, rel=0.1)


def test_activation_memory_grows_with_the_square_of_the_resolution():
    small, large = (estimate_size(ek.override("b0", resolution=r)).activation_bytes for r in (112, 224))
    assert large / small == pytest.approx(4, rel=0.05)


def test_every_variant_is_within_the_default_bounds():
    assert all(size_problem(ek.get_config(name)) is None for name in ek.VARIANTS)


@pytest.mark.parametrize("change, figure", [
    ({"width": 1000.0}, "parameters"), ({"resolution": 100_000}, "GiB of activations per training image"),
    ({"blocks": 5, "kernel": 10001}, "parameters"), ({"blocks": 5, "repeats": 10**6}, "parameters")])
def test_absurd_configs_are_refused_naming_the_figure(change, figure):
    config = ek.get_config("b0")
    if "blocks" in change:
        stage = config["blocks"][change.pop("blocks")]
        stage.update(change)
    else:
        config = ek.override(config, **change)
    problem = size_problem(config)
    assert problem is not None and figure in problem


def test_the_bounds_can_be_raised():
    config = ek.override("b0", width=40.0)
    assert "above the bound of 2e+09" in size_problem(config)
    assert size_problem(config, max_params=100 * MAX_PARAMS) is None
