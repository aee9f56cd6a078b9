"""How much does the decoded-array cache save? Load time of a CIFAR-10-sized python archive
(50,000 / 10,000 images, packed .tar.gz) decoded from the archive versus read from the cache.
The pixels are random but not uniform (normal around 128, std 35), so that gzip compresses them
about as much as the real CIFAR-10 archive (170 MB for 184 MB of pixels).

    python benchmarks/data_cache.py                 # about a minute on a 2-core CPU
    python benchmarks/data_cache.py --format binary --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np

from effnet_keras.data import load_dataset, write_cifar_archive


def seconds(repeats: int, **kwargs) -> float:
    """Median wall seconds of `load_dataset("cifar10", **kwargs)`."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        load_dataset("cifar10", source="archive", **kwargs)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--format", choices=("python", "binary"), default="python")
    parser.add_argument("--repeats", type=int, default=3, help="timed loads per case (median)")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    images = np.clip(np.rint(rng.normal(128, 35, (60000, 32, 32, 3))), 0, 255).astype(np.uint8)
    with tempfile.TemporaryDirectory(prefix="effnet-cache-bench-") as folder:
        path = write_cifar_archive(folder, "cifar10", images[:50000], np.arange(50000) % 10, images[50000:],
                                   np.arange(10000) % 10, fmt=args.format)
        print(f"archive: {path.name}, {path.stat().st_size / 1e6:.1f} MB for {images.nbytes / 1e6:.1f} MB of pixels")
        decoded = seconds(args.repeats, data_dir=folder, cache=False)
        start = time.perf_counter()
        load_dataset("cifar10", source="archive", data_dir=folder)
        first = time.perf_counter() - start
        cached = seconds(args.repeats, data_dir=folder)
    print("| load | seconds |\n|---|---:|")
    print(f"| decode the archive (no cache) | {decoded:.2f} |")
    print(f"| first load: decode and write the cache | {first:.2f} |")
    print(f"| later loads: read the cache | {cached:.2f} |")
    print(f"speed-up: {decoded / cached:.1f}x")


if __name__ == "__main__":
    main()
