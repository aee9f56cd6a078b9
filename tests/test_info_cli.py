"""`python -m effnet_keras info`: the model table for people and JSON for machines."""

import json

from helpers import in_process

from effnet_keras import cli


def run(*args):
    return in_process(cli.main, args)


def test_json_rows_for_a_cifar_head(tmp_path):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({**__import__("effnet_keras").get_config("b0"), "name": "tiny", "width": 0.5}))
    result = run("info", "b0", str(config), "--resolution", "32", "--num-classes", "10", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["model"] for r in rows] == ["b0", "tiny"]
    assert rows[0]["params"] == 4_062_381 and rows[0]["resolution"] == 32
    assert abs(rows[0]["macs"] - 8.5e6) / 8.5e6 < 0.01
    assert rows[1]["width"] == 0.5 and rows[1]["params"] < rows[0]["params"]


def test_table_and_errors():
    table = run("info", "v2-b0", "--resolution", "32")
    assert table.returncode == 0
    assert "| model" in table.stdout and "| v2-b0" in table.stdout and "MACs (M)" in table.stdout
    bad = run("info", "b9")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("error: Unknown variant 'b9'")
    assert "Traceback" not in bad.stderr


def test_classes_is_a_label_subset_elsewhere_so_info_counts_outputs_with_num_classes():
    result = run("info", "b0", "--classes", "10")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "python -m effnet_keras info: error: --classes is now --num-classes here: the number of classifier outputs; "
        "--classes picks labels of the data set (train.py, tuner search, study and compare).")
    assert run("info", "b0", "--num-classes", "1").returncode == 2


def test_baselines_have_rows_without_coefficients():
    result = run("info", "simple-cnn", "resnet152", "--resolution", "32", "--num-classes", "10", "--json")
    rows = {r["model"]: r for r in json.loads(result.stdout)}
    assert rows["simple-cnn"]["width"] is None and rows["simple-cnn"]["params"] == 306_154
    assert abs(rows["resnet152"]["macs"] - 11.28e9 * (32 / 224) ** 2) / rows["resnet152"]["macs"] < 0.05
