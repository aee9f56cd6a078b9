"""The import graph of effnet_keras has no cycle, counting imports inside functions too (a lazy
import that closes a cycle only hides it)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "effnet_keras"


def module_files(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module and package __init__ under `package`."""
    root = package.parent
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imported(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The modules of `modules` that the file `path` (module `name`) imports anywhere in it: `from
    A import B` counts A.B when that is a module, else A."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names)
    return {m for m in found if m in modules and m != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_finds_a_cycle_and_accepts_a_chain():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_lazy_and_relative_imports_count(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "one.py").write_text("def f():\n    from pkg.two import g\n")
    (package / "two.py").write_text("from . import one\nfrom .one import f\n")
    modules = module_files(package)
    assert imported(modules["pkg.one"], "pkg.one", modules) == {"pkg.two"}
    assert imported(modules["pkg.two"], "pkg.two", modules) == {"pkg.one"}


def test_effnet_keras_has_no_import_cycle():
    modules = module_files(PACKAGE)
    assert "effnet_keras.models.builder" in modules and "effnet_keras.training.loop" in modules
    graph = {name: imported(path, name, modules) for name, path in modules.items()}
    assert "effnet_keras.models.weights" in graph["effnet_keras.models.builder"]
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"
