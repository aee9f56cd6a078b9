"""Step 2 of compound scaling: fix (alpha, beta, gamma) and scale the base up by phi."""

from __future__ import annotations

import json
from pathlib import Path

from effnet_keras.models.builder import build_model
from effnet_keras.models.flops import count_macs
from effnet_keras.models.scaling import compound_scale, load_coefficients
from effnet_keras.training.limits import check_ranges
from effnet_keras.training.rundir import RunDir
from effnet_keras.training.settings import TrainSettings
from effnet_keras.tuner.project import ProjectDir

DATA_FIELDS = ("dataset", "data_dir", "source", "label_mode", "classes", "image_size", "resize", "expected_counts")
"""The settings that choose a run's images (flag --NAME with '-' for '_'), carried from a search to its scale-up."""
SYNTHETIC_FIELDS = ("synthetic_train", "synthetic_test")


def parse_phis(text: str) -> list[float]:
    """'1..7' -> [1, ..., 7]; '1,2,4' -> [1, 2, 4]; each within LIMITS["--phi"] (UsageError otherwise)."""
    try:
        ends = [int(v) for v in text.split("..")] if ".." in text else None
        phis = None if ends else [float(v) for v in text.split(",")]
        if ends is not None and len(ends) != 2:
            raise ValueError
    except ValueError:
        raise ValueError(f"--phi {text!r}: use a range like 1..7 or a list like 1,2,4.") from None
    check_ranges(("--phi", phi) for phi in ends or phis)
    return phis or [float(p) for p in range(ends[0], ends[1] + 1)]


def load_best(best_file: str | Path) -> dict:
    """The best.json a search's report wrote (see `load_coefficients`), which must name its base config."""
    best = load_coefficients(best_file)
    if "base" not in best:
        raise ValueError(f"{best_file}: not a best.json: it names no base config (`python -m tuner report` "
                         "writes one).")
    return best


def scale_table(best_file: str | Path, phis: list[float], num_classes: int = 10,
                write_configs: str | Path | None = None) -> list[dict]:
    """One row per phi: width, depth, resolution, params, MACs and the MAC ratio to the base (~2^phi).

    write_configs: also write each config (phi 0, the base, included) to this folder as `phi<N>.json`, named
    `<base>-phi<N>`, for `train.py --model` or `tuner compare --models`.
    """
    best = load_best(best_file)
    point, base = (best["alpha"], best["beta"], best["gamma"]), best["base"]
    rows = []
    base_macs = None
    for phi in [0.0, *phis]:
        config = compound_scale(*point, phi=phi, base=base)
        if write_configs is not None:
            config["name"] = f"{base['name']}-phi{phi:g}"
            folder = Path(write_configs)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"phi{phi:g}.json").write_text(json.dumps(config, indent=1))
        model = build_model(config, num_classes=num_classes)
        macs = count_macs(model)
        base_macs = base_macs or macs
        rows.append({"phi": phi, "width": round(config["width"], 4), "depth": round(config["depth"], 4),
                     "resolution": config["resolution"], "params": model.count_params(), "MACs": macs,
                     "MAC ratio": round(macs / base_macs, 3), "2^phi": 2**phi})
    return rows


def search_data_flags(best_file: str | Path) -> list[str] | None:
    """The train.py data flags (--dataset, and --classes, --image-size... where set) of the search whose
    report wrote `best_file`, read from its best trial's config.json in the project beside it; None when
    that record is missing (a best.json copied elsewhere)."""
    try:
        best = json.loads(Path(best_file).read_text())
        run = RunDir.of_execution(ProjectDir(Path(best_file).parent).trial_dir(best["trial"]), 0)
        settings = json.loads(run.config_file.read_text())["settings"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    defaults = TrainSettings()
    fields = DATA_FIELDS + (SYNTHETIC_FIELDS if settings.get("dataset") == "synthetic" else ())
    flags = []
    for field in fields:
        value = settings.get(field)
        if value is not None and (field == "dataset" or value != getattr(defaults, field)):
            flags += [f"--{field.replace('_', '-')}", str(value)]
    return flags if settings.get("dataset") else None
