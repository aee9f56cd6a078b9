"""Specification of Fashion-MNIST: the checked IDX reader, where the files are found, what a
missing or damaged file says, and (when the Debian package is installed) the real files."""

import gzip
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from effnet_keras.data import (
    DataError,
    DataRequestError,
    fashion_mnist,
    idx,
    load_dataset,
    tfds_source,
    write_fashion_mnist,
)
from effnet_keras.data.idx import read_idx, write_idx

N_TRAIN, N_TEST = 50, 20
SMALL = {"expected_counts": (N_TRAIN, N_TEST), "val_split": 0}  # readers are compared with whole splits
pytestmark = pytest.mark.usefixtures("isolated_home")


def arrays(seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (N_TRAIN, 28, 28, 1), dtype=np.uint8),
        np.arange(N_TRAIN) % 10,
        rng.integers(0, 256, (N_TEST, 28, 28, 1), dtype=np.uint8),
        rng.permutation(np.arange(N_TEST) % 10),
    )


# --- the IDX format ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_idx_round_trip_plain_and_gzipped(tmp_path, name):
    values = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    path = write_idx(tmp_path / name, values)
    blob = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    assert blob[:16] == bytes([0, 0, 8, 3, 0, 0, 0, 7, 0, 0, 0, 28, 0, 0, 0, 28])  # magic 2051, sizes
    np.testing.assert_array_equal(read_idx(path, 3), values)


def test_idx_labels_have_magic_2049(tmp_path):
    path = write_idx(tmp_path / "labels-idx1-ubyte", np.arange(5, dtype=np.uint8))
    assert int.from_bytes(path.read_bytes()[:4], "big") == 2049
    np.testing.assert_array_equal(read_idx(path, 1), np.arange(5))


@pytest.mark.parametrize("damage, message", [
    (lambda blob: blob[:-10], "announces 7 x 28 x 28 = 5488 values but 5478 bytes follow; the file is truncated"),
    (lambda blob: blob + b"\0", "announces 7 x 28 x 28 = 5488 values but more bytes follow"),
    (lambda blob: blob[:10], "10 bytes, shorter than its IDX header"),
    (lambda blob: bytes([0, 0, 8, 1]) + blob[4:], "magic number 2049, expected 2051"),
    (lambda blob: bytes([0, 0, 0x0D, 3]) + blob[4:], "magic number 3331, expected 2051"),
])
def test_damaged_idx_files_name_the_file_and_the_fault(tmp_path, damage, message):
    path = write_idx(tmp_path / "images-idx3-ubyte", np.zeros((7, 28, 28), np.uint8))
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match=f"{path}: .*{message}.*Download again"):
        read_idx(path, 3, hint="Download again.")


def test_gzip_bomb_is_refused_after_reading_what_the_header_announces(tmp_path, monkeypatch):
    """A valid header for 100 images followed by 200 MB of zeros (about 200 KB gzipped): the reader
    decompresses at most the announced 78,400 values plus a chunk, not 200 MB."""
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(bytes([0, 0, 8, 3, 0, 0, 0, 100, 0, 0, 0, 28, 0, 0, 0, 28]))
        for _ in range(200):
            f.write(bytes(1_000_000))
    assert path.stat().st_size < 2_000_000
    served = []
    read = gzip.GzipFile.read
    monkeypatch.setattr(gzip.GzipFile, "read", lambda self, size=-1: served.append(read(self, size)) or served[-1])
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=f"{path}: the header announces 100 x 28 x 28 = 78400 values but more "
                                            "bytes follow .reading stopped there.; the file is corrupt"):
            read_idx(path, 3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(map(len, served)) <= 16 + 78_400 + idx.CHUNK_BYTES and peak < 10_000_000


def test_header_announcing_more_than_max_values_is_refused_before_reading(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 8, 1, 0xFF, 0xFF, 0xFF, 0xFF]))
    with pytest.raises(DataError, match="4294967295 values, more than the 2,147,483,648 an IDX file may hold"):
        read_idx(path, 1)


