"""Shared test settings: quiet TensorFlow, float32 policy restored after every test."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _float32_policy():
    yield
    keras.config.set_dtype_policy("float32")
    keras.utils.clear_session()


@pytest.fixture
def isolated_home(tmp_path, monkeypatch):
    """No test sees the real ~/.keras, ~/.cache, ~/tensorflow_datasets or the Debian package's
    Fashion-MNIST folder (which stands at <tmp>/debian-fashion-mnist, empty)."""
    from effnet_keras.data import fashion_mnist

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("KERAS_HOME", "TFDS_DATA_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(fashion_mnist, "DEBIAN_FOLDER", tmp_path / "debian-fashion-mnist")
    return home
