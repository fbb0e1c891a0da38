"""Server-side apply (``PATCH`` with ``application/apply-patch+yaml``), with field managers.

As upstream's fieldmanager (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager,
sigs.k8s.io/structured-merge-diff): every field a manager sets is owned by it; an apply sets the
fields of its configuration (lists with map keys merged item by item, as the schema's
``x-kubernetes-list-map-keys`` / patch merge keys say), removes the fields the same manager
applied before and no longer does (unless another manager owns them too), and refuses to change
a field another manager owns to a different value: 409 Conflict, ``Apply failed with 1
conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas``, with a
``FieldManagerConflict`` cause per field, unless ``force=true`` (``--force-conflicts``), which
takes the fields over. ``fieldManager`` is required (422). Applying to an absent object creates
it (201).

Other writes through the front door (create, update, patch) are recorded as ``Update``
operations of their ``fieldManager`` (kubectl names one per command: ``kubectl-client-side-apply``,
``kubectl-edit``, ``kubectl-scale`` ...; without one, the client's name): the fields they change
pass to that manager. Not modelled: ownership of the model's own controllers' writes (an HPA's
``spec.replicas``: upstream's ``kube-controller-manager`` would own it), ``managedFields`` in the
objects served (the ownership is kept beside the objects, by uid, not in them).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kubechaos.api import errors
from kubechaos.api.manifest import SUPPORTED_KINDS
from kubechaos.control.apiserver import APIServer
from kubechaos.frontdoor import decode
from kubechaos.frontdoor.encoding import Encoder
from kubechaos.frontdoor.openapi import definitions, kind_definitions
from kubechaos.frontdoor.patches import field_schema, resolve, strategic_merge
from kubechaos.frontdoor.paths import ResourcePath

Path = tuple[Any, ...]
_SERVER_SET = frozenset(
    {
        ("metadata", "uid"),
        ("metadata", "resourceVersion"),
        ("metadata", "generation"),
        ("metadata", "creationTimestamp"),
        ("metadata", "managedFields"),
        ("metadata", "name"),
        ("metadata", "namespace"),
        ("apiVersion",),
        ("kind",),
    }
)


class ApplyConflict(errors.Conflict):
    """409 with upstream's ``FieldManagerConflict`` causes."""

    def __init__(self, message: str, causes: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.causes = causes


def _schema(kind: str, group_version: str) -> Any:
    name = kind_definitions(group_version).get(kind)
    return definitions().get(name, {}) if name else {}


def _list_key(schema: Mapping[str, Any]) -> str | None:
    keys = schema.get("x-kubernetes-list-map-keys")
    if isinstance(keys, list) and keys:
        return str(keys[0])
    key = schema.get("x-kubernetes-patch-merge-key")
    return str(key) if key else None


def field_paths(doc: Any, schema: Any, prefix: Path = ()) -> Iterator[Path]:
    """The leaf fields ``doc`` sets: maps by key, lists with a map key item by item
    (``("containers", ("name", "web"), "image")``), any other list as one field."""
    if isinstance(doc, Mapping):
        for key, value in doc.items():
            path = (*prefix, key)
            if path in _SERVER_SET or path[:1] == ("status",):
                continue
            child = field_schema(schema, str(key))
            if isinstance(value, Mapping) and value:
                yield from field_paths(value, child, path)
            elif isinstance(value, list) and value and _list_key(child):
                key_name = _list_key(child)
                items = resolve(child.get("items", {}))
                for item in value:
                    if isinstance(item, Mapping) and key_name in item:
                        ident = (key_name, item[key_name])
                        yield (*path, ident)
                        yield from field_paths(
                            {k: v for k, v in item.items() if k != key_name}, items, (*path, ident)
                        )
                    else:
                        yield path
            else:
                yield path


def value_at(doc: Any, path: Path) -> Any:
    for part in path:
        if isinstance(part, tuple):
            key, wanted = part
            doc = next(
                (i for i in doc or [] if isinstance(i, Mapping) and i.get(key) == wanted), None
            )
        elif isinstance(doc, Mapping):
            doc = doc.get(part)
        else:
            return None
        if doc is None:
            return None
    return doc


def remove_at(doc: Any, path: Path) -> None:
    """Drop the field at ``path`` from ``doc`` (in place), if it is there."""
    parent = value_at(doc, path[:-1]) if len(path) > 1 else doc
    last = path[-1]
    if isinstance(last, tuple) and isinstance(parent, list):
        key, wanted = last
        parent[:] = [i for i in parent if not (isinstance(i, Mapping) and i.get(key) == wanted)]
    elif isinstance(parent, dict):
        parent.pop(last, None)


def show(path: Path) -> str:
    """A path as upstream's conflict message writes it: ``.spec.containers[name="web"].image``."""
    out = ""
    for part in path:
        if isinstance(part, tuple):
            out += f'[{part[0]}="{part[1]}"]'
        else:
            out += f".{part}"
    return out


class FieldManagers:
    """Who owns which fields of each object written through the front door, by uid."""

    def __init__(self) -> None:
        self.owners: dict[str, dict[str, set[Path]]] = {}

    def forget(self, uid: str) -> None:
        self.owners.pop(uid, None)

    def conflicts(
        self, uid: str, manager: str, config: Mapping[str, Any], live: Any, paths: set[Path]
    ) -> dict[str, list[Path]]:
        """Other managers' fields ``config`` would change, by manager."""
        found: dict[str, list[Path]] = {}
        for other, owned in self.owners.get(uid, {}).items():
            if other == manager:
                continue
            for path in sorted(owned & paths, key=str):
                if isinstance(path[-1], tuple):
                    continue  # a list item's presence: its fields are compared one by one
                if value_at(config, path) != value_at(live, path):
                    found.setdefault(other, []).append(path)
        return found

    def applied(self, uid: str, manager: str, paths: set[Path], forced: bool) -> None:
        owners = self.owners.setdefault(uid, {})
        for other, owned in owners.items():
            if other != manager and forced:
                owned -= paths
        owners[manager] = set(paths)

    def stale(self, uid: str, manager: str, paths: set[Path]) -> set[Path]:
        """Fields ``manager`` applied before and no longer does that nobody else owns."""
        owners = self.owners.get(uid, {})
        before = owners.get(manager, set())
        others = set().union(*(o for m, o in owners.items() if m != manager))
        return {p for p in before - paths if p not in others}

    def updated(
        self,
        uid: str,
        manager: str,
        before: Any,
        after: Any,
        kind: str,
        group_version: str,
        subresource: str = "",
    ) -> None:
        """An Update by ``manager`` (through ``subresource``, if any): the fields it changed are
        its own from now on. Its entry is not its Apply entry: upstream keys a managedFields
        entry by manager, operation and subresource."""
        manager = f"{manager}{_UPDATE}{subresource}"
        schema = _schema(kind, group_version)
        old = set(field_paths(before, schema)) if before is not None else set()
        new = set(field_paths(after, schema))
        changed = {p for p in new if p not in old or value_at(before, p) != value_at(after, p)}
        if not changed:
            return
        owners = self.owners.setdefault(uid, {})
        for other, owned in owners.items():
            if other != manager:
                owned -= changed
        owners.setdefault(manager, set()).update(changed)


_UPDATE = "\x00Update\x00"


def display(manager: str, api_version: str) -> str:
    """A managedFields entry as upstream's conflict message names it (fieldmanager
    conflicts.go printManager): an Apply entry by its name, an Update entry with its
    subresource and API version."""
    if _UPDATE not in manager:
        return f'"{manager}"'
    name, _, subresource = manager.partition(_UPDATE)
    shown = f'"{name}"' + (f' with subresource "{subresource}"' if subresource else "")
    return f"{shown} using {api_version}"


def conflict_error(found: dict[str, list[Path]], api_version: str) -> ApplyConflict:
    """upstream's message: ``Apply failed with N conflict(s): conflict(s) with "m" using v: ...``."""
    count = sum(len(paths) for paths in found.values())
    plural = "s" if count != 1 else ""
    parts = []
    causes = []
    for manager, paths in found.items():
        many = len(paths) > 1
        head = f"conflict{'s' if many else ''} with {display(manager, api_version)}:"
        shown = [show(p) for p in paths]
        parts.append(
            f"{head} {shown[0]}" if not many else head + "".join(f"\n- {s}" for s in shown)
        )
        causes += [
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {display(manager, api_version)}",
                "field": s,
            }
            for s in shown
        ]
    return ApplyConflict(f"Apply failed with {count} conflict{plural}: " + "\n".join(parts), causes)


