"""Safe YAML reading that remembers where every value came from.

Mappings and lists load as :class:`MarkedDict` / :class:`MarkedList` (plain dict/list subclasses)
carrying the line and column of each key and item, so an error about
``spec.workloads[1].manifest.spec.replicas`` can point at ``web.yaml:14:17``. Only PyYAML's safe
constructors are used: a scenario file can never execute code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml


class MarkedDict(dict[str, Any]):
    mark: tuple[int, int] = (1, 1)
    key_marks: dict[str, tuple[int, int]]


class MarkedList(list[Any]):
    mark: tuple[int, int] = (1, 1)
    item_marks: list[tuple[int, int]]


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _MarkedLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _MarkedLoader, node: yaml.MappingNode) -> MarkedDict:
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
