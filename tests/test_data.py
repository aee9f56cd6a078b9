"""Specification of effnet_keras.data: sources, archive formats, validation, safety, splits,
the synthetic set and the tf.data pipeline."""

import builtins
import codecs
import os
import pickle
import subprocess
import sys
import tarfile
import textwrap

import numpy as np
import pytest

from effnet_keras.data import (
    DATASETS,
    DataError,
    load_dataset,
    make_pipeline,
    parse_classes,
    parse_expected_counts,
    select_dataset,
    tfds_source,
    write_cifar_archive,
)
from effnet_keras.data.spec import (
    CIFAR10_CLASSES,
    CIFAR100_COARSE_CLASSES,
    CIFAR100_FINE_CLASSES,
    CIFAR100_FINE_TO_COARSE,
)

N_TRAIN, N_TEST = 60, 20
SMALL = {"expected_counts": (N_TRAIN, N_TEST), "val_split": 0}  # readers are compared with whole splits
pytestmark = pytest.mark.usefixtures("isolated_home")


def arrays(num_classes, seed=0, n_train=N_TRAIN, n_test=N_TEST):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8),
        np.arange(n_train) % num_classes,
        rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8),
        rng.permutation(np.arange(n_test) % num_classes),
    )


@pytest.mark.parametrize("fmt", ["python", "binary"])
@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
def test_archive_round_trip_every_format(tmp_path, dataset, fmt, packed):
    num_classes = 10 if dataset == "cifar10" else 100
    x_train, y_train, x_test, y_test = arrays(num_classes)
    coarse_train = np.random.default_rng(1).integers(0, 20, N_TRAIN)
    extra = {"coarse_train": coarse_train} if dataset == "cifar100" else {}
    path = write_cifar_archive(
        tmp_path, dataset, x_train, y_train, x_test, y_test, fmt=fmt, packed=packed, **extra
    )
    assert path.exists() and path.is_file() == packed
    data = load_dataset(dataset, source="archive", data_dir=tmp_path, **SMALL)
    np.testing.assert_array_equal(data.x_train, x_train)
    np.testing.assert_array_equal(data.y_train, y_train)
    np.testing.assert_array_equal(data.x_test, x_test)
    np.testing.assert_array_equal(data.y_test, y_test)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    assert data.num_classes == len(data.class_names) == num_classes
    assert str(path) in data.source and fmt in data.source
    if dataset == "cifar100":
        coarse = load_dataset(dataset, source="archive", data_dir=tmp_path, label_mode="coarse", **SMALL)
        np.testing.assert_array_equal(coarse.y_train, coarse_train)
        np.testing.assert_array_equal(coarse.y_test, CIFAR100_FINE_TO_COARSE[y_test])
        assert coarse.num_classes == 20 and coarse.class_names[0] == "aquatic_mammals"


def test_class_names():
    assert load_dataset("synthetic", synthetic_train=10, synthetic_test=10).num_classes == 10
    assert CIFAR10_CLASSES[3:6] == ("cat", "deer", "dog")
    assert len(set(CIFAR100_FINE_CLASSES)) == 100 and len(set(CIFAR100_COARSE_CLASSES)) == 20
    assert CIFAR100_FINE_CLASSES[:3] == ("apple", "aquarium_fish", "baby")
    assert CIFAR100_FINE_CLASSES[-1] == "worm"
    assert np.bincount(CIFAR100_FINE_TO_COARSE).tolist() == [5] * 20


def test_loader_insists_on_official_counts_and_names_the_flag(tmp_path):
    write_cifar_archive(tmp_path, "cifar10", *arrays(10))
    with pytest.raises(DataError, match=r"60 train images, expected 50000 \(the official count\)\. If you made this "
                                        r"copy yourself .* pass --expected-counts 60,20 or --expected-counts any"):
        load_dataset("cifar10", source="archive", data_dir=tmp_path)
    with pytest.raises(DataError, match=r"20 test images, expected 30 \(--expected-counts\)"):
        load_dataset("cifar10", source="archive", data_dir=tmp_path, expected_counts=(60, 30))


