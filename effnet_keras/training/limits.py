"""The allowed range of every numeric flag (`LIMITS`) and the check of flag values against it
(`check_ranges`, worded by `bounds.range_problem`). Counts have generous but finite upper bounds,
so that a typo such as `--epochs 99999999999` stops at once instead of training until killed."""

from __future__ import annotations

from collections.abc import Iterable

from effnet_keras.bounds import Bounds, range_problem
from effnet_keras.training.errors import UsageError


def fraction(low_open: bool = False) -> Bounds:
    """[0, 1), or (0, 1) with `low_open`."""
    return Bounds(0, 1, low_open=low_open, high_open=True)


MAX_EPOCHS = 10_000
LIMITS: dict[str, Bounds] = {
    "--epochs": Bounds(1, MAX_EPOCHS),
    "--steps-per-epoch": Bounds(1, 1_000_000),
    "--batch-size": Bounds(1, 65_536),
    "--progressive-stages": Bounds(1, 100),
    "--train-images": Bounds(1, 100_000_000),
    "--synthetic-train": Bounds(1, 1_000_000),
    "--synthetic-test": Bounds(1, 1_000_000),
    "--seed": Bounds(0, 2**32 - 1),
    "--logical-cpus": Bounds(0, 1_024),
    "--max-params": Bounds(0, low_open=True),
    "--max-activation-gib": Bounds(0, low_open=True),
    "--lr": Bounds(0, low_open=True),
    "--weight-decay": Bounds(0),
    "--warmup-epochs": Bounds(0, MAX_EPOCHS),
    "--decay-epochs": Bounds(0, MAX_EPOCHS, low_open=True),
    "--decay-rate": fraction(low_open=True),
    "--label-smoothing": fraction(),
    "--bn-momentum": fraction(),
    "--dropout": fraction(),
    "--drop-connect": fraction(),
    "--ema": fraction(low_open=True),
    "--repeats": Bounds(1, 100),
    "--max-trials": Bounds(1, 100_000),
    "--target": Bounds(0, 1_000, low_open=True),
    "--tolerance": Bounds(0, 1),
    "--score-weight": Bounds(-10, 10),
    "--multipliers": Bounds(0, 100, low_open=True),
    "--latency-batches": Bounds(1, 4_096),
    "--phi": Bounds(-10, 20),
    "--num-classes": Bounds(2, 100_000),
    "--alpha": Bounds(1, 10),
    "--beta": Bounds(1, 10),
    "--gamma": Bounds(1, 10),
    "--in-memory-limit-gib": Bounds(0, 1_048_576, low_open=True),
}
"""Flag -> the values it admits."""


def allowed(flag: str) -> str:
    """The range of `flag` for its --help line, e.g. "1 to 10,000"."""
    bounds = LIMITS[flag]
    return f"{bounds.low:,} to {bounds.high:,}"


def check_ranges(values: Iterable[tuple[str, float | None]]) -> None:
    """UsageError naming the first (flag, value) whose value is set (not None) and outside LIMITS[flag]."""
    for flag, value in values:
        if value is not None and (problem := range_problem(flag, value, LIMITS[flag])):
            raise UsageError(problem)
