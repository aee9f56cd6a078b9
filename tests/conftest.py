"""Shared test settings: quiet TensorFlow, float32 policy restored after every test, and the order
in which `make test` (`pytest -n 2`) hands tests to its two workers."""

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


# The slowest tests (node id prefixes), slowest first, from `pytest --durations=0` on 2 cores: they
# start first, so that no worker is still running one while the other has finished.
SLOWEST_FIRST = (
    "test_recipe.py::test_b0_at_32px_learns",
    "test_tuner.py::test_distributed_search",
    "test_studies.py::test_repeat_k",
    "test_export.py::",
    "test_tuner.py::test_search_end_to_end",
    "test_parity.py::test_matches_keras_applications[v2-l]",
    "test_loop.py::test_one_epoch",
    "test_halving.py::test_halving_search_killed",
    "test_parity.py::test_matches_keras_applications[b7]",
    "test_steptime.py::test_a_search",
    "test_resume.py::",
    "test_loop.py::test_mirrored",
    "test_parity.py::test_matches_keras_applications[b6]",
    "test_studies.py::",
    "test_parity.py::test_matches_keras_applications[v2-m]",
    "test_train_cli.py::test_fashion_mnist",
    "test_predict.py::",
    "test_tuner_cli.py::",
    "test_parity.py::",
    "test_loop.py::",
    "test_builder.py::test_keras_file_round_trip",
    "test_cli_help.py::test_no_tensorflow_log_lines",
)


def _rank(nodeid: str) -> int:
    path, sep, test = nodeid.partition("::")
    name = path.rpartition("/")[2] + sep + test
    return next((i for i, prefix in enumerate(SLOWEST_FIRST) if name.startswith(prefix)), len(SLOWEST_FIRST))


def pytest_collection_modifyitems(config, items):
    """Slowest first (`SLOWEST_FIRST`), the rest in collection order."""
    items.sort(key=lambda item: _rank(item.nodeid))