def test_expected_counts_any_accepts_a_copy_of_any_size(tmp_path):
    write_cifar_archive(tmp_path, "cifar10", *arrays(10, n_train=37, n_test=11))
    data = load_dataset("cifar10", source="archive", data_dir=tmp_path, expected_counts="any", val_split=0)
    assert (len(data.x_train), len(data.x_test)) == (37, 11)


@pytest.mark.parametrize("text, parsed", [(None, None), ("any", "any"), ("200,50", (200, 50))])
def test_expected_counts_flag_parses(text, parsed):
    assert parse_expected_counts(text) == parsed


@pytest.mark.parametrize("text", ["200", "200,50,1", "0,5", "a,b", "all"])
def test_bad_expected_counts_flag_says_the_form(text):
    with pytest.raises(DataError, match=f"--expected-counts {text!r}: expected TRAIN,TEST .* or 'any'"):
        parse_expected_counts(text)


def test_expected_counts_are_for_files_only():
    with pytest.raises(DataError, match="--expected-counts applies to the official CIFAR and Fashion-MNIST files; "
                                         "synthetic is generated"):
        load_dataset("synthetic", expected_counts="any")


def test_cifar10_3_keeps_cat_deer_dog_relabelled(tmp_path):
    x_train, y_train, x_test, y_test = arrays(10)
    write_cifar_archive(tmp_path, "cifar10", x_train, y_train, x_test, y_test, fmt="binary")
    data = load_dataset("cifar10-3", source="archive", data_dir=tmp_path, **SMALL)
    keep = np.isin(y_train, [3, 4, 5])
    np.testing.assert_array_equal(data.x_train, x_train[keep])
    np.testing.assert_array_equal(data.y_train, y_train[keep] - 3)
    np.testing.assert_array_equal(data.y_test, y_test[np.isin(y_test, [3, 4, 5])] - 3)
    assert data.class_names == ["cat", "deer", "dog"] and data.num_classes == 3
    same = load_dataset("cifar10", source="archive", data_dir=tmp_path, classes=[3, 4, 5], **SMALL)
    for name in ("x_train", "y_train", "x_test", "y_test", "class_names", "image_shape"):
        np.testing.assert_array_equal(getattr(same, name), getattr(data, name))


def test_classes_narrow_any_data_set_relabelled_in_the_given_order():
    full = load_dataset("synthetic", synthetic_train=200, synthetic_test=50, val_split=0)
    data = load_dataset("synthetic", synthetic_train=200, synthetic_test=50, classes=(7, 2), val_split=0)
    keep = np.isin(full.y_train, [7, 2])
    np.testing.assert_array_equal(data.x_train, full.x_train[keep])
    np.testing.assert_array_equal(data.y_train, np.where(full.y_train[keep] == 7, 0, 1))
    assert data.class_names == ["checkerboard", "square"] and data.num_classes == 2
    assert np.bincount(data.y_test).tolist() == [5, 5] and data.x_val is data.x_test
    split = load_dataset("synthetic", synthetic_train=200, synthetic_test=50, classes=(7, 2), val_split=0.5)
    assert np.bincount(split.y_val).tolist() == [10, 10]  # the split is drawn from the kept classes


def test_class_selection_needs_no_data_and_checks_the_labels():
    selection = select_dataset("cifar100", "coarse", [19, 0])
    assert selection.class_names == ["vehicles_2", "aquatic_mammals"] and selection.image_shape == (32, 32, 3)
    assert select_dataset("cifar10-3").class_names == ["cat", "deer", "dog"]
    assert select_dataset("fashion-mnist").image_shape == (28, 28, 1)
    assert parse_classes("3,4,5") == (3, 4, 5) and parse_classes(None) is None
    assert parse_classes("3,cat") == (3, "cat")
    assert select_dataset("cifar10", classes=parse_classes("dog,3")).class_names == ["dog", "cat"]
    with pytest.raises(DataError, match="--classes '3,,4': expected comma-separated labels or class names"):
        parse_classes("3,,4")
    with pytest.raises(DataError, match="cifar10 has no class 'cow'; its classes are airplane, "):
        select_dataset("cifar10", classes=["cow", "dog"])
    for bad in ([3], [3, 3], [3, 10], [-1, 2]):
        with pytest.raises(DataError, match=r"classes .* invalid for cifar10: give 2 or more distinct labels in 0..9"):
            select_dataset("cifar10", classes=bad)
    with pytest.raises(DataError, match="cifar10-3 already keeps classes 3,4,5 of cifar10; .* --dataset cifar10"):
        select_dataset("cifar10-3", classes=[1, 2])


