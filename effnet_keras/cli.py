"""`python -m effnet_keras COMMAND`: model tables (info), SavedModel export of a run (export), labels for
image files (predict) and scores on labelled images (evaluate)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from effnet_keras.cli_common import CLASSES_RENAMED, HelpFormatter, RenamedFlag, run_cli
from effnet_keras.models.configs import VARIANTS
from effnet_keras.training.errors import UsageError
from effnet_keras.training.limits import check_ranges


def _info(args: argparse.Namespace) -> int:
    from effnet_keras.info import describe, format_table

    check_ranges((("--num-classes", args.num_classes),))
    rows = []
    for name in args.models or VARIANTS:
        try:
            rows.append(describe(name, resolution=args.resolution, num_classes=args.num_classes))
        except ValueError as e:  # the model code's errors name the bad model or config key
            raise UsageError(str(e)) from None
        if not args.json:
            print(f"built {rows[-1]['model']}", file=sys.stderr, flush=True)
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m effnet_keras", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="print width, depth, resolution, params and MACs of models",
                               formatter_class=HelpFormatter,
                               description="Build each model (no weights) and print its width and depth "
                               "coefficients, resolution, parameters and multiply-accumulates per image, as a "
                               "table or JSON.")
    info.add_argument("models", metavar="MODEL", nargs="*",
                      help="variant names, config JSON files, resnet152 or simple-cnn (default: all 15 variants)")
    info.add_argument("--resolution", metavar="PIXELS", type=int, default=None,
                      help="input size (default: each model's own)")
    info.add_argument("--num-classes", metavar="N", type=int, default=1000,
                      help="classifier outputs (ImageNet's 1000, or your data set's number of classes)")
    info.add_argument("--classes", action=RenamedFlag, new="--num-classes", why=CLASSES_RENAMED, help=argparse.SUPPRESS)
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(run=_info)
    from effnet_keras.training.evaluate import add_evaluate_command
    from effnet_keras.training.export import add_export_command
    from effnet_keras.training.predict import add_predict_command

    add_export_command(commands)
    add_predict_command(commands)
    add_evaluate_command(commands)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command and flags `argv` (default: sys.argv); SystemExit(2) on a usage error."""
    return build_parser().parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command `argv` names; the exit code (`cli_common.run_cli`)."""
    args = parse_args(argv)
    return run_cli(lambda: args.run(args), "stopped before it finished; run the same command again.")
