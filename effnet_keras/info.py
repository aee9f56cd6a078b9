"""Model tables: width, depth, resolution, parameters and MACs of variants or config files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from effnet_keras.models.baselines import BASELINES, DEFAULT_RESOLUTION, build_baseline
from effnet_keras.models.builder import build_model
from effnet_keras.models.configs import load_config
from effnet_keras.models.flops import count_macs
from effnet_keras.models.scaling import override
from effnet_keras.tables import markdown_table


def describe(name_or_config: str | Mapping[str, Any], resolution: int | None = None,
             num_classes: int = 1000) -> dict:
    """Build one model and return its row: name, width, depth, resolution (px), params, MACs.

    Baselines (`resnet152`, `simple-cnn`) have no coefficients: width and depth are None.
    """
    if isinstance(name_or_config, str) and name_or_config in BASELINES:
        size = resolution or DEFAULT_RESOLUTION[name_or_config]
        model = build_baseline(name_or_config, num_classes, (size, size, 3))
        return {"model": name_or_config, "width": None, "depth": None, "resolution": size,
                "params": model.count_params(), "macs": count_macs(model)}
    config = load_config(name_or_config)
    if resolution is not None:
        config = override(config, resolution=resolution)
    model = build_model(config, num_classes=num_classes)
    return {
        "model": config["name"],
        "width": config["width"],
        "depth": config["depth"],
        "resolution": config["resolution"],
        "params": model.count_params(),
        "macs": count_macs(model),
    }


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A Markdown table of `describe` rows (MACs in millions)."""
    header = ["model", "width", "depth", "resolution", "params", "MACs (M)"]
    def coefficient(value):
        return "-" if value is None else f"{value:.3f}"

    return markdown_table(header, [[str(r["model"]), coefficient(r["width"]), coefficient(r["depth"]),
                                    str(r["resolution"]), f"{r['params']:,}", f"{r['macs'] / 1e6:,.1f}"] for r in rows])
