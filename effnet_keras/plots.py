"""All plots of the project (matplotlib, Agg backend): PNG files meant to be looked at."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    ax_loss.set_title("Loss")
    ax_acc.set_title("Accuracy")
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_search(labels: Sequence[str], values: Sequence[float], best: int, path: str | Path, title: str,
                ylabel: str = "best validation accuracy (%)") -> Path:
    """One bar per candidate (labels such as "1.2, 1.1, 1.15"), the best one highlighted."""
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(labels) + 2), 4.5), dpi=110)
    colours = ["tab:orange" if i == best else "tab:blue" for i in range(len(values))]
    bars = ax.bar(range(len(values)), [100 * v for v in values], color=colours)
    for bar, value in zip(bars, values):
        ax.annotate(f"{100 * value:.1f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=9)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_xlabel("candidate (alpha, beta, gamma); best in orange; y axis zoomed")
    ax.set_ylabel(ylabel)
    low = min(100 * v for v in values)
    ax.set_ylim(max(0.0, low - 5), min(100.0, 100 * max(values) + 3))
    ax.set_title(title, fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
