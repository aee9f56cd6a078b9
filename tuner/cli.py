"""`python -m tuner COMMAND`: compound-scaling search (step 1), its report, and scaling up (step 2).

  search  KerasTuner search over feasible (alpha, beta, gamma); resumable and distributed
  report  results.csv / results.md / search.png / best.json of a project directory
  scale   width, depth, resolution, params and MACs of best.json scaled by phi (~2^phi MACs)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from effnet_keras.settings import TrainingError, UsageError, validate
from effnet_keras.train_cli import add_training_arguments, settings_from_args
from tuner.space import CONSTRAINTS, DEFAULT_RANGE, SpaceError, candidate_space, grid_space


def _search(args: argparse.Namespace) -> int:
    import keras_tuner

    from effnet_keras.data import load_dataset
    from tuner.search import make_tuner

    settings = settings_from_args(args, model=args.base)
    kwargs = {"target": args.target, "tolerance": args.tolerance, "constraint": args.constraint}
    space = candidate_space(args.candidates, **kwargs) if args.candidates else grid_space(*args.grid, **kwargs)
    chief = keras_tuner.src.distribute.utils.is_chief_oracle()
    validate(settings)
    num_classes = 10
    if not chief:  # workers and single-process searches check the data before any trial
        num_classes = load_dataset(settings.dataset, source=settings.source, data_dir=settings.data_dir,
                                   val_split=settings.val_split, label_mode=settings.label_mode, seed=settings.seed,
                                   synthetic_train=settings.synthetic_train,
                                   synthetic_test=settings.synthetic_test).num_classes
    project_name = args.project_name or f"search-{Path(args.base).stem}-{settings.dataset}"
    tuner = make_tuner(space, settings, args.base, directory=args.directory, project_name=project_name,
                       objective=args.objective, max_trials=args.max_trials, executions=args.executions_per_trial,
                       score_weight=args.score_weight, num_classes=num_classes)
    print(f"{len(tuner.points)} feasible points ({args.constraint} constraint, target {args.target:g} +/- "
          f"{100 * args.tolerance:g}%); project {tuner.project_dir}")
    tuner.search()
    if chief or keras_tuner.src.distribute.utils.has_chief_oracle():
        return 0
    return _print_report(tuner.project_dir)


def _print_report(project_dir: str) -> int:
    from tuner.report import search_report

    report = search_report(project_dir)
    print(report["markdown"])
    print(f"\nWrote {project_dir}/results.csv, results.md, search.png, best.json "
          f"(best: alpha={report['best']['alpha']}, beta={report['best']['beta']}, gamma={report['best']['gamma']})")
    return 0


def _report(args: argparse.Namespace) -> int:
    if not (Path(args.directory) / "oracle.json").is_file():
        raise UsageError(f"{args.directory} is not a tuner project directory (no oracle.json); pass "
                         "DIRECTORY/PROJECT_NAME of a search.")
    return _print_report(args.directory)


def _scale(args: argparse.Namespace) -> int:
    from tuner.report import markdown_table
    from tuner.scale import parse_phis, scale_table

    rows = scale_table(args.best, parse_phis(args.phi), num_classes=args.classes)
    print(markdown_table(rows, ("phi", "width", "depth", "resolution", "params", "MACs", "MAC ratio", "2^phi")))
    print("\nTrain one: python train.py --scale " + args.best + " --phi 3 --dataset cifar10")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tuner", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    s = commands.add_parser("search", help="step 1: search (alpha, beta, gamma) with KerasTuner",
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    s.add_argument("--base", default="b0", help="base variant or config JSON, trained at --resolution")
    s.add_argument("--resolution", type=int, help="base resolution in pixels (default: the base's own)")
    space = s.add_mutually_exclusive_group()
    space.add_argument("--grid", nargs=3, metavar=("ALPHA", "BETA", "GAMMA"), default=[DEFAULT_RANGE] * 3,
                       help="START:STOP:STEP ranges")
    space.add_argument("--candidates", help="'a,b,g;a,b,g;...', or 'seed' for the seed study's six points")
    s.add_argument("--target", type=float, default=2.0, help="cost multiple N of one phi step")
    s.add_argument("--tolerance", type=float, default=0.05, help="relative tolerance on the cost ratio")
    s.add_argument("--constraint", choices=CONSTRAINTS, default="formula",
                   help="formula: alpha*beta^2*gamma^2; measured: counted MACs over the base's")
    s.add_argument("--objective", choices=("accuracy", "score"), default="accuracy",
                   help="score: val_accuracy * (measured ratio / target)^score-weight (MnasNet)")
    s.add_argument("--score-weight", type=float, default=-0.07)
    s.add_argument("--directory", default="tuning", help="shared directory of the project(s)")
    s.add_argument("--project-name", help="default: search-<base>-<dataset>")
    s.add_argument("--max-trials", type=int, help="default: every feasible point")
    s.add_argument("--executions-per-trial", type=int, default=1, help="training runs per point (seeds), averaged")
    add_training_arguments(s)
    s.set_defaults(run=_search)
    r = commands.add_parser("report", help="write and print the results of a project directory")
    r.add_argument("directory", help="DIRECTORY/PROJECT_NAME of a search")
    r.set_defaults(run=_report)
    c = commands.add_parser("scale", help="step 2: scale best.json up by phi")
    c.add_argument("best", help="best.json written by the report")
    c.add_argument("--phi", default="1..7", help="range 1..7 or list 1,2,4")
    c.add_argument("--classes", type=int, default=10, help="classifier outputs")
    c.set_defaults(run=_scale)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, SpaceError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (TrainingError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
