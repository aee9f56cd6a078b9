"""Ranges of numeric flags (limits.py): every count has a finite upper bound stated in --help, and
flags the data cannot serve (sizes, splits, a --data-dir that does not exist) exit 2 before training.
One check and one wording (bounds.py) for flags, model configs and scaling coefficients."""

import math
import re

import pytest
from helpers import SMALL_DATA

import effnet_keras as ek
from effnet_keras import train_cli
from effnet_keras.bounds import Bounds
from effnet_keras.training.errors import UsageError
from effnet_keras.training.limits import LIMITS, check_ranges

COUNTS = ("--epochs", "--steps-per-epoch", "--batch-size", "--progressive-stages", "--train-images",
          "--synthetic-train", "--synthetic-test", "--repeats", "--max-trials")


def test_every_count_has_a_finite_upper_bound():
    assert all(LIMITS[flag].high is not None and LIMITS[flag].low >= 0 for flag in COUNTS)
    assert not any(Bounds(0, 1).admits(v) for v in (math.nan, math.inf, -math.inf, True, "1", 2, -1e-9))
    assert Bounds(0, 1, high_open=True).admits(0) and not Bounds(0, 1, high_open=True).admits(1)
    with pytest.raises(UsageError, match=re.escape(f"--epochs must be a number >= 1 and <= 10,000, got {10**30}.")):
        check_ranges([("--dropout", None), ("--epochs", 10**30)])


NOT_NUMBERS = [(math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf"), (True, "True"), ("2", "'2'")]


@pytest.mark.parametrize("value, shown", [*NOT_NUMBERS, (0.999, "0.999"), (10.001, "10.001")])
def test_a_flag_out_of_its_range_is_refused_in_the_one_wording(value, shown):
    with pytest.raises(UsageError) as refused:
        check_ranges([("--alpha", value)])
    assert str(refused.value) == f"--alpha must be a number >= 1 and <= 10, got {shown}."


@pytest.mark.parametrize("value, shown", [*NOT_NUMBERS, (0, "0"), (-1.5, "-1.5"), (10_000.5, "10000.5")])
def test_a_config_number_or_coefficient_out_of_range_is_refused_in_the_same_wording(value, shown):
    config = ek.get_config("b0")
    config["width"] = value
    with pytest.raises(ValueError) as refused:
        ek.validate_config(config)
    assert str(refused.value) == f"Invalid config: 'width' must be a number > 0 and <= 10,000, got {shown}."
    if value != 10_000.5:  # coefficients have no upper bound
        with pytest.raises(ValueError, match=re.escape(f"alpha must be a number > 0, got {shown}.")):
            ek.compound_scale(alpha=value, beta=1.1, gamma=1.15, phi=1)


def test_values_on_the_edges_of_a_range_are_admitted():
    check_ranges([("--alpha", 1), ("--alpha", 10.0), ("--dropout", 0.0), ("--ema", 0.999)])
    for width in (1e-9, 10_000):
        ek.validate_config({**ek.get_config("b0"), "width": width})
    assert ek.compound_scale(alpha=1e-9, beta=1.0, gamma=1.0, phi=0)["name"].endswith("phi0")
    for value in (1, 0.0, -1e-9):
        with pytest.raises(UsageError, match=re.escape(f"must be a number > 0 and < 1, got {value}.")):
            check_ranges([("--ema", value)])
    assert str(Bounds()) == "a finite number" and not Bounds().admits(math.nan) and Bounds().admits(-1e300)


def test_help_states_the_bounds_of_counts():
    helps = {flag: action.help for action in train_cli.build_parser()._actions for flag in action.option_strings}
    for flag, shown in (("--epochs", "1 to 10,000"), ("--steps-per-epoch", "1 to 1,000,000"),
                        ("--train-images", "1 to 100,000,000"), ("--synthetic-train", "1 to 1,000,000"),
                        ("--batch-size", "1 to 65,536"), ("--progressive-stages", "1 to 100")):
        assert shown in helps[flag], flag


@pytest.mark.parametrize("args, message", [
    (["--synthetic-train", "0"], "--synthetic-train must be a number >= 1 and <= 1,000,000, got 0."),
    (["--synthetic-train", "999999999999999"], "--synthetic-train must be a number >= 1 and <= 1,000,000"),
    (["--synthetic-test", "-5"], "--synthetic-test must be a number >= 1 and <= 1,000,000, got -5."),
    (["--train-images", "99999999999"], "--train-images must be a number >= 1 and <= 100,000,000"),
    (["--epochs", "99999999999999999999999"], "--epochs must be a number >= 1 and <= 10,000"),
    (["--steps-per-epoch", "99999999999999999999999"], "--steps-per-epoch must be a number >= 1 and <= 1,000,000"),
    (["--batch-size", "10000000"], "--batch-size must be a number >= 1 and <= 65,536"),
    (["--progressive", "--progressive-stages", "99999999999"], "--progressive-stages must be a number >= 1 and <= 100"),
    (["--warmup-epochs", "1e308"], "--warmup-epochs must be a number >= 0 and <= 10,000, got 1e+308."),
    (["--model", "b0", "--width", "1e308"], "'width' must be a number > 0 and <= 10,000, got 1e+308."),
    (["--model", "b0", "--depth", "1e308"], "'depth' must be a number > 0 and <= 10,000, got 1e+308."),
    (["--val-split", "2000"], "val_split=2000 holds out 2000 of the 1024 training images and leaves none"),
    (["--train-images", "5000"], "train_images=5000: choose between 1 and the 92"),
    (["--dataset", "fashion-mnist", "--data-dir", "NOWHERE"], "--data-dir NOWHERE does not exist or is not a folder"),
])
def test_flags_out_of_range_or_beyond_the_data_exit_2_before_training(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = [str(tmp_path / "nowhere") if a == "NOWHERE" else a for a in args]
    code = train_cli.main(["--model", "simple-cnn", *SMALL_DATA, "--epochs", "1", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message.replace("NOWHERE", str(tmp_path / "nowhere")) in err[0], err
    assert [p for p in tmp_path.rglob("*") if not p.is_dir()] == []


@pytest.mark.parametrize("args, message", [
    (["study", "--dimension", "width", "--multipliers", "1e308"], "--multipliers must be a number > 0 and <= 100"),
    (["study", "--dimension", "compound", "--alpha", "1", "--beta", "1", "--gamma", "1"],
     "compound scaling needs alpha * beta^2 * gamma^2 > 1"),
    (["study", "--alpha", "1e308"], "--alpha must be a number >= 1 and <= 10, got 1e+308"),
    (["compare", "--models", "simple-cnn", "--latency-batches", "99999999999"],
     "--latency-batches must be a number >= 1 and <= 4,096, got 99999999999"),
])
def test_tuner_numbers_out_of_range_stop_before_training(args, message, tmp_path, capsys):
    from effnet_keras.tuner import cli

    assert cli.main([*args, *SMALL_DATA, "--directory", str(tmp_path / "tuning")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "tuning").exists()


@pytest.mark.parametrize("args, message", [
    (["--phi", "1..99999999"], "--phi must be a number >= -10 and <= 20, got 99999999"),
    (["--phi", "1,nan"], "--phi must be a number >= -10 and <= 20, got nan"),
    (["--num-classes", "10000000000"], "--num-classes must be a number >= 2 and <= 100,000"),
])
def test_tuner_scale_refuses_phis_and_classes_out_of_range_before_reading(args, message, tmp_path, capsys):
    from effnet_keras.tuner import cli

    assert cli.main(["scale", str(tmp_path / "missing.json"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
