"""The two errors a run reports to its user (`cli_common.run_cli` prints one message and exits with
their `exit_code`)."""

from effnet_keras.errors import EffnetError


class UsageError(EffnetError, ValueError):
    """Bad settings, found before any training starts (exit code 2)."""

    exit_code = 2


class TrainingError(EffnetError, RuntimeError):
    """Training stopped (e.g. the loss became NaN/Inf); the last good checkpoint is kept (exit code 1)."""

    exit_code = 1