def test_by_default_a_tenth_of_train_is_held_out_and_never_meets_train_or_test():
    data = load_dataset("synthetic", synthetic_train=1000, synthetic_test=200)
    assert not data.selected_on_test
    assert np.bincount(data.y_val).tolist() == [10] * 10 and len(data.y_train) == 900
    rows = {split: set(map(bytes, x.reshape(len(x), -1))) for split, x in
            (("train", data.x_train), ("val", data.x_val), ("test", data.x_test))}
    assert not rows["val"] & rows["train"] and not rows["val"] & rows["test"]


def test_val_split_as_a_count_holds_out_exactly_that_many_stratified_images():
    data = load_dataset("synthetic", synthetic_train=1000, synthetic_test=200, val_split=25, train_images=300)
    assert len(data.y_val) == 25 and set(np.bincount(data.y_val).tolist()) <= {2, 3}
    assert len(data.y_train) == 300 and not set(map(bytes, data.x_val.reshape(25, -1))) & set(
        map(bytes, data.x_train.reshape(300, -1)))


def test_val_split_0_validates_on_the_test_split_and_says_so():
    data = load_dataset("synthetic", synthetic_train=1000, synthetic_test=200, val_split=0)
    assert data.x_val is data.x_test and data.selected_on_test and len(data.y_train) == 1000


def test_val_split_is_seeded_stratified_and_leaves_test_alone():
    base = load_dataset("synthetic", synthetic_train=1000, synthetic_test=200, val_split=0)
    split = load_dataset("synthetic", synthetic_train=1000, synthetic_test=200, val_split=0.1)
    assert np.bincount(split.y_val).tolist() == [10] * 10
    assert np.bincount(split.y_train).tolist() == [90] * 10
    np.testing.assert_array_equal(split.x_test, base.x_test)
    both = np.concatenate([split.x_train, split.x_val]).reshape(1000, -1)
    assert sorted(map(bytes, both)) == sorted(map(bytes, base.x_train.reshape(1000, -1)))
    again = load_dataset("synthetic", synthetic_train=1000, synthetic_test=200, val_split=0.1)
    np.testing.assert_array_equal(again.x_val, split.x_val)


def test_train_images_keeps_a_seeded_stratified_subset_of_train_only():
    full = load_dataset("synthetic", synthetic_train=1000, synthetic_test=200, val_split=0.1)
    some = load_dataset("synthetic", synthetic_train=1000, synthetic_test=200, val_split=0.1, train_images=205)
    assert len(some.y_train) == 205
    assert set(np.bincount(some.y_train).tolist()) <= {20, 21}
    np.testing.assert_array_equal(some.x_val, full.x_val)
    np.testing.assert_array_equal(some.x_test, full.x_test)
    kept = set(map(bytes, some.x_train.reshape(205, -1)))
    assert kept <= set(map(bytes, full.x_train.reshape(900, -1)))
    again = load_dataset("synthetic", synthetic_train=1000, synthetic_test=200, val_split=0.1, train_images=205)
    np.testing.assert_array_equal(again.x_train, some.x_train)
    other = load_dataset("synthetic", synthetic_train=1000, synthetic_test=200, val_split=0.1, train_images=205,
                         seed=1)
    assert not np.array_equal(other.x_train, some.x_train)


def test_val_split_seed_changes_only_the_split(tmp_path):
    write_cifar_archive(tmp_path, "cifar10", *arrays(10, n_train=200), fmt="binary")
    a, b = (
        load_dataset("cifar10", source="archive", data_dir=tmp_path, val_split=0.2, seed=s,
                     expected_counts=(200, N_TEST))
        for s in (0, 1)
    )
    assert np.bincount(a.y_val).tolist() == np.bincount(b.y_val).tolist() == [4] * 10
    assert not np.array_equal(a.x_val, b.x_val)


# --- errors ---------------------------------------------------------------------------------

