"""Specification of effnet_keras.training.plan: what a run decides, from its settings, the files they
name and the kind of device, before it touches data or devices."""

import dataclasses
import json

import numpy as np
import pytest

import effnet_keras as ek
from effnet_keras.training.errors import UsageError
from effnet_keras.training.inputs import read_inputs
from effnet_keras.training.plan import check_run, plan_run, plan_stages
from effnet_keras.training.settings import ResolvedSettings, TrainSettings, check_settings

TINY = ek.override("b0", width=0.25, depth=0.25, resolution=64, bn_momentum=0.9, name="tiny")


def test_without_progressive_learning_one_stage_covers_every_epoch():
    settings = TrainSettings(model=TINY, epochs=5, augment_magnitude=0.4)
    (stage,) = plan_stages(settings, check_run(settings))
    assert (stage.start, stage.end, stage.resolution, stage.magnitude, stage.dropout) == (0, 5, 64, 0.4, None)


def test_progressive_learning_grows_image_size_augmentation_and_dropout():
    settings = TrainSettings(model=TINY, epochs=6, progressive=True, progressive_stages=3, augment_magnitude=0.6)
    stages = plan_stages(settings, check_run(settings))
    assert [(st.start, st.end) for st in stages] == [(0, 2), (2, 4), (4, 6)]
    assert [st.resolution for st in stages] == [32, 48, 64]
    assert [round(st.magnitude, 2) for st in stages] == [0.0, 0.3, 0.6]
    assert stages[0].dropout == pytest.approx(0.1) and stages[-1].dropout == pytest.approx(0.2)


def test_more_stages_than_epochs_give_one_stage_per_epoch():
    settings = TrainSettings(model=TINY, epochs=2, progressive=True, progressive_stages=4)
    assert [(st.start, st.end) for st in plan_stages(settings, check_run(settings))] == [(0, 1), (1, 2)]


def plan(settings, device="cpu"):
    return plan_run(check_settings(settings), read_inputs(settings), device)


def test_plan_run_takes_only_resolved_settings_and_nothing_can_change_them():
    settings = TrainSettings(model="simple-cnn", epochs=3)
    with pytest.raises(TypeError, match="plan_run takes the ResolvedSettings that check_settings returns"):
        plan_run(settings, read_inputs(settings), "cpu")
    resolved = check_settings(settings)
    assert isinstance(resolved, ResolvedSettings) and resolved.settings is settings
    assert (resolved.recipe.name, resolved.augment) == ("scratch", "flip")
    for obj, field in ((resolved, "augment"), (settings, "epochs"), (resolved.recipe, "lr")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, field, getattr(obj, field))
    assert plan_run(resolved, read_inputs(settings), "cpu").recipe is resolved.recipe


def test_a_config_dict_is_a_model_as_a_file_or_a_name_is():
    tiny = plan(TrainSettings(model=TINY, epochs=3))
    assert tiny.model.name == "tiny" and tiny.model.config["width"] == 0.25 and tiny.model.resolution == 64
    scaled = plan(TrainSettings(model=TINY, base=TINY, alpha=1.2, beta=1.1, gamma=1.15, phi=1))
    assert scaled.model.config["depth"] == pytest.approx(0.25 * 1.2)


def test_planning_reads_no_file_once_the_inputs_are_read(tmp_path):
    config, scale = tmp_path / "tiny.json", tmp_path / "best.json"
    config.write_text(json.dumps(TINY))
    scale.write_text(json.dumps({"alpha": 1.2, "beta": 1.1, "gamma": 1.15}))
    settings = TrainSettings(model=str(config), scale=str(scale), phi=1)
    inputs = read_inputs(settings)
    config.unlink()
    scale.unlink()
    planned = plan_run(check_settings(settings), inputs, "cpu")
    assert planned.model.config["depth"] == pytest.approx(0.25 * 1.2) and planned.strategy == "auto"


@pytest.mark.parametrize("device, precision, jit", [
    ("cpu", "float32", False), ("gpu", "mixed_float16", True), ("tpu", "mixed_bfloat16", True)])
def test_auto_precision_and_xla_follow_the_device(device, precision, jit):
    planned = plan(TrainSettings(model="simple-cnn", epochs=3), device)
    assert (planned.device, planned.precision, planned.jit) == (device, precision, jit)
    assert planned.recipe.name == "scratch" and planned.augment == planned.recipe.augment_for(3)


def test_randaugment_turns_auto_xla_off_with_a_note_and_is_refused_under_forced_xla():
    planned = plan(TrainSettings(model="simple-cnn", augment="randaugment"), "gpu")
    assert not planned.jit and planned.notes == ("XLA off: Keras' RandAugment does not compile under XLA.",)
    with pytest.raises(UsageError, match="randaugment does not compile under XLA"):
        plan(TrainSettings(model="simple-cnn", augment="randaugment", jit_compile="on"))


def test_bad_flags_are_refused_before_any_named_file_is_read(tmp_path):
    with pytest.raises(UsageError, match="--epochs must be a number >= 1 and <= 10,000"):
        check_run(TrainSettings(model=str(tmp_path / "missing.json"), epochs=0))
    with pytest.raises(UsageError, match="missing.json"):
        check_run(TrainSettings(model=str(tmp_path / "missing.json")))


def test_compound_scaling_flags_and_absolute_overrides():
    plan = check_run(TrainSettings(model="b0", alpha=1.2, beta=1.1, gamma=1.15, phi=1,
                                                      resolution=64))
    assert plan.config["alpha"] == 1.2 and plan.resolution == 64 and plan.config["width"] == pytest.approx(1.1)
    plan = check_run(TrainSettings(model="b3", width=0.5))
    assert plan.config["width"] == 0.5 and plan.config["depth"] == 1.4 and plan.resolution == 300
    assert check_run(TrainSettings(model="resnet152")).resolution == 224
    assert np.isclose(check_run(TrainSettings(model="v2-s")).resolution, 300)


def test_scale_file_from_the_tuner_with_phi(tmp_path):
    scale = tmp_path / "best.json"
    scale.write_text(json.dumps({"alpha": 1.2, "beta": 1.1, "gamma": 1.15, "base": "b0", "val_accuracy": 0.9}))
    plan = check_run(TrainSettings(model="b0", scale=str(scale), phi=2))
    assert plan.config["depth"] == pytest.approx(1.44) and plan.resolution == round(224 * 1.15**2)
    with pytest.raises(UsageError, match="missing: --phi"):
        check_run(TrainSettings(model="b0", scale=str(scale)))
