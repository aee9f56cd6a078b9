"""`python -m effnet_keras COMMAND`: model tables (info), SavedModel export of a run (export), labels for
image files (predict) and scores on labelled images (evaluate)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from effnet_keras.models.configs import VARIANTS


def _info(args: argparse.Namespace) -> int:
    from effnet_keras.info import describe, format_table

    rows = []
    for name in args.models or VARIANTS:
        rows.append(describe(name, resolution=args.resolution, num_classes=args.classes))
        if not args.json:
            print(f"built {rows[-1]['model']}", file=sys.stderr, flush=True)
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m effnet_keras", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="print width, depth, resolution, params and MACs of models",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    info.add_argument("models", nargs="*",
                      help="variant names, config JSON files, resnet152 or simple-cnn (default: all 15 variants)")
    info.add_argument("--resolution", type=int, default=None, help="input size in pixels (default: each model's own)")
    info.add_argument("--classes", type=int, default=1000, help="classifier outputs")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(run=_info)
    from effnet_keras.training.evaluate import add_evaluate_command
    from effnet_keras.training.export import add_export_command
    from effnet_keras.training.predict import add_predict_command

    add_export_command(commands)
    add_predict_command(commands)
    add_evaluate_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
