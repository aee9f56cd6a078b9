"""Reports of tuner projects: Markdown and CSV tables beside PNG plots, for a search, a study or a
comparison. `write_report(project_dir)` picks the kind from the project's oracle state."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Sequence

from effnet_keras import tables
from effnet_keras.models.configs import load_config
from effnet_keras.training.plots import plot_bars, plot_histories, plot_lines, plot_points
from effnet_keras.training.rundir import RunDir
from effnet_keras.tuner.trials import read_project

SEARCH_COLUMNS = ("index", "alpha", "beta", "gamma", "alpha*beta^2*gamma^2", "measured MAC ratio", "step-time ratio",
                  "rung", "epochs", "best_train_accuracy", "best_val_accuracy", "score", "params", "MACs", "step ms",
                  "trial")
STUDY_COLUMNS = ("dimension", "multiplier", "width", "depth", "resolution", "params", "MACs", "best_train_accuracy",
                 "best_val_accuracy", "step ms", "trial")
COMPARE_COLUMNS = ("model", "resolution", "params", "MACs", "best_val_accuracy", "test_accuracy", "step ms",
                   "images/s", "epoch s")
PERCENT = ("best_train_accuracy", "best_val_accuracy", "test_accuracy")


def report_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """A Markdown table of `rows` with the given columns; accuracies in %, counts with separators."""
    def cell(key, value):
        if key in PERCENT and isinstance(value, float):
            return f"{100 * value:.2f}%"
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
            return f"{value:,}"
        return f"{value:.3g}" if isinstance(value, float) and key not in ("alpha", "beta", "gamma") else str(value)

    return tables.markdown_table(columns, [[cell(c, r[c]) for c in columns] for r in rows])


def _write(project_dir: Path, name: str, title: str, intro: str, rows: list[dict], columns: Sequence[str],
           images: Sequence[tuple[str, str]]) -> str:
    with open(project_dir / f"{name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    table = report_table(rows, columns)
    figures = "\n\n".join(f"![{caption}]({file})" for file, caption in images)
    (project_dir / f"{name}.md").write_text(f"# {title}\n\n{intro}\n\n{table}\n\n{figures}\n")
    return table


def _run_config(trial: dict) -> dict:
    run = RunDir.of_execution(trial["trial_dir"], 0)
    return run.read_json(run.config_file)


def _history(trial: dict) -> list[dict]:
    return [{k: float(v) for k, v in row.items()} for row in RunDir.of_execution(trial["trial_dir"], 0).read_history()]


def _search_row(index: int, t: dict) -> dict:
    return {"index": index, **{k: round(t[k], 4) for k in ("alpha", "beta", "gamma")},
            "alpha*beta^2*gamma^2": round(t["formula_ratio"], 4), "measured MAC ratio": round(t["measured_ratio"], 4),
            "step-time ratio": round(t["step_time_ratio"], 3) if "step_time_ratio" in t else "",
            "rung": int(t.get("tuner/round", 0)), "epochs": int(t.get("epochs", len(_history(t)))),
            "best_train_accuracy": t["best_train_accuracy"], "best_val_accuracy": t["val_accuracy"],
            "score": round(t["score"], 4), "params": int(t["params"]), "MACs": int(t["macs"]),
            "step ms": round(t["step_ms"], 1), "trial": t["trial_id"]}


def _point(t: dict) -> tuple[float, float, float]:
    return t["alpha"], t["beta"], t["gamma"]


def search_report(project_dir: Path, signature: dict, trials: list[dict]) -> dict:
    """One row per point, from its last rung's trial (successive halving) or its only trial, best
    first; search.png: accuracy against cost at every rung."""
    objective = signature.get("objective", "val_accuracy")
    every = sorted(trials, key=lambda t: t.get("tuner/round", 0))
    consumed = sum(t.get("trained_epochs", len(_history(t))) for t in every)
    last = {}
    for t in every:
        last[_point(t)] = t
    trials = sorted(last.values(), key=lambda t: (-t.get("tuner/round", 0), -t[objective]))
    rows = [_search_row(i + 1, t) for i, t in enumerate(trials)]
    cost = "step_time_ratio" if signature["constraint"] == "step-time" else "measured_ratio"
    rungs = {}
    for t in every:
        epochs = int(t.get("epochs", len(_history(t))))
        label = f"rung {t.get('tuner/round', 0)}: {epochs} epoch{'s' if epochs != 1 else ''}"
        rungs.setdefault(label, []).append((t[cost], 100 * t["val_accuracy"]))
    best = trials[0]
    plot_lines(rungs, project_dir / "search.png", f"Search {project_dir.name}: accuracy against cost",
               "step-time ratio to the base (measured)" if cost == "step_time_ratio" else
               "MAC ratio to the base (counted)", "best validation accuracy (%)", connect=False,
               note=(f"best: {best['alpha']:g}, {best['beta']:g}, {best['gamma']:g}", best[cost],
                     100 * best["val_accuracy"]))
    plot_histories({f"{r['alpha']:g}, {r['beta']:g}, {r['gamma']:g}": _history(t)
                    for r, t in zip(rows, trials)}, project_dir / "curves.png",
                   f"Search {project_dir.name}: training curves of every point")
    algorithm = signature.get("algorithm", "grid")
    halving = (f" Successive halving from {signature['min_epochs']} epochs, eta {signature['eta']}: points that "
               "reached a later rung first." if algorithm == "halving" else "")
    table = _write(project_dir, "results", f"Compound-scaling search: {project_dir.name}",
                   f"Algorithm {algorithm}; sorted by {objective} (best first).{halving} Constraint: "
                   f"{signature['constraint']} ratio {signature['target']:g} +/- {100 * signature['tolerance']:g}%. "
                   f"The search trained {consumed:g} epochs in all ({len(rows)} points).", rows, SEARCH_COLUMNS,
                   [("search.png", "accuracy against cost per rung"), ("curves.png", "training curves")])
    base = load_config(_run_config(best)["settings"]["base"])  # a config, or the path of one (older projects)
    best_json = {"alpha": best["alpha"], "beta": best["beta"], "gamma": best["gamma"], "base": base,
                 "objective": objective, "val_accuracy": best["val_accuracy"],
                 "measured_ratio": best["measured_ratio"], "formula_ratio": best["formula_ratio"],
                 "trial": best["trial_id"]}
    (project_dir / "best.json").write_text(json.dumps(best_json, indent=2))
    return {"kind": "search", "rows": rows, "markdown": table, "best": best_json,
            "files": ["results.md", "results.csv", "search.png", "curves.png", "best.json"]}


def study_report(project_dir: Path, signature: dict, trials: list[dict]) -> dict:
    rows = []
    for t in trials:
        config = _run_config(t)["model_config"]
        rows.append({"dimension": t["dimension"], "multiplier": t["multiplier"], "width": round(config["width"], 3),
                     "depth": round(config["depth"], 3), "resolution": config["train_resolution"],
                     "params": int(t["params"]), "MACs": int(t["macs"]), "best_train_accuracy": t["best_train_accuracy"],
                     "best_val_accuracy": t["val_accuracy"], "step ms": round(t["step_ms"], 1),
                     "trial": t["trial_id"]})
    order = {d: i for i, d in enumerate(("base", "width", "depth", "resolution", "compound"))}
    rows.sort(key=lambda r: (order[r["dimension"]], r["multiplier"]))
    base = [r for r in rows if r["dimension"] == "base"]
    curves = {}
    for dimension in ("width", "depth", "resolution", "compound"):
        points = [(r["MACs"] / 1e6, 100 * r["best_val_accuracy"]) for r in base + rows if r["dimension"] == dimension]
        if points:
            curves[dimension] = [(b["MACs"] / 1e6, 100 * b["best_val_accuracy"]) for b in base] + points
    plot_lines(curves, project_dir / "study.png", f"Scaling study {project_dir.name}: accuracy against cost",
               "MACs per image (millions, log scale)", "best validation accuracy (%)", logx=True)
    plot_histories({f"{r['dimension']} x{r['multiplier']:g}": _history(t) for r, t in
                    zip(rows, sorted(trials, key=lambda t: (order[t["dimension"]], t["multiplier"])))},
                   project_dir / "curves.png", f"Scaling study {project_dir.name}: training curves of every trial")
    table = _write(project_dir, "report", f"Scaling study: {project_dir.name}",
                   f"Base {signature['base']} at {signature['resolution']} px scaled along one dimension at a time, "
                   "and compound (alpha, beta, gamma = "
                   f"{', '.join(f'{c:g}' for c in signature['coefficients'])}; a compound point with multiplier m "
                   "has the formula cost of width or resolution x m).", rows, STUDY_COLUMNS,
                   [("study.png", "accuracy against MACs per dimension"), ("curves.png", "training curves")])
    return {"kind": "study", "rows": rows, "markdown": table, "files": ["report.md", "report.csv", "study.png",
                                                                        "curves.png"]}


def compare_report(project_dir: Path, signature: dict, trials: list[dict]) -> dict:
    latency = sorted({k for t in trials for k in t if k.startswith("latency_ms_b")}, key=lambda k: int(k[12:]))
    order = {m: i for i, m in enumerate(signature["models"])}
    rows = []
    for t in sorted(trials, key=lambda t: order[t["model"]]):
        config = _run_config(t)
        rows.append({"model": config["model_name"], "resolution": config["resolution"], "params": int(t["params"]),
                     "MACs": int(t["macs"]), "best_val_accuracy": t["val_accuracy"],
                     "test_accuracy": t["test_accuracy"], "step ms": round(t["step_ms"], 1),
                     "images/s": round(t["images_per_second"], 1), "epoch s": round(t["epoch_seconds"], 1),
                     **{f"latency ms/img b{k[12:]}": round(t[k], 3) for k in latency}, "history": _history(t)})
    columns = (*COMPARE_COLUMNS, *(f"latency ms/img b{k[12:]}" for k in latency))
    plot_points([(r["model"], r["MACs"] / 1e6, 100 * r["best_val_accuracy"]) for r in rows],
                project_dir / "accuracy_vs_macs.png", f"Comparison {project_dir.name}: accuracy against cost",
                "MACs per image (millions, log scale)", "best validation accuracy (%)", logx=True)
    plot_points([(r["model"], r["step ms"], 100 * r["best_val_accuracy"]) for r in rows],
                project_dir / "accuracy_vs_step.png", f"Comparison {project_dir.name}: accuracy against step time",
                "training step time (ms per batch, log scale)", "best validation accuracy (%)", logx=True)
    plot_bars([r["model"] for r in rows], [r["step ms"] for r in rows], project_dir / "step_time.png",
              f"Comparison {project_dir.name}: training step time", "model", "ms per training step")
    plot_histories({r["model"]: r["history"] for r in rows}, project_dir / "curves.png",
                   f"Comparison {project_dir.name}: training curves")
    table = _write(project_dir, "report", f"Model comparison: {project_dir.name}",
                   "Same data and training budget for every model, each at its own resolution unless one was "
                   "forced. Latency: inference of the best model per image, at the given batch size.", rows, columns,
                   [("accuracy_vs_macs.png", "accuracy against MACs"), ("accuracy_vs_step.png",
                                                                        "accuracy against step time"),
                    ("step_time.png", "training step time"), ("curves.png", "training curves")])
    return {"kind": "compare", "rows": rows, "markdown": table,
            "files": ["report.md", "report.csv", "accuracy_vs_macs.png", "accuracy_vs_step.png", "step_time.png",
                      "curves.png"]}


def write_report(project_dir: str | Path) -> dict:
    """Write the report of a search, study or comparison project directory and return a summary."""
    project_dir = Path(project_dir)
    signature, trials = read_project(project_dir)
    if not trials:
        raise ValueError(f"{project_dir} has no completed trials yet; run or resume its command first.")
    kinds = {"search": search_report, "study": study_report, "compare": compare_report}
    return kinds[signature["kind"]](project_dir, signature, trials)