def test_truncated_gzip_names_the_file(tmp_path):
    path = write_idx(tmp_path / "images-idx3-ubyte.gz", np.zeros((7, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match=f"{path}: not readable .*truncated or corrupt"):
        read_idx(path, 3)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=f"{path}: not readable"):
        read_idx(path, 3)


# --- loading -----------------------------------------------------------------------------------

@pytest.mark.parametrize("gzipped", [True, False])
def test_generated_files_load_as_uint8_grey_images(tmp_path, gzipped):
    x_train, y_train, x_test, y_test = arrays()
    write_fashion_mnist(tmp_path, x_train, y_train, x_test, y_test, gzipped=gzipped)
    data = load_dataset("fashion-mnist", data_dir=tmp_path, **SMALL)
    np.testing.assert_array_equal(data.x_train, x_train)
    np.testing.assert_array_equal(data.y_train, y_train)
    np.testing.assert_array_equal(data.x_test, x_test)
    np.testing.assert_array_equal(data.y_test, y_test)
    assert data.image_shape == (28, 28, 1) and data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    assert data.class_names == ["t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                                "sneaker", "bag", "ankle boot"]
    assert data.source == f"archive {tmp_path} (IDX files)"
    narrowed = load_dataset("fashion-mnist", data_dir=tmp_path, classes=[9, 0], **SMALL)
    assert narrowed.class_names == ["ankle boot", "t-shirt/top"] and sorted(set(narrowed.y_train)) == [0, 1]


def test_places_in_order_data_dir_keras_cache_debian(tmp_path, isolated_home):
    keras_cache = isolated_home / ".keras" / "datasets" / "fashion-mnist"
    (tmp_path / "mine").mkdir()
    for seed, folder in enumerate([fashion_mnist.DEBIAN_FOLDER, keras_cache, tmp_path / "mine" / "fashion-mnist"]):
        write_fashion_mnist(folder, *arrays(seed))
        found = load_dataset("fashion-mnist", data_dir=tmp_path / "mine", **SMALL)
        np.testing.assert_array_equal(found.x_train, arrays(seed)[0])
        assert str(folder) in found.source
    with pytest.raises(DataRequestError, match=f"--data-dir {tmp_path / 'typo'} does not exist or is not a folder"):
        load_dataset("fashion-mnist", data_dir=tmp_path / "typo", **SMALL)  # not a fallback to the copies above


def test_nothing_found_lists_the_folders_and_three_ways_to_get_the_files(tmp_path, isolated_home, monkeypatch):
    monkeypatch.setattr(tfds_source, "network_available", lambda *a, **k: False)
    (tmp_path / "data").mkdir()
    with pytest.raises(DataError) as info:
        load_dataset("fashion-mnist", data_dir=tmp_path / "data")
    message = str(info.value)
    assert message.startswith("no fashion-mnist data found (source='auto').")
    for place in [tmp_path / "data", tmp_path / "data" / "fashion-mnist",
                  isolated_home / ".keras" / "datasets" / "fashion-mnist", fashion_mnist.DEBIAN_FOLDER]:
        assert f"\n      {place}\n" in message + "\n"
    assert "train-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message
    assert "tfds: TFDS has no prepared fashion_mnist" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "keras.datasets.fashion_mnist.load_data()" in message
    assert "https://github.com/zalandoresearch/fashion-mnist" in message and "--data-dir" in message


def test_missing_file_is_named_with_the_ways_to_get_it(tmp_path):
    write_fashion_mnist(tmp_path, *arrays())
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=f"(?s){tmp_path / 't10k-labels-idx1-ubyte.gz'} is missing .*apt-get install"):
        load_dataset("fashion-mnist", data_dir=tmp_path, **SMALL)


def test_label_out_of_range_names_the_file(tmp_path):
    x_train, y_train, x_test, y_test = arrays()
    write_fashion_mnist(tmp_path, x_train, y_train, x_test, y_test)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.full(N_TRAIN, 10, np.uint8))
    with pytest.raises(DataError, match=f"{tmp_path / 'train-images-idx3-ubyte.gz'}: 50 labels out of range 0..9"):
        load_dataset("fashion-mnist", data_dir=tmp_path, **SMALL)


def test_labels_not_matching_the_images_name_both_files(tmp_path):
    write_fashion_mnist(tmp_path, *arrays())
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(N_TEST - 1, np.uint8))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: 19 labels for the 20 images of .*t10k-images"):
        load_dataset("fashion-mnist", data_dir=tmp_path, **SMALL)


def test_images_of_another_size_are_refused(tmp_path):
    write_fashion_mnist(tmp_path, *arrays())
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((N_TRAIN, 32, 32), np.uint8))
    with pytest.raises(DataError, match=r"images are uint8 \[50, 32, 32, 1\], expected uint8 \[N, 28, 28, 1\]"):
        load_dataset("fashion-mnist", data_dir=tmp_path, **SMALL)


def test_counts_other_than_the_official_ones_need_the_flag(tmp_path):
    write_fashion_mnist(tmp_path, *arrays())
    with pytest.raises(DataError, match=r"50 train images, expected 60000 \(the official count\).* 50,20"):
        load_dataset("fashion-mnist", data_dir=tmp_path)


DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not DEBIAN.is_dir(), reason=f"{DEBIAN} is absent: install it with "
                    "`apt-get install dataset-fashion-mnist` (as root) to check the real files")
def test_the_real_files_of_the_debian_package(monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_FOLDER", DEBIAN)
    data = load_dataset("fashion-mnist", source="archive", val_split=0)
    assert data.source == f"archive {DEBIAN} (IDX files)"
    assert data.x_train.shape == (60000, 28, 28, 1) and data.x_test.shape == (10000, 28, 28, 1)
    assert np.bincount(data.y_train).tolist() == [6000] * 10
    assert np.bincount(data.y_test).tolist() == [1000] * 10
    assert 50 < data.x_train.mean() < 100  # dark background, bright garments
