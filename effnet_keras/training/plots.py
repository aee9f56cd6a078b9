"""All plots of the project (matplotlib, Agg backend): PNG files meant to be looked at."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

from effnet_keras.training.rundir import write_atomically  # noqa: E402


def _log_x(ax) -> None:
    """Log-scaled x axis with ticks at 1, 2, 5 x 10^k labelled as plain numbers."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_curves(rows: Sequence[Mapping[str, float]], path: str | Path, title: str) -> Path:
    """Loss and accuracy per epoch (train and validation) side by side, saved as PNG at `path`."""
    epochs = [r["epoch"] for r in rows]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for ax, key, label in ((ax_loss, "loss", "loss (cross-entropy)"), (ax_acc, "accuracy", "accuracy (%)")):
        scale = 100.0 if key == "accuracy" else 1.0
        for prefix, name, style in (("", "train", "-o"), ("val_", "validation", "-s")):
            values = [r.get(prefix + key) for r in rows]
            if any(v is not None for v in values):
                ax.plot(epochs, [None if v is None else v * scale for v in values], style, label=name, markersize=4)
        _epoch_axis(ax, key.capitalize(), label)
        ax.legend()
    return _save_figure(fig, path, title)


def _epoch_axis(ax, title: str, ylabel: str) -> None:
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def _write(fig, path: str | Path) -> Path:
    """Save `fig` as a PNG at `path` atomically: a reader (or a kill) never meets half a file."""
    fig.tight_layout()
    path = Path(path)
    image = io.BytesIO()
    fig.savefig(image, format="png")
    plt.close(fig)
    write_atomically(path, image.getvalue())
    return path


def _save_figure(fig, path: str | Path, title: str) -> Path:
    fig.suptitle(title)
    return _write(fig, path)


def _save(fig, ax, path, title: str, xlabel: str, ylabel: str, legend: bool = False) -> Path:
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=9)
    return _write(fig, path)


def plot_bars(labels: Sequence[str], values: Sequence[float], path: str | Path, title: str, xlabel: str,
              ylabel: str, highlight: int | None = None, zoom: bool = False, fmt: str = "{:.1f}") -> Path:
    """One bar per label with its value written on top; `highlight` in orange; `zoom` trims the y axis."""
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(labels) + 2), 4.5), dpi=110)
    colours = ["tab:orange" if i == highlight else "tab:blue" for i in range(len(values))]
    bars = ax.bar(range(len(values)), values, color=colours)
    for bar, value in zip(bars, values):
        ax.annotate(fmt.format(value), (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                    va="bottom", fontsize=9)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    if zoom:
        ax.set_ylim(max(0.0, min(values) - 5), max(values) + 3)
    else:
        ax.set_ylim(0, max(values) * 1.15 or 1)
    return _save(fig, ax, path, title, xlabel, ylabel)


def plot_lines(groups: Mapping[str, Sequence[tuple]], path: str | Path, title: str, xlabel: str,
               ylabel: str, logx: bool = False, connect: bool = True,
               note: tuple[str, float, float] | None = None) -> Path:
    """One marked line (or, not `connect`, a scatter) per group of (x, y) or (x, y, error) points,
    sorted by x (e.g. accuracy against MACs); an error (None: none) is drawn as a +/- bar, e.g. the
    half-width of a 95% interval. `note` writes a (label, x, y) beside that point."""
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=110)
    for label, points in groups.items():
        xs, ys, errors = zip(*(p if len(p) == 3 else (*p, None) for p in sorted(points, key=lambda p: p[:2])))
        ax.errorbar(xs, ys, yerr=_bars(errors), fmt="-o" if connect else "o", label=label,
                    markersize=5 if connect else 7, alpha=1 if connect else 0.8, capsize=3)
    if note:
        ax.annotate(note[0], note[1:], textcoords="offset points", xytext=(6, 6), fontsize=9)
    if logx:
        _log_x(ax)
    return _save(fig, ax, path, title, xlabel, ylabel, legend=True)


def plot_points(points: Sequence[tuple], path: str | Path, title: str, xlabel: str, ylabel: str,
                logx: bool = False) -> Path:
    """A labelled scatter: one (label, x, y) or (label, x, y, error) point per model; the error (None:
    none) is drawn as a +/- bar."""
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=110)
    for label, x, y, *error in points:
        ax.errorbar([x], [y], yerr=_bars(error[:1]), fmt="o", markersize=6, capsize=3)
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=9)
    if logx:
        _log_x(ax)
    return _save(fig, ax, path, title, xlabel, ylabel)


def _bars(errors: Sequence[float | None]) -> list[float] | None:
    """Error-bar half-lengths for matplotlib (None where unknown, drawn as none), or None for no bars."""
    if all(e is None for e in errors):
        return None
    return [0.0 if e is None else e for e in errors]


def plot_histories(histories: Mapping[str, Sequence[Mapping[str, float]]], path: str | Path, title: str) -> Path:
    """Training curves of several runs overlaid: train loss and validation accuracy per epoch."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=110)
    for label, rows in histories.items():
        epochs = [r["epoch"] for r in rows]
        ax_loss.plot(epochs, [r["loss"] for r in rows], "-o", markersize=3, label=label)
        ax_acc.plot(epochs, [100 * r["val_accuracy"] for r in rows], "-o", markersize=3, label=label)
    _epoch_axis(ax_loss, "Training loss", "loss (cross-entropy)")
    _epoch_axis(ax_acc, "Validation accuracy", "accuracy (%)")
    ax_acc.legend(fontsize=8)
    return _save_figure(fig, path, title)


def plot_confusion(matrix: Sequence[Sequence[int]], class_names: Sequence[str], path: str | Path, title: str) -> Path:
    """A confusion matrix as a heat map: rows true classes, columns predicted ones, each cell's count
    written on it; `matrix` [classes, classes] of image counts."""
    size = max(5.0, 0.55 * len(class_names) + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1, size), dpi=110)
    shown = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(shown, ax=ax, label="images")
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.annotate(str(count), (j, i), ha="center", va="center", fontsize=8,
                        color="white" if count > peak / 2 else "black")
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    return _write(fig, path)
