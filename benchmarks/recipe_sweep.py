"""Measure training recipes: run train.py once per variant and print a Markdown table.

Every variant is the same base command (the flags after `--`) plus its own flags; each run goes
to OUT/<variant>/ and resumes there when the sweep is restarted (train.py's resume), so the sweep
can be killed and re-run. With --parallel N, N runs share the machine, each pinned to its own
CPU cores (taskset) with matching TensorFlow thread counts so their step times stay comparable.

    .venv/bin/python benchmarks/recipe_sweep.py --variants scratch,bn-0.99,stem-1 --parallel 2 \\
        --output runs/recipe-sweep -- --dataset fashion-mnist --train-images 10000 --epochs 3
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = ["--model", "b0", "--resolution", "32", "--batch-size", "128"]
VARIANTS = {
    "scratch": [],
    "issue-defaults": ["--optimizer", "sgd", "--lr", "0.1", "--weight-decay", "5e-4", "--decay-norm-and-bias",
                       "--bn-momentum", "0.99"],
    "bn-0.99": ["--bn-momentum", "0.99"],
    "lr-4e-3": ["--lr", "0.004"],
    "lr-2e-2": ["--lr", "0.02"],
    "lr-4e-2": ["--lr", "0.04"],
    "decay-all": ["--decay-norm-and-bias"],
    "wd-0.005": ["--weight-decay", "0.005"],
    "no-warmup": ["--warmup-epochs", "0"],
    "ls-0": ["--label-smoothing", "0"],
    "no-drop": ["--dropout", "0", "--drop-connect", "0"],
    "no-reg": ["--dropout", "0", "--drop-connect", "0", "--augment", "none", "--label-smoothing", "0"],
    "aug-none": ["--augment", "none"],
    "aug-flip": ["--augment", "flip"],
    "sgd": ["--optimizer", "sgd"],
    "rmsprop": ["--optimizer", "rmsprop"],
    "res-64": ["--resolution", "64"],
    "res-96": ["--resolution", "96"],
    "stem-1": ["--model", "{configs}/b0-stem1.json"],
    "simple-cnn": ["--model", "simple-cnn", "--resolution", "32"],
}
"""Variant -> flags added to the base command (later flags win). {configs} is OUT/configs."""


def write_configs(folder: Path) -> None:
    """Model configs that variants name: B0 with a stride-1 stem (output stride 16)."""
    from effnet_keras import get_config, override

    folder.mkdir(parents=True, exist_ok=True)
    config = override(get_config("b0"), stem_strides=1)
    config["name"] = "b0-stem1"
    (folder / "b0-stem1.json").write_text(json.dumps(config, indent=1))


def command(variant: str, base: list[str], out: Path) -> list[str]:
    flags = [flag.replace("{configs}", str(out / "configs")) for flag in VARIANTS[variant]]
    return [sys.executable, str(ROOT / "train.py"), *BASE, *base, *flags, "--output-dir", str(out / variant)]


def run_all(variants: list[str], base: list[str], out: Path, parallel: int) -> None:
    """Run the variants, `parallel` at a time, each pinned to its share of the CPU cores."""
    cores = sorted(os.sched_getaffinity(0))
    share = max(1, len(cores) // parallel)
    slots = [cores[i * share:(i + 1) * share] for i in range(parallel)]
    pending, running = list(variants), {}
    while pending or running:
        for slot, process in list(running.items()):
            if process.poll() is not None:
                print(f"[sweep] {process.variant} finished with exit code {process.returncode}", flush=True)
                del running[slot]
        for slot in range(parallel):
            if slot in running or not pending:
                continue
            variant = pending.pop(0)
            env = dict(os.environ, PYTHONUNBUFFERED="1", TF_NUM_INTRAOP_THREADS=str(len(slots[slot])),
                       TF_NUM_INTEROP_THREADS="1",
                       TF_CPP_MIN_LOG_LEVEL="2")
            (out / variant).mkdir(parents=True, exist_ok=True)
            log = open(out / variant / "sweep.log", "a")
            cmd = ["taskset", "-c", ",".join(map(str, slots[slot])), *command(variant, base, out)]
            print(f"[sweep] {variant}: {' '.join(cmd[3:])}", flush=True)
            process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
            process.variant = variant
            running[slot] = process
        time.sleep(5)


def summarise(variant: str, out: Path) -> dict | None:
    """One table row from OUT/<variant>'s history.csv and metrics.json (None before epoch 1)."""
    history = out / variant / "history.csv"
    if not history.exists():
        return None
    with history.open() as f:
        rows = [{k: float(v) for k, v in row.items() if v} for row in csv.DictReader(f)]
    if not rows:
        return None
    metrics_file = out / variant / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
    train_acc = [r["accuracy"] for r in rows]
    timed = rows[1:] or rows
    return {
        "variant": variant, "flags": " ".join(VARIANTS[variant]).replace("{configs}/", "") or "(defaults)",
        "epochs": len(rows), "val": " / ".join(f"{100 * r['val_accuracy']:.1f}" for r in rows),
        "test": f"{100 * metrics['test_accuracy']:.2f}" if "test_accuracy" in metrics else "running",
        "train": f"{100 * train_acc[-1]:.1f}",
        "collapse": max((a - b for a, b in zip(train_acc, train_acc[1:])), default=0.0) > 0.05,
        "max_val_loss": f"{max(r['val_loss'] for r in rows):.2f}",
        "step_ms": f"{sum(r['step_ms'] for r in timed) / len(timed):.0f}",
    }


def table(variants: list[str], out: Path) -> str:
    lines = ["| variant | flags | epochs | val accuracy by epoch (%) | test (%) | final train (%) | train collapse "
             "| max val loss | ms/step |", "|---|---|---:|---|---:|---:|---|---:|---:|"]
    for variant in variants:
        row = summarise(variant, out)
        if row is None:
            continue
        lines.append(f"| {row['variant']} | `{row['flags']}` | {row['epochs']} | {row['val']} | {row['test']} | "
                     f"{row['train']} | {'yes' if row['collapse'] else 'no'} | {row['max_val_loss']} | "
                     f"{row['step_ms']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of: {', '.join(VARIANTS)}")
    p.add_argument("--output", default="runs/recipe-sweep", help="folder of the runs and results.md")
    p.add_argument("--parallel", type=int, default=1, help="runs at a time, each on its share of the cores")
    p.add_argument("--report-only", action="store_true", help="print the table of what has run so far")
    args = p.parse_args(argv[:split])
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not 1 <= args.parallel <= len(os.sched_getaffinity(0)):
        p.error(f"unknown variants {unknown}" if unknown else "--parallel must be between 1 and the CPU count")
    out = Path(args.output)
    base_file = out / "base-flags.json"
    base = argv[split + 1:]
    if not args.report_only:
        write_configs(out / "configs")
        base_file.write_text(json.dumps(base))
        run_all(variants, base, out, args.parallel)
    elif base_file.exists():
        base = json.loads(base_file.read_text())
    result = f"Base: `train.py {' '.join(BASE + base)}`\n\n{table(variants, out)}\n"
    (out / "results.md").write_text(result)
    print(result)


if __name__ == "__main__":
    main()
