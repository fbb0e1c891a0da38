"""Reading a parsed YAML mapping field by field, and saying where it went wrong.

The manifest reader (:mod:`kubechaos.api.manifest`) and the scenario loader's checks share these
primitives: a :class:`FieldReader` gives typed access to a mapping and records a
:class:`FieldError` (a path such as ``spec.template.spec.containers[0].image`` and a message)
instead of raising, so every problem is reported at once; :func:`format_path`, :func:`show_key`
and :func:`type_name` write paths, keys and values in a user's words.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import attrs

from kubechaos.api.quantity import QuantityError

Path = tuple[str | int, ...]
T = TypeVar("T")


@attrs.frozen
class FieldError:
    path: Path
    message: str

    def dotted(self) -> str:
        return format_path(self.path)


class ManifestError(ValueError):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.dotted()}: {e.message}" for e in errors))
        self.errors = errors


def format_path(path: Path) -> str:
    """``spec.faults[1].target``; a key that is not a plain word is quoted (``labels["a b"]``)
    so the path stays on one line and reads unambiguously."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and _PLAIN_KEY.fullmatch(part):
            out += ("." if out else "") + part
        else:
            out += f"[{show_key(part)}]"
    return out


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_$][A-Za-z0-9_./$-]*")


def show_key(key: object) -> str:
    """A mapping key as an error message shows it: in double quotes, escaped if need be."""
    return json.dumps(key) if isinstance(key, str) else repr(key)


class FieldReader:
    """Typed field access that records errors instead of raising, so all are reported at once."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.errors: list[FieldError] = []

    def error(self, path: Path, message: str) -> None:
        self.errors.append(FieldError(self.base + path, message))

    def map(self, data: Any, path: Path) -> Mapping[str, Any]:
        if data is None:
            return {}
        if not isinstance(data, Mapping):
            self.error(path, f"expected a mapping, got {type_name(data)}")
            return {}
        return data

    def seq(self, data: Any, path: Path) -> Sequence[Any]:
        if data is None:
            return ()
        if not isinstance(data, list):
            self.error(path, f"expected a list, got {type_name(data)}")
            return ()
        return data

    def str_(
        self,
        data: Mapping[str, Any],
        key: str,
        path: Path,
        default: str = "",
        required: bool = False,
    ) -> str:
        value = data.get(key)
        if value is None:
            if required:
                self.error((*path, key), "Required value")
            return default
        if not isinstance(value, str):
            self.error((*path, key), f"expected a string, got {type_name(value)}")
            return default
        return value

    def int_(self, data: Mapping[str, Any], key: str, path: Path, default: int) -> int:
        value = data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.error((*path, key), f"expected an integer, got {type_name(value)}")
            return default
        return value

    def bool_(self, data: Mapping[str, Any], key: str, path: Path, default: bool) -> bool:
        value = data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error((*path, key), f"expected true or false, got {type_name(value)}")
            return default
        return value

    def labels(self, data: Mapping[str, Any], key: str, path: Path) -> dict[str, str]:
        raw = self.map(data.get(key), (*path, key))
        out: dict[str, str] = {}
        for k, v in raw.items():
            if not isinstance(v, str):
                self.error(
                    (*path, key, str(k)), f"expected a string value, got {type_name(v)} (quote it)"
                )
                continue
            out[str(k)] = v
        return out

    def int_or_percent(
        self, data: Mapping[str, Any], key: str, path: Path, default: int | str
    ) -> int | str:
        value = data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | str):
            self.error((*path, key), f"expected an integer or a percentage, got {type_name(value)}")
            return default
        return value

    def quantity(
        self, parse: Callable[[Any], int], data: Mapping[str, Any], key: str, path: Path
    ) -> int:
        value = data.get(key)
        if value is None:
            return 0
        try:
            return parse(value)
        except QuantityError as exc:
            self.error((*path, key), str(exc))
            return 0


def type_name(value: Any) -> str:
    """What ``value`` is, in a user's words ("a list", not the loader's ``MarkedList``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return "a " + type(value).__name__.lower()  # a date or a timestamp YAML read as such