# What a write's decoded object becomes over the stored one (Writes._changed).
Changed = Callable[[ResourcePath, Any, Mapping[str, Any], Any, list[str]], Any]


class ServerSideApply:
    """``PATCH`` with ``application/apply-patch+yaml``."""

    def __init__(
        self,
        api: APIServer,
        encoder: Encoder,
        managers: FieldManagers,
        changed: Changed,
        on_kind: Callable[[str], None],
    ) -> None:
        self.on_kind = on_kind
        self.api = api
        self.encoder = encoder
        self.managers = managers
        self.changed = changed

    async def apply(
        self, target: ResourcePath, params: Mapping[str, str], body: bytes, warnings: list[str]
    ) -> tuple[int, Any]:
        manager = params.get("fieldManager", "")
        if not manager:
            raise decode.InvalidObject(
                "PatchOptions.meta.k8s.io",
                "",
                (("fieldManager", "Required value: is required for apply patch"),),
            )
        force = params.get("force", "") in ("true", "1")
        dry = decode.dry_run(params)
        validation = decode.field_validation(params)
        config = decode.expect_object(decode.parse_body(body, "application/yaml"), target, True)
        kind, group_version = target.resource.kind, target.resource.group_version
        version = group_version.rpartition("/")[2]
        schema = _schema(kind, group_version)
        paths = set(field_paths(config, schema))
        readable = kind in SUPPORTED_KINDS

        def mutate(current: Any) -> Any:
            uid = current.metadata.uid
            live = self.encoder.object(current)
            found = self.managers.conflicts(uid, manager, config, live, paths)
            if found and not force:
                raise conflict_error(found, group_version)
            merged = strategic_merge(copy.deepcopy(live), config, schema)
            for path in self.managers.stale(uid, manager, paths):
                remove_at(merged, path)
            merged = decode.expect_object(merged, target, True)
            new = None
            if readable:
                warnings.extend(decode.check_fields(merged, validation, kind, version, live))
                new = decode.with_meta_extras(decode.read_object(merged, target), merged)
            return self.changed(target, current, merged, new, warnings)

        try:
            stored = await self.api.patch(
                target.resource.name, target.namespace or "", target.name, mutate, "patch", dry
            )
            code = 200
        except errors.NotFound:
            if not readable:
                raise
            warnings += decode.check_fields(config, validation, kind, version)
            obj = decode.read_object(config, target)
            self.on_kind(kind)
            stored = await self.api.create(obj, dry_run=dry)
            code = 201
        if not dry:
            self.managers.applied(stored.metadata.uid, manager, paths, force)
        return code, self.encoder.object(stored)


__all__ = [
    "ApplyConflict",
    "FieldManagers",
    "ServerSideApply",
    "conflict_error",
    "field_paths",
    "remove_at",
    "show",
    "value_at",
]
