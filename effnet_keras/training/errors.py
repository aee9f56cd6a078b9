"""The two errors a run reports to its user (the CLIs turn them into one message and an exit code)."""


class UsageError(ValueError):
    """Bad settings, found before any training starts (the CLI exits with code 2)."""


class TrainingError(RuntimeError):
    """Training stopped (e.g. the loss became NaN/Inf); the last good checkpoint is kept."""
