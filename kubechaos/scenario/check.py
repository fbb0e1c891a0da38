"""Checking a YAML document field by field: every problem collected with its file, line, column and
field path, so a scenario file's errors are all reported at once, one line each."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from kubechaos.api.duration import DurationError, parse_duration
from kubechaos.api.fieldreader import format_path, show_key, type_name
from kubechaos.scenario.yamlfile import locate

Path = tuple[str | int, ...]


@attrs.frozen
class LocatedError:
    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ScenarioError(ValueError):
    """A scenario file that cannot be run; ``errors`` lists every problem found."""

    def __init__(self, errors: list[LocatedError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


class Check:
    """Collects located errors for one YAML document."""

    def __init__(self, file: str, root: Any) -> None:
        self.file = file
        self.root = root
        self.errors: list[LocatedError] = []

    def error(self, path: Path, message: str, root: Any = None, file: str | None = None) -> None:
        line, column = locate(self.root if root is None else root, path)
        self.errors.append(
            LocatedError(file or self.file, line, column, format_path(path), message)
        )

    def mapping(self, value: Any, path: Path, keys: Sequence[str]) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.error(path, f"expected a mapping, got {type_name(value)}")
            return {}
        for key in value:
            if key not in keys:
                hint = difflib.get_close_matches(str(key), keys, n=1)
                suggestion = (
                    f'; did you mean "{hint[0]}"?'
                    if hint
                    else f"; expected one of: {', '.join(keys)}"
                )
                self.error((*path, key), f"unknown field {show_key(key)}{suggestion}")
        return value

    def sequence(self, value: Any, path: Path) -> Sequence[Any]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.error(path, f"expected a list, got {type_name(value)}")
            return ()
        return value

    def string(
        self,
        data: Mapping[str, Any],
        key: str,
        path: Path,
        required: bool = False,
        default: str = "",
    ) -> str:
        value = data.get(key)
        if value is None:
            if required:
                self.error((*path, key), "required field is missing")
            return default
        if not isinstance(value, str):
            self.error((*path, key), f"expected a string, got {value!r}")
            return default
        return value

    def duration(self, data: Mapping[str, Any], key: str, path: Path, default: float) -> float:
        value = data.get(key)
        if value is None:
            return default
        try:
            return parse_duration(value)
        except DurationError as exc:
            self.error((*path, key), str(exc))
            return default


# C0 and C1 controls, DEL (an ANSI escape starts with ESC or CSI) and the bidirectional overrides
# that reorder what a terminal shows: none belongs in a name printed to a terminal or a CI log.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_UNPRINTABLE_MULTILINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def unprintable(text: str, multiline: bool = False) -> str | None:
    """Why ``text`` may not be printed as it is (a control character, named by its code point),
    or None. ``multiline`` allows newlines and tabs (a description written with ``|``)."""
    found = (_UNPRINTABLE_MULTILINE if multiline else _UNPRINTABLE).search(text)
    if found is None:
        return None
    return f"must not contain control characters (found U+{ord(found.group()):04X})"


def printable(check: Check, text: str, path: Path, multiline: bool = False) -> str:
    """``text``, with an error at ``path`` if it cannot be printed to a terminal as it is (kept,
    so what refers to it by name finds it: the one error is the name's)."""
    problem = unprintable(text, multiline)
    if problem is not None:
        check.error(path, problem)
    return text


def did_you_mean(value: str, choices: Sequence[str]) -> str:
    hint = difflib.get_close_matches(value, list(choices), n=1)
    return f'; did you mean "{hint[0]}"?' if hint else ""


def string_map(check: Check, value: Any, path: Path) -> dict[str, str]:
    raw = check.mapping(value, path, list(value) if isinstance(value, Mapping) else [])
    result = {}
    for key, item in raw.items():
        if not isinstance(item, str):
            check.error((*path, key), f"expected a string value, got {item!r} (quote it)")
        else:
            result[str(key)] = item
    return result
