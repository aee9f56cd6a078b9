"""Reports of tuner projects: Markdown and CSV tables beside PNG plots, for a search, a study or a
comparison. `write_report(project_dir)` picks the kind from the project's oracle state.

Every report starts with what produced it (data, counts, epochs, repeats and seeds, recipe, command,
dates, versions, machine, wall time). Per point it shows, over the point's repeats, n, mean,
standard deviation and 95% t-interval of validation and test accuracy, and whether the best point
is separable from it (`stats.TEST_NAME`); plots draw the intervals as error bars.
"""

from __future__ import annotations

import datetime
import json
import math
import shlex
from collections.abc import Sequence
from pathlib import Path

from effnet_keras import stats, tables
from effnet_keras.models.configs import load_config
from effnet_keras.training.errors import UsageError
from effnet_keras.training.plots import plot_bars, plot_histories, plot_lines, plot_points
from effnet_keras.training.rundir import RunDir
from effnet_keras.tuner.project import ProjectDir
from effnet_keras.tuner.space import point_key
from effnet_keras.tuner.trials import LEVELLING_EPOCHS, final_train_trend, read_project, repeat_metrics

ACCURACY_COLUMNS = ("n", "train acc %", "train slope", "val mean %", "val sd", "val 95% CI", "test mean %", "test sd",
                    "test 95% CI", "vs best")
SEARCH_COLUMNS = ("index", "alpha", "beta", "gamma", "alpha*beta^2*gamma^2", "measured MAC ratio", "step-time ratio",
                  "rung", "epochs", *ACCURACY_COLUMNS, "score", "params", "MACs", "step ms", "trial")
STUDY_COLUMNS = ("dimension", "multiplier", "width", "depth", "resolution", "params", "MACs", *ACCURACY_COLUMNS,
                 "step ms", "trial")
COMPARE_COLUMNS = ("model", "resolution", "params", "MACs", *ACCURACY_COLUMNS, "step ms", "images/s", "epoch s")
FORMATS = {
    "alpha": "{:g}", "beta": "{:g}", "gamma": "{:g}", "multiplier": "{:g}", "phi": "{:g}", "2^phi": "{:g}",
    "alpha*beta^2*gamma^2": "{:.3f}", "measured MAC ratio": "{:.3f}", "step-time ratio": "{:.3f}",
    "MAC ratio": "{:.3f}", "width": "{:.3f}", "depth": "{:.3f}", "score": "{:.4f}",
    "train acc %": "{:.2f}", "train slope": "{:+.2f}", "val mean %": "{:.2f}", "val sd": "{:.2f}",
    "test mean %": "{:.2f}", "test sd": "{:.2f}",
    "step ms": "{:.1f}", "images/s": "{:.1f}", "epoch s": "{:.1f}",
}
"""One number format per column (floats of other columns: latency columns 3 decimals, else 4 digits)."""
TREND_NOTE = (f"\"train slope\": how fast training accuracy still rose at the end, the least-squares slope of its "
              f"last {LEVELLING_EPOCHS} epochs in points per epoch, mean over repeats (near 0: training has levelled "
              f"off; blank for runs of fewer epochs).")


def _cell(key: str, value) -> str:
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return FORMATS.get(key, "{:.3f}" if key.startswith("latency") else "{:.4g}").format(value)


def report_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """A Markdown table of `rows` with the given columns, each column in one number format (`FORMATS`);
    counts with thousands separators."""
    return tables.markdown_table(columns, [[_cell(c, r.get(c)) for c in columns] for r in rows])


def _write(project: ProjectDir, kind: str, title: str, intro: str, rows: list[dict], columns: Sequence[str],
           images: Sequence[tuple[Path, str]]) -> tuple[str, list[str]]:
    """Write the report table of `kind` as CSV and Markdown (title, intro and `TREND_NOTE`, table, figures),
    atomically; return the table and the names of the report's files (tables, then `images`)."""
    table = report_table(rows, columns)
    figures = "\n\n".join(f"![{caption}]({path.name})" for path, caption in images)
    written = project.write_table(kind, f"# {title}\n\n{intro} {TREND_NOTE}\n\n{table}\n\n{figures}\n", rows,
                                  columns)
    return table, [path.name for path in (*written, *(path for path, _ in images))]


