"""Specification of effnet_keras.training.rundir and .recorder: the typed run state, durable state
writes with a previous copy, choosing the run directory, and what an epoch records."""

import json

import keras
import pytest

from effnet_keras.training import rundir
from effnet_keras.training.errors import UsageError
from effnet_keras.training.recorder import RunRecorder


def truncate(path):
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])


def test_run_state_round_trips_through_json_and_ignores_unknown_keys():
    state = rundir.RunState("abc", epochs_done=2, rows=[{"epoch": 1}, {"epoch": 2}], checkpoint="epoch-0002",
                            best_val_accuracy=0.75, best_epoch=2)
    assert rundir.RunState.from_json(json.loads(json.dumps(state.to_json()))) == state
    assert rundir.RunState.from_json({**state.to_json(), "written_by": "a newer version"}) == state


def test_every_run_file_lives_in_the_run_directory_and_executions_in_run_n(tmp_path):
    run = rundir.RunDir(tmp_path)
    files = (run.config_file, run.metrics_file, run.history_file, run.model_file, run.curves_file, run.state_file)
    assert [f.name for f in files] == ["config.json", "metrics.json", "history.csv", "model.keras", "curves.png",
                                       "state.json"]
    assert all(f.parent == tmp_path for f in files)
    assert rundir.RunDir.of_execution(tmp_path / "trial_3", 1).path == tmp_path / "trial_3" / "run-1"


def test_a_run_of_the_same_settings_is_resumed_and_other_settings_get_a_new_directory(tmp_path):
    old = rundir.RunDir(tmp_path / "b0-synthetic-20261204-100000")
    old.prepare()
    old.write_state(rundir.RunState("same"))
    assert rundir.choose_run_dir(None, str(tmp_path), "b0-synthetic", "same", restart=False).path == old.path
    for fingerprint, restart in (("other", False), ("same", True)):
        chosen = rundir.choose_run_dir(None, str(tmp_path), "b0-synthetic", fingerprint, restart=restart)
        assert chosen.path.parent == tmp_path and chosen.path != old.path
    assert rundir.choose_run_dir(str(tmp_path / "mine"), str(tmp_path), "b0-synthetic", "same", False).path == \
        tmp_path / "mine"


def test_state_writes_are_durable_and_keep_the_previous_state(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(rundir, "_fsync", lambda path: synced.append(path.name))
    run = rundir.RunDir(tmp_path)
    first, second = (rundir.RunState("f", run_id="r", epochs_done=n) for n in (1, 2))
    run.write_state(first)
    assert synced == [".state.json.tmp", tmp_path.name] and not run.previous_state_file.exists()
    run.write_state(second)
    assert json.loads(run.state_file.read_text()) == second.to_json()
    assert json.loads(run.previous_state_file.read_text()) == first.to_json()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.prev"]
    truncate(run.state_file)
    logged = []
    assert run.read_state(logged.append) == first
    assert len(logged) == 1 and logged[0].startswith(f"{run.state_file} is damaged (not valid JSON: ")
    assert logged[0].endswith("); using state.json.prev (epoch 1).")
    run.write_state(second)  # a damaged state.json does not replace the previous one
    assert json.loads(run.previous_state_file.read_text()) == first.to_json()


def test_a_restarted_run_never_falls_back_to_the_state_of_the_run_it_replaced(tmp_path):
    run = rundir.RunDir(tmp_path)
    for epochs in (4, 5):
        run.write_state(rundir.RunState("f", run_id="old", epochs_done=epochs))
    restarted = rundir.RunState("f", epochs_done=1)
    run.write_state(restarted)
    assert not run.previous_state_file.exists() and run.read_state() == restarted
    truncate(run.state_file)
    with pytest.raises(UsageError, match="--restart"):
        run.read_state()
    assert rundir.RunState.from_json({"fingerprint": "f"}).run_id == ""  # states from before run ids: one run


def test_non_finite_loss_stops_without_touching_the_last_checkpoint(tmp_path):
    run = rundir.RunDir(tmp_path)
    run.prepare()
    good = run.checkpoints / "epoch-0001.weights.h5"
    good.write_bytes(b"weights of epoch 1")
    state = rundir.RunState("f", epochs_done=1, checkpoint="epoch-0001", best_val_accuracy=0.5)
    recorder = RunRecorder(run, state, classifier=None, serving=None, images_per_step=8, steps=1,
                           plot_title="t")
    recorder.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    recorder.on_epoch_begin(1)
    recorder.on_epoch_end(1, {"loss": float("nan"), "accuracy": 0.1})
    assert recorder.diverged_epoch == 2 and recorder.model.stop_training
    assert good.read_bytes() == b"weights of epoch 1" and state.epochs_done == 1
    assert not (run.path / "state.json").exists()


def test_an_unreadable_run_file_is_one_usage_error_naming_it(tmp_path):
    run = rundir.RunDir(tmp_path)
    run.metrics_file.write_text('{"test_accuracy": 0.9')
    with pytest.raises(rundir.UsageError, match="metrics.json: cannot read it .*--restart"):
        run.read_json(run.metrics_file)


def test_a_run_folder_is_discarded_only_while_it_holds_nothing_but_its_skeleton(tmp_path):
    unused, used = rundir.RunDir(tmp_path / "unused"), rundir.RunDir(tmp_path / "used")
    for run in (unused, used):
        run.prepare()
        with run.lock():
            pass
    used.write_json(used.config_file, {"ok": True})
    unused.discard_if_unused()
    used.discard_if_unused()
    assert not unused.path.exists() and used.config_file.is_file()


NO_FILES = "has no 'files' of names with 'bytes' and 'sha256'"


@pytest.mark.parametrize("change, problem", [
    ({"checkpoints": 5}, "'checkpoints' is 5"),
    ({"checkpoints": [{"stem": "epoch-0001", "epoch": 1}]}, f"checkpoint 'epoch-0001' {NO_FILES}"),
    ({"checkpoints": [{"stem": "epoch-0001", "epoch": 1, "files": {"../x": {"bytes": 1, "sha256": "0"}}}]},
     f"checkpoint 'epoch-0001' {NO_FILES}"),
    ({"checkpoints": ["epoch-0001"]}, "a checkpoint record without a 'stem' and an 'epoch'"),
    ({"rows": {"epoch": 1}}, "'rows' is {\"epoch\": 1}"),
    ({"epochs_done": "2"}, "'epochs_done' is \"2\""),
    ({"complete": None}, "'complete' is null"),
])
def test_a_state_with_fields_of_the_wrong_shape_is_damaged_not_a_traceback(tmp_path, change, problem):
    """A state.json (and .prev) whose fields have the wrong types stops with one UsageError naming
    both files; a good state.json.prev is used instead of a damaged state.json."""
    run = rundir.RunDir(tmp_path)
    good = rundir.RunState("abc", epochs_done=1, rows=[{"epoch": 1}])
    run.write_state(good)
    run.write_state(good)
    run.state_file.write_text(json.dumps({**good.to_json(), **change}))
    logged = []
    assert run.read_state(log=logged.append) == good
    assert logged == [f"{run.state_file} is damaged (not a run state: {problem}); using state.json.prev (epoch 1)."]
    run.previous_state_file.write_text(run.state_file.read_text())
    with pytest.raises(UsageError, match=f"state.json is damaged .not a run state: {problem}.*and so is "
                                         "state.json.prev .*nothing was trained or deleted"):
        run.read_state()
