"""Overhead of the full training CLI path, and CPU float32 versus mixed_bfloat16 step time.

1. Training images/s through `effnet_keras.training.train` (tf.data pipeline, Trainer, callbacks,
   checkpoints, logging; augmentation off so only overhead is compared) versus a bare
   `model.fit` of the same network on in-memory tensors, same batch and optimizer. Target: >= 0.95x.
2. Step time of B0 at 32x32 and 128x128 in float32 and in mixed_bfloat16 (bare fit).

    .venv/bin/python benchmarks/training_overhead.py --model b0 --resolution 32 --batch-size 64
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from effnet_keras.data import load_dataset  # noqa: E402
from effnet_keras.training.loop import build_classifier, resized, train  # noqa: E402
from effnet_keras.training.plan import check_run  # noqa: E402
from effnet_keras.training.recipe import WarmupSchedule, make_optimizer  # noqa: E402
from effnet_keras.training.settings import TrainSettings, training_recipe  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def bare_fit(s: TrainSettings, x: np.ndarray, y: np.ndarray, epochs: int, steps: int) -> float:
    """Images/s of model.fit on in-memory tensors (epochs after the first)."""
    plan = check_run(s)
    model = resized(build_classifier(s, plan, 10, (plan.resolution, plan.resolution, 3), None), x.shape[1:],
                    plan.resolution, "bare")
    recipe = training_recipe(s)
    schedule = WarmupSchedule(0.01, total_steps=epochs * steps, kind="cosine")
    model.compile(optimizer=make_optimizer(recipe.optimizer, schedule, recipe.weight_decay, None,
                                           recipe.decay_norm_and_bias),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1), metrics=["accuracy"],
                  jit_compile=False)
    timer = EpochTimer()
    n = steps * s.batch_size
    model.fit(x[:n], keras.ops.one_hot(y[:n], 10), batch_size=s.batch_size, epochs=epochs, shuffle=False,
              verbose=0, callbacks=[timer])
    return n / float(np.mean(timer.seconds[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="b0")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="epochs (the first is not timed)")
    parser.add_argument("--precision-sizes", type=int, nargs="*", default=[32, 128],
                        help="resolutions of the float32 vs mixed_bfloat16 comparison (empty: skip)")
    args = parser.parse_args()

    data = load_dataset("synthetic", synthetic_train=args.steps * args.batch_size, synthetic_test=256)
    settings = TrainSettings(model=args.model, resolution=args.resolution, batch_size=args.batch_size,
                             epochs=args.epochs, steps_per_epoch=args.steps, augment="none", precision="float32",
                             synthetic_train=args.steps * args.batch_size, synthetic_test=256, warmup_epochs=0)
    x, y = data.x_train.astype("float32"), data.y_train
    bare = bare_fit(settings, x, y, args.epochs, args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        cli = train(dataclasses.replace(settings, output_dir=tmp), log=lambda *a: None)["images_per_second"]
    print(f"| path | {args.model} @ {args.resolution}px, batch {args.batch_size} img/s |")
    print("|---|---:|")
    print(f"| bare model.fit, in-memory tensors | {bare:.1f} |")
    print(f"| full training CLI path | {cli:.1f} |")
    print(f"| ratio (target >= 0.95) | {cli / bare:.3f} |")

    if args.precision_sizes:
        print("\n| resolution | float32 step ms | mixed_bfloat16 step ms | speed-up |")
        print("|---:|---:|---:|---:|")
    for size in args.precision_sizes:
        ms = {}
        for policy in ("float32", "mixed_bfloat16"):
            keras.config.set_dtype_policy(policy)
            s = TrainSettings(model=args.model, resolution=size, batch_size=args.batch_size)
            ms[policy] = 1000 * args.batch_size / bare_fit(s, x, y, args.epochs, min(args.steps, 10))
            keras.config.set_dtype_policy("float32")
        print(f"| {size} | {ms['float32']:.1f} | {ms['mixed_bfloat16']:.1f} | "
              f"{ms['float32'] / ms['mixed_bfloat16']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