def test_nothing_found_lists_every_place_and_the_file_names(tmp_path, isolated_home):
    (tmp_path / "data").mkdir()
    with pytest.raises(DataError) as info:
        load_dataset("cifar100", source="archive", data_dir=tmp_path / "data")
    message = str(info.value)
    for place in [
        tmp_path / "data",
        tmp_path / "data" / "downloads" / "manual",
        isolated_home / ".keras" / "datasets",
        isolated_home / "tensorflow_datasets" / "downloads" / "manual",
    ]:
        assert f"\n      {place}\n" in message + "\n"
    for name in ["cifar-100-python.tar.gz", "cifar-100-python/", "cifar-100-binary.tar.gz", "cifar-100-binary/"]:
        assert name in message
    assert "--data-dir" in message


def test_auto_without_archive_or_network_says_both(tmp_path, monkeypatch):
    monkeypatch.setattr(tfds_source, "network_available", lambda *a, **k: False)
    with pytest.raises(DataError) as info:
        load_dataset("cifar10", source="auto", data_dir=tmp_path)
    message = str(info.value)
    assert "archive: looked for" in message and "cifar-10-python.tar.gz" in message
    assert "tfds: TFDS has no prepared cifar10" in message and "cannot be reached" in message


def test_truncated_archive_names_the_file(tmp_path):
    path = write_cifar_archive(tmp_path, "cifar10", *arrays(10))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match=f"{path} is truncated or corrupt"):
        load_dataset("cifar10", source="archive", data_dir=tmp_path, **SMALL)


def test_corrupt_archive_names_the_file(tmp_path):
    path = tmp_path / "cifar-100-binary.tar.gz"
    path.write_bytes(b"this is not a gzip file" * 100)
    with pytest.raises(DataError, match=f"{path} is truncated or corrupt"):
        load_dataset("cifar100", source="archive", data_dir=tmp_path, **SMALL)


def test_missing_batch_file_in_folder_names_it(tmp_path):
    folder = write_cifar_archive(tmp_path, "cifar10", *arrays(10), packed=False)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError, match=f"{folder / 'data_batch_3'} is missing"):
        load_dataset("cifar10", source="archive", data_dir=tmp_path, **SMALL)


def test_missing_batch_member_in_archive_names_it(tmp_path):
    folder = write_cifar_archive(tmp_path / "src", "cifar10", *arrays(10), fmt="binary", packed=False)
    with tarfile.open(tmp_path / "cifar-10-binary.tar.gz", "w:gz") as tar:
        for name in ["data_batch_1.bin", "data_batch_2.bin", "data_batch_4.bin", "data_batch_5.bin"]:
            tar.add(folder / name, f"cifar-10-batches-bin/{name}")
        tar.add(folder / "test_batch.bin", "cifar-10-batches-bin/test_batch.bin")
    with pytest.raises(DataError, match="lacks cifar-10-batches-bin/data_batch_3.bin"):
        load_dataset("cifar10", source="archive", data_dir=tmp_path, **SMALL)


def test_truncated_binary_batch_names_the_file(tmp_path):
    folder = write_cifar_archive(tmp_path, "cifar100", *arrays(100), fmt="binary", packed=False)
    batch = folder / "test.bin"
    batch.write_bytes(batch.read_bytes()[:-100])
    with pytest.raises(DataError, match=f"{batch}: .* not a whole number of 3074-byte records"):
        load_dataset("cifar100", source="archive", data_dir=tmp_path, **SMALL)


def test_truncated_pickle_names_the_file(tmp_path):
    folder = write_cifar_archive(tmp_path, "cifar100", *arrays(100), packed=False)
    batch = folder / "train"
    batch.write_bytes(batch.read_bytes()[:5000])
    with pytest.raises(DataError, match=f"{batch}: not a readable pickle"):
        load_dataset("cifar100", source="archive", data_dir=tmp_path, **SMALL)


def test_binary_label_out_of_range_names_the_file(tmp_path):
    folder = write_cifar_archive(tmp_path, "cifar10", *arrays(10), fmt="binary", packed=False)
    batch = folder / "data_batch_2.bin"
    blob = bytearray(batch.read_bytes())
    blob[3073] = 10  # label byte of the second record
    batch.write_bytes(bytes(blob))
    with pytest.raises(DataError, match=f"{batch}: 1 labels out of range 0..9 \\(first: 10\\)"):
        load_dataset("cifar10", source="archive", data_dir=tmp_path, **SMALL)


