"""What the three command lines share (train.py, `python -m tuner`, `python -m effnet_keras`): the help
formatter that shows each default once, and `run_cli`, which turns an `EffnetError` into one message and
its exit code."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable

from effnet_keras.errors import EffnetError

STATES_DEFAULT = re.compile(r"\(default\b|\bdefault:", re.IGNORECASE)
"""A help text that already says its default, e.g. "(default: the recipe's)"."""
CLASSES_RENAMED = ("the number of classifier outputs; --classes picks labels of the data set (train.py, tuner "
                   "search, study and compare).")
"""Why `info` and `tuner scale` no longer take --classes."""


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, adding " (default: X)" to a flag's help once: not where the help already
    states its default, not for a default of None or False, and not for switches (flags taking no value,
    whose default says nothing a user sets)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        takes_value = action.nargs != 0 and (action.option_strings or action.nargs in ("?", "*"))
        if (not takes_value or action.default is None or action.default is False
                or action.default == argparse.SUPPRESS or STATES_DEFAULT.search(text)):
            return text
        return f"{text} (default: %(default)s)"


def run_cli(call: Callable[[], int | None], interrupted: str) -> int:
    """Run a command's work `call` and return its exit code: 0 when done (or what `call` returns), an
    `EffnetError` as one `error: ...` line and its `exit_code`, Ctrl-C as 130 with `interrupted: ...`
    saying what was kept. Any other exception is a bug and propagates with its traceback (exit code 1)."""
    try:
        return call() or 0
    except EffnetError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"interrupted: {interrupted}", file=sys.stderr)
        return 130


class RenamedFlag(argparse.Action):
    """The former spelling of a flag, hidden from --help: giving it (with or without a value) is a usage
    error (exit code 2) that names the flag to use, `new`, and `why` it changed."""

    def __init__(self, option_strings: list[str], dest: str, new: str, why: str, **kwargs):
        super().__init__(option_strings, argparse.SUPPRESS, nargs="?", default=argparse.SUPPRESS, **kwargs)
        self.new, self.why = new, why

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        parser.error(f"{option_string} is now {self.new} here: {self.why}")
