"""Any TFDS image classification set by name (`--dataset tfds:NAME`), from a tiny set the test
prepares itself (no network), and full-size Python-3 protocol-2 CIFAR batches (issue 27)."""

import pickle

import numpy as np
import pytest
import tensorflow_datasets as tfds

from effnet_keras.data import DataError, load_dataset, write_cifar_archive
from effnet_keras.data.images import decode_image

pytestmark = pytest.mark.xdist_group("tfds_named")  # its module-scoped fixtures are built once, on one worker


class TinyPictures(tfds.core.GeneratorBasedBuilder):
    """Train and test splits of RGB images of varying sizes in 3 classes."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(None, None, 3)),
            "label": tfds.features.ClassLabel(names=["circle", "square", "star"])}))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(12, 0), "test": self._generate_examples(6, 1)}

    def _generate_examples(self, count, seed):
        rng = np.random.default_rng(seed)
        for i in range(count):
            yield i, {"image": rng.integers(0, 256, (10 + i, 14, 3), dtype=np.uint8), "label": i % 3}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    TinyPictures(data_dir=str(data_dir)).download_and_prepare()
    return data_dir


def test_a_prepared_set_loads_by_name_with_its_class_names(prepared):
    data = load_dataset("tfds:tiny_pictures", data_dir=prepared, image_size=(8, 8), resize="center-crop",
                        val_split=0)
    assert data.class_names == ["circle", "square", "star"] and data.image_shape == (8, 8, 3)
    assert (len(data.x_train), len(data.x_test)) == (12, 6) and data.decoding.resize == "center-crop"
    builder = tfds.builder("tiny_pictures", data_dir=str(prepared))
    encoded = next(iter(builder.as_dataset(split="test", decoders={"image": tfds.decode.SkipDecoding()})))
    np.testing.assert_array_equal(data.x_test[0], decode_image(encoded["image"].numpy(), (8, 8, 3), "center-crop"))
    narrowed = load_dataset("tfds:tiny_pictures", data_dir=prepared, classes=("star", "circle"), val_split=0)
    assert narrowed.class_names == ["star", "circle"]


def test_a_set_not_prepared_names_the_set_and_the_folder(tmp_path):
    with pytest.raises(DataError, match=f"TFDS mnist is not prepared in {tmp_path}.*tfds build mnist"):
        load_dataset("tfds:mnist", data_dir=tmp_path)
    with pytest.raises(DataError, match=f"no data set 'no_such_set_xyz'.*{tmp_path}"):
        load_dataset("tfds:no_such_set_xyz", data_dir=tmp_path)


def test_full_size_python3_protocol_2_batch_loads(tmp_path):
    """Python 3 writes bytes at protocol 2 as latin-1 text: up to 2 bytes per pixel byte."""
    rng = np.random.default_rng(0)
    x_train, y_train = rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8), np.arange(10) % 10
    folder = write_cifar_archive(tmp_path, "cifar10", x_train, y_train, x_train, y_train, packed=False)
    pixels = rng.integers(128, 256, (10_000, 3072), dtype=np.uint8)  # every byte takes 2
    batch = {b"batch_label": b"training batch 1 of 5", b"labels": (np.arange(10_000) % 10).tolist(),
             b"data": pixels, b"filenames": [f"image_{i:05d}.png".encode() for i in range(10_000)]}
    blob = pickle.dumps(batch, protocol=2)
    assert len(blob) > 2 * 3072 * 10_000
    (folder / "data_batch_1").write_bytes(blob)
    data = load_dataset("cifar10", source="archive", data_dir=tmp_path, expected_counts="any", val_split=0,
                        cache=False)
    np.testing.assert_array_equal(data.x_train[:10_000].transpose(0, 3, 1, 2).reshape(10_000, 3072), pixels)
    (folder / "data_batch_1").write_bytes(blob + b"\0" * (200 * 10_000))
    with pytest.raises(DataError, match="more than the .* an official cifar-10-python.tar.gz batch file can hold"):
        load_dataset("cifar10", source="archive", data_dir=tmp_path, expected_counts="any", cache=False)
