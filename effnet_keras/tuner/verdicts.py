"""The reproduction's five questions judged from its tuner projects, by the decision rules stated in
docs/results/README.md before the runs: `python -m tuner verdicts DIRECTORY` writes verdicts.md.

Every verdict is on test accuracy (held out, chosen by nothing): paired over repeats (repeat k of
every point shares seed k), `stats.paired_p` with Holm's correction over the comparisons of one
question, separable at p < 0.05. A question is judged only when its project has every planned point
with the same number of repeats; a missing or unfinished project is reported as such, never judged
on the points it has so far.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from effnet_keras import stats
from effnet_keras.tables import markdown_table
from effnet_keras.training.rundir import write_atomically
from effnet_keras.tuner.project import verdicts_file
from effnet_keras.tuner.trials import (
    LEVELLING_EPOCHS,
    final_train_trend,
    read_oracle_state,
    read_project,
    repeat_metrics,
)

ALPHA = 0.05
LEVELLED = 0.5
"""Training has levelled off when training accuracy rose by at most this many points per epoch over the
last `LEVELLING_EPOCHS` epochs (mean over repeats; docs/results/README.md, *Decision rules*)."""


@dataclass(frozen=True)
class Point:
    """One trained point: label, counted MACs per image, test accuracies (%) and mean step ms per repeat,
    and how fast training accuracy still rose at the end (points per epoch, `trials.final_train_trend`)."""

    label: str
    macs: int
    test: list[float]
    step_ms: list[float]
    train_slope: float | None = None


def read_points(project_dir: Path) -> dict[str, Point]:
    """The completed points of a project by label: "width x1.5" (study), "(1.2, 1.1, 1.15)"
    (search), the model name (compare)."""
    signature, trials = read_project(project_dir)
    points = {}
    for t in trials:
        if signature["kind"] == "study":
            label = f"{t['dimension']} x{t['multiplier']:g}"
        elif signature["kind"] == "search":
            label = f"({t['alpha']:g}, {t['beta']:g}, {t['gamma']:g})"
        else:
            label = Path(t["model"]).stem
        runs = repeat_metrics(t["trial_dir"])
        points[label] = Point(label, int(t["macs"]), [100 * r["test_accuracy"] for r in runs],
                              [r["mean_step_ms"] for r in runs], final_train_trend(t["trial_dir"], len(runs)))
    return points


def levelling(points: dict[str, Point]) -> str:
    """Whether every point's training had levelled off (`LEVELLED`), naming those still rising."""
    slopes = {label: p.train_slope for label, p in points.items()}
    if None in slopes.values():
        return f"Levelling not measured: some runs are shorter than {LEVELLING_EPOCHS} epochs."
    steepest = max(slopes, key=slopes.get)
    rising = [f"{label} ({slope:+.2f})" for label, slope in slopes.items() if slope > LEVELLED]
    if not rising:
        return (f"Training levelled off at every point: training accuracy rose by at most {slopes[steepest]:+.2f} "
                f"points per epoch over the last {LEVELLING_EPOCHS} epochs ({steepest}; rule: at most {LEVELLED}).")
    return (f"**Training had not levelled off** at {', '.join(rising)} points per epoch over the last "
            f"{LEVELLING_EPOCHS} epochs (rule: at most {LEVELLED}): the verdict may understate what they can reach.")


def unfinished(planned: int, points: dict[str, Point]) -> str | None:
    """Why a project of `planned` points whose completed ones are `points` cannot be judged yet, or
    None when every planned point is complete with the same number of repeats."""
    if len(points) < planned:
        return f"{len(points)} of {planned} points complete"
    repeats = sorted({len(p.test) for p in points.values()})
    if len(repeats) > 1:
        return f"points have between {repeats[0]} and {repeats[-1]} repeats (a top-up is unfinished)"
    return None


def _mean(p: Point) -> str:
    s = stats.summarize(p.test)
    return f"{s.mean:.2f} ({s.interval()})"


def _diff(a: Point, b: Point) -> tuple[float, float | None]:
    """Mean paired difference a - b (points) and its raw p-value, over the repeats both have."""
    n = min(len(a.test), len(b.test))
    return float(np.mean(np.subtract(a.test[:n], b.test[:n]))), stats.paired_p(a.test[:n], b.test[:n])


