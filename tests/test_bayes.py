"""Bayesian search on the constraint surface: every proposal is feasible by construction, before and
after the Gaussian process takes over, on the formula's surface and on the counted-cost one, and the
project records its surface."""

import math

import keras_tuner
import pytest
from helpers import in_project
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from effnet_keras.models.scaling import cost_ratio
from effnet_keras.tuner.bayes import Box, Surface, SurfaceOracle, initial_points
from effnet_keras.tuner.measured import MeasuredSurface, lattice
from effnet_keras.tuner.space import SpaceError, point_key

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
    oracle = in_project(SurfaceOracle(surface, {"kind": "search"}, max_trials=8, seed=1), tmp_path)
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

    reloaded = in_project(SurfaceOracle(surface, {"kind": "search"}, max_trials=8, seed=1), tmp_path)
    reloaded.reload()
    assert len(reloaded.trials) == 8
    other = in_project(SurfaceOracle(Surface((1.0, 1.3), (1.0, 1.4), (1.0, 1.4), 2.0), {"kind": "search"},
                                     max_trials=8), tmp_path)
    with pytest.raises(SpaceError, match="different search"):
        other.reload()


def fake_depth(alpha):
    """Blocks of a three-block stage at depth alpha (rounded up, as round_repeats does)."""
    return math.ceil(round(3 * alpha, 9))


def fake_ratio(alpha, beta, gamma):
    """A counted-cost stand-in with the real one's steps: depth in blocks of 3, width in 16ths, whole pixels of 32."""
    return fake_depth(alpha) / 3 * (math.ceil(round(16 * beta, 9)) / 16) ** 2 * (round(32 * gamma) / 32) ** 2


def measured(box, tolerance=0.05):
    return MeasuredSurface(box, tolerance, fake_ratio, fake_depth, base_resolution=32)


def feasible_anywhere(box, tolerance):
    """Brute force: some lattice point of the box has a ratio in the band."""
    low, high = box.target * (1 - tolerance), box.target * (1 + tolerance)
    pixels = range(math.ceil(32 * box.gamma[0] - 1e-9), math.floor(32 * box.gamma[1] + 1e-9) + 1)
    depths = {fake_depth(a): a for a in reversed(lattice(box.alpha))}.values()
    return any(low <= fake_ratio(a, b, p / 32) <= high for a in depths for p in pixels for b in lattice(box.beta))


small = st.tuples(st.floats(1.0, 1.5), st.floats(0.0, 0.3)).map(lambda t: (round(t[0], 3), round(t[0] + t[1], 3)))


@hsettings(max_examples=150, deadline=None)
@given(small, small, small, st.floats(1.05, 4.0), st.floats(0.0, 0.1), st.lists(st.tuples(st.floats(0, 1),
       st.floats(0, 1)), min_size=1, max_size=5))
def test_every_measured_proposal_is_in_the_band_and_none_is_missed(alpha, beta, gamma, target, tolerance, proposals):
    box = Box(alpha, beta, gamma, target)
    try:
        surface = measured(box, tolerance)
    except SpaceError:
        assert not feasible_anywhere(box, tolerance)
        return
    for depth_fraction, beta_fraction in proposals:
        point = surface.point(depth_fraction, beta_fraction)
        assert target * (1 - tolerance) <= fake_ratio(*point.values()) <= target * (1 + tolerance)
        for name, (lo, hi) in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
            assert lo - 1e-9 <= point[name] <= hi + 1e-9
        assert point["alpha"] in lattice(alpha) and point["beta"] in lattice(beta)
        assert (32 * point["gamma"]).is_integer()
        same_depth = [x for x in lattice(alpha) if fake_depth(x) == fake_depth(point["alpha"])]
        assert point["alpha"] == min(same_depth)  # one alpha per network


def test_a_measured_surface_has_one_point_per_network_and_the_search_stops_when_it_is_spent(tmp_path, capsys):
    surface = measured(Box((1.0, 1.4), (1.0, 1.4), (1.0, 1.0), 2.0), 0.1)
    assert [d.alpha for d in surface.depths] == [1.0, 1.001, 1.334]  # 3, 4 and 5 blocks
    oracle = in_project(SurfaceOracle(surface, {"kind": "search"}, max_trials=8, seed=0), tmp_path)
    points = []
    while (trial := oracle.create_trial("tuner0")).status != keras_tuner.engine.trial.TrialStatus.STOPPED:
        v = trial.hyperparameters.values
        points.append((v["alpha"], v["beta"], v["gamma"]))
        oracle.update_trial(trial.trial_id, {"val_accuracy": v["beta"]})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    assert sorted(points) == [(1.0, 1.313, 1.0), (1.001, 1.126, 1.0), (1.334, 1.001, 1.0)]
    assert "Search stopped after 3 trials: every point of the constraint surface is tried" in capsys.readouterr().out
    assert surface.point(0.5, 0.5, tried=[point_key(dict(zip(("alpha", "beta", "gamma"), p))) for p in points]) is None


def test_an_empty_measured_surface_says_how_to_widen_it():
    with pytest.raises(SpaceError, match="No network in the --grid ranges has a counted MAC ratio within 5%"):
        measured(Box((1.0, 1.4), (1.0, 1.4), (1.0, 1.4), 12.0))
    with pytest.raises(SpaceError, match="holds no whole resolution of the 32 px base"):
        measured(Box((1.0, 1.4), (1.0, 1.4), (1.01, 1.02), 2.0))
