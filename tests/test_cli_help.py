"""Every command's --help: each flag has a help line that shows its default at most once, metavars in the
user's words, a description per subcommand, and no TensorFlow log lines before --help or a usage error."""

import argparse
import os
import re
import subprocess
import sys

import pytest
from helpers import ROOT

from effnet_keras import cli, train_cli
from effnet_keras.tuner import cli as tuner_cli

DEFAULT = re.compile(r"\bdefault\b\s*:|\(default\b", re.IGNORECASE)


def parsers(parser, name):
    """(command name, parser) of `parser` and of every subcommand under it."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from parsers(sub, f"{name} {sub_name}")


def problems(parser, name):
    """What is wrong with the help of `parser` and its subcommands, one line each."""
    found = []
    for command, p in parsers(parser, name):
        if " " in command and not p.description:
            found.append(f"{command}: no description")
        formatter = p._get_formatter()
        for action in p._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
                continue
            flag = f"{command} {'/'.join(action.option_strings) or action.dest}"
            if not action.help:
                found.append(f"{flag}: no help")
                continue
            text = formatter._expand_help(action)
            if len(DEFAULT.findall(text)) > 1:
                found.append(f"{flag}: default shown twice: {text!r}")
            if action.nargs == 0 and re.search(r"\(default: (True|False)\)", text):
                found.append(f"{flag}: a switch showing {text!r}")
            long = [o for o in action.option_strings if o.startswith("--")]
            if long and action.nargs != 0 and action.metavar is None and action.choices is None \
                    and action.dest != long[0][2:].replace("-", "_"):
                found.append(f"{flag}: metavar {action.dest.upper()} is an internal name")
    return found


PARSERS = {"train.py": train_cli.build_parser, "python -m tuner": tuner_cli.build_parser,
           "python -m effnet_keras": cli.build_parser}


@pytest.mark.parametrize("name", PARSERS)
def test_every_flag_has_help_with_its_default_once_and_user_metavars(name):
    parser = PARSERS[name]()
    commands = [command for command, _ in parsers(parser, name)]
    assert len(commands) == {"train.py": 1, "python -m tuner": 7, "python -m effnet_keras": 5}[name], commands
    assert problems(parser, name) == []


def test_the_check_fails_on_each_kind_of_fault():
    parser = argparse.ArgumentParser(prog="x")
    commands = parser.add_subparsers()
    sub = commands.add_parser("sub", formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # the old formatter
    sub.add_argument("--quiet")
    sub.add_argument("--size", type=int, default=3, help="size (default: 3)")
    sub.add_argument("--fast", action="store_true", help="go fast")
    sub.add_argument("--alpha", dest="study_alpha", type=float, help="alpha")
    assert problems(parser, "x") == [
        "x sub: no description", "x sub --quiet: no help", "x sub --size: default shown twice: 'size (default: 3) "
        "(default: 3)'", "x sub --fast: a switch showing 'go fast (default: False)'",
        "x sub --alpha: metavar STUDY_ALPHA is an internal name"]


def test_switches_and_stated_defaults_are_not_repeated():
    helps = {o: action for action in train_cli.build_parser()._actions for o in action.option_strings}
    formatter = train_cli.build_parser()._get_formatter()
    assert formatter._expand_help(helps["--no-lr-scaling"]) == "use --lr as is (without it: --lr * batch size / 256)"
    assert formatter._expand_help(helps["--epochs"]).endswith("(1 to 10,000) (default: 30)")
    assert formatter._expand_help(helps["--seed"]).endswith("(0 to 4,294,967,295) (default: 0)")  # 0 is not False
    assert formatter._expand_help(helps["--optimizer"]) == "default: the recipe's"


@pytest.mark.parametrize("command", [["train.py", "--help"], ["-m", "tuner", "search", "--epochs", "2"],
                                     ["-m", "effnet_keras", "info", "--help"]])
def test_no_tensorflow_log_lines_before_help_or_a_usage_error(command):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, *command], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    if "--help" in command:
        assert result.returncode == 0 and result.stderr == "" and "usage:" in result.stdout
    else:
        assert result.returncode == 2
        assert result.stderr.startswith("usage: python -m tuner search"), result.stderr[:2000]
        assert result.stderr.strip().splitlines()[-1].startswith("python -m tuner search: error: --dataset is "
                                                                 "required: cifar10, cifar10-3, cifar100, ")


def test_only_start_up_log_lines_below_the_level_are_held_back():
    from effnet_keras.absl_logs import BANNER, held_back, started_as_command

    info = b"I0000 00:00:1796666579.390434   14942 cudart_stub.cc:31] Could not find cuda drivers on your machine\n"
    error = b"E0000 00:00:1796666579.390434   14942 cuda_dnn.cc:8] Unable to register cuDNN factory\n"
    assert held_back(BANNER.encode() + b"\n", 2) and held_back(info, 1) and held_back(info, 2)
    assert not held_back(info, 0) and not held_back(BANNER.encode(), 0)
    assert not held_back(error, 2) and held_back(error, 3)
    assert not held_back(b"Traceback (most recent call last):\n", 3)
    assert started_as_command(["python", "-m", "effnet_keras", "info"], "-m")
    assert started_as_command(["/venv/bin/python", "/venv/bin/effnet-tuner", "search"], "/venv/bin/effnet-tuner")
    assert not started_as_command(["python", "-c", "import effnet_keras"], "-c")