def _verdict(confirmed: bool, refuted: bool) -> str:
    return "confirmed" if confirmed else "refuted" if refuted else "not separable"


def observation_2(points: dict[str, Point]) -> tuple[str, list[list[str]]]:
    """Per dimension: x2.5 against the base, and the last step's gain against the first step's."""
    base, rows, raw = points["base x1"], [], []
    dims = [d for d in ("width", "depth", "resolution") if all(f"{d} x{m}" in points for m in (1.5, 2, 2.5))]
    for d in dims:
        first, last = (np.subtract(points[f"{d} x{hi}"].test, points[lo].test)
                       for lo, hi in (("base x1", 1.5), (f"{d} x2", 2.5)))
        raw += [_diff(points[f"{d} x2.5"], base)[1], stats.paired_p(last, first)]
    adjusted = stats.holm(raw)
    verdicts = []
    for i, d in enumerate(dims):
        gain, _ = _diff(points[f"{d} x2.5"], base)
        first = float(np.mean(np.subtract(points[f"{d} x1.5"].test, base.test)))
        last = float(np.mean(np.subtract(points[f"{d} x2.5"].test, points[f"{d} x2"].test)))
        p_gain, p_steps = adjusted[2 * i], adjusted[2 * i + 1]
        improves = p_gain is not None and p_gain < ALPHA and gain > 0
        worse = p_gain is not None and p_gain < ALPHA and gain < 0
        rising = p_steps is not None and p_steps < ALPHA and last > first
        verdict = _verdict(improves and last < first, worse or rising)
        verdicts.append(verdict)
        rows.append([d, _mean(base), _mean(points[f"{d} x2.5"]), f"{gain:+.2f}", _p(p_gain), f"{first:+.2f}",
                     f"{last:+.2f}", _p(p_steps), verdict])
    return _overall(verdicts), rows


def observation_3(points: dict[str, Point]) -> tuple[str, list[list[str]]]:
    """Each compound point against the single-dimension point of nearest counted MACs not below its own."""
    singles = [p for label, p in points.items() if label.split()[0] in ("width", "depth", "resolution")]
    pairs = []
    for label in sorted(k for k in points if k.startswith("compound")):
        compound = points[label]
        rivals = [p for p in singles if p.macs >= compound.macs]
        if rivals:
            pairs.append((compound, min(rivals, key=lambda p: p.macs)))
    adjusted = stats.holm([_diff(rival, c)[1] for c, rival in pairs])
    rows, beaten = [], False
    for (compound, rival), p in zip(pairs, adjusted):
        diff, _ = _diff(compound, rival)
        beaten |= p is not None and p < ALPHA and diff < 0
        rows.append([compound.label, f"{compound.macs / 1e6:.2f}", _mean(compound), rival.label,
                     f"{rival.macs / 1e6:.2f}", _mean(rival), f"{diff:+.2f}", _p(p)])
    tested = bool(pairs) and all(p is not None for p in adjusted)
    return ("refuted" if beaten else "confirmed" if tested else "not separable"), rows


def scale_up(points: dict[str, Point]) -> tuple[str, list[list[str]]]:
    """phi 3 against phi 0, and each step phi -> phi + 1."""
    phis = sorted(points, key=lambda k: float(k.rsplit("phi", 1)[1]))
    steps = [(phis[i + 1], phis[i]) for i in range(len(phis) - 1)]
    comparisons = [(phis[-1], phis[0]), *steps]
    adjusted = stats.holm([_diff(points[a], points[b])[1] for a, b in comparisons])
    rows = [[a, b, _mean(points[a]), _mean(points[b]), f"{_diff(points[a], points[b])[0]:+.2f}", _p(p)]
            for (a, b), p in zip(comparisons, adjusted)]
    total, p_total = _diff(points[phis[-1]], points[phis[0]])[0], adjusted[0]
    step_worse = any(p is not None and p < ALPHA and _diff(points[a], points[b])[0] < 0
                     for (a, b), p in zip(steps, adjusted[1:]))
    separable = p_total is not None and p_total < ALPHA
    return _verdict(separable and total > 0 and not step_worse, separable and total < 0), rows