def test_python_label_out_of_range_names_the_member(tmp_path):
    x_train, y_train, x_test, y_test = arrays(10)
    folder = write_cifar_archive(tmp_path / "src", "cifar10", x_train, y_train, x_test, y_test, packed=False)
    batch = {b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 12, 3]}
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=4))
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(folder, "cifar-10-batches-py")
    where = "cifar-10-python.tar.gz:cifar-10-batches-py/test_batch"
    with pytest.raises(DataError, match=f"{where}: 1 labels out of range"):
        load_dataset("cifar10", source="archive", data_dir=tmp_path, **SMALL)


def test_archive_member_larger_than_an_official_file_is_refused_before_reading(tmp_path):
    header = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
    header.size = 8 * 2**30  # claims 8 GiB; only the header is written
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(header.tobuf() + bytes(512))
    with pytest.raises(DataError, match="data_batch_1: 8,589,934,592 bytes, more than the 63,768,576"):
        load_dataset("cifar10", source="archive", data_dir=tmp_path, **SMALL)


def test_extracted_file_larger_than_an_official_file_is_refused_before_reading(tmp_path):
    folder = write_cifar_archive(tmp_path, "cifar100", *arrays(100), packed=False)
    with open(folder / "test", "r+b") as sparse:
        sparse.truncate(8 * 2**30)  # a sparse file: no disk or memory is used
    with pytest.raises(DataError, match=f"{folder / 'test'}: 8,589,934,592 bytes, more than"):
        load_dataset("cifar100", source="archive", data_dir=tmp_path, **SMALL)


NOT_LABELS = "'labels' is not a list of 4 integer labels"
ZEROS = np.zeros((4, 3072), np.uint8)


@pytest.mark.parametrize(
    "batch, refused",
    [
        ({b"data": [[0] * 3072] * 4, b"labels": [0, 1, 2, 3]}, "'data' is list, expected uint8 \\[N, 3072\\]"),
        ({b"data": np.zeros((4, 3072), np.float32), b"labels": [0, 1, 2, 3]}, "'data' is float32 \\[4, 3072\\]"),
        ({b"data": ZEROS, b"labels": [[0] * 10**6] * 4}, NOT_LABELS),
        ({b"data": ZEROS, b"labels": [0, 1, True, 3]}, NOT_LABELS),
        ({b"data": ZEROS, b"labels": [0, 1, 2]}, NOT_LABELS),
        ({b"data": ZEROS, b"labels": [0, 1, 2**70, 3]}, NOT_LABELS),
    ],
    ids=["nested-list-data", "float-data", "nested-list-labels", "bool-label", "short-labels", "huge-label"],
)
def test_python_batch_must_hold_a_uint8_array_and_flat_integer_labels(tmp_path, batch, refused):
    folder = write_cifar_archive(tmp_path, "cifar10", *arrays(10), packed=False)
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=4))
    with pytest.raises(DataError, match=f"{folder / 'test_batch'}: {refused}"):
        load_dataset("cifar10", source="archive", data_dir=tmp_path, **SMALL)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "cifar11"}, "unknown dataset 'cifar11'"),
        ({"name": "cifar10", "source": "web"}, "unknown source 'web'"),
        ({"name": "cifar10", "label_mode": "coarse"}, "label_mode='coarse' is invalid for cifar10"),
        ({"name": "synthetic", "val_split": 1.5}, "val_split must be a fraction in .0, 1., a whole number"),
        ({"name": "synthetic", "val_split": -0.1}, "val_split must be a fraction"),
        ({"name": "synthetic", "synthetic_train": 100, "val_split": 100},
         "val_split=100 holds out 100 of the 100 training images and leaves none"),
        ({"name": "synthetic", "synthetic_train": 0}, "synthetic sizes must be positive"),
        ({"name": "synthetic", "synthetic_train": 100, "train_images": 101}, "train_images=101: choose between 1 "
         "and the 90 training images"),  # 10 of the 100 are held out for validation
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(DataError, match=message):
        load_dataset(**kwargs)