def _run_config(trial: dict) -> dict:
    run = RunDir.of_execution(trial["trial_dir"], 0)
    return run.read_json(run.config_file)


def _history(trial: dict) -> list[dict]:
    return [{k: float(v) for k, v in row.items()} for row in RunDir.of_execution(trial["trial_dir"], 0).read_history()]


def accuracy_cells(trial: dict) -> dict:
    """The accuracy columns of one point from its repeats' metrics.json and history.csv files: n, mean
    train accuracy, how fast it still rose at the end (`trials.final_train_trend`), and mean, sd and 95%
    interval of validation and test accuracy (in %); "_val" and "_test" keep the per-repeat values (repeat
    k at index k) and "_val_summary" the validation Summary."""
    runs = repeat_metrics(trial["trial_dir"])
    if not runs:
        raise UsageError(f"{trial['trial_dir']} is a completed trial without run-0/metrics.json; restore its run "
                         "folders, or run the project's command again in a new --project-name.")
    val = [100 * r["best_val_accuracy"] for r in runs]
    test = [100 * r["test_accuracy"] for r in runs]
    v, t = stats.summarize(val), stats.summarize(test)
    return {"n": v.n, "train acc %": sum(100 * r["best_train_accuracy"] for r in runs) / len(runs),
            "train slope": final_train_trend(trial["trial_dir"], len(runs)),
            "val mean %": v.mean, "val sd": v.sd, "val 95% CI": v.interval(), "test mean %": t.mean, "test sd": t.sd,
            "test 95% CI": t.interval(), "_val": val, "_test": test, "_val_summary": v, "_runs": runs}


def mark_separability(rows: list[dict], labels: Sequence[str], best: int) -> list[stats.Comparison]:
    """Fill each row's "vs best" cell: the best row (index `best`) against every other by a paired
    test over repeats of validation accuracy; return the comparisons."""
    comparisons = stats.compare_to_best({label: row["_val"] for label, row in zip(labels, rows)}, labels[best])
    by_label = {c.other: c for c in comparisons}
    for label, row in zip(labels, rows):
        c = by_label.get(label)
        if c is None:
            row["vs best"] = "best"
        elif c.p_holm is None:
            row["vs best"] = "n/a (1 repeat)"
        else:
            row["vs best"] = f"{'separable' if c.separable else 'not separable'} (p={c.p_holm:.3f})"
    return comparisons


def _error(row: dict) -> float | None:
    """Half-width of the row's 95% validation interval, in points (None with one repeat)."""
    s = row["_val_summary"]
    return None if s.high is None else (s.high - s.low) / 2


