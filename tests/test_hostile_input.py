"""Hostile input is bounded and answered with one located line, never a traceback or a hang.

Each row is an input a careless or hostile user can hand kubechaos; each must be refused before it
costs much, with a message naming where.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubechaos.scenario.loader import ScenarioError, parse_scenario
from kubechaos.scenario.yamlfile import (
    MAX_ALIASES,
    MAX_DEPTH,
    FileRefused,
    YAMLSyntaxError,
    load_all,
    read_text,
)

YAML_ROWS = [
    # (what, text, line, message)
    ("a key given twice", "replicas: 3\nname: web\nreplicas: 1\n", 3, 'duplicate key "replicas"'),
    ("a key twice in a flow mapping", "a: {x: 1, x: 2}\n", 1, 'duplicate key "x"'),
    (
        "nesting past the limit (300 levels was a RecursionError traceback)",
        "[" * 300 + "]" * 300,
        1,
        f"nested deeper than {MAX_DEPTH} levels",
    ),
    (
        "an alias bomb",
        "a: &a [x, x]\n" + "".join(f"b{i}: &b{i} [*a, *a]\n" for i in range(MAX_ALIASES)),
        52,
        f"more than {MAX_ALIASES} aliases",
    ),
]


@pytest.mark.parametrize(
    ("what", "text", "line", "message"), YAML_ROWS, ids=[r[0] for r in YAML_ROWS]
)
def test_hostile_yaml_is_a_located_syntax_error(
    what: str, text: str, line: int, message: str
) -> None:
    with pytest.raises(YAMLSyntaxError) as caught:
        load_all(text)
    assert caught.value.line == line
    assert message in str(caught.value)


def test_what_yaml_allows_still_loads() -> None:
    """A merge key may be overridden (that is not a duplicate), and nesting and aliases up to
    the limits load."""
    [doc] = load_all("base: &b {x: 1, y: 2}\nweb:\n  <<: *b\n  x: 3\n")
    assert doc["web"] == {"x": 3, "y": 2}
    load_all("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))
    load_all("a: &a 1\n" + "".join(f"b{i}: *a\n" for i in range(MAX_ALIASES)))


def test_only_regular_files_of_a_bounded_size_are_read(tmp_path: Path) -> None:
    """A FIFO would block forever and /dev/zero would stream until memory runs out: neither is
    opened. A file over the limit is refused by its size."""
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(FileRefused, match="is not a regular file"):
        read_text(fifo)
    with pytest.raises(FileRefused, match="is not a regular file"):
        read_text(Path("/dev/zero"))
    with pytest.raises(FileRefused, match="is not a regular file"):
        read_text(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_text("x" * 2048)
    with pytest.raises(FileRefused, match="2048 bytes, more than the 1024 read"):
        read_text(big, limit=1024)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"a: \xff\n")
    with pytest.raises(FileRefused, match="not UTF-8 text"):
        read_text(binary)
    assert read_text(big) == "x" * 2048


def test_errors_name_types_in_a_users_words_not_the_loaders_classes() -> None:
    """The loader reads YAML into its own marked list and mapping classes; an error says "a
    list", never `MarkedList`."""
    text = "apiVersion: kubechaos/v1\nkind: Scenario\nmetadata: {name: x}\nspec:\n  duration: 1m\n  cluster: [1]\n"
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "s.yaml")
    shown = [str(error) for error in caught.value.errors]
    assert "s.yaml:6:3: spec.cluster: expected a mapping, got a list" in shown
    assert not any("Marked" in line for line in shown)
