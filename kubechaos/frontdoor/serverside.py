"""Server-side apply and field ownership (``metadata.managedFields``), as the API server does.

Upstream: ``staging/src/k8s.io/apimachinery/pkg/util/managedfields/internal/`` (the field
manager's layers) over ``sigs.k8s.io/structured-merge-diff`` (``merge/update.go``). What is
kept here, on plain JSON objects:

- **Apply** (``apply``): the applied configuration is merged into the live object (scalars and
  atomic values replaced, maps merged by key, keyed lists by their keys, sets by value); the
  applier now owns exactly the applied configuration's field set; fields it owned last time
  and no longer applies are removed unless another applier owns them; a field another manager
  owns whose value the apply changes is a **conflict** (409, ``Apply failed with 1 conflict:
  conflict with "kubectl" using apps/v1: .spec.replicas``) unless ``force``, which moves the
  field to the applier. An object no manager tracks yet (created before tracking: here, by the
  model's own components) is first owned whole by ``before-first-apply``
  (``skipnonapplied.go``).
- **Update** (``update``: create, update, patch): the manager takes the fields it added or
  changed from everyone else, without conflicts; fields it removed leave every set; an object
  that has no managed fields is not tracked by updates (only by its first apply), one created
  is (``DefaultTrackOnCreateProbability`` 1).
- Never tracked: ``apiVersion``, ``kind`` and the server-owned metadata (``stripmeta.go``); the
  main resource does not own ``status`` and the ``status`` subresource owns only ``status``
  (the workload strategies' reset fields). At most 10 update managers are kept, the oldest
  merged into ``ancient-changes`` (``capmanagers.go``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from kubechaos.frontdoor.fieldsets import (
    ITEM,
    FieldPath,
    SchemaWalker,
    field_values,
    from_fields_v1,
    key_element,
    path_string,
    to_fields_v1,
    value_element,
)

APPLY = "Apply"
UPDATE = "Update"
BEFORE_FIRST_APPLY = "before-first-apply"
ANCIENT_CHANGES = "ancient-changes"
MAX_UPDATE_MANAGERS = 10  # capmanagers.go: DefaultMaxUpdateManagers

_NEVER_TRACKED = {
    ("f:apiVersion",),
    ("f:kind",),
    ("f:metadata",),
    *(
        ("f:metadata", f"f:{name}")
        for name in (
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        )
    ),
}


@attrs.frozen
class ManagerEntry:
    """One ``managedFields`` entry: who, how, and the fields it owns."""

    manager: str
    operation: str
    api_version: str
    time: str
    fields: frozenset[FieldPath]
    subresource: str = ""

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """Upstream's manager identifier: an applier is one manager whatever the apiVersion it
        applied with (``BuildManagerIdentifier``)."""
        version = "" if self.operation == APPLY else self.api_version
        return (self.manager, self.operation, version, self.subresource)

    def described(self) -> str:
        """How a conflict names the manager (``conflict.go`` printManager)."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == UPDATE:
            text += f" using {self.api_version}"
        return text

    def encoded(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(self.fields),
        }
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


class ApplyConflict(Exception):
    """Fields another manager owns, which the apply would change."""

    def __init__(self, conflicts: Sequence[tuple[ManagerEntry, FieldPath]]) -> None:
        self.conflicts = list(conflicts)
        super().__init__(self.message())

    def message(self) -> str:
        if len(self.conflicts) == 1:
            entry, path = self.conflicts[0]
            return (
                f"Apply failed with 1 conflict: conflict with {entry.described()}: "
                f"{path_string(path)}"
            )
        by_manager: dict[str, list[FieldPath]] = {}
        for entry, path in self.conflicts:
            by_manager.setdefault(entry.described(), []).append(path)
        lines = []
        for manager in sorted(by_manager):
            lines.append(f"conflicts with {manager}:")
            lines += [f"- {path_string(path)}" for path in by_manager[manager]]
        return f"Apply failed with {len(self.conflicts)} conflicts: " + "\n".join(lines)

    def causes(self) -> list[dict[str, str]]:
        """The Status causes kubectl prints (``metav1.StatusCause``: its type is the JSON ``reason``)."""
        return [
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {entry.described()}",
                "field": path_string(path),
            }
            for entry, path in self.conflicts
        ]


