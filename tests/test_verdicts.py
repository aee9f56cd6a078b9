"""The reproduction's decision rules, judged on made-up repeats whose answers are known."""

import numpy as np

from effnet_keras.tuner import verdicts
from effnet_keras.tuner.verdicts import Point, observation_2, observation_3, scale_up, seed_grid, v1_v2

SEED_EFFECT = np.array([0.0, 1.5, -1.0, 0.7])  # repeat k is easier or harder for every point alike
WOBBLE = np.array([0.05, -0.05, 0.1, -0.1])


def point(label, mean, macs=1, wobble=WOBBLE, step_ms=10.0):
    return Point(label, macs, list(80 + mean + SEED_EFFECT + wobble), [step_ms] * 4)


def study(gains):
    """Base plus width, depth, resolution at x1.5, x2, x2.5 with the given mean gains over the base."""
    points = {"base x1": point("base x1", 0, macs=100)}
    for d, steps in gains.items():
        for m, gain, macs in zip((1.5, 2, 2.5), steps, (150, 200, 250)):
            points[f"{d} x{m:g}"] = point(f"{d} x{m:g}", gain, macs=macs)
    return points


def test_observation_2_is_confirmed_by_separable_gains_that_shrink():
    verdict, rows = observation_2(study({d: (3, 4.5, 5) for d in ("width", "depth", "resolution")}))
    assert verdict == "confirmed" and [r[-1] for r in rows] == ["confirmed"] * 3


def test_observation_2_is_refuted_when_a_dimension_ends_separably_below_the_base():
    verdict, rows = observation_2(study({"width": (3, 4.5, 5), "depth": (-1, -2, -3), "resolution": (3, 4.5, 5)}))
    assert verdict == "refuted" and rows[1][0] == "depth" and rows[1][-1] == "refuted"


def test_observation_2_inside_the_noise_is_not_separable():
    points = study({d: (0.0, 0.0, 0.0) for d in ("width", "depth", "resolution")})
    points["width x2.5"] = point("width x2.5", 0.3, wobble=np.array([1.0, -1.0, 0.8, -0.6]))
    assert observation_2(points)[0] == "not separable"


def test_observation_3_compares_compound_with_the_nearest_single_dimension_not_cheaper():
    points = study({d: (3, 4.5, 5) for d in ("width", "depth", "resolution")})
    points["compound x1.5"] = point("compound x1.5", 3.2, macs=180)
    verdict, [row] = observation_3(points)
    assert row[0] == "compound x1.5" and row[3] in ("width x2", "depth x2", "resolution x2")
    assert verdict == "refuted"  # x2 scores 4.5, separably above compound's 3.2
    points["compound x1.5"] = point("compound x1.5", 4.6, macs=180)
    assert observation_3(points)[0] == "confirmed"


def test_scale_up_needs_phi_3_separably_above_phi_0_and_no_step_down():
    rising = {f"phi{p}": point(f"phi{p}", g) for p, g in zip(range(4), (0, 2, 3, 3.5))}
    assert scale_up(rising)[0] == "confirmed"
    falling = {f"phi{p}": point(f"phi{p}", g) for p, g in zip(range(4), (0, -1, -2, -3))}
    assert scale_up(falling)[0] == "refuted"


def test_seed_grid_says_whether_the_seeds_best_point_is_among_the_best():
    grid = {"(1.2, 1.1, 1.15)": point("a", 5.0), "(1.3, 1.05, 1.15)": point("b", 5.05, wobble=-WOBBLE),
            "(1.1, 1.2, 1.15)": point("c", 1.0)}
    verdict, rows = seed_grid(grid)
    assert verdict == "(1.2, 1.1, 1.15) is among the best"
    assert [r[-1] for r in rows] == ["best", "not separable", "separable"]
    grid["(1.2, 1.1, 1.15)"] = point("a", 0.0)
    assert seed_grid(grid)[0] == "(1.2, 1.1, 1.15) is separably below (1.3, 1.05, 1.15)"


def test_v1_against_v2_reports_the_paired_difference_and_the_step_time_ratio():
    verdict, rows = v1_v2({"b0-half": point("b0-half", 0, step_ms=100), "v2-b0-half": point("v2-b0-half", 2,
                                                                                             step_ms=80)})
    assert verdict.startswith("v2-b0-half more accurate by 2.00 points") and "step time 0.80x" in verdict
    assert [r[0] for r in rows] == ["b0-half", "v2-b0-half"]


def test_a_question_is_judged_only_when_its_project_has_every_planned_point_with_all_its_repeats(tmp_path,
                                                                                                  monkeypatch):
    labels = ["(1.2, 1.1, 1.15)", "(1.2, 1.15, 1.1)", "(1.3, 1.05, 1.15)", "(1.3, 1.15, 1.05)", "(1.15, 1.1, 1.2)",
              "(1.1, 1.2, 1.15)"]
    grid = {label: point(label, i) for i, label in enumerate(labels[:2])}
    monkeypatch.setattr(verdicts, "read_oracle_state",
                        lambda d: {"points": [{}] * len(labels)} if d.name == "search" else None)
    monkeypatch.setattr(verdicts, "read_points", lambda d: grid)
    text = verdicts.write_verdicts(tmp_path)
    assert "`" + str(tmp_path / "search") + "` has 2 of 6 points complete" in text and "best" not in text
    assert text.count("Not run yet") == 4 and (tmp_path / "verdicts.md").read_text() == text

    grid.update({label: point(label, i) for i, label in enumerate(labels)})
    grid[labels[0]] = Point(labels[0], 1, grid[labels[0]].test[:3], [10.0] * 3)  # its 4th repeat is running
    assert "points have between 3 and 4 repeats" in verdicts.write_verdicts(tmp_path)

    grid[labels[0]] = point(labels[0], 0)
    assert "(1.2, 1.1, 1.15) is separably below (1.1, 1.2, 1.15)" in verdicts.write_verdicts(tmp_path)


def test_every_verdict_says_whether_training_had_levelled_off_and_names_the_points_still_rising():
    points = {"b0-half": point("b0-half", 0), "v2-b0-half": point("v2-b0-half", 2)}
    levelled = {label: Point(p.label, p.macs, p.test, p.step_ms, slope) for (label, p), slope in
                zip(points.items(), (0.1, 0.4))}
    assert verdicts.levelling(levelled).startswith("Training levelled off at every point: training accuracy rose "
                                                   "by at most +0.40 points per epoch over the last 5 epochs "
                                                   "(v2-b0-half; rule: at most 0.5)")
    levelled["b0-half"] = Point("b0-half", 1, points["b0-half"].test, [10.0] * 4, 0.9)
    assert "**Training had not levelled off** at b0-half (+0.90) points per epoch" in verdicts.levelling(levelled)
    assert verdicts.levelling(points) == "Levelling not measured: some runs are shorter than 5 epochs."
