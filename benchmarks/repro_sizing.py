"""Training images/s and MACs of every network `make reproduce` trains, to size its runs.

Each network is built the way a run builds it (raw uint8 images of the data set's shape in,
resized inside the model), trained on random data of that shape with batch `--batch-size`
after a warm-up, and timed over `--steps` steps. Networks: the study's base scaled along one
dimension at a time and compound (like `tuner study`), the seed's six points at phi = 1 (like
`tuner search`), and the V2 counterpart of the base.

    TF_NUM_INTRAOP_THREADS=1 taskset -c 1 .venv/bin/python benchmarks/repro_sizing.py \
        --base examples/b0-half.json --v2 examples/v2-b0-half.json --multipliers 1.5,2,2.5
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from effnet_keras.models.builder import build_model  # noqa: E402
from effnet_keras.models.configs import load_config  # noqa: E402
from effnet_keras.models.flops import count_macs  # noqa: E402
from effnet_keras.models.scaling import compound_scale  # noqa: E402
from effnet_keras.training.loop import resized  # noqa: E402
from effnet_keras.tuner.space import SEED_CANDIDATES  # noqa: E402
from effnet_keras.tuner.studies import DIMENSIONS, study_config  # noqa: E402


def images_per_second(config: dict, image_shape: tuple, classes: int, batch: int, steps: int) -> tuple[float, int]:
    """(training images/s after a 3-step warm-up, MACs per image) of the network `config` builds."""
    classifier = build_model(config, num_classes=classes)
    model = resized(classifier, image_shape, config["train_resolution"], "timed")
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss="sparse_categorical_crossentropy", jit_compile=False)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch, *image_shape)).astype("float32")
    y = rng.integers(0, classes, batch)
    for _ in range(3):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps * batch / (time.perf_counter() - start), count_macs(classifier)


def networks(base: dict, multipliers: list[float], v2: dict | None) -> list[tuple[str, dict]]:
    """(label, config) of every network the reproduction trains."""
    out = [("base", base)]
    out += [(f"{d} x{m:g}", study_config(base, d, m, (1.2, 1.1, 1.15))) for d in DIMENSIONS for m in multipliers]
    out += [(f"seed ({a:g}, {b:g}, {g:g})", compound_scale(a, b, g, phi=1, base=base)) for a, b, g in SEED_CANDIDATES]
    out += [(f"phi {p} (1.2, 1.1, 1.15)", compound_scale(1.2, 1.1, 1.15, phi=p, base=base)) for p in (2, 3)]
    if v2 is not None:
        out.append(("v2 base", v2))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="examples/b0-half.json", help="variant or config JSON")
    parser.add_argument("--v2", default="examples/v2-b0-half.json", help="the base's V2 counterpart ('' for none)")
    parser.add_argument("--multipliers", default="1.5,2,2.5", help="study multipliers per dimension")
    parser.add_argument("--image-shape", default="28,28,1", help="raw image shape H,W,C (Fashion-MNIST)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per network")
    args = parser.parse_args()

    shape = tuple(int(v) for v in args.image_shape.split(","))
    base = load_config(args.base)
    v2 = load_config(args.v2) if args.v2 else None
    print(f"batch {args.batch_size}, {args.steps} timed steps, raw images {shape}, keras {keras.__version__}, "
          f"{os.environ.get('TF_NUM_INTRAOP_THREADS', 'all')} intra-op threads")
    print("| network | resolution | width | depth | M MACs | img/s | s per 1,000 image-epochs |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, config in networks(base, [float(m) for m in args.multipliers.split(",")], v2):
        rate, macs = images_per_second(config, shape, args.classes, args.batch_size, args.steps)
        print(f"| {label} | {config['train_resolution']} | {config['width']:.3g} | {config['depth']:.3g} | "
              f"{macs / 1e6:.2f} | {rate:.0f} | {1000 / rate:.1f} |", flush=True)


if __name__ == "__main__":
    main()