def provenance(project_dir: Path, trials: list[dict], network: str) -> str:
    """What produced a project, as Markdown bullets: data, counts, epochs, repeats and seeds, recipe,
    network, command, dates, versions, machine and wall time (read from its runs' files)."""
    config = _run_config(trials[0])
    s = config["settings"]
    runs = [r for t in trials for r in repeat_metrics(t["trial_dir"])]
    repeats = max(len(repeat_metrics(t["trial_dir"])) for t in trials)
    times = [path.stat().st_mtime for t in trials for i in range(len(repeat_metrics(t["trial_dir"])))
             for path in (RunDir.of_execution(t["trial_dir"], i).config_file,
                          RunDir.of_execution(t["trial_dir"], i).metrics_file)]
    span = [datetime.datetime.fromtimestamp(x, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            for x in (min(times), max(times))]
    recipe = config["recipe"]
    device = config["device"]
    selected = {r.get("selected_on", "test") for r in runs}
    newest = max((run for t in trials for i in range(repeats)
                  if (run := RunDir.of_execution(t["trial_dir"], i)).config_file.exists()),
                 key=lambda run: run.config_file.stat().st_mtime)
    program, *arguments = newest.read_json(newest.config_file)["command"] or [""]
    if program.endswith(("tuner/__main__.py", "effnet-tuner")):
        program = "python -m tuner"
    classes = config["class_names"]
    return "\n".join([
        f"- **Data**: {config['dataset']} ({config['data_source']}), {len(classes)} classes: {', '.join(classes)}",
        f"- **Images per run**: {config['train_images']:,} train, {config['val_images']:,} validation, "
        f"{config.get('test_images', 0):,} test. " + (
            "Validation is held out of the training images and chose each run's best epoch and the ranking; "
            "the test split was evaluated once per run, at the end, and chose nothing."
            if selected == {"validation"} else
            "**The test split chose the model** (--val-split 0): validation and test are the same images, and "
            "test accuracy is not held out."),
        f"- **Training**: {s['epochs']} epoch{'s' if s['epochs'] != 1 else ''}, batch {s['batch_size']}, "
        f"{config['steps_per_epoch']} steps per epoch; "
        f"recipe {recipe.get('name', s['recipe'])} ({recipe['optimizer']}, peak lr {config['learning_rate']:.4g}, "
        f"{recipe['schedule']}, "
        f"weight decay {recipe['weight_decay']:g}, label smoothing {recipe['label_smoothing']:g}), augmentation "
        f"{config['augment']}, precision {config['precision']}",
        f"- **Repeats**: {repeats} per point, paired: repeat k of every point uses seed {s['seed']}+k "
        f"(initialisation, data order, subset, augmentation)" + (
            "; with one repeat no interval can be given and nothing is separable" if repeats < 2 else
            f"; intervals are 95% t-intervals; separability: {stats.TEST_NAME}"),
        f"- **Network**: {network}",
        f"- **Command** (of the newest run): `{program} {shlex.join(arguments)}`",
        f"- **When**: runs from {span[0]} to {span[1]}; {sum(r['train_wall_seconds'] for r in runs) / 60:.1f} "
        f"minutes of training over {len(runs)} runs",
        "- **Software**: " + ", ".join(f"{k} {v}" for k, v in config["versions"].items()),
        f"- **Machine**: {device['platform']}, {device['cpu_count']} CPUs, accelerator {device['accelerator']}"
        + (f" ({', '.join(device['gpus'])})" if device.get("gpus") else ""),
    ])


def _search_row(t: dict) -> dict:
    return {**{k: round(t[k], 4) for k in ("alpha", "beta", "gamma")},
            "alpha*beta^2*gamma^2": t["formula_ratio"], "measured MAC ratio": t["measured_ratio"],
            "step-time ratio": t.get("step_time_ratio"), "rung": int(t.get("tuner/round", 0)),
            "epochs": int(t.get("epochs", len(_history(t)))), **accuracy_cells(t), "score": t["score"],
            "params": int(t["params"]), "MACs": int(t["macs"]), "step ms": t["step_ms"], "trial": t["trial_id"]}


def search_report(project: ProjectDir, signature: dict, trials: list[dict]) -> dict:
    """One row per point, from its last rung's trial (successive halving) or its only trial, best
    first; search.png: accuracy against cost at every rung."""
    objective = signature.get("objective", "val_accuracy")
    every = sorted(trials, key=lambda t: t.get("tuner/round", 0))
    consumed = sum(t.get("trained_epochs", len(_history(t))) for t in every)
    last = {}
    for t in every:
        last[point_key(t)] = t
    trials = sorted(last.values(), key=lambda t: (-t.get("tuner/round", 0), -t[objective]))
    rows = [{"index": i + 1, **_search_row(t)} for i, t in enumerate(trials)]
    labels = [f"({r['alpha']:g}, {r['beta']:g}, {r['gamma']:g})" for r in rows]
    comparisons = mark_separability(rows, labels, 0)
    cost = "step_time_ratio" if signature["constraint"] == "step-time" else "measured_ratio"
    rungs = {}
    for t in every:
        epochs = int(t.get("epochs", len(_history(t))))
        cells = accuracy_cells(t)
        label = f"rung {t.get('tuner/round', 0)}: {epochs} epoch{'s' if epochs != 1 else ''}"
        rungs.setdefault(label, []).append((t[cost], cells["val mean %"], _error(cells)))
    best = trials[0]
    plot_lines(rungs, project.search_plot, f"Compound-scaling search ({project.path.name}): accuracy against cost",
               "step-time ratio to the base (measured)" if cost == "step_time_ratio" else
               "MAC ratio to the base (counted)", "validation accuracy (%), mean and 95% interval", connect=False,
               note=(f"best: {labels[0]}", best[cost], rows[0]["val mean %"]))
    plot_histories({label: _history(t) for label, t in zip(labels, trials)}, project.curves_plot,
                   f"Compound-scaling search ({project.path.name}): training curves, repeat 0 of every point")
    algorithm = signature.get("algorithm", "grid")
    halving = (f" Successive halving from {signature['min_epochs']} epochs, eta {signature['eta']}: points that "
               "reached a later rung first." if algorithm == "halving" else "")
    network = f"base {_run_config(best)['settings']['base']['name']} scaled by each point at phi = 1"
    table, files = _write(project, "search", "Compound-scaling search",
                          f"Project `{project.path.name}`.\n\n{provenance(project.path, trials, network)}\n\n"
                          f"Algorithm {algorithm}; sorted by {objective} (best first).{halving} Constraint: "
                          f"{signature['constraint']} ratio {signature['target']:g} +/- "
                          f"{100 * signature['tolerance']:g}%. The search trained {consumed:g} epochs in all "
                          f"({len(rows)} points). \"vs best\": the best point against each other point on validation "
                          "accuracy.", rows, SEARCH_COLUMNS,
                          [(project.search_plot, "accuracy against cost per rung"),
                           (project.curves_plot, "training curves")])
    base = load_config(_run_config(best)["settings"]["base"])  # a config, or the path of one (older projects)
    top = rows[0]
    best_json = {"alpha": best["alpha"], "beta": best["beta"], "gamma": best["gamma"], "base": base,
                 "objective": objective, "val_accuracy": top["val mean %"] / 100, "repeats": top["n"],
                 "val_interval_percent": _interval(top["_val_summary"]), "test_accuracy": top["test mean %"] / 100,
                 "separability": _separability(comparisons),
                 "measured_ratio": best["measured_ratio"], "formula_ratio": best["formula_ratio"],
                 "trial": best["trial_id"]}
    project.write_text(project.best_file, json.dumps(best_json, indent=2))
    return {"kind": "search", "rows": rows, "markdown": table, "best": best_json,
            "files": [*files, project.best_file.name]}


def _interval(summary: stats.Summary) -> list[float] | None:
    return None if summary.low is None else [round(summary.low, 3), round(summary.high, 3)]


def _separability(comparisons: list[stats.Comparison]) -> dict:
    """best.json's record of the paired comparisons of the best point."""
    return {"test": stats.TEST_NAME,
            "separable_from": [c.other for c in comparisons if c.separable],
            "not_separable_from": [c.other for c in comparisons if c.p_holm is not None and not c.separable],
            "untested": [c.other for c in comparisons if c.p_holm is None],
            "p_holm": {c.other: c.p_holm for c in comparisons}}


def study_report(project: ProjectDir, signature: dict, trials: list[dict]) -> dict:
    order = {d: i for i, d in enumerate(("base", "width", "depth", "resolution", "compound"))}
    trials = sorted(trials, key=lambda t: (order[t["dimension"]], t["multiplier"]))
    rows = []
    for t in trials:
        config = _run_config(t)["model_config"]
        rows.append({"dimension": t["dimension"], "multiplier": t["multiplier"], "width": config["width"],
                     "depth": config["depth"], "resolution": config["train_resolution"], "params": int(t["params"]),
                     "MACs": int(t["macs"]), **accuracy_cells(t), "step ms": t["step_ms"], "trial": t["trial_id"]})
    labels = [f"{r['dimension']} x{r['multiplier']:g}" for r in rows]
    best = max(range(len(rows)), key=lambda i: rows[i]["val mean %"])
    mark_separability(rows, labels, best)
    base = [r for r in rows if r["dimension"] == "base"]
    curves = {}
    for dimension in ("width", "depth", "resolution", "compound"):
        scaled = [r for r in rows if r["dimension"] == dimension]
        if scaled:
            curves[dimension] = [(r["MACs"] / 1e6, r["val mean %"], _error(r)) for r in base + scaled]
    plot_lines(curves, project.study_plot, f"Scaling study ({project.path.name}): accuracy against cost",
               "MACs per image (millions, log scale)", "validation accuracy (%), mean and 95% interval", logx=True)
    plot_histories({label: _history(t) for label, t in zip(labels, trials)}, project.curves_plot,
                   f"Scaling study ({project.path.name}): training curves, repeat 0 of every point")
    network = (f"base {signature['base']} at {signature['resolution']} px scaled along one dimension at a time, and "
               f"compound (alpha, beta, gamma = {', '.join(f'{c:g}' for c in signature['coefficients'])}; a compound "
               "point with multiplier m has the formula cost of width or resolution x m)")
    table, files = _write(project, "study", "Scaling study",
                          f"Project `{project.path.name}`.\n\n{provenance(project.path, trials, network)}\n\n\"vs "
                          f"best\": the point with the highest mean validation accuracy ({labels[best]}) against each "
                          "other point.", rows, STUDY_COLUMNS,
                          [(project.study_plot, "accuracy against MACs per dimension"),
                           (project.curves_plot, "training curves")])
    return {"kind": "study", "rows": rows, "markdown": table, "files": files}


def compare_report(project: ProjectDir, signature: dict, trials: list[dict]) -> dict:
    latency = sorted({k for t in trials for k in t if k.startswith("latency_ms_b")}, key=lambda k: int(k[12:]))
    order = {m: i for i, m in enumerate(signature["models"])}
    trials = sorted(trials, key=lambda t: order[t["model"]])
    rows = []
    for t in trials:
        config = _run_config(t)
        rows.append({"model": config["model_name"], "resolution": config["resolution"], "params": int(t["params"]),
                     "MACs": int(t["macs"]), **accuracy_cells(t), "step ms": t["step_ms"],
                     "images/s": t["images_per_second"], "epoch s": t["epoch_seconds"],
                     **{f"latency ms/img b{k[12:]}": t[k] for k in latency}, "history": _history(t)})
    labels = [r["model"] for r in rows]
    mark_separability(rows, labels, max(range(len(rows)), key=lambda i: rows[i]["val mean %"]))
    columns = (*COMPARE_COLUMNS, *(f"latency ms/img b{k[12:]}" for k in latency))
    title = f"Model comparison ({project.path.name})"
    plot_points([(r["model"], r["MACs"] / 1e6, r["val mean %"], _error(r)) for r in rows],
                project.macs_plot, f"{title}: accuracy against cost",
                "MACs per image (millions, log scale)", "validation accuracy (%), mean and 95% interval", logx=True)
    plot_points([(r["model"], r["step ms"], r["val mean %"], _error(r)) for r in rows],
                project.step_plot, f"{title}: accuracy against step time",
                "training step time (ms per batch, log scale)", "validation accuracy (%), mean and 95% interval",
                logx=True)
    plot_bars(labels, [r["step ms"] for r in rows], project.step_time_plot, f"{title}: training step time",
              "model", "ms per training step")
    plot_histories({r["model"]: r["history"] for r in rows}, project.curves_plot,
                   f"{title}: training curves, repeat 0")
    resolution = (f"every model at {signature['resolution']} px" if signature.get("resolution")
                  else "each model at its own resolution")
    table, files = _write(project, "compare", "Model comparison",
                          f"Project `{project.path.name}`.\n\n{provenance(project.path, trials, ', '.join(labels))}"
                          f"\n\nSame data and training budget for every model, {resolution}. \"vs best\": the model "
                          "with the highest mean validation accuracy against each other. Latency: inference of repeat "
                          "0's best model per image, at the given batch size.", rows, columns,
                          [(project.macs_plot, "accuracy against MACs"),
                           (project.step_plot, "accuracy against step time"),
                           (project.step_time_plot, "training step time"), (project.curves_plot, "training curves")])
    return {"kind": "compare", "rows": rows, "markdown": table, "files": files}


def write_report(project_dir: str | Path) -> dict:
    """Write the report of a search, study or comparison project directory and return a summary.

    Args:
        project_dir: `DIRECTORY/PROJECT_NAME` of a search, study or compare project.

    Returns:
        A dict with `kind` ("search", "study" or "compare"), `rows` (one per point), `markdown` (the
        table) and `files` (the report files written into `project_dir`); a search's also holds `best`.

    Raises:
        UsageError: the project has no completed trials yet, or its files do not verify.

    Example:
        >>> from effnet_keras.tuner.report import write_report
        >>> summary = write_report("runs/tuning/api-demo")
        >>> print(summary["markdown"])
    """
    project_dir = Path(project_dir)
    signature, trials = read_project(project_dir)
    if not trials:
        objective = signature.get("objective", "val_accuracy")
        raise UsageError(f"{project_dir} has no completed trials with a finite {objective} yet; run or resume its "
                         "command first.")
    kinds = {"search": search_report, "study": study_report, "compare": compare_report}
    return kinds[signature["kind"]](ProjectDir(project_dir), signature, trials)
