"""The step-time constraint: pairs timed back to back against the base, the median ratio, cached in
the project; on a tiny model with a fake clock, so the figures are exact."""

import json

import pytest
from helpers import TINY

from effnet_keras.models.configs import load_config
from effnet_keras.training.settings import TrainSettings
from effnet_keras.tuner.space import candidate_space
from effnet_keras.tuner.steptime import StepTimeCache, median_ratio


def fake_clock(deltas):
    """A clock that reads 0, then advances by the next of `deltas` (cycled) at every later read."""
    state = {"now": 0.0, "i": 0}

    def clock():
        value = state["now"]
        state["now"] += deltas[state["i"] % len(deltas)]
        state["i"] += 1
        return value
    return clock


def test_pairs_are_interleaved_after_warm_up_and_the_median_ratio_is_kept():
    calls = []
    # Each pair reads the clock three times: base takes 1 s, the candidate 2 s, then 7 s to the next pair.
    ratio = median_ratio(lambda: calls.append("c"), lambda: calls.append("b"), repeats=3, warmup=1,
                         clock=fake_clock([1.0, 2.0, 7.0]))
    assert calls == ["b", "c"] * 4 and ratio == pytest.approx(2.0)
    noisy = iter([0, 1, 3,  10, 11, 19,  20, 21, 23])  # ratios 2, 8, 2: the outlier does not move the median
    assert median_ratio(lambda: None, lambda: None, repeats=3, warmup=0, clock=lambda: next(noisy)) == 2.0


def test_ratios_are_cached_in_the_project_and_never_timed_twice(tmp_path):
    timed = []
    cache = StepTimeCache(tmp_path / "step_times.json", lambda p: timed.append(p) or 1.5)
    assert cache((1.2, 1.1, 1.15)) == 1.5 and cache((1.2, 1.1, 1.15)) == 1.5 and timed == [(1.2, 1.1, 1.15)]
    again = StepTimeCache(tmp_path / "step_times.json", lambda p: pytest.fail("timed again"))
    assert again((1.2, 1.1, 1.15)) == 1.5
    assert json.loads((tmp_path / "step_times.json").read_text()) == {"[1.2, 1.1, 1.15]": 1.5}


def test_a_search_under_the_step_time_constraint_times_tiny_models_and_records_the_ratio(tmp_path):
    from effnet_keras.tuner.search import make_search

    space = candidate_space("1.2,1.1,1.15", constraint="step-time", target=2.0, tolerance=0.05)
    settings = TrainSettings(dataset="synthetic", epochs=1, batch_size=8, augment="none")
    tuner = make_search(space, settings, TINY, directory=str(tmp_path), project_name="p", num_classes=10,
                        clock=fake_clock([1.0, 2.0, 7.0]))
    assert tuner.planned == 1 and load_config(TINY)["name"] == tuner.base["name"]
    assert json.loads((tmp_path / "p" / "step_times.json").read_text()) == {"[1.2, 1.1, 1.15]": 2.0}
    values = {"alpha": 1.2, "beta": 1.1, "gamma": 1.15}
    metrics = tuner.extra_metrics(values, [{"macs": 2 * tuner.base_macs, "best_val_accuracy": 0.5}], tmp_path)
    assert metrics["step_time_ratio"] == 2.0 and metrics["measured_ratio"] == 2.0