def decode_managed_fields(raw: Any) -> tuple[ManagerEntry, ...]:
    """``metadata.managedFields`` as sent by a client; ValueError names the bad entry."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError("metadata.managedFields: expected a list")
    entries = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise ValueError(f"metadata.managedFields[{i}]: expected an object")
        if item.get("fieldsType") != "FieldsV1":
            raise ValueError(f"metadata.managedFields[{i}].fieldsType: must be FieldsV1")
        operation = item.get("operation")
        if operation not in (APPLY, UPDATE):
            raise ValueError(f"metadata.managedFields[{i}].operation: must be Apply or Update")
        if not item.get("apiVersion"):
            raise ValueError(f"metadata.managedFields[{i}].apiVersion: must not be empty")
        fields = item.get("fieldsV1") or {}
        if not isinstance(fields, Mapping):
            raise ValueError(f"metadata.managedFields[{i}].fieldsV1: expected an object")
        entries.append(
            ManagerEntry(
                manager=str(item.get("manager", "")),
                operation=operation,
                api_version=str(item["apiVersion"]),
                time=str(item.get("time") or ""),
                fields=frozenset(from_fields_v1(fields)),
                subresource=str(item.get("subresource", "")),
            )
        )
    return tuple(entries)


def encode_managed_fields(entries: Iterable[ManagerEntry]) -> list[dict[str, Any]]:
    """Sorted as upstream sorts them: by operation, time, manager, apiVersion, subresource."""
    ordered = sorted(
        entries, key=lambda e: (e.operation, e.time, e.manager, e.api_version, e.subresource)
    )
    return [entry.encoded() for entry in ordered]


@attrs.frozen
class Tracker:
    """Field ownership for one kind: its schema root and the resource being written."""

    walker: SchemaWalker
    root: Mapping[str, Any] | None
    api_version: str
    subresource: str = ""

    def owned_paths(self, obj: Mapping[str, Any], with_maps: bool = False) -> dict[FieldPath, Any]:
        """The trackable paths of ``obj`` with their values."""
        values = field_values(obj, self.root, self.walker, with_maps)
        return {p: v for p, v in values.items() if self._trackable(p)}

    def _trackable(self, path: FieldPath) -> bool:
        if path in _NEVER_TRACKED:
            return False
        in_status = path[:1] == ("f:status",)
        return in_status if self.subresource == "status" else not in_status

    def apply(
        self,
        live: Mapping[str, Any] | None,
        config: Mapping[str, Any],
        managed: Sequence[ManagerEntry],
        manager: str,
        force: bool,
        now: str,
    ) -> tuple[dict[str, Any], tuple[ManagerEntry, ...]]:
        """The object after applying ``config`` as ``manager``, and the new managed fields;
        ApplyConflict if another manager owns a field the apply changes and not ``force``."""
        base: dict[str, Any] = copy.deepcopy(dict(live)) if live is not None else {}
        # read before merging: the merged object shares the subtrees the configuration does
        # not touch with ``base``, and pruning removes fields from those in place
        live_paths = self.owned_paths(base)
        entries = list(managed)
        if live is not None and not entries:
            entries = [self._entry(BEFORE_FIRST_APPLY, UPDATE, frozenset(live_paths), now)]
        merged = merge(base, config, self.root, self.walker)
        applied = frozenset(self.owned_paths(config))
        mine = self._entry(manager, APPLY, applied, now)
        previous = next((e for e in entries if e.identity == mine.identity), None)
        entries = [e for e in entries if e.identity != mine.identity]
        if previous is not None:
            kept_by_others = set().union(*(e.fields for e in entries if e.operation == APPLY))
            merged = remove_paths(merged, previous.fields - applied - kept_by_others)
        changed, removed = _changes(live_paths, self.owned_paths(merged))
        entries = self._take_from_others(changed, removed, entries, force)
        return merged, self._capped([*entries, mine])

    def update(
        self,
        live: Mapping[str, Any] | None,
        new: Mapping[str, Any],
        managed: Sequence[ManagerEntry],
        manager: str,
        now: str,
    ) -> tuple[ManagerEntry, ...]:
        """The managed fields after ``manager`` wrote ``new`` over ``live`` (None: created)."""
        if live is not None and not managed:
            return ()
        old = self.owned_paths(live, with_maps=True) if live is not None else {}
        fresh = self.owned_paths(new, with_maps=True)
        changed, removed = _changes(old, fresh)
        entries = self._take_from_others(changed, removed, list(managed), force=True)
        if not changed:
            return self._capped(entries)
        mine = self._entry(manager, UPDATE, frozenset(changed), now)
        previous = next((e for e in entries if e.identity == mine.identity), None)
        if previous is not None:
            entries.remove(previous)
            mine = attrs.evolve(mine, fields=mine.fields | previous.fields)
        return self._capped([*entries, mine])

    @staticmethod
    def _take_from_others(
        changed: set[FieldPath], removed: set[FieldPath], entries: list[ManagerEntry], force: bool
    ) -> list[ManagerEntry]:
        conflicts = [(e, p) for e in entries for p in sorted(e.fields & changed)]
        if conflicts and not force:
            raise ApplyConflict(conflicts)
        kept = []
        for entry in entries:
            fields = entry.fields - changed - removed
            if fields:
                kept.append(attrs.evolve(entry, fields=fields))
        return kept

    def _entry(
        self, manager: str, operation: str, fields: frozenset[FieldPath], now: str
    ) -> ManagerEntry:
        return ManagerEntry(
            manager=manager,
            operation=operation,
            api_version=self.api_version,
            time=now,
            fields=fields,
            subresource=self.subresource,
        )

    @staticmethod
    def _capped(entries: list[ManagerEntry]) -> tuple[ManagerEntry, ...]:
        """At most MAX_UPDATE_MANAGERS update entries: the oldest merge into ancient-changes."""
        updates = sorted((e for e in entries if e.operation == UPDATE), key=lambda e: e.time)
        if len(updates) <= MAX_UPDATE_MANAGERS:
            return tuple(entries)
        excess = updates[: len(updates) - MAX_UPDATE_MANAGERS + 1]
        ancient = attrs.evolve(
            excess[-1],
            manager=ANCIENT_CHANGES,
            fields=frozenset().union(*(e.fields for e in excess)),
            subresource="",
        )
        return tuple([e for e in entries if e not in excess] + [ancient])


def _changes(
    old: Mapping[FieldPath, Any], new: Mapping[FieldPath, Any]
) -> tuple[set[FieldPath], set[FieldPath]]:
    """(added or modified paths, removed paths) between two field-value maps."""
    changed = {p for p, v in new.items() if p not in old or (v is not ITEM and old[p] != v)}
    removed = {p for p in old if p not in new}
    return changed, removed


def merge(live: Any, config: Any, node: Mapping[str, Any] | None, walker: SchemaWalker) -> Any:
    """``config`` merged into ``live`` (both JSON values) as structured-merge-diff merges."""
    shape = walker.shape(node, config)
    if shape in ("struct", "map") and isinstance(live, dict) and isinstance(config, dict):
        out = dict(live)
        for name, value in config.items():
            if value is None:
                out.pop(name, None)
            elif name in out:
                out[name] = merge(out[name], value, walker.field(node, name), walker)
            else:
                out[name] = copy.deepcopy(value)
        return out
    if shape == "list-map" and isinstance(live, list) and isinstance(config, list):
        keys = node.get("x-kubernetes-list-map-keys", ()) if node is not None else ()
        element = walker.items(node)
        incoming = {key_element(i, keys): i for i in config if isinstance(i, dict)}
        result = []
        for item in live:
            key = key_element(item, keys) if isinstance(item, dict) else None
            result.append(
                merge(item, incoming.pop(key), element, walker) if key in incoming else item
            )
        result += [copy.deepcopy(i) for k, i in incoming.items()]
        return result
    if shape == "list-set" and isinstance(live, list) and isinstance(config, list):
        present = {value_element(v) for v in live}
        return [*live, *(v for v in config if value_element(v) not in present)]
    return copy.deepcopy(config)


def remove_paths(obj: dict[str, Any], paths: Iterable[FieldPath]) -> dict[str, Any]:
    """``obj`` without the values at ``paths`` (fields, keyed items, set members)."""
    for path in sorted(paths, key=len, reverse=True):
        _remove(obj, path)
    return obj


def _remove(obj: Any, path: FieldPath) -> None:
    *parents, last = path
    container = obj
    for element in parents:
        container = _step(container, element)
        if container is None:
            return
    kind, _, rest = last.partition(":")
    if kind == "f" and isinstance(container, dict):
        container.pop(rest, None)
    elif kind in ("k", "v", "i") and isinstance(container, list):
        index = _index(container, last)
        if index is not None:
            del container[index]


def _step(container: Any, element: str) -> Any:
    kind, _, rest = element.partition(":")
    if kind == "f":
        return container.get(rest) if isinstance(container, dict) else None
    if isinstance(container, list):
        index = _index(container, element)
        return container[index] if index is not None else None
    return None


def _index(items: list[Any], element: str) -> int | None:
    kind, _, rest = element.partition(":")
    if kind == "i":
        index = int(rest)
        return index if 0 <= index < len(items) else None
    wanted = json.loads(rest)
    for index, item in enumerate(items):
        if kind == "v" and item == wanted:
            return index
        if kind == "k" and isinstance(item, dict) and key_element(item, wanted) == element:
            return index
    return None


__all__ = [
    "ANCIENT_CHANGES",
    "APPLY",
    "BEFORE_FIRST_APPLY",
    "UPDATE",
    "ApplyConflict",
    "ManagerEntry",
    "Tracker",
    "decode_managed_fields",
    "encode_managed_fields",
    "merge",
    "remove_paths",
]
