"""The base of every error a command reports to its user, carrying the command's exit code.

`cli_common.run_cli` prints such an error as one `error: ...` line and exits with its `exit_code`;
any other exception is a bug and keeps its traceback (exit code 1). Exit codes:

  0    done
  1    training failed after it started (e.g. the loss became NaN), or a bug (with its traceback)
  2    bad input, found before any training: flags, settings, data files that are missing, unreadable
       or not what they should be, and an export that cannot be made (`train.py --export` keeps the
       run it trained)
  130  interrupted with Ctrl-C
"""

from __future__ import annotations


class EffnetError(Exception):
    """An error whose message tells the user what to change; `exit_code` is what a command exits with."""

    exit_code: int = 1
