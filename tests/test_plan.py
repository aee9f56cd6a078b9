"""Specification of effnet_keras.training.plan: what a run decides before it reads data."""

import pytest

import effnet_keras as ek
from effnet_keras.training.errors import UsageError
from effnet_keras.training.plan import plan_run, plan_stages
from effnet_keras.training.settings import TrainSettings, plan_model

TINY = ek.override("b0", width=0.25, depth=0.25, resolution=64, bn_momentum=0.9, name="tiny")


def test_without_progressive_learning_one_stage_covers_every_epoch():
    settings = TrainSettings(model=TINY, epochs=5, augment_magnitude=0.4)
    (stage,) = plan_stages(settings, plan_model(settings))
    assert (stage.start, stage.end, stage.resolution, stage.magnitude, stage.dropout) == (0, 5, 64, 0.4, None)


def test_progressive_learning_grows_image_size_augmentation_and_dropout():
    settings = TrainSettings(model=TINY, epochs=6, progressive=True, progressive_stages=3, augment_magnitude=0.6)
    stages = plan_stages(settings, plan_model(settings))
    assert [(st.start, st.end) for st in stages] == [(0, 2), (2, 4), (4, 6)]
    assert [st.resolution for st in stages] == [32, 48, 64]
    assert [round(st.magnitude, 2) for st in stages] == [0.0, 0.3, 0.6]
    assert stages[0].dropout == pytest.approx(0.1) and stages[-1].dropout == pytest.approx(0.2)


def test_more_stages_than_epochs_give_one_stage_per_epoch():
    settings = TrainSettings(model=TINY, epochs=2, progressive=True, progressive_stages=4)
    assert [(st.start, st.end) for st in plan_stages(settings, plan_model(settings))] == [(0, 1), (1, 2)]


def test_a_config_dict_is_a_model_as_a_file_or_a_name_is():
    plan = plan_run(TrainSettings(model=TINY, epochs=3))
    assert plan.model.name == "tiny" and plan.model.config["width"] == 0.25 and plan.model.resolution == 64
    scaled = plan_run(TrainSettings(model=TINY, base=TINY, alpha=1.2, beta=1.1, gamma=1.15, phi=1))
    assert scaled.model.config["depth"] == pytest.approx(0.25 * 1.2)


def test_the_plan_resolves_recipe_precision_xla_augmentation_and_strategy_on_this_machine():
    plan = plan_run(TrainSettings(model="simple-cnn", epochs=3))
    assert (plan.device, plan.precision, plan.jit, plan.replicas) == ("cpu", "float32", False, 1)
    assert plan.recipe.name == "scratch" and plan.augment == plan.recipe.augment_for(3)


def test_randaugment_under_forced_xla_is_refused():
    with pytest.raises(UsageError, match="randaugment does not compile under XLA"):
        plan_run(TrainSettings(model="simple-cnn", augment="randaugment", jit_compile="on"))
