"""The habits that keep the codebase easy to carry on, run as part of the test suite.

Each check runs the real tool on the package; a failure prints the tool's own report.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import early
from tests.shape import oversized

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> list[str]:
    exe = Path(sys.executable).parent / name
    if exe.exists():
        return [str(exe)]
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install '.[test]'")
    return [found]


def _run(args: list[str]) -> None:
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def test_ruff_lint() -> None:
    _run([*_tool("ruff"), "check", "kubechaos", "tests", "benchmarks"])


def test_ruff_format() -> None:
    _run([*_tool("ruff"), "format", "--check", "kubechaos", "tests", "benchmarks"])


def _early(name: str) -> None:
    """``name``'s tool, started when collection was over (tests/early.py): it failed if it
    exited with an error."""
    result, _ = early.finished(name)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(result.args)} failed:\n{result.stdout}\n{result.stderr}")


# The two slow tools (a minute of mypy on a fresh clone) run on the other core during the suite.
early.register("mypy", early.Launch(lambda _: [*_tool("mypy"), "kubechaos"], ROOT, 300))
early.register("lint-imports", early.Launch(lambda _: [*_tool("lint-imports")], ROOT, 300))


@pytest.mark.early("mypy")
def test_mypy() -> None:
    _early("mypy")


@pytest.mark.early("lint-imports")
def test_import_layers() -> None:
    """The model never imports the edges; each floor imports only floors below it."""
    _early("lint-imports")


def _import_graph() -> dict[str, set[str]]:
    """Module -> the kubechaos modules it imports, anywhere in the file (a function-level or
    TYPE_CHECKING import counts too: hiding a cycle there still couples the two rooms)."""
    package = ROOT / "kubechaos"
    modules: dict[str, Path] = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {module: set() for module in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                target = resolve(name) if name.startswith("kubechaos.") else None
                # The root package is the public face (it re-exports the top floors, as trio's
                # does); what imports it takes __version__, not a room.
                if target is not None and target not in (module, "kubechaos"):
                    graph[module].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    """No two modules of the package import each other, directly or around a loop."""
    cycles = _cycles(_import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_cycle_finder_finds_a_loop() -> None:
    """The cycle check itself can fail: a three-module loop and a self-contained pair."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_rooms_within_size_limits() -> None:
    """No module over 600 lines, no class over 400, no function over 80 without a `# whole:`
    comment saying why (see tests/shape.py)."""
    found = list(oversized())
    assert not found, "over the size limits:\n" + "\n".join(found)


def test_size_check_names_what_is_over(tmp_path: Path) -> None:
    """The size check itself can fail: a long function is named unless a `# whole:` comment
    right above it says why it stays in one piece; a long module is named."""
    body = "".join(f"    x{i} = {i}\n" for i in range(85))
    (tmp_path / "long.py").write_text(
        f"def long():\n{body}\n\n# whole: one table\ndef kept():\n{body}"
    )
    (tmp_path / "big.py").write_text("x = 1\n" * 601)
    assert sorted(oversized(tmp_path)) == [
        f"{tmp_path.name}/big.py: module of 601 lines (limit 600)",
        f"{tmp_path.name}/long.py:1: function long of 86 lines",
    ]
