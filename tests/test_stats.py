"""The statistics of repeated runs, on inputs whose answers are known by hand."""

import math

import numpy as np
import pytest
import scipy.stats

from effnet_keras import stats


def test_summary_is_the_mean_sd_and_95_percent_t_interval():
    s = stats.summarize([1, 2, 3, 4, 5])
    assert (s.n, s.mean) == (5, 3.0)
    assert s.sd == pytest.approx(math.sqrt(2.5)) and s.se == pytest.approx(math.sqrt(0.5))
    half = 2.7764451 * math.sqrt(0.5)  # t(0.975, df=4)
    assert (s.low, s.high) == (pytest.approx(3 - half), pytest.approx(3 + half))
    assert s.interval() == "1.04 to 4.96"


def test_one_repeat_gives_a_mean_and_says_no_interval_can_be_given():
    s = stats.summarize([0.9])
    assert (s.n, s.mean, s.sd, s.low, s.high) == (1, 0.9, None, None, None)
    assert s.interval() == "n/a (1 repeat)"


@pytest.mark.parametrize("values", [[], [1.0, float("nan")], [float("inf")]])
def test_no_summary_of_missing_or_non_finite_values(values):
    with pytest.raises(ValueError, match="finite"):
        stats.summarize(values)


def test_paired_t_test_matches_the_hand_computed_p_value():
    # differences 1, 0, 2, 1: mean 1, sd sqrt(2/3), t = 2.449 with 3 degrees of freedom
    assert stats.paired_p([1, 2, 3, 4], [0, 2, 1, 3]) == pytest.approx(0.09172, abs=1e-4)


def test_pairing_removes_what_every_point_shares():
    seed_effect = np.array([0.0, 5.0, -5.0, 10.0, -10.0])  # repeat k is easier or harder for every point
    a, b = 80 + seed_effect + 0.5, 80 + seed_effect
    assert stats.paired_p(a, b) == 0.0  # always 0.5 better: separable when paired
    noisy = a + np.array([0.1, -0.1, 0.2, -0.2, 0.0])
    assert stats.paired_p(noisy, b) < 0.01
    assert scipy.stats.ttest_ind(noisy, b).pvalue > 0.9  # unpaired, the seeds' spread hides the difference
    assert stats.paired_p(b, b) == 1.0
    assert stats.paired_p([1.0], [0.0]) is None


def test_holm_adjusts_step_down_and_stays_monotone():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.2, None, 0.9]) == pytest.approx([0.4, None, 0.9])
    assert stats.holm([0.5, None, 0.9]) == [1.0, None, 1.0]  # capped at 1, never below an earlier step


def test_best_is_separable_only_from_points_outside_the_noise():
    values = {"best": [90, 91, 92, 93], "close": [90.2, 90.6, 92.3, 92.6], "far": [80, 81, 80.5, 82]}
    comparisons = {c.other: c for c in stats.compare_to_best(values, "best")}
    assert set(comparisons) == {"close", "far"}
    assert comparisons["far"].separable and comparisons["far"].difference == pytest.approx(10.625)
    assert not comparisons["close"].separable and comparisons["close"].n == 4
    assert comparisons["far"].p_holm == pytest.approx(2 * comparisons["far"].p)


def test_single_repeats_are_never_separable():
    [c] = stats.compare_to_best({"a": [0.9], "b": [0.1]}, "a")
    assert (c.p, c.p_holm, c.separable) == (None, None, False)


def test_trend_is_the_least_squares_slope_of_the_last_values_and_none_for_a_shorter_curve():
    assert stats.trend([0.0, 9.0, 1.0, 3.0, 5.0], last=3) == pytest.approx(2.0)  # 9.0 is outside the window
    assert stats.trend([1.0, 2.0, 1.0, 2.0], last=4) == pytest.approx(0.2)  # a zigzag rises slowly
    assert stats.trend([5.0, 5.0, 5.0], last=3) == pytest.approx(0.0)
    assert stats.trend([1.0, 2.0], last=3) is None