def seed_grid(points: dict[str, Point], seed_best: str = "(1.2, 1.1, 1.15)") -> tuple[str, list[list[str]]]:
    """The six points by mean test accuracy; each against the best by a paired test."""
    best = max(points, key=lambda k: np.mean(points[k].test))
    comparisons = {c.other: c for c in stats.compare_to_best({k: p.test for k, p in points.items()}, best)}
    rows = []
    for label in sorted(points, key=lambda k: -np.mean(points[k].test)):
        c = comparisons.get(label)
        rows.append([label, _mean(points[label]), "best" if c is None else f"{c.difference:+.2f}",
                     "" if c is None else _p(c.p_holm),
                     "best" if c is None else "separable" if c.separable else "not separable"])
    c = comparisons.get(seed_best)
    among = c is None or (c.p_holm is not None and not c.separable)
    verdict = (f"{seed_best} is among the best" if among else f"{seed_best} is separably below {best}")
    return verdict, rows


def v1_v2(points: dict[str, Point], v1: str = "b0-half", v2: str = "v2-b0-half") -> tuple[str, list[list[str]]]:
    """V1 against V2 at equal epochs: paired test on accuracy, and mean step time."""
    diff, p = _diff(points[v2], points[v1])
    rows = [[name, _mean(points[name]), f"{np.mean(points[name].step_ms):.1f}"] for name in (v1, v2)]
    if p is None or p >= ALPHA:
        verdict = f"accuracy not separable ({v2} - {v1} {diff:+.2f} points, p={_p(p)})"
    else:
        verdict = f"{v2 if diff > 0 else v1} more accurate by {abs(diff):.2f} points (p={p:.3f})"
    ratio = np.mean(points[v2].step_ms) / np.mean(points[v1].step_ms)
    return f"{verdict}; {v2} step time {ratio:.2f}x {v1}'s", rows


def _p(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.3f}"


def _overall(verdicts: list[str]) -> str:
    if not verdicts:
        return "not run"
    if all(v == "confirmed" for v in verdicts):
        return "confirmed"
    return "refuted" if "refuted" in verdicts else "not separable"


QUESTIONS = (
    ("Observation 2: one dimension improves accuracy with diminishing returns", "study", observation_2,
     ["dimension", "base test %", "x2.5 test %", "x2.5 - base", "p (Holm)", "gain x1 -> x1.5", "gain x2 -> x2.5",
      "p last vs first step (Holm)", "verdict"]),
    ("Observation 3: at equal counted cost compound is at least as accurate as one dimension", "study",
     observation_3, ["compound", "M MACs", "test %", "rival", "M MACs", "test %", "compound - rival", "p (Holm)"]),
    ("Scale-up: accuracy rises from phi 0 to phi 3", "scale-up", scale_up,
     ["point", "against", "test %", "test %", "difference", "p (Holm)"]),
    ("The seed's grid", "search", seed_grid, ["point", "test %", "vs best", "p (Holm)", "separable"]),
    ("V1 (MBConv) against V2 (Fused-MBConv)", "compare", v1_v2, ["model", "test % (95% interval)", "step ms"]),
)


def write_verdicts(directory: str | Path) -> str:
    """Judge every question whose project under `directory` has trials; write and return verdicts.md."""
    directory = Path(directory)
    parts = [f"# Verdicts\n\nTest accuracy in %, mean over paired repeats (95% t-interval); p: {stats.TEST_NAME} "
             "within each question. Rules: docs/results/README.md, *Decision rules*."]
    for title, project, judge, header in QUESTIONS:
        state = read_oracle_state(directory / project)
        points = read_points(directory / project) if state else {}
        if not points:
            parts.append(f"## {title}\n\nNot run yet (`{directory / project}` has no completed trials).")
            continue
        waiting = unfinished(len(state.get("points") or ()), points)
        if waiting:
            parts.append(f"## {title}\n\nIn progress, not judged: `{directory / project}` has {waiting}.")
            continue
        try:
            verdict, rows = judge(points)
        except (KeyError, IndexError):
            parts.append(f"## {title}\n\nIncomplete: `{directory / project}` lacks points this question needs.")
            continue
        parts.append(f"## {title}\n\n**{verdict}**\n\n{markdown_table(header, rows)}\n\n{levelling(points)}")
    text = "\n\n".join(parts) + "\n"
    write_atomically(verdicts_file(directory), text.encode())
    return text
