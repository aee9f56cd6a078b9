"""The files of a tuner project (DIRECTORY/PROJECT_NAME), named in one place, and its atomic writes.

KerasTuner writes oracle.json and trial_ID/trial.json under the names given here; each trial holds one
training run per repeat (trial_ID/run-K, see `RunDir.of_execution`). The report files (tables, plots,
best.json) are written whole through a temporary file, so a command killed while it writes one
leaves the previous version.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from effnet_keras.training.errors import UsageError
from effnet_keras.training.rundir import csv_text, exclusive_lock, write_atomically

REPORT_STEMS = {"search": "results", "study": "report", "compare": "report"}
"""The table files of each project kind: STEM.md and STEM.csv."""

ENTRY_PATTERNS = ("trial_*", "*.json", "*.md", "*.csv", "*.png", ".lock", ".*.tmp")
"""Name patterns of everything KerasTuner and our reports write in a project folder (`.NAME.tmp`: the
temporary file of `rundir.write_atomically`, left behind by a kill or a full disk mid-write)."""


class ProjectDir:
    """Paths and report writes of one tuner project; the only place its file names live."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.oracle_file = self.path / "oracle.json"
        self.step_times_file = self.path / "step_times.json"
        self.best_file = self.path / "best.json"
        self.curves_plot = self.path / "curves.png"
        self.search_plot = self.path / "search.png"
        self.study_plot = self.path / "study.png"
        self.macs_plot = self.path / "accuracy_vs_macs.png"
        self.step_plot = self.path / "accuracy_vs_step.png"
        self.step_time_plot = self.path / "step_time.png"

    @classmethod
    def of(cls, directory: str | Path, project_name: str) -> ProjectDir:
        """The project `project_name` in `directory` (KerasTuner's `directory` and `project_name`)."""
        return cls(Path(directory) / project_name)

    def trial_dir(self, trial_id: str) -> Path:
        """The folder of trial `trial_id` (KerasTuner's trial_ID), holding trial.json and run-K."""
        return self.path / f"trial_{trial_id}"

    def strangers(self) -> list[str]:
        """Names in the folder that no tuner project holds (a folder with any is not a project)."""
        return sorted(e.name for e in self.path.iterdir() if not any(e.match(p) for p in ENTRY_PATTERNS))

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Create the folder and hold its lock, so that a second command on the project stops at once
        naming the first one's PID. Folders created here and left empty are removed at the end."""
        created = [folder for folder in (self.path, *self.path.parents) if not folder.exists()]
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"Project directory {self.path} cannot be created ({e.strerror}); pass a writable "
                             "--directory.") from None
        try:
            with exclusive_lock(self.path, f"{self.path} is in use by another tuner command (PID {{pid}}); wait "
                                           "for it to finish or stop it, or pass another --project-name."):
                yield
        finally:
            if created and {p.name for p in self.path.iterdir()} <= {".lock"}:
                (self.path / ".lock").unlink(missing_ok=True)
                for folder in created:
                    with contextlib.suppress(OSError):
                        folder.rmdir()  # only while empty

    def start_afresh(self) -> None:
        """--overwrite (KerasTuner's meaning): delete the trials, oracle and reports, asking nothing and
        saying what went. UsageError, deleting nothing, for a folder that is not a tuner project (no
        oracle.json, or an entry no project holds)."""
        entries = sorted(e for e in self.path.iterdir() if e.name != ".lock")
        if not entries:
            return
        strangers = self.strangers()
        if strangers or not self.oracle_file.is_file():
            why = f"it holds {', '.join(strangers[:3])}" if strangers else f"it has no {self.oracle_file.name}"
            raise UsageError(f"--overwrite refuses {self.path}: not a tuner project ({why}), so nothing was "
                             "deleted. Pass the --directory and --project-name of a project, or delete the folder "
                             "yourself.")
        for entry in entries:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        trials = sum(e.match(self.trial_dir("*").name) for e in entries)
        print(f"--overwrite: deleted {trials} trial(s) and {len(entries) - trials} other file(s) from "
              f"{self.path}", flush=True)

    def trial_records(self) -> list[Path]:
        """Every trial_*/trial.json, in name order."""
        return sorted(self.path.glob("trial_*/trial.json"))

    def table_files(self, kind: str) -> tuple[Path, Path]:
        """(Markdown, CSV) report table of a project of `kind` ("search", "study" or "compare")."""
        stem = self.path / REPORT_STEMS[kind]
        return stem.with_suffix(".md"), stem.with_suffix(".csv")

    def write_text(self, path: Path, text: str) -> None:
        """Replace `path` (one of this project's files) by `text`, atomically (`rundir.write_atomically`)."""
        write_atomically(path, text.encode())

    def write_table(self, kind: str, markdown: str, rows: Sequence[dict], columns: Sequence[str]) -> list[Path]:
        """Write the report table of `kind`: `markdown` as STEM.md, and `rows` (their `columns`, other keys
        left out) as STEM.csv, each atomically; return both paths."""
        md_path, csv_path = self.table_files(kind)
        self.write_text(csv_path, csv_text(rows, columns))
        self.write_text(md_path, markdown)
        return [md_path, csv_path]


def verdicts_file(directory: str | Path) -> Path:
    """The reproduction's verdicts.md, beside its projects in `directory` (`python -m tuner verdicts`)."""
    return Path(directory) / "verdicts.md"
