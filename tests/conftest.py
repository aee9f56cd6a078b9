"""Shared test settings: quiet TensorFlow, float32 policy restored after every test."""

import json
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



@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory):
    """Path of a JSON config: B0 at width and depth 0.25, 32 px, BatchNorm momentum 0.9."""
    import effnet_keras as ek

    path = tmp_path_factory.mktemp("configs") / "tiny.json"
    path.write_text(json.dumps(ek.override("b0", width=0.25, depth=0.25, resolution=32, bn_momentum=0.9, name="tiny")))
    return str(path)
