"""`python train.py --model b3 --dataset cifar100 [options]`: the training command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from effnet_keras.cli_common import HelpFormatter, run_cli
from effnet_keras.training.flags import add_model_arguments, add_training_arguments, require_dataset, settings_from_args
from effnet_keras.training.loop import train


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="train.py", description="Train an EfficientNet, EfficientNetV2 or baseline on "
                                "CIFAR, Fashion-MNIST or the synthetic set; resumable, exportable.",
                                formatter_class=HelpFormatter)
    add_model_arguments(p)
    add_training_arguments(p)
    g = p.add_argument_group("run")
    g.add_argument("--output-dir", metavar="DIR", help="run directory (default: runs/<model>-<dataset>-<timestamp>)")
    g.add_argument("--export", metavar="DIR", nargs="?", const="", help="export a SavedModel at the end, into DIR "
                   "(default DIR: RUN/export); a failed export exits with code 2 and keeps the run")
    g.add_argument("--restart", action="store_true", help="start over instead of resuming (without it: resume the "
                   "run in --output-dir)")
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The flags `argv` (default: sys.argv), checked as the parser checks them; SystemExit(2) on a usage error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    require_dataset(parser, args)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Train as the flags `argv` say; the exit code (`cli_common.run_cli`)."""
    settings = settings_from_args(parse_args(argv))

    def run() -> None:
        train(settings)

    return run_cli(run, "every completed epoch is checkpointed; run the same command again to resume.")
