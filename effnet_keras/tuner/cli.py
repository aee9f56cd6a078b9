"""`python -m tuner COMMAND`: compound scaling and the studies around it, as KerasTuner projects.

  search   step 1: KerasTuner search over feasible (alpha, beta, gamma)
  study    one-dimension scaling study (width, depth, resolution) and compound scaling
  compare  models side by side (EfficientNet, EfficientNetV2, ResNet152, a plain CNN)
  report   tables and plots of any project directory
  scale    step 2: best.json scaled up by phi (~2^phi MACs)
  verdicts the reproduction's questions judged from its projects (make reproduce)

Every project resumes when its command is run again (--overwrite starts it afresh) and can be spread
over machines with KerasTuner's chief/worker variables (KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP/_PORT).
search, study and compare need --dataset (`--dataset synthetic` for made-up images).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from effnet_keras.cli_common import CLASSES_RENAMED, HelpFormatter, RenamedFlag, run_cli
from effnet_keras.data.spec import dataset_slug
from effnet_keras.training.errors import UsageError
from effnet_keras.training.flags import add_training_arguments, require_dataset, settings_from_args
from effnet_keras.training.limits import allowed, check_ranges
from effnet_keras.training.plan import check_run
from effnet_keras.training.settings import TrainSettings, dataset_arguments, dataset_selection
from effnet_keras.tuner.project import ProjectDir
from effnet_keras.tuner.space import CONSTRAINTS, DEFAULT_RANGE, candidate_space, grid_space, parse_range

if TYPE_CHECKING:
    from effnet_keras.tuner.search import Algorithm


def _numbers(text: str, kind=float) -> list:
    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{text!r}: expected comma-separated numbers, e.g. 1.0,1.2,1.4.") from None


def is_chief_oracle() -> bool:
    """Whether this process is the chief of a KerasTuner chief/worker search (KerasTuner's documented
    variables: KERASTUNER_ORACLE_IP and _PORT set, KERASTUNER_TUNER_ID naming the chief)."""
    env = os.environ
    return bool(env.get("KERASTUNER_ORACLE_IP") and env.get("KERASTUNER_ORACLE_PORT")
                and "chief" in env.get("KERASTUNER_TUNER_ID", ""))


def _run_project(settings: TrainSettings, models: Sequence[str], project: Path, make: Callable,
                 overwrite: bool) -> int:
    """Check settings, lock the project, empty it for `overwrite`, load the data (not on the chief), build
    the tuner with `make(num_classes)`, search, then print and write the report (single process or worker)."""
    from effnet_keras.tuner.report import write_report
    from effnet_keras.tuner.trials import load_shared

    for model in models:
        check_run(dataclasses.replace(settings, model=model))
    if overwrite and os.environ.get("KERASTUNER_ORACLE_IP"):
        raise UsageError(f"--overwrite is refused in a distributed search (KERASTUNER_ORACLE_IP is set): the chief "
                         f"and its workers share {project}. Delete it before starting the chief, and start them "
                         "without --overwrite.")
    chief = is_chief_oracle()
    files = ProjectDir(project)
    # Chief/worker mode shares the project between processes by design: no lock.
    with contextlib.nullcontext() if os.environ.get("KERASTUNER_ORACLE_IP") else files.lock():
        if overwrite:
            files.start_afresh()
        if not chief:
            load_shared(**dataset_arguments(settings))
        tuner = make(len(dataset_selection(settings).class_names))
        print(f"{tuner.planned} trials planned; project {tuner.project_dir}", flush=True)
        if not os.environ.get("KERASTUNER_ORACLE_IP"):
            tuner.top_up()
        tuner.search()
        if chief:
            return 0
        report = write_report(tuner.project_dir)
    print(report["markdown"])
    print(f"\nReport in {tuner.project_dir}: {', '.join(report['files'])}")
    return 0


def _project_name(args: argparse.Namespace) -> str | None:
    """--project-name, which must be a plain folder name so the project stays inside --directory."""
    name = args.project_name
    if name is not None and (name in ("", ".", "..") or any(sep in name for sep in ("/", "\\", os.sep))):
        raise UsageError(f"--project-name {name!r} must be a plain folder name (no '/', '\\', '.' or '..'): the "
                         f"project lives in --directory {args.directory}; choose the folder with --directory.")
    return name


def _coefficients(args: argparse.Namespace) -> tuple[float, float, float]:
    if args.study_scale:
        from effnet_keras.tuner.scale import load_best

        try:
            best = load_best(args.study_scale)
        except ValueError as e:
            raise UsageError(f"--scale {e}") from None
        return best["alpha"], best["beta"], best["gamma"]
    return args.study_alpha, args.study_beta, args.study_gamma


def _algorithm(args: argparse.Namespace, settings: TrainSettings) -> Algorithm:
    """The --algorithm and its flags, checked before anything is loaded; UsageError saying what to change."""
    from effnet_keras.tuner.bayes import Box, Surface
    from effnet_keras.tuner.halving import plan_rungs
    from effnet_keras.tuner.search import Algorithm

    if args.constraint == "step-time" and (is_chief_oracle() or settings.strategy in ("multiworker", "tpu")):
        raise UsageError("--constraint step-time times every candidate in this process on one device; the chief of "
                         "a distributed search trains nothing and --strategy multiworker/tpu spreads a step over "
                         "devices. Time on a single-device worker or use --constraint measured.")
    if args.algorithm in ("halving", "hyperband"):
        plan_rungs(1, args.min_epochs, settings.epochs, args.reduction)
        return Algorithm("halving", min_epochs=args.min_epochs, eta=args.reduction)
    if args.algorithm != "bayes":
        return Algorithm()
    if args.candidates is not None or args.constraint == "step-time":
        raise UsageError("--algorithm bayes proposes points on the constraint surface inside the --grid ranges, "
                         "solving one coordinate from the cost; it takes no --candidates, and not --constraint "
                         "step-time, whose every evaluation is a timing run (use grid or halving for those).")
    bounds = [parse_range(text, name) for text, name in zip(args.grid, ("alpha", "beta", "gamma"))]
    box = Surface if args.constraint == "formula" else Box
    return Algorithm("bayes", box=box(*((axis[0], axis[-1]) for axis in bounds), target=args.target))


def _search(args: argparse.Namespace) -> int:
    from effnet_keras.tuner.search import make_search

    settings = settings_from_args(args, model=args.base)
    kwargs = {"target": args.target, "tolerance": args.tolerance, "constraint": args.constraint}
    check_ranges((("--max-trials", args.max_trials), ("--target", args.target), ("--tolerance", args.tolerance),
                  ("--score-weight", args.score_weight)))
    algorithm = _algorithm(args, settings)
    space = (candidate_space(args.candidates, **kwargs) if args.candidates is not None
             else grid_space(*args.grid, **kwargs))
    name = _project_name(args) or f"search-{Path(args.base).stem}-{dataset_slug(settings.dataset)}"
    return _run_project(settings, [args.base], Path(args.directory, name), lambda n: make_search(
        space, settings, args.base, directory=args.directory, project_name=name, objective=args.objective,
        max_trials=args.max_trials, executions=args.executions_per_trial, score_weight=args.score_weight,
        num_classes=n, algorithm=algorithm), args.overwrite)


def _study(args: argparse.Namespace) -> int:
    from effnet_keras.models.scaling import cost_ratio
    from effnet_keras.tuner.studies import DIMENSIONS, make_study

    settings = settings_from_args(args, model=args.base)
    dimensions = list(DIMENSIONS) if args.dimension == "all" else args.dimension.split(",")
    multipliers, coefficients = _numbers(args.multipliers), _coefficients(args)
    check_ranges([*(("--multipliers", m) for m in multipliers), *zip(("--alpha", "--beta", "--gamma"), coefficients)])
    if "compound" in dimensions and cost_ratio(*coefficients) <= 1:
        raise UsageError(f"--alpha, --beta, --gamma {', '.join(f'{c:g}' for c in coefficients)}: compound scaling "
                         "needs alpha * beta^2 * gamma^2 > 1 (the cost must grow with phi), e.g. 1.2, 1.1, 1.15.")
    suffix = args.dimension.replace(",", "+")
    name = _project_name(args) or f"study-{Path(args.base).stem}-{dataset_slug(settings.dataset)}-{suffix}"
    return _run_project(settings, [args.base], Path(args.directory, name), lambda n: make_study(
        settings, args.base, dimensions, multipliers, coefficients, directory=args.directory, project_name=name,
        executions=args.executions_per_trial), args.overwrite)


def _compare(args: argparse.Namespace) -> int:
    from effnet_keras.tuner.studies import make_compare

    settings = settings_from_args(args)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    latency_batches = _numbers(args.latency_batches, int)
    check_ranges(("--latency-batches", b) for b in latency_batches)
    name = _project_name(args) or f"compare-{dataset_slug(settings.dataset)}"
    return _run_project(settings, models, Path(args.directory, name), lambda n: make_compare(
        settings, models, latency_batches, directory=args.directory, project_name=name,
        executions=args.executions_per_trial), args.overwrite)


def _report(args: argparse.Namespace) -> int:
    from effnet_keras.tuner.report import write_report

    report = write_report(args.directory)
    print(report["markdown"])
    print(f"\nReport in {args.directory}: {', '.join(report['files'])}")
    return 0


def _verdicts(args: argparse.Namespace) -> int:
    from effnet_keras.tuner.project import verdicts_file
    from effnet_keras.tuner.verdicts import write_verdicts

    print(write_verdicts(args.directory))
    print(f"Verdicts in {verdicts_file(args.directory)}")
    return 0


def _scale(args: argparse.Namespace) -> int:
    from effnet_keras.tuner.report import report_table
    from effnet_keras.tuner.scale import parse_phis, scale_table, search_data_flags

    check_ranges((("--num-classes", args.num_classes),))
    try:
        rows = scale_table(args.best, parse_phis(args.phi), num_classes=args.num_classes,
                           write_configs=args.write_configs)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(report_table(rows, ("phi", "width", "depth", "resolution", "params", "MACs", "MAC ratio", "2^phi")))
    data = search_data_flags(args.best)
    command = shlex.join(["python", "train.py", "--scale", args.best, "--phi", "3", *(data or [])])
    print(f"\nTrain one: {command}" + ("" if data else " --dataset NAME (no record of the search's data set "
                                                       "beside this best.json: name the one it used)"))
    if args.write_configs:
        print(f"Configs written to {args.write_configs}/phi<N>.json (train.py --model, tuner compare --models)")
    return 0


def _project_arguments(p: argparse.ArgumentParser, default_name: str) -> None:
    p.add_argument("--directory", metavar="DIR", default="tuning", help="shared directory of the projects")
    p.add_argument("--project-name", metavar="NAME", help=f"the project's folder in --directory (default: "
                   f"{default_name}); the command resumes it when run again")
    p.add_argument("--overwrite", action="store_true", help="start the project afresh (KerasTuner's overwrite): "
                   "delete its trials, oracle and reports first, asking nothing; refuses a folder that is not a "
                   "tuner project (without it: resume the project)")
    p.add_argument("--repeats", "--executions-per-trial", metavar="N", dest="executions_per_trial", type=int,
                   default=1, help="training runs per point (KerasTuner's executions per trial); repeat k of every "
                   "point uses seed --seed+k, so points are compared repeat by repeat. Reports give n, mean, sd and "
                   "a 95%% interval per point and test the best point against each other; 1 repeat gives no interval")
    add_training_arguments(p)
    p.set_defaults(trains=p)  # require_dataset's parser


def _base_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", metavar="NAME", default="b0", help="base variant or config JSON")
    p.add_argument("--resolution", metavar="PIXELS", type=int, help="base resolution (default: the base's own)")


ALGORITHMS = ("grid", "halving", "hyperband", "bayes")
"""--algorithm choices; hyperband is KerasTuner's name for successive halving (there is no random search:
grid with --max-trials N trains the first N feasible points)."""


def _add_search(commands: argparse._SubParsersAction) -> None:
    s = commands.add_parser("search", help="step 1: search (alpha, beta, gamma)", formatter_class=HelpFormatter,
                            description="Step 1 of compound scaling: train the base scaled by each feasible (alpha, "
                            "beta, gamma) at phi = 1 (cost about --target times the base's) and rank them; the "
                            "report writes best.json for `scale` and train.py --scale.")
    _base_arguments(s)
    space = s.add_mutually_exclusive_group()
    space.add_argument("--grid", nargs=3, metavar=("ALPHA", "BETA", "GAMMA"), default=[DEFAULT_RANGE] * 3,
                       help=f"START:STOP:STEP ranges of the three (default: {DEFAULT_RANGE} each)")
    space.add_argument("--candidates", metavar="POINTS", help="'a,b,g;a,b,g;...', or 'seed' for the seed study's "
                       "six points (default: the --grid points)")
    s.add_argument("--target", metavar="N", type=float, default=2.0,
                   help="cost multiple N of one phi step (> 0, <= 1,000)")
    s.add_argument("--tolerance", type=float, default=0.05, help="relative tolerance on the cost ratio (0 to 1)")
    s.add_argument("--constraint", choices=CONSTRAINTS, default="formula",
                   help="formula: alpha*beta^2*gamma^2; measured: counted MACs over the base's; step-time: "
                   "measured training step time over the base's on this device (cached in the project)")
    s.add_argument("--algorithm", choices=ALGORITHMS, default="grid",
                   help="grid: train every feasible point --epochs epochs; halving (KerasTuner's name: hyperband): "
                   "successive halving over them (--min-epochs, --reduction); bayes: Gaussian-process proposals on "
                   "the constraint surface inside the --grid ranges, --max-trials of them (default 10); no random "
                   "search (grid with --max-trials N trains the first N feasible points)")
    s.add_argument("--min-epochs", type=int, default=1, help="halving: epochs of the first rung")
    s.add_argument("--reduction", metavar="ETA", type=int, default=3, help="halving: the best 1/ETA of a rung "
                   "continue to ETA times its epochs")
    s.add_argument("--objective", choices=("accuracy", "score"), default="accuracy",
                   help="score: val_accuracy * (measured ratio / target)^score-weight (MnasNet)")
    s.add_argument("--score-weight", type=float, default=-0.07, help="exponent w of --objective score "
                   f"({allowed('--score-weight')})")
    s.add_argument("--max-trials", metavar="N", type=int, help="grid, halving: the first N feasible points; "
                   f"bayes: N proposals ({allowed('--max-trials')}; default: all points, 10 proposals)")
    _project_arguments(s, "search-<base>-<dataset>")
    s.set_defaults(run=_search)


def _add_study(commands: argparse._SubParsersAction) -> None:
    st = commands.add_parser("study", help="one-dimension and compound scaling study", formatter_class=HelpFormatter,
                             description="Scale the base in one dimension at a time (width, depth, resolution) by "
                             "each of --multipliers, and compound (alpha, beta, gamma) at the phi of the same cost, "
                             "training every point; the report plots accuracy against MACs (the paper's Figures 3 "
                             "and 4).")
    _base_arguments(st)
    st.add_argument("--dimension", default="all", help="width, depth, resolution, compound (comma-separated) or all")
    st.add_argument("--multipliers", metavar="LIST", default="1.0,1.2,1.4,1.6,1.8,2.0",
                    help="scale factors of the dimension (> 0, <= 100)")
    # Own dests: these coefficients drive the compound points, not every trial's training settings.
    st.add_argument("--alpha", metavar="ALPHA", dest="study_alpha", type=float, default=1.2,
                    help="compound: depth factor per phi")
    st.add_argument("--beta", metavar="BETA", dest="study_beta", type=float, default=1.1,
                    help="compound: width factor per phi")
    st.add_argument("--gamma", metavar="GAMMA", dest="study_gamma", type=float, default=1.15,
                    help="compound: resolution factor per phi")
    st.add_argument("--scale", metavar="BEST_JSON", dest="study_scale",
                    help="compound: take alpha, beta, gamma from a search's best.json")
    _project_arguments(st, "study-<base>-<dataset>-<dimension>")
    st.set_defaults(run=_study)


def _add_compare(commands: argparse._SubParsersAction) -> None:
    c = commands.add_parser("compare", help="train several models with the same data and budget",
                            formatter_class=HelpFormatter,
                            description="Train each of --models with the same data, recipe and epochs, and report "
                            "accuracy, parameters, MACs, training step time and inference latency side by side.")
    c.add_argument("--models", metavar="LIST", default="b0,b3,v2-b0,v2-s,resnet152,simple-cnn",
                   help="comma-separated variants, config JSON files, resnet152, simple-cnn")
    c.add_argument("--resolution", metavar="PIXELS", type=int, help="force one resolution for every model "
                   "(default: each its own)")
    c.add_argument("--latency-batches", metavar="LIST", default="1,256", help="batch sizes of the inference-latency "
                   f"measurement ({allowed('--latency-batches')})")
    _project_arguments(c, "compare-<dataset>")
    c.set_defaults(run=_compare)


def _add_report(commands: argparse._SubParsersAction) -> None:
    r = commands.add_parser("report", help="write and print the report of a project directory",
                            formatter_class=HelpFormatter,
                            description="Write the tables and plots of a search, study or compare project from its "
                            "trials (also while it runs) and print the table.")
    r.add_argument("directory", metavar="PROJECT_DIR", help="DIRECTORY/PROJECT_NAME of a search, study or compare")
    r.set_defaults(run=_report)


def _add_verdicts(commands: argparse._SubParsersAction) -> None:
    v = commands.add_parser("verdicts", help="judge the reproduction's five questions from its projects",
                            formatter_class=HelpFormatter,
                            description="Judge observations 2 and 3, the scale-up, the seed's grid and V1 against V2 "
                            "from DIRECTORY/{study,search,scale-up,compare} (the projects `make reproduce` writes) by "
                            "paired tests on test accuracy; writes DIRECTORY/verdicts.md.")
    v.add_argument("directory", metavar="DIRECTORY", help="the --directory of the reproduction's projects, e.g. "
                   "runs/reproduce")
    v.set_defaults(run=_verdicts)


def _add_scale(commands: argparse._SubParsersAction) -> None:
    sc = commands.add_parser("scale", help="step 2: scale best.json up by phi", formatter_class=HelpFormatter,
                             description="Step 2 of compound scaling: scale a search's base by its best (alpha, beta, "
                             "gamma) for each phi, print width, depth, resolution, parameters and MACs, and the "
                             "train.py command that trains one on the search's data set.")
    sc.add_argument("best", metavar="BEST_JSON", help="best.json written by a search's report")
    sc.add_argument("--phi", default="1..7", help=f"range 1..7 or list 1,2,4 (each {allowed('--phi')})")
    sc.add_argument("--num-classes", metavar="N", type=int, default=10,
                    help=f"classifier outputs of the models counted ({allowed('--num-classes')})")
    sc.add_argument("--classes", action=RenamedFlag, new="--num-classes", why=CLASSES_RENAMED, help=argparse.SUPPRESS)
    sc.add_argument("--write-configs", metavar="DIR", help="also write each scaled config as DIR/phi<N>.json")
    sc.set_defaults(run=_scale)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tuner", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (_add_search, _add_study, _add_compare, _add_report, _add_verdicts, _add_scale):
        add(commands)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command and flags `argv` (default: sys.argv); SystemExit(2) on a usage error."""
    args = build_parser().parse_args(argv)
    if "trains" in args:
        require_dataset(args.trains, args)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the tuner command `argv` names; the exit code (`cli_common.run_cli`)."""
    args = parse_args(argv)

    def run() -> int:
        check_ranges((("--repeats", getattr(args, "executions_per_trial", None)),))
        return args.run(args)

    return run_cli(run, "finished trials and completed epochs are kept; run the same command again to resume.")