# --- pickle safety ---------------------------------------------------------------------------

class _System:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Open:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return builtins.open, (str(self.marker), "w")


@pytest.mark.parametrize("payload, refused", [(_System, "system"), (_Open, "io.open")])
def test_malicious_batch_is_refused_and_never_runs(tmp_path, payload, refused):
    folder = write_cifar_archive(tmp_path, "cifar10", *arrays(10), packed=False)
    marker = tmp_path / "pwned"
    evil = {b"data": np.zeros((12, 3072), np.uint8), b"labels": [0] * 12, b"x": payload(marker)}
    (folder / "data_batch_2").write_bytes(pickle.dumps(evil, protocol=4))
    with pytest.raises(DataError, match=f"data_batch_2: refused to unpickle: it names .*{refused}"):
        load_dataset("cifar10", source="archive", data_dir=tmp_path, **SMALL)
    assert not marker.exists()


def test_the_attack_file_would_run_under_plain_pickle(tmp_path):
    """Control for the test above: the crafted payload really creates its marker."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps({b"x": _Open(marker)}, protocol=4))[b"x"].close()
    assert marker.exists()


@pytest.mark.parametrize("protocol", [2, 5])
def test_archives_pickled_by_python3_at_protocol_2_and_5_load(tmp_path, protocol):
    """Protocol 2 stores bytes as _codecs.encode(text, "latin1"); protocol 5 stores arrays through
    numpy's _frombuffer."""
    x_train, y_train, x_test, y_test = arrays(10)
    folder = write_cifar_archive(tmp_path, "cifar10", x_train, y_train, x_test, y_test, packed=False,
                                 protocol=protocol)
    blob = (folder / "data_batch_1").read_bytes()
    assert (b"_codecs" in blob) == (protocol == 2) and (b"_frombuffer" in blob) == (protocol == 5)
    data = load_dataset("cifar10", source="archive", data_dir=tmp_path, **SMALL)
    np.testing.assert_array_equal(data.x_train, x_train)
    np.testing.assert_array_equal(data.y_test, y_test)


