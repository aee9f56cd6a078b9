"""Training images/s of our B0 against keras.applications B0 on the same random data.

Both models train in one process, interleaved round by round, so machine noise hits both alike.
Ours must reach >= 0.97x: it is the same graph, any gap is overhead we added.

    .venv/bin/python benchmarks/throughput.py --sizes 32 128 --batch-size 64 --steps 20 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import effnet_keras as ek  # noqa: E402


def compiled(model: keras.Model) -> keras.Model:
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy", jit_compile=False)
    return model


def images_per_second(model: keras.Model, x: np.ndarray, y: np.ndarray, steps: int) -> float:
    """Train `steps` batches from in-memory tensors (after a warm-up) and return images/s."""
    batch = len(x)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 128], help="input sizes in pixels")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per model")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, float32, batch {args.batch_size}")
    print("| size | keras.applications img/s | effnet-keras img/s | ratio |")
    print("|---:|---:|---:|---:|")
    for size in args.sizes:
        x = rng.uniform(0, 255, (args.batch_size, size, size, 3)).astype("float32")
        y = rng.integers(0, 10, args.batch_size)
        models = {
            "keras": compiled(keras.applications.EfficientNetB0(weights=None, classes=10, input_shape=x.shape[1:])),
            "ours": compiled(ek.build_model("b0", num_classes=10, input_shape=x.shape[1:])),
        }
        for model in models.values():
            images_per_second(model, x, y, 3)  # trace and warm up
        rates = {name: [] for name in models}
        for _ in range(args.rounds):
            for name, model in models.items():
                rates[name].append(images_per_second(model, x, y, args.steps))
        ref, ours = (float(np.median(rates[k])) for k in ("keras", "ours"))
        print(f"| {size} | {ref:.1f} | {ours:.1f} | {ours / ref:.3f} |", flush=True)


if __name__ == "__main__":
    main()
