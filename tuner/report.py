"""Results of a compound-scaling search: results.csv, results.md, search.png and best.json."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from effnet_keras.plots import plot_search
from tuner.search import objective_name, read_trials

COLUMNS = ("index", "alpha", "beta", "gamma", "alpha*beta^2*gamma^2", "measured MAC ratio", "best_train_accuracy",
           "best_val_accuracy", "score", "params", "MACs", "step ms", "trial")


def search_report(project_dir: str | Path) -> dict:
    """Write the report files into `project_dir` and return {"rows", "best", "markdown"}."""
    project_dir = Path(project_dir)
    objective = objective_name(project_dir)
    trials = sorted(read_trials(project_dir), key=lambda t: -t.get(objective, float("-inf")))
    if not trials:
        raise ValueError(f"{project_dir} has no completed trials yet; run or resume the search first.")
    rows = [{"index": i + 1, "alpha": t["alpha"], "beta": t["beta"], "gamma": t["gamma"],
             "alpha*beta^2*gamma^2": round(t["formula_ratio"], 4), "measured MAC ratio": round(t["measured_ratio"], 4),
             "best_train_accuracy": round(t["best_train_accuracy"], 4),
             "best_val_accuracy": round(t["val_accuracy"], 4), "score": round(t["score"], 4),
             "params": int(t["params"]), "MACs": int(t["macs"]), "step ms": round(t["step_ms"], 1),
             "trial": t["trial_id"]} for i, t in enumerate(trials)]
    with open(project_dir / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    markdown = markdown_table(rows)
    (project_dir / "results.md").write_text(
        f"# Compound-scaling search: {project_dir.name}\n\nSorted by {objective} (best first).\n\n{markdown}\n\n"
        "![validation accuracy per candidate](search.png)\n")
    by_trial = sorted(rows, key=lambda r: r["trial"])
    plot_search([f"{r['alpha']:g}, {r['beta']:g}, {r['gamma']:g}" for r in by_trial],
                [r["best_val_accuracy"] for r in by_trial],
                next(i for i, r in enumerate(by_trial) if r["index"] == 1), project_dir / "search.png",
                f"Search {project_dir.name}: best validation accuracy per candidate")
    best_trial = trials[0]
    base = json.loads((project_dir / f"trial_{best_trial['trial_id']}" / "base.json").read_text())
    best = {"alpha": best_trial["alpha"], "beta": best_trial["beta"], "gamma": best_trial["gamma"], "base": base,
            "objective": objective, "val_accuracy": best_trial["val_accuracy"],
            "measured_ratio": best_trial["measured_ratio"], "formula_ratio": best_trial["formula_ratio"],
            "trial": best_trial["trial_id"]}
    (project_dir / "best.json").write_text(json.dumps(best, indent=2))
    return {"rows": rows, "best": best, "markdown": markdown}


def markdown_table(rows: list[dict], columns: tuple = COLUMNS) -> str:
    """A Markdown table of `rows` (dicts) with the given columns; accuracies shown in %."""
    def cell(key, value):
        if key in ("best_train_accuracy", "best_val_accuracy") and isinstance(value, float):
            return f"{100 * value:.2f}%"
        if key in ("params", "MACs") and isinstance(value, int):
            return f"{value:,}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---:" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(c, r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
