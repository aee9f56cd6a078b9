"""All plots of the project (matplotlib, Agg backend): PNG files meant to be looked at."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402


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
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
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


def plot_lines(groups: Mapping[str, Sequence[tuple[float, float]]], path: str | Path, title: str, xlabel: str,
               ylabel: str, logx: bool = False, connect: bool = True,
               note: tuple[str, float, float] | None = None) -> Path:
    """One marked line (or, not `connect`, a scatter) per group of (x, y) points, sorted by x (e.g.
    accuracy against MACs); `note` writes a (label, x, y) beside that point."""
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=110)
    for label, points in groups.items():
        xs, ys = zip(*sorted(points))
        ax.plot(xs, ys, "-o" if connect else "o", label=label, markersize=5 if connect else 7, alpha=1 if connect else 0.8)
    if note:
        ax.annotate(note[0], note[1:], textcoords="offset points", xytext=(6, 6), fontsize=9)
    if logx:
        _log_x(ax)
    return _save(fig, ax, path, title, xlabel, ylabel, legend=True)


def plot_points(points: Sequence[tuple[str, float, float]], path: str | Path, title: str, xlabel: str, ylabel: str,
                logx: bool = False) -> Path:
    """A labelled scatter: one (label, x, y) point per model."""
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=110)
    for label, x, y in points:
        ax.scatter([x], [y], s=40)
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=9)
    if logx:
        _log_x(ax)
    return _save(fig, ax, path, title, xlabel, ylabel)


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
