"""`python -m tuner`'s command line: KerasTuner's `hyperband` name, --overwrite, and `scale` printing a
follow-up command with the search's own data set."""

from helpers import TINY, TRAINING, tuner


def test_hyperband_search_scale_follow_up_and_overwrite(tmp_path):
    args = ["search", "--base", TINY, "--candidates", "1.2,1.1,1.15", "--algorithm", "hyperband", *TRAINING,
            "--classes", "0,2,4", "--directory", str(tmp_path), "--project-name", "p"]
    code, out, err = tuner(*args)
    project = tmp_path / "p"
    assert code == 0, err[-3000:]
    assert "Algorithm halving;" in (project / "results.md").read_text()  # hyperband is our successive halving

    best = project / "best.json"
    code, out, err = tuner("scale", str(best), "--phi", "1", "--num-classes", "3")
    assert code == 0, err
    assert out.strip().splitlines()[-1] == (f"Train one: python train.py --scale {best} --phi 3 --dataset synthetic "
                                            "--classes 0,2,4 --synthetic-train 256 --synthetic-test 64")
    copied = tmp_path / "elsewhere.json"
    copied.write_text(best.read_text())
    code, out, err = tuner("scale", str(copied), "--phi", "1")
    assert code == 0 and out.strip().splitlines()[-1].endswith(
        "--phi 3 --dataset NAME (no record of the search's data set beside this best.json: name the one it used)")

    metrics = project / "trial_0" / "run-0" / "metrics.json"
    stamp = metrics.stat().st_mtime_ns
    code, out, err = tuner(*args, "--overwrite")
    assert code == 0, err[-3000:]
    assert f"--overwrite: deleted 1 trial(s) and 7 other file(s) from {project}" in out
    assert metrics.stat().st_mtime_ns != stamp  # trained again, not resumed


def test_overwrite_refuses_a_folder_that_is_not_a_tuner_project(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "oracle.json").write_text("{}")
    (folder / "holiday.jpg").write_text("precious")
    code, out, err = tuner("search", "--base", TINY, "--candidates", "1.2,1.1,1.15", *TRAINING, "--directory",
                           str(tmp_path), "--project-name", "photos", "--overwrite")
    assert code == 2 and err.strip().splitlines() == [
        f"error: --overwrite refuses {folder}: not a tuner project (it holds holiday.jpg), so nothing was deleted. "
        "Pass the --directory and --project-name of a project, or delete the folder yourself."]
    assert sorted(p.name for p in folder.iterdir()) == [".lock", "holiday.jpg", "oracle.json"]
    (folder / "holiday.jpg").unlink()
    (folder / "oracle.json").unlink()
    (folder / "notes.md").write_text("mine")
    code, out, err = tuner("search", "--base", TINY, "--candidates", "1.2,1.1,1.15", *TRAINING, "--directory",
                           str(tmp_path), "--project-name", "photos", "--overwrite")
    assert code == 2 and "not a tuner project (it has no oracle.json)" in err and (folder / "notes.md").exists()
