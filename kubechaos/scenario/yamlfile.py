"""Safe YAML reading that remembers where every value came from.

Mappings and lists load as :class:`MarkedDict` / :class:`MarkedList` (plain dict/list subclasses)
carrying the line and column of each key and item, so an error about
``spec.workloads[1].manifest.spec.replicas`` can point at ``web.yaml:14:17``. Only PyYAML's safe
constructors are used: a scenario file can never execute code.

Hostile input is bounded before it can cost much: only regular files are read (a FIFO or a device
such as ``/dev/zero`` is refused before it is opened), a file larger than
:data:`MAX_FILE_BYTES` is refused, nesting deeper than :data:`MAX_DEPTH` and more than
:data:`MAX_ALIASES` aliases per document are syntax errors, and so is a key given twice in one
mapping (YAML forbids it; PyYAML would silently keep the last, so a typo'd duplicate
``replicas:`` would win unseen).
"""

from __future__ import annotations

import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

MAX_FILE_BYTES = 4 * 1024 * 1024
"""The largest scenario or manifest file read (4 MiB). The API server's own limit on one request
body is 3 MiB (``MaxRequestBodyBytes``, staging/src/k8s.io/apiserver/pkg/server/config.go), so a
file of manifests larger than this is not something ``kubectl apply`` would send either."""

MAX_DEPTH = 100
"""Deepest nesting of mappings and lists. Real manifests nest a few dozen levels at most (a CRD's
``openAPIV3Schema`` is among the deepest); deeper input is an attack on the parser's recursion."""

MAX_ALIASES = 100
"""Most YAML aliases (``*name``) in one document: aliases let a few lines expand into an
exponential tree (the "billion laughs"), as go-yaml's excessive-aliasing check guards against."""


class MarkedDict(dict[str, Any]):
    mark: tuple[int, int] = (1, 1)
    key_marks: dict[str, tuple[int, int]]


class MarkedList(list[Any]):
    mark: tuple[int, int] = (1, 1)
    item_marks: list[tuple[int, int]]


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _MarkedLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_document(self) -> yaml.Node | None:
        self._aliases = 0
        return super().compose_document()

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()
        mark: yaml.error.Mark = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_ALIASES} aliases in one document", mark
                )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _refuse_duplicate_keys(node: yaml.MappingNode) -> None:
    """YAML forbids a key twice in one mapping; a merge (``<<: *base``) may still be overridden."""
    seen: dict[str, int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        line = key_node.start_mark.line + 1
        if key_node.value in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f'duplicate key "{key_node.value}" (first given on line {seen[key_node.value]})',
                key_node.start_mark,
            )
        seen[key_node.value] = line


def _construct_mapping(loader: _MarkedLoader, node: yaml.MappingNode) -> MarkedDict:
    _refuse_duplicate_keys(node)
    loader.flatten_mapping(node)
    out = MarkedDict()
    out.mark = _pos(node)
    out.key_marks = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_marks[key] = _pos(key_node)
    return out


def _construct_sequence(loader: _MarkedLoader, node: yaml.SequenceNode) -> MarkedList:
    out = MarkedList(loader.construct_object(child, deep=True) for child in node.value)
    out.mark = _pos(node)
    out.item_marks = [_pos(child) for child in node.value]
    return out


_MarkedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_MarkedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


class YAMLSyntaxError(ValueError):
    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


class FileRefused(OSError):
    """A path that is not a regular file of a readable size; the message says why."""


def read_text(path: Path, limit: int = MAX_FILE_BYTES) -> str:
    """The text of the regular file at ``path``, refused (:class:`FileRefused`, or the
    ``OSError`` of a path that cannot be read) if it is not a regular file or is over ``limit``
    bytes. Nothing but a regular file is opened, so a FIFO cannot block and a device cannot
    stream forever."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused(f"{path} is not a regular file")
    if info.st_size > limit:
        raise FileRefused(f"{path} is {info.st_size} bytes, more than the {limit} read")
    with path.open("rb") as handle:
        data = handle.read(limit + 1)  # a file may grow between stat and read
    if len(data) > limit:
        raise FileRefused(f"{path} is more than the {limit} bytes read")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRefused(f"{path} is not UTF-8 text (byte {exc.start})") from None


def load_all(text: str) -> list[Any]:
    """Every document in ``text`` (empty documents dropped). Raises :class:`YAMLSyntaxError`."""
    try:
        return [doc for doc in yaml.load_all(text, Loader=_MarkedLoader) if doc is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = exc.problem or str(exc)
        raise YAMLSyntaxError(message, line, column) from None
    except yaml.YAMLError as exc:
        raise YAMLSyntaxError(str(exc), 1, 1) from None


def locate(root: Any, path: Sequence[str | int]) -> tuple[int, int]:
    """The line and column of the deepest part of ``path`` that exists in ``root``."""
    where = getattr(root, "mark", (1, 1))
    node = root
    for part in path:
        if isinstance(node, MarkedDict) and isinstance(part, str) and part in node:
            where = node.key_marks.get(part, where)
            node = node[part]
        elif isinstance(node, MarkedList) and isinstance(part, int) and 0 <= part < len(node):
            where = node.item_marks[part]
            node = node[part]
        else:
            break
    return where
