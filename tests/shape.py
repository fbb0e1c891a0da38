"""The size limits that keep each room of the package readable, measured with ``ast``.

No module over 600 lines, no class over 400, no function over 80 unless a comment on the line
just above its ``def`` begins with ``# whole:`` and says why it must stay in one piece.
Run ``python -m tests.shape`` for the list of what is over.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "kubechaos"
MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 400
MAX_FUNCTION_LINES = 80
WHOLE_MARK = "# whole:"


def _span(node: ast.AST) -> int:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return node.end_lineno - first + 1  # type: ignore[attr-defined,no-any-return]


def oversized(package: Path = PACKAGE) -> Iterator[str]:
    """One line per module, class or function over its limit."""
    for path in sorted(package.rglob("*.py")):
        where = path.relative_to(package.parent)
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        if len(lines) > MAX_MODULE_LINES:
            yield f"{where}: module of {len(lines)} lines (limit {MAX_MODULE_LINES})"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and _span(node) > MAX_CLASS_LINES:
                yield f"{where}:{node.lineno}: class {node.name} of {_span(node)} lines"
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
                if _span(node) > MAX_FUNCTION_LINES and not above.startswith(WHOLE_MARK):
                    yield f"{where}:{node.lineno}: function {node.name} of {_span(node)} lines"


if __name__ == "__main__":
    found = list(oversized())
    print("\n".join(found) or "every module, class and function is within its limit")
    sys.exit(1 if found else 0)
