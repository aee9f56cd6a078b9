"""Keras (and TensorFlow, its backend) imported with TensorFlow's start-up log lines held to
TF_CPP_MIN_LOG_LEVEL.

TensorFlow 2.21 logs through absl before it reads TF_CPP_MIN_LOG_LEVEL, so importing it prints, whatever
that variable says, "WARNING: All log messages before absl::InitializeLog() is called are written to
STDERR" and INFO lines such as "I0000 ... cudart_stub.cc:31] Could not find cuda drivers ...". The
package imports Keras through `import_keras` first: file descriptor 2 is read through a pipe meanwhile,
and every line is passed on as it comes except absl lines of a severity below TF_CPP_MIN_LOG_LEVEL
(I, W, E, F are 0..3) and that banner. Unset or 0, nothing is held back; the commands (train.py,
`python -m tuner`, `python -m effnet_keras` and the installed effnet-*) default it to 2, the last two here
because the package is imported before their own code runs.
"""

from __future__ import annotations

import os
import re
import sys
import threading

BANNER = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
ABSL_LINE = re.compile(rb"^([IWEF])\d{4} ")
SEVERITIES = b"IWEF"
COMMANDS = ("effnet-train", "effnet-tuner", "effnet-keras")
"""The installed console scripts (setup.cfg)."""


def held_back(line: bytes, level: int) -> bool:
    """Whether a stderr line is below TF_CPP_MIN_LOG_LEVEL `level` (0..3): an absl line of a lower
    severity, or the banner announcing such lines (when `level` >= 1)."""
    if level >= 1 and line.startswith(BANNER.encode()):
        return True
    match = ABSL_LINE.match(line)
    return bool(match) and SEVERITIES.index(match.group(1)) < level


def _forward(source: int, target: int, level: int) -> None:
    with os.fdopen(source, "rb") as lines:
        for line in lines:
            if not held_back(line, level):
                os.write(target, line)


def started_as_command(orig_argv: list[str], script: str) -> bool:
    """Whether the process is `python -m effnet_keras ...` or an installed command, from the interpreter's
    own arguments `orig_argv` (`sys.orig_argv`) and the script path `script` (`sys.argv[0]`)."""
    return orig_argv[1:3] == ["-m", "effnet_keras"] or os.path.basename(script) in COMMANDS


def import_keras() -> None:
    """Import Keras (loading its TensorFlow backend) with the start-up lines below TF_CPP_MIN_LOG_LEVEL
    held back; a plain import when the level is 0 or unset, or Keras is already imported."""
    setting = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0")
    level = min(int(setting), 3) if setting.isdigit() else 0
    if level == 0 or "keras" in sys.modules:
        import keras  # noqa: F401
        return
    sys.stderr.flush()
    stderr = os.dup(2)
    source, sink = os.pipe()
    os.dup2(sink, 2)
    os.close(sink)
    forwarder = threading.Thread(target=_forward, args=(source, stderr, level), daemon=True)
    forwarder.start()
    try:
        import keras  # noqa: F401
    finally:
        sys.stderr.flush()
        os.dup2(stderr, 2)  # closes the pipe's last writer: the forwarder reads to its end and stops
        forwarder.join()
        os.close(stderr)


if started_as_command(sys.orig_argv, sys.argv[0] if sys.argv else ""):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import_keras()
