"""The habits that keep the codebase easy to carry on, run as part of the test suite.

Each check runs the real tool on the package; a failure prints the tool's own report.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_mypy() -> None:
    _run([*_tool("mypy"), "kubechaos"])


def test_import_layers() -> None:
    """The model never imports the edges; each floor imports only floors below it."""
    _run([*_tool("lint-imports")])
