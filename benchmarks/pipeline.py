"""Does the host input pipeline keep up with training, and what does attaching it cost?

Prints images/s of (1) the tf.data pipeline alone, and (2) B0 training steps (median step time) at
each requested resolution fed (a) by one in-memory batch repeated (no input work) and (b) by the
pipeline. The
model takes raw uint8 32x32 images and resizes them itself, as in training. Targets: the pipeline
delivers >= 10x what the model consumes, and attaching it costs < 5% of step throughput.

    python benchmarks/pipeline.py                       # a few minutes on a 2-core CPU
    python benchmarks/pipeline.py --steps 50 --batch 256 --batch-large 128   # on a GPU
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np
import tensorflow as tf

from effnet_keras import build_model
from effnet_keras.data import DATASETS, load_dataset, make_pipeline
from effnet_keras.training.loop import resized, serving_model


class StepTimer(keras.callbacks.Callback):
    """Wall seconds between consecutive training steps within each `fit` call."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_train_begin(self, logs=None):
        self.last = None

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self.last is not None:
            self.seconds.append(now - self.last)
        self.last = now


def pipeline_rate(images: np.ndarray, labels: np.ndarray, batch: int, batches: int) -> float:
    """Images/s the training pipeline delivers to a consumer that does nothing."""
    iterator = iter(make_pipeline(images, labels, batch, training=True).repeat())
    for _ in range(5):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch / (time.perf_counter() - start)


def training_rates(
    model: keras.Model, feeds: dict[str, tf.data.Dataset], batch: int, steps: int, repeats: int
) -> dict[str, tuple[float, float]]:
    """Per feed: (images/s of `model.fit` from the median step time, relative spread of step
    times between the quartiles). Feeds take turns in alternating order, `repeats` fits of
    `steps` steps each, after a warm-up fit each, so drifting machine load hits all alike."""
    timers = {name: StepTimer() for name in feeds}
    for dataset in feeds.values():
        model.fit(dataset, steps_per_epoch=2, epochs=1, shuffle=False, verbose=0)
    turns = list(feeds.items())
    for repeat in range(repeats):
        for name, dataset in turns if repeat % 2 == 0 else turns[::-1]:
            model.fit(dataset, steps_per_epoch=steps, epochs=1, callbacks=[timers[name]], shuffle=False, verbose=0)
    rates = {}
    for name, timer in timers.items():
        q1, median, q3 = np.percentile(timer.seconds, [25, 50, 75])
        rates[name] = (batch / median, (q3 - q1) / median)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="synthetic", choices=DATASETS)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--images", type=int, default=50000, help="synthetic training images")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 224])
    parser.add_argument("--batch", type=int, default=64, help="batch at resolutions < 128")
    parser.add_argument("--batch-large", type=int, default=16, help="batch at resolutions >= 128")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per fit at resolutions < 128")
    parser.add_argument("--steps-large", type=int, default=6, help="timed steps per fit at resolutions >= 128")
    parser.add_argument("--repeats", type=int, default=4, help="timed fits per feed, taking turns")
    parser.add_argument("--jit-compile", action="store_true", help="XLA (slow to compile on CPU)")
    args = parser.parse_args()

    data = load_dataset(args.dataset, data_dir=args.data_dir, synthetic_train=args.images, synthetic_test=100)
    print(f"data: {data.name}, {len(data.x_train)} training images from {data.source}")
    print(f"device: {', '.join(d.device_type for d in tf.config.list_logical_devices())}")
    rows = []
    for resolution in args.resolutions:
        batch, steps = (args.batch, args.steps) if resolution < 128 else (args.batch_large, args.steps_large)
        keras.utils.set_random_seed(0)
        core = build_model("b0", num_classes=data.num_classes, input_shape=(resolution, resolution, 3))
        model = serving_model(resized(core, data.image_shape, resolution, "core"), "b0-raw")
        model.compile(
            keras.optimizers.SGD(0.01), keras.losses.SparseCategoricalCrossentropy(),
            jit_compile=args.jit_compile,
        )
        in_memory = tf.data.Dataset.from_tensors(
            (tf.constant(data.x_train[:batch]), tf.constant(data.y_train[:batch]))
        ).repeat()
        pipeline = make_pipeline(data.x_train, data.y_train, batch, training=True, drop_remainder=True).repeat()
        rates = training_rates(model, {"memory": in_memory, "pipeline": pipeline}, batch, steps, args.repeats)
        host_rate = pipeline_rate(data.x_train, data.y_train, batch, batches=200)
        rows.append((resolution, batch, host_rate, rates["memory"], rates["pipeline"]))

    print(f"\n{'res':>4} {'batch':>5} {'pipeline img/s':>15} {'B0 in-memory img/s':>19} "
          f"{'B0 + pipeline img/s':>20} {'step noise':>11} {'headroom':>9} {'attach cost':>12}")
    for resolution, batch, host_rate, (memory_rate, noise), (attached_rate, attached_noise) in rows:
        headroom = host_rate / memory_rate
        cost = 1 - attached_rate / memory_rate
        print(f"{resolution:>4} {batch:>5} {host_rate:>15.0f} {memory_rate:>19.1f} {attached_rate:>20.1f} "
              f"{max(noise, attached_noise):>11.1%} {headroom:>8.0f}x {cost:>11.1%}  "
              f"[{'ok' if headroom >= 10 else 'FAIL'} >=10x, {'ok' if cost < 0.05 else 'FAIL'} <5%]")
    print("step noise: interquartile range of step times over their median; an attach cost within it "
          "is not resolved by this run.")


if __name__ == "__main__":
    main()
