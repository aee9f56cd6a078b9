"""Shared test settings: quiet TensorFlow, float32 policy restored after every test, and the order
in which `make test` (`pytest -n 2 --dist loadgroup`) hands tests to its two workers."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _float32_policy():
    yield
    keras.config.set_dtype_policy("float32")
    keras.utils.clear_session(free_memory=False)  # no gc.collect(): it cost about 0.5 s a test


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
# start first, so that no worker is still running one while the other has finished. (xdist_group
# modules, e.g. test_export.py, are handed out whole, before these.)
SLOWEST_FIRST = (
    "test_studies.py::test_repeat_k",
    "test_tuner.py::test_distributed_search",
    "test_tuner.py::test_search_end_to_end",
    "test_loop.py::test_one_epoch",
    "test_halving.py::test_halving_search_killed",
    "test_loop.py::test_mirrored",
    "test_studies.py::test_study_cli",
    "test_studies.py::test_compare_cli",
    "test_train_cli.py::test_fashion_mnist",
    "test_parity.py::test_matches_keras_applications_layer_for_layer[v2-l]",
    "test_tuner_cli.py::test_hyperband",
    "test_loop.py::test_progressive",
    "test_recipe.py::test_a_small_b0_family_network",
    "test_recipe.py::test_with_the_old_batchnorm",
    "test_steptime.py::test_a_search",
    "test_tuner.py::test_a_measured_bayes",
    "test_builder.py::test_keras_file_round_trip",
    "test_parity.py::test_matches_keras_applications_layer_for_layer[b7]",
    "test_data.py::test_pipeline_splits",
    "test_parity.py::test_matches_keras_applications_layer_for_layer[v2-m]",
    "test_parity.py::",
    "test_tuner.py::test_scale_table",
    "test_cli_help.py::test_no_tensorflow_log_lines",
    "test_loop.py::",
    "test_tuner_cli.py::",
)


def _rank(nodeid: str) -> int:
    path, sep, test = nodeid.partition("::")
    name = path.rpartition("/")[2] + sep + test
    return next((i for i, prefix in enumerate(SLOWEST_FIRST) if name.startswith(prefix)), len(SLOWEST_FIRST))


def pytest_collection_modifyitems(config, items):
    """Slowest first (`SLOWEST_FIRST`), the rest in collection order."""
    items.sort(key=lambda item: _rank(item.nodeid))
