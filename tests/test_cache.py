"""Specification of the decoded-array cache: later loads skip decoding, changed sources are
decoded again, rejected data leaves nothing behind, and a damaged or unwritable cache only warns."""

import os

import numpy as np
import pytest

from effnet_keras.data import DataError, archives, fashion_mnist, load_dataset, write_cifar_archive, write_fashion_mnist

pytestmark = pytest.mark.usefixtures("isolated_home")
COUNTS = {"expected_counts": (40, 10), "val_split": 0}  # the cache is compared with whole splits


def cifar(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8), np.arange(40) % 10,
            rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8), np.arange(10))


def entries(folder):
    return sorted(p.name for p in folder.glob("*")) if folder.exists() else []


def forbid_decoding(monkeypatch, module):
    def decode(*args):
        raise AssertionError("decoded although the cache is current")

    monkeypatch.setattr(module, "read", decode)


def test_second_load_reads_the_cache_without_decoding(tmp_path, monkeypatch):
    write_cifar_archive(tmp_path, "cifar10", *cifar())
    first = load_dataset("cifar10", data_dir=tmp_path, **COUNTS)
    assert entries(tmp_path / "effnet_keras_cache") == [entries(tmp_path / "effnet_keras_cache")[0]]
    assert entries(tmp_path / "effnet_keras_cache")[0].startswith("cifar10-fine-")
    forbid_decoding(monkeypatch, archives)
    second = load_dataset("cifar10", data_dir=tmp_path, classes=[1, 0], **COUNTS)
    np.testing.assert_array_equal(second.x_train, first.x_train[np.isin(first.y_train, [0, 1])])
    assert second.source == first.source


def test_a_changed_source_file_is_decoded_again(tmp_path):
    path = write_cifar_archive(tmp_path, "cifar10", *cifar(seed=0))
    load_dataset("cifar10", data_dir=tmp_path, **COUNTS)
    write_cifar_archive(tmp_path, "cifar10", *cifar(seed=1))
    os.utime(path, ns=(1, 1))  # same size; only the modification time tells them apart
    again = load_dataset("cifar10", data_dir=tmp_path, **COUNTS)
    np.testing.assert_array_equal(again.x_train, cifar(seed=1)[0])
    assert len(entries(tmp_path / "effnet_keras_cache")) == 1  # the entry was replaced


def test_without_data_dir_the_cache_is_under_the_home_cache(isolated_home, monkeypatch):
    x_train, y_train, x_test, y_test = (a[..., :1] if a.ndim == 4 else a for a in cifar())
    write_fashion_mnist(isolated_home / ".keras" / "datasets" / "fashion-mnist", x_train[:, :28, :28],
                        y_train, x_test[:, :28, :28], y_test)
    load_dataset("fashion-mnist", **COUNTS)
    assert entries(isolated_home / ".cache" / "effnet_keras")[0].startswith("fashion-mnist-fine-")
    forbid_decoding(monkeypatch, fashion_mnist)
    assert load_dataset("fashion-mnist", **COUNTS).x_train.shape == (40, 28, 28, 1)


def test_rejected_data_leaves_no_cache_entry(tmp_path):
    write_cifar_archive(tmp_path, "cifar10", *cifar())
    with pytest.raises(DataError, match="--expected-counts 40,10"):
        load_dataset("cifar10", data_dir=tmp_path)
    assert not (tmp_path / "effnet_keras_cache").exists()
    load_dataset("cifar10", data_dir=tmp_path, **COUNTS)
    with pytest.raises(DataError, match="--expected-counts 40,10"):  # a cached copy is checked the same way
        load_dataset("cifar10", data_dir=tmp_path)


def test_cache_off_writes_nothing(tmp_path):
    write_cifar_archive(tmp_path, "cifar10", *cifar())
    load_dataset("cifar10", data_dir=tmp_path, cache=False, **COUNTS)
    assert not (tmp_path / "effnet_keras_cache").exists()


def test_a_damaged_entry_warns_and_is_rebuilt(tmp_path):
    write_cifar_archive(tmp_path, "cifar10", *cifar())
    load_dataset("cifar10", data_dir=tmp_path, **COUNTS)
    (entry,) = (tmp_path / "effnet_keras_cache").glob("*.npz")
    blob = bytearray(entry.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # flips a byte of the pixels: the zip CRC no longer matches
    entry.write_bytes(bytes(blob))
    with pytest.warns(UserWarning, match=f"{entry}: damaged cache entry"):
        data = load_dataset("cifar10", data_dir=tmp_path, **COUNTS)
    np.testing.assert_array_equal(data.x_train, cifar()[0])
    np.testing.assert_array_equal(load_dataset("cifar10", data_dir=tmp_path, **COUNTS).x_train, cifar()[0])


def test_an_unwritable_cache_folder_warns_and_loads(tmp_path):
    write_cifar_archive(tmp_path, "cifar10", *cifar())
    (tmp_path / "effnet_keras_cache").write_text("a file where the cache folder would go")
    with pytest.warns(UserWarning, match="cannot write the decoded-data cache"):
        data = load_dataset("cifar10", data_dir=tmp_path, **COUNTS)
    np.testing.assert_array_equal(data.y_train, cifar()[1])
