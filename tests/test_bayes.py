"""Bayesian search on the constraint surface: every proposal is feasible by construction, before and
after the Gaussian process takes over, and the project records its surface."""

import math

import keras_tuner
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from effnet_keras.models.scaling import cost_ratio
from effnet_keras.tuner.bayes import Surface, SurfaceOracle, initial_points
from effnet_keras.tuner.space import SpaceError

bounds = st.tuples(st.floats(1.0, 1.6), st.floats(0.01, 0.8)).map(lambda t: (t[0], t[0] + t[1]))


def box_costs(alpha, beta, gamma):
    """The cost ratio at the box's low corner and at its high corner."""
    return cost_ratio(alpha[0], beta[0], gamma[0]), cost_ratio(alpha[1], beta[1], gamma[1])


@hsettings(max_examples=400, deadline=None)
@given(bounds, bounds, bounds, st.floats(0.001, 0.999), st.floats(0, 1), st.floats(0, 1))
def test_every_point_of_the_box_is_feasible_and_in_range(alpha, beta, gamma, where, a, fraction):
    low_cost, high_cost = box_costs(alpha, beta, gamma)
    target = max(low_cost, 1.001) + where * (high_cost - max(low_cost, 1.001))
    surface = Surface(alpha, beta, gamma, target)
    low, high = surface.alpha_bounds()
    point = surface.point(low + a * (high - low), fraction)
    assert cost_ratio(point["alpha"], point["beta"], point["gamma"]) == pytest.approx(target, rel=1e-9)
    for name, (lo, hi) in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        assert lo - 1e-12 <= point[name] <= hi + 1e-12


@hsettings(max_examples=100, deadline=None)
@given(bounds, bounds, bounds, st.floats(1.01, 2.0))
def test_a_target_beyond_the_boxs_costliest_corner_is_refused(alpha, beta, gamma, excess):
    with pytest.raises(SpaceError, match="No \\(alpha, beta, gamma\\) in the --grid ranges"):
        Surface(alpha, beta, gamma, box_costs(alpha, beta, gamma)[1] * excess)


def test_the_default_range_surface_spans_it_and_holds_the_papers_point():
    surface = Surface((1.0, 1.4), (1.0, 1.4), (1.0, 1.4), 2.0)
    assert surface.alpha_bounds() == (1.0, 1.4)
    low, high = surface.beta_bounds(1.2)
    point = surface.point(1.2, (1.1 - low) / (high - low))
    assert point["beta"] == pytest.approx(1.1) and point["gamma"] == pytest.approx(math.sqrt(2 / 1.2) / 1.1)


def test_proposals_stay_feasible_once_the_gaussian_process_leads(tmp_path):
    surface = Surface((1.0, 1.4), (1.0, 1.4), (1.0, 1.4), 2.0)
    oracle = SurfaceOracle(surface, {"kind": "search"}, max_trials=8, seed=1)
    oracle._set_project_dir(str(tmp_path), "p")
    seen = []
    while True:
        trial = oracle.create_trial("tuner0")
        if trial.status == keras_tuner.engine.trial.TrialStatus.STOPPED:
            break
        v = trial.hyperparameters.values
        seen.append(v)
        assert cost_ratio(v["alpha"], v["beta"], v["gamma"]) == pytest.approx(2.0, rel=1e-9)
        assert all(1.0 <= v[k] <= 1.4 for k in ("alpha", "beta", "gamma"))
        oracle.update_trial(trial.trial_id, {"val_accuracy": 1 - (v["alpha"] - 1.2) ** 2 - (v["beta"] - 1.1) ** 2})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    assert len(seen) == 8 and initial_points(8) == 4  # 4 random, then 4 from the Gaussian process
    assert len({(v["alpha"], v["beta"]) for v in seen}) == 8

    reloaded = SurfaceOracle(surface, {"kind": "search"}, max_trials=8, seed=1)
    reloaded._set_project_dir(str(tmp_path), "p")
    reloaded.reload()
    assert len(reloaded.trials) == 8
    other = SurfaceOracle(Surface((1.0, 1.3), (1.0, 1.4), (1.0, 1.4), 2.0), {"kind": "search"}, max_trials=8)
    other._set_project_dir(str(tmp_path), "p")
    with pytest.raises(SpaceError, match="different search"):
        other.reload()