class _Reduce:
    """Pickles as `function(*args)`."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


@pytest.mark.parametrize("payload, refused", [
    (_Reduce(codecs.encode, "x" * 64, "zlib_codec"), "_codecs.encode with str and codec 'zlib_codec'"),
    (_Reduce(codecs.encode, b"abc", "latin1"), "_codecs.encode with bytes and codec 'latin1'"),
    (_Reduce(np.zeros(0).__reduce_ex__(5)[0], b"\0" * 8, np.dtype("O"), (1,), "C"),
     "_frombuffer with dtype dtype\\('O'\\)"),
    (_Reduce(np.zeros(0).__reduce_ex__(5)[0], b"\0" * 8, np.dtype("u1"), (3, 3), "C"),
     "_frombuffer with shape \\(3, 3\\) for 8 bytes"),
])
def test_python3_pickle_paths_are_checked(tmp_path, payload, refused):
    folder = write_cifar_archive(tmp_path, "cifar10", *arrays(10), packed=False)
    batch = {b"data": np.zeros((12, 3072), np.uint8), b"labels": [0] * 12, b"x": payload}
    (folder / "data_batch_2").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match=f"data_batch_2: refused to unpickle: {refused}"):
        load_dataset("cifar10", source="archive", data_dir=tmp_path, **SMALL)


@pytest.mark.parametrize("protocol, numpy2, numpy1", [
    (4, b"\x8c\x16numpy._core.multiarray", b"\x8c\x15numpy.core.multiarray"),
    (5, b"\x8c\x13numpy._core.numeric", b"\x8c\x12numpy.core.numeric"),
])
def test_numpy1_pickles_load(tmp_path, protocol, numpy2, numpy1):
    """The official files name numpy.core.multiarray (numpy 1), not numpy._core (numpy 2); numpy 1
    writes protocol-5 arrays through numpy.core.numeric."""
    folder = write_cifar_archive(tmp_path, "cifar100", *arrays(100), packed=False, protocol=protocol)
    blob = (folder / "train").read_bytes()
    assert numpy2 in blob
    (folder / "train").write_bytes(blob.replace(numpy2, numpy1))
    data = load_dataset("cifar100", source="archive", data_dir=tmp_path, **SMALL)
    np.testing.assert_array_equal(data.x_train, arrays(100)[0])


# --- where archives are found ----------------------------------------------------------------

@pytest.mark.parametrize(
    "subdir, packed, rename",
    [
        (".keras/datasets", True, "cifar-10-batches-py-target_archive"),  # Keras 3 download
        (".keras/datasets/cifar-10-batches-py-target", False, None),  # Keras 3 extraction
        (".keras/datasets", True, "cifar-10-batches-py.tar.gz"),  # Keras 2 download
        ("tensorflow_datasets/downloads/manual", True, None),
    ],
)
def test_archives_in_usual_places_need_no_flags(isolated_home, subdir, packed, rename):
    x_train, y_train, x_test, y_test = arrays(10)
    path = write_cifar_archive(isolated_home / subdir, "cifar10", x_train, y_train, x_test, y_test, packed=packed)
    if rename:
        path = path.rename(path.with_name(rename))
    data = load_dataset("cifar10", source="archive", **SMALL)
    assert str(path) in data.source
    np.testing.assert_array_equal(data.y_test, y_test)


def test_data_dir_comes_before_the_keras_cache(tmp_path, isolated_home):
    write_cifar_archive(isolated_home / ".keras/datasets", "cifar10", *arrays(10, seed=1))
    write_cifar_archive(tmp_path / "mine", "cifar10", *arrays(10, seed=2), fmt="binary")
    data = load_dataset("cifar10", data_dir=tmp_path / "mine", **SMALL)
    np.testing.assert_array_equal(data.x_train, arrays(10, seed=2)[0])


# --- TFDS ------------------------------------------------------------------------------------

def test_tfds_source_offline_with_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        data = load_dataset("cifar100", source="tfds", data_dir=tmp_path, label_mode="coarse",
                            expected_counts=(12, 12), val_split=0)
        subset = load_dataset("cifar10-3", source="tfds", data_dir=tmp_path, expected_counts=(12, 12), val_split=0)
        with pytest.raises(DataError, match="12 train images, expected 50000"):
            load_dataset("cifar10", source="tfds", data_dir=tmp_path)
    assert data.source.startswith("tfds cifar100")
    assert data.x_train.shape == (12, 32, 32, 3) and data.x_train.dtype == np.uint8
    assert data.num_classes == 20 and 0 <= data.y_train.min() and data.y_train.max() < 20
    assert set(np.unique(subset.y_train)) <= {0, 1, 2}


def test_tfds_fashion_mnist_serves_its_raw_grey_shape(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        data = load_dataset("fashion-mnist", source="tfds", data_dir=tmp_path, expected_counts=(12, 12), val_split=0)
    assert data.source.startswith("tfds fashion_mnist") and data.image_shape == (28, 28, 1)
    assert data.x_train.shape == (12, 28, 28, 1) and data.x_train.dtype == np.uint8
    assert data.class_names[0] == "t-shirt/top" and data.class_names[-1] == "ankle boot"


def test_auto_prefers_archive_over_tfds(tmp_path):
    import tensorflow_datasets as tfds

    write_cifar_archive(tmp_path, "cifar10", *arrays(10))
    with tfds.testing.mock_data(num_examples=12):
        data = load_dataset("cifar10", source="auto", data_dir=tmp_path, **SMALL)
    assert data.source.startswith("archive ")


# --- synthetic -------------------------------------------------------------------------------

def test_synthetic_is_deterministic_balanced_and_sized():
    a, b, c = (load_dataset("synthetic", synthetic_train=300, synthetic_test=50, seed=s, val_split=0)
               for s in (3, 3, 4))
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)
    assert a.x_train.shape == (300, 32, 32, 3) and a.x_test.shape == (50, 32, 32, 3)
    assert a.x_train.dtype == np.uint8 and np.bincount(a.y_train).tolist() == [30] * 10
    assert a.source == "synthetic (seed=3)" and a.num_classes == 10
    default = load_dataset("synthetic")
    assert (len(default.x_train), len(default.x_val), len(default.x_test)) == (4500, 500, 1000)
    assert "synthetic" in DATASETS


def test_a_tiny_cnn_learns_synthetic_in_one_epoch():
    import keras

    data = load_dataset("synthetic", synthetic_train=3000, synthetic_test=500)
    keras.utils.set_random_seed(0)
    L = keras.layers
    model = keras.Sequential([
        keras.Input((32, 32, 3), dtype="uint8"),
        L.Rescaling(1 / 127.5, -1),
        L.Conv2D(16, 3, padding="same", activation="relu"),
        L.MaxPooling2D(),
        L.Conv2D(32, 3, padding="same", activation="relu"),
        L.MaxPooling2D(),
        L.Conv2D(32, 3, padding="same", activation="relu"),
        L.GlobalMaxPooling2D(),
        L.Dense(10),
    ])
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(make_pipeline(data.x_train, data.y_train, 32, training=True), epochs=1, shuffle=False, verbose=0)
    _, accuracy = model.evaluate(make_pipeline(data.x_test, data.y_test, 250, training=False), verbose=0)
    assert accuracy > 0.4  # chance is 0.1


# --- pipeline --------------------------------------------------------------------------------

def _epoch(dataset):
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    return np.concatenate(images), np.concatenate(labels)


def test_pipeline_serves_uint8_batches_covering_each_image_once_per_epoch():
    x = np.random.default_rng(0).integers(0, 256, (50, 32, 32, 3), dtype=np.uint8)
    y = np.arange(50)
    ds = make_pipeline(x, y, 16, training=True, seed=1, deterministic=True)
    images, labels = _epoch(ds)
    assert images.dtype == np.uint8 and images.shape == (50, 32, 32, 3)
    assert sorted(labels) == list(range(50)) and not np.array_equal(labels, y)
    np.testing.assert_array_equal(images, x[labels])  # each image keeps its label
    second = _epoch(ds)[1]
    assert not np.array_equal(second, labels)  # reshuffled each epoch
    np.testing.assert_array_equal(_epoch(make_pipeline(x, y, 16, True, seed=1, deterministic=True))[1], labels)
    assert not np.array_equal(_epoch(make_pipeline(x, y, 16, True, seed=2, deterministic=True))[1], labels)


def test_eval_pipeline_keeps_order_and_drop_remainder_works():
    x = np.zeros((50, 32, 32, 3), np.uint8)
    y = np.arange(50)
    np.testing.assert_array_equal(_epoch(make_pipeline(x, y, 16, training=False, deterministic=True))[1], y)
    ds = make_pipeline(x, y, 16, training=True, drop_remainder=True)
    assert ds.element_spec[0].shape.as_list() == [16, 32, 32, 3]
    assert len(list(ds)) == 3
    assert make_pipeline(x, y, 16, training=False).element_spec[0].shape.as_list() == [None, 32, 32, 3]


def test_pipeline_options_for_distribution():
    import tensorflow as tf

    ds = make_pipeline(np.zeros((4, 32, 32, 3), np.uint8), np.zeros(4), 2, training=True, deterministic=True)
    options = ds.options()
    assert options.experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.DATA
    assert options.deterministic is True


def test_pipeline_splits_the_global_batch_over_replicas():
    script = textwrap.dedent("""
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from effnet_keras.data import make_pipeline
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        ds = make_pipeline(np.zeros((32, 32, 32, 3), np.uint8), np.arange(32), 8, training=True)
        batch = next(iter(strategy.experimental_distribute_dataset(ds)))
        print([t.shape[0] for t in strategy.experimental_local_results(batch[0])])
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip().splitlines()[-1] == "[4, 4]", result.stderr[-2000:]


def test_pipeline_serves_the_raw_grey_shape():
    ds = make_pipeline(np.zeros((10, 28, 28, 1), np.uint8), np.arange(10), 4, training=False)
    assert ds.element_spec[0].shape.as_list() == [None, 28, 28, 1]
    assert ds.element_spec[0].dtype.name == "uint8"


def test_pipeline_rejects_non_uint8_images():
    with pytest.raises(DataError, match="uint8 images"):
        make_pipeline(np.zeros((4, 32, 32, 3), np.float32), np.zeros(4), 2, training=False)
