"""Plots are PNG files replaced atomically: a reader or a kill never meets half a file."""

from pathlib import Path

import pytest
from helpers import png_size

from effnet_keras.training import plots

ROWS = [{"epoch": 1, "loss": 2.0, "accuracy": 0.3, "val_loss": 2.1, "val_accuracy": 0.25},
        {"epoch": 2, "loss": 1.5, "accuracy": 0.5, "val_loss": 1.6, "val_accuracy": 0.45}]


def test_a_plot_replaces_the_old_png_whole_and_leaves_no_temporary_file(tmp_path):
    path = plots.plot_curves(ROWS[:1], tmp_path / "curves.png", "one epoch")
    first = path.read_bytes()
    assert plots.plot_curves(ROWS, tmp_path / "curves.png", "two epochs") == path
    assert path.read_bytes() != first and png_size(path) == (1210, 462)
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]


def test_a_plot_that_fails_while_drawing_leaves_the_old_png(tmp_path, monkeypatch):
    path = plots.plot_curves(ROWS, tmp_path / "curves.png", "two epochs")
    before = path.read_bytes()

    def broken(self, fname, **kwargs):  # half a PNG, to a file object or straight to the path
        if hasattr(fname, "write"):
            fname.write(b"\x89PNG half")
        else:
            Path(fname).write_bytes(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(plots.plt.Figure, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        plots.plot_curves(ROWS, path, "again")
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["curves.png"]
