"""README.md and the guides in docs/: every relative link (and its anchor) resolves, and every
`python train.py`, `python -m tuner` and `python -m effnet_keras` command in a code block parses with
that command's own argparse parser, so a flag that does not exist fails here."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.S | re.M)
SHELL_FENCES = {"bash", "sh", "shell", "console", ""}
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.M)
PYTHONS = {"python", "python3", ".venv/bin/python"}
INSTALLED = {"effnet-train": "train.py", "effnet-tuner": "tuner", "effnet-keras": "effnet_keras"}
SEPARATORS = {";", "&&", "||", "|", "&"}


def prose(text: str) -> str:
    """`text` without fenced code blocks and inline code, where brackets are not links."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def slugs(heading: str) -> set[str]:
    """Anchors of a Markdown heading as MkDocs (python-markdown's toc) and GitHub write them."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").replace("*", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().strip()
    mkdocs = re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", text))
    github = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
    return {mkdocs, github}


def anchors(page: Path) -> set[str]:
    return set().union(*(slugs(h) for h in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8")))))


def broken_links(page: Path) -> list[str]:
    """Relative links of `page` whose file, or whose anchor in a Markdown file, does not exist."""
    broken = []
    for target in LINK.findall(prose(page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with anchor #{anchor}")
    return broken


def shell_lines(block: str) -> list[str]:
    """Logical lines of a shell block: continuations joined, quoted newlines kept in one line."""
    lines, pending = [], ""
    for line in block.replace("\\\n", " ").splitlines():
        pending = f"{pending}\n{line}" if pending else line
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # an open quote: the command goes on on the next line
            continue
        lines.append(pending)
        pending = ""
    return lines


def commands(block: str) -> list[list[str]]:
    """Each simple command of a shell block as words, with `NAME=value` and `for NAME in a ...`
    variables expanded (a loop takes its first value) and leading environment assignments dropped."""
    variables: dict[str, str] = {}
    result = []
    for line in shell_lines(block):
        loop = re.match(r"\s*for (\w+) in (\S+)", line)
        if loop:
            variables[loop.group(1)] = loop.group(2)
            continue
        line = re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m.group(1), m.group(0)), line)
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split, lexer.commenters = True, "#"
        words: list[str] = []
        for token in [*lexer, ";"]:
            if token not in SEPARATORS:
                words.append(token)
                continue
            assignments = 0
            while assignments < len(words) and re.fullmatch(r"\w+=.*", words[assignments]):
                assignments += 1
            if words and assignments == len(words):
                variables.update(w.split("=", 1) for w in words)
            elif words:
                result.append(words[assignments:])
            words = []
    return result


def parse_args(program: str):
    """The `parse_args` of `program`: its parser and the checks made right after parsing (a named data set)."""
    if program == "train.py":
        from effnet_keras.train_cli import parse_args
    elif program == "tuner":
        from effnet_keras.tuner.cli import parse_args
    else:
        from effnet_keras.cli import parse_args
    return parse_args


def project_command(words: list[str]) -> tuple[str, list[str]] | None:
    """(program, arguments) of a train.py / tuner / effnet_keras command; None for any other."""
    if words[0] in INSTALLED:
        return INSTALLED[words[0]], words[1:]
    if words[0] not in PYTHONS or len(words) < 2:
        return None
    if words[1] == "train.py":
        return "train.py", words[2:]
    if words[1] == "-m" and len(words) > 2 and words[2] in ("tuner", "effnet_keras"):
        return words[2], words[3:]
    return None


def parse_error(words: list[str]) -> str | None:
    """Why `words` does not parse with its command's parser (None: it parses, or `--help`)."""
    program, arguments = project_command(words)
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            parse_args(program)(arguments)
    except SystemExit as e:
        if e.code not in (0, None):
            return stderr.getvalue().strip().splitlines()[-1]
    return None


def shown_commands() -> list[tuple[str, list[str]]]:
    shown = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for fence in FENCE.finditer(text):
            if fence.group(1) not in SHELL_FENCES:
                continue
            line = text[:fence.start()].count("\n") + 2
            for words in commands(fence.group(2)):
                shown.append((f"{page.relative_to(ROOT)}:{line}: {shlex.join(words)[:80]}", words))
    return shown


SHOWN = shown_commands()
PROJECT_COMMANDS = [(name, words) for name, words in SHOWN if project_command(words)]
SCRIPTS = [(name, words) for name, words in SHOWN
           if words[0] in PYTHONS and len(words) > 1 and words[1].endswith(".py")]


def test_relative_links_resolve():
    assert [f"{page.relative_to(ROOT)}: {link}" for page in PAGES for link in broken_links(page)] == []


def test_broken_link_and_anchor_are_found(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## Data sets: `--dataset`\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#data-sets-dataset) [gone](missing.md) [bad anchor](other.md#nope) `[code](x.md)`\n"
                    "```bash\ncat [not](a-link.md)\n```\n")
    assert broken_links(page) == ["missing.md: no such file", "other.md#nope: no heading with anchor #nope"]


def test_the_guides_show_commands_of_every_program():
    programs = {project_command(words)[0] for _, words in PROJECT_COMMANDS}
    assert programs == {"train.py", "tuner", "effnet_keras"}
    assert len(PROJECT_COMMANDS) > 40


def test_commands_parse():
    """One test for all commands: each test pays for keras.utils.clear_session in conftest."""
    assert [f"{name}: {parse_error(words)}" for name, words in PROJECT_COMMANDS if parse_error(words)] == []


def test_scripts_exist():
    assert [name for name, words in SCRIPTS if not (ROOT / words[1]).is_file()] == []


def test_unknown_flag_and_shell_syntax_are_caught():
    block = ('COMMON="--dataset synthetic --epochs 1"\nfor seed in 0 1; do\n'
             '  KERASTUNER_TUNER_ID=chief python -m tuner search $COMMON \\\n    --seed $seed  # a comment\n'
             'done\n.venv/bin/python train.py $COMMON --no-such-flag && python -c "print(1)"\n')
    shown = commands(block)
    assert shown == [["python", "-m", "tuner", "search", "--dataset", "synthetic", "--epochs", "1", "--seed", "0"],
                     ["done"], [".venv/bin/python", "train.py", "--dataset", "synthetic", "--epochs", "1",
                                "--no-such-flag"], ["python", "-c", "print(1)"]]
    assert parse_error(shown[0]) is None
    assert "unrecognized arguments: --no-such-flag" in parse_error(shown[2])
    assert "invalid choice" in parse_error(["python", "-m", "effnet_keras", "no-such-command"])
    assert "--dataset is required" in parse_error(["python", "train.py", "--model", "b0"])
    assert "--dataset is required" in parse_error(["python", "-m", "tuner", "compare", "--models", "b0"])
