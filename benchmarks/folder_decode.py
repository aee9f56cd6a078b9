"""Folder data sets (`--dataset folder:PATH`): decoding speed, and training speed when streamed.

Writes Fashion-MNIST images (training then test images: real photos of clothes, 28x28 grey) as
JPEG files into a temporary folder of class folders, then prints two Markdown tables:

Each rate is given per wall second and per CPU-second of this process (all its threads): the
second is what a core of its own would give, the first also counts time that other processes on
the same core took.

1. images/s decoding the whole folder to 32x32 RGB uint8 with our loader
   (`load_dataset("folder:PATH", cache=False)`: listing, then Pillow on a thread per CPU) against
   `keras.utils.image_dataset_from_directory` on the same folder (its whole data set iterated
   once), taking turns; plus our streamed training pipeline alone (`make_pipeline` with
   `decoding`: tf.data decodes batches of files, no model).
2. training images/s of B0 at 32 px (raw uint8 in, as training builds it; `model.fit` with SGD, as
   benchmarks/pipeline.py) fed by the training pipeline of the folder streamed (`--stream`) against
   the same images decoded in memory: one compiled model, fits taking turns after a warm-up fit
   each (median). Goal: streamed >= 0.9x in memory.

    taskset -c 0 .venv/bin/python benchmarks/folder_decode.py     # about 5 minutes on one core
    .venv/bin/python benchmarks/folder_decode.py --images 20000 --fits 6
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from effnet_keras import build_model  # noqa: E402
from effnet_keras.data import load_dataset, make_pipeline  # noqa: E402
from effnet_keras.tables import markdown_table  # noqa: E402
from effnet_keras.training.loop import resized, serving_model  # noqa: E402

SIZE = 32
"""Height and width (pixels) every path decodes to."""


def write_jpeg_folder(root: Path, count: int) -> int:
    """Write the first `count` Fashion-MNIST images (training, then test) as JPEG files into
    root/<class>/; returns the number written."""
    data = load_dataset("fashion-mnist", val_split=0)
    images = np.concatenate([data.x_train, data.x_test])[:count, ..., 0]
    labels = np.concatenate([data.y_train, data.y_test])[:count]
    folders = [root / name.replace("/", " or ") for name in data.class_names]
    for folder in folders:
        folder.mkdir(parents=True)
    for i, (image, label) in enumerate(zip(images, labels)):
        Image.fromarray(image).save(folders[label] / f"{i:05d}.jpg", quality=90)
    return len(images)


def folder_dataset(root: Path, **options):
    """`load_dataset("folder:PATH")` of `root` at SIZE px, no validation split, its progress bar silenced."""
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        return load_dataset(f"folder:{root}", image_size=(SIZE, SIZE), val_split=0, **options)


def ours(root: Path) -> int:
    """Images decoded by `load_dataset("folder:PATH")` without the cache (all splits)."""
    data = folder_dataset(root, cache=False)
    return len(data.x_train) + len(data.x_test)


def keras_reference(root: Path) -> int:
    """Images decoded by iterating `keras.utils.image_dataset_from_directory` once."""
    dataset = keras.utils.image_dataset_from_directory(root, image_size=(SIZE, SIZE), batch_size=128,
                                                       shuffle=False, verbose=False)
    return sum(int(images.shape[0]) for images, _ in dataset)


def pipeline_images(dataset, batch: int, batches: int) -> Callable[[], int]:
    """A case: `batches` batches of `dataset` (repeated) taken by a consumer doing nothing."""
    iterator = iter(dataset.repeat())
    return lambda: sum(batch for _ in range(batches) if next(iterator) is not None)


def timed(case: Callable[[], int]) -> tuple[float, float]:
    """(images per wall second, images per CPU second of this process, all threads) of one call of
    `case`, which returns how many images it went through."""
    wall, cpu = time.perf_counter(), time.process_time()
    images = case()
    return images / (time.perf_counter() - wall), images / (time.process_time() - cpu)


def taking_turns(cases: dict[str, Callable[[], int]], repeats: int) -> dict[str, tuple[float, float]]:
    """Per case: median (images per wall second, images per CPU second) of `repeats` timed calls,
    the cases taking turns in alternating order after one untimed call each (warm-up)."""
    for case in cases.values():
        case()
    rates = {name: [] for name in cases}
    turns = list(cases.items())
    for repeat in range(repeats):
        for name, case in turns if repeat % 2 == 0 else turns[::-1]:
            rates[name].append(timed(case))
    return {name: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r)) for name, r in rates.items()}


def b0(num_classes: int, image_shape: tuple[int, int, int]) -> keras.Model:
    """B0 at SIZE px on raw uint8 images as training builds it (resized inside), compiled with SGD."""
    keras.utils.set_random_seed(0)
    core = build_model("b0", num_classes=num_classes, input_shape=(SIZE, SIZE, 3))
    model = serving_model(resized(core, image_shape, SIZE, "core"), "b0-raw")
    model.compile(keras.optimizers.SGD(0.01), keras.losses.SparseCategoricalCrossentropy())
    return model


def fit_images(model: keras.Model, dataset, batch: int, steps: int) -> Callable[[], int]:
    """A case: one `model.fit` of `steps` steps on `dataset`."""
    def fit() -> int:
        model.fit(dataset, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
        return steps * batch
    return fit


def rate_table(what: str, rates: dict[str, tuple[float, float]], baseline: str, base: int) -> str:
    """Markdown table of `rates` (name: (per wall second, per CPU second)), relative to row `base`."""
    base_wall, base_cpu = list(rates.values())[base]
    return markdown_table([what, "images/s", "images per CPU-second", f"vs {baseline} (images/s)",
                           f"vs {baseline} (per CPU-second)"],
                          [[name, f"{wall:,.1f}", f"{cpu:,.1f}", f"{wall / base_wall:.3f}x", f"{cpu / base_cpu:.3f}x"]
                           for name, (wall, cpu) in rates.items()])


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what `platform` knows."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=12000, help="JPEG files to write (at least 10,000 for the "
                        "issue's figure; at most 70,000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed decodes of the folder per decoder (median)")
    parser.add_argument("--batch", type=int, default=64, help="training batch")
    parser.add_argument("--steps", type=int, default=12, help="timed training steps per fit")
    parser.add_argument("--fits", type=int, default=4, help="timed fits per feed, taking turns")
    args = parser.parse_args()

    cores = sorted(os.sched_getaffinity(0))
    print(f"# effnet_keras folder benchmark: {cpu_name()}, {os.cpu_count()} CPUs, this process on core(s) "
          f"{','.join(map(str, cores))}{' (pinned, e.g. taskset)' if len(cores) < (os.cpu_count() or 1) else ''}; "
          f"{time.strftime('%Y-%m-%d')}")
    with tempfile.TemporaryDirectory(prefix="effnet-folder-bench-") as tmp:
        root = Path(tmp) / "images"
        start = time.perf_counter()
        written = write_jpeg_folder(root, args.images)
        print(f"Wrote {written} Fashion-MNIST JPEG files into 10 class folders in {time.perf_counter() - start:.1f} s.")

        decoded = taking_turns({
            'effnet_keras `load_dataset("folder:PATH", cache=False)`': lambda: ours(root),
            "`keras.utils.image_dataset_from_directory`, iterated once": lambda: keras_reference(root)}, args.repeats)
        memory, streamed = folder_dataset(root, cache=False), folder_dataset(root, stream=True)
        feeds = {"in memory (decoded arrays)": make_pipeline(memory.x_train, memory.y_train, args.batch, training=True,
                                                             drop_remainder=True),
                 "streamed (`--stream`: tf.data decodes the files)": make_pipeline(
                     streamed.x_train, streamed.y_train, args.batch, training=True, drop_remainder=True,
                     decoding=streamed.pipeline_decoding)}
        decoded |= taking_turns({"our streamed training pipeline alone (no model)": pipeline_images(
            list(feeds.values())[1], args.batch, 50)}, args.repeats)
        print(f"\nDecoding {written} JPEG files to {SIZE}x{SIZE} RGB uint8 (median of {args.repeats}, taking turns):\n")
        print(rate_table("decoder", decoded, "Keras", 1))

        model = b0(memory.num_classes, memory.image_shape)
        fits = {name: fit_images(model, feed.repeat(), args.batch, args.steps) for name, feed in feeds.items()}
        trained = taking_turns(fits, args.fits)
        print(f"\nTraining B0 at {SIZE} px on {len(memory.x_train)} images, batch {args.batch}: median of {args.fits} "
              f"fits of {args.steps} steps per feed, taking turns:\n")
        print(rate_table("feed", trained, "in memory", 0))
        (memory_wall, memory_cpu), (streamed_wall, streamed_cpu) = trained.values()
        met = "met" if min(streamed_wall / memory_wall, streamed_cpu / memory_cpu) >= 0.9 else "NOT met"
        print(f"\nstreamed / in memory: {streamed_wall / memory_wall:.3f} in images/s, {streamed_cpu / memory_cpu:.3f} "
              f"in images per CPU-second (goal >= 0.9: {met}). Images per CPU-second is what one free core would "
              f"give; images/s also counts time other processes took from this core.")



if __name__ == "__main__":
    main()
