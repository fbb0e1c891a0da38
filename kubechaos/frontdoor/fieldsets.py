"""Field sets of objects, as server-side apply tracks ownership (structured-merge-diff v4).

A field set is a set of paths; a path is a tuple of path elements spelled as ``FieldsV1`` spells
them: ``f:<field>`` for a struct field or map key, ``k:<json of the keys>`` for an item of a
list keyed by ``x-kubernetes-list-map-keys``, ``v:<json value>`` for a member of a
``x-kubernetes-list-type: set`` list, ``i:<index>`` for an item of a granular list without keys.

Which paths an object's field set holds follows structured-merge-diff's ``ToFieldSet``
(``typed/tofieldset.go``): a scalar, an atomic list or an atomic map is one leaf; every item of
a granular list is a path of its own (beside its children); a map's own keys (labels,
annotations, resource limits: any map that is not a struct's declared fields) are paths of
their own too; a struct's declared fields count only through their leaves, so an empty struct
contributes nothing. Lists are atomic unless the schema says ``x-kubernetes-list-type``
``map`` or ``set``; maps are granular unless ``x-kubernetes-map-type: atomic`` (as
``LabelSelector``). The schema is upstream's OpenAPI for the kind (``openapi.py``); for
fields the schema does not know (custom resources without a schema), maps are granular and
lists atomic, as structured-merge-diff's "deduced" type.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

FieldPath = tuple[str, ...]

#: The value a path maps to when the path is a list item or a map entry holding a struct: its
#: presence matters, its value is compared through its children.
ITEM: Any = object()

_REF_PREFIXES = ("#/components/schemas/", "#/$defs/")


class SchemaWalker:
    """Resolves a node of an OpenAPI schema (``$ref``, ``allOf``) into what it means for field
    ownership: a scalar, a struct (declared properties), a map (additionalProperties) or a
    list, granular or atomic."""

    def __init__(self, definitions: Mapping[str, Any]) -> None:
        self.definitions = definitions
        # what resolve() and field() found, by the id of the schema node asked about (the
        # node kept beside it so its id is not reused): a walk asks the same few hundred
        # nodes again for every object of a kind
        self._resolved: dict[int, tuple[Any, Mapping[str, Any] | None]] = {}
        self._fields: dict[tuple[int, str], tuple[Any, Mapping[str, Any] | None]] = {}
        self._shapes: dict[int, tuple[Any, str]] = {}

    def resolve(self, node: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        """The node with its ``$ref`` (and a lone ``allOf``) followed; the referring node's own
        ``x-kubernetes-*`` annotations win over the referenced definition's."""
        if node is None:
            return None
        hit = self._resolved.get(id(node))
        if hit is not None and hit[0] is node:
            return hit[1]
        resolved = self._resolve(node)
        self._resolved[id(node)] = (node, resolved)
        return resolved

    def _resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any] | None:
        seen = 0
        while seen < 16:
            seen += 1
            ref = node.get("$ref")
            if ref is None and len(node.get("allOf", ())) == 1:
                ref = node["allOf"][0].get("$ref")
            if not isinstance(ref, str):
                return node
            name = ref
            for prefix in _REF_PREFIXES:
                name = name.removeprefix(prefix)
            target = self.definitions.get(name)
            if target is None:
                return None
            extras = {k: v for k, v in node.items() if k.startswith("x-kubernetes-")}
            node = {**target, **extras} if extras else target
        return node

    def shape(self, node: Mapping[str, Any] | None, value: Any) -> str:
        """``scalar``, ``struct``, ``map``, ``list-map``, ``list-set``, ``list-granular`` or
        ``atomic`` for ``value`` under ``node`` (None: a field the schema does not know)."""
        if node is not None:
            hit = self._shapes.get(id(node))
            if hit is None or hit[0] is not node:
                hit = self._shapes[id(node)] = (node, _schema_shape(node))
            if hit[1]:
                return hit[1]
        if isinstance(value, dict):
            return "map"
        return "atomic" if isinstance(value, list) else "scalar"

    def field(self, node: Mapping[str, Any] | None, name: str) -> Mapping[str, Any] | None:
        """The schema of field ``name`` of a struct or map node; None when unknown."""
        if node is None:
            return None
        key = (id(node), name)
        hit = self._fields.get(key)
        if hit is not None and hit[0] is node:
            return hit[1]
        found = None
        properties = node.get("properties")
        extra = node.get("additionalProperties")
        if isinstance(properties, dict) and name in properties:
            found = self.resolve(properties[name])
        elif isinstance(extra, dict):
            found = self.resolve(extra)
        self._fields[key] = (node, found)
        return found

    def items(self, node: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        return self.resolve(node.get("items")) if node is not None else None

    def declares(self, node: Mapping[str, Any] | None, name: str) -> bool:
        properties = node.get("properties") if node is not None else None
        return isinstance(properties, dict) and name in properties


def _schema_shape(node: Mapping[str, Any]) -> str:
    """What a schema node makes of any value under it, or "" when the value decides (a node
    that keeps unknown fields)."""
    if node.get("x-kubernetes-preserve-unknown-fields"):
        return ""
    if node.get("x-kubernetes-int-or-string") or "oneOf" in node or "anyOf" in node:
        return "scalar"
    types = node.get("type")
    kind = types if isinstance(types, str) else next(iter(types or ()), None)
    if kind == "array" or (kind is None and "items" in node):
        list_type = node.get("x-kubernetes-list-type", "atomic")
        if list_type == "map" and node.get("x-kubernetes-list-map-keys"):
            return "list-map"
        if list_type == "set":
            return "list-set"
        return "list-granular" if list_type == "granular" else "atomic"
    if kind == "object" or "properties" in node or "additionalProperties" in node:
        if node.get("x-kubernetes-map-type") == "atomic":
            return "atomic"
        return "struct" if "properties" in node else "map"
    return "scalar"


#: Key fields with a default, so an item that omits one is keyed by the default (upstream's
#: ``+default="TCP"`` markers on the ``protocol`` of core/v1 ContainerPort and ServicePort,
#: added for server-side apply's keys).
KEY_DEFAULTS = {"protocol": "TCP"}


def key_element(item: Mapping[str, Any], keys: Iterable[str]) -> str:
    """``k:{"name":"web"}``: a keyed list item's path element (keys sorted, compact JSON)."""
    chosen = {}
    for key in sorted(keys):
        if key in item:
            chosen[key] = item[key]
        elif key in KEY_DEFAULTS:
            chosen[key] = KEY_DEFAULTS[key]
    return "k:" + json.dumps(chosen, separators=(",", ":"), sort_keys=True)


def value_element(value: Any) -> str:
    return "v:" + json.dumps(value, separators=(",", ":"), sort_keys=True)


def field_values(
    obj: Mapping[str, Any],
    root: Mapping[str, Any] | None,
    walker: SchemaWalker,
    with_maps: bool = False,
) -> dict[FieldPath, Any]:
    """Every path of ``obj``'s field set, mapped to the value found there (``ITEM`` for a list
    item or map entry whose value counts through its children). ``with_maps``: the paths of
    granular maps (labels, annotations, a ConfigMap's data) too, as structured-merge-diff's
    ``Compare`` counts a map it sees added (``typed/compare.go``), which an update's manager
    then owns with ``"."``."""
    out: dict[FieldPath, Any] = {}
    _walk_struct(obj, root, walker, (), out, with_maps)
    return out


def _walk(
    value: Any,
    node: Mapping[str, Any] | None,
    walker: SchemaWalker,
    path: FieldPath,
    out: dict[FieldPath, Any],
    with_maps: bool = False,
) -> None:
    shape = walker.shape(node, value)
    if shape in ("struct", "map") and isinstance(value, dict):
        if with_maps and shape == "map":
            out[path] = ITEM
        _walk_struct(value, node, walker, path, out, with_maps)
    elif shape == "list-map" and isinstance(value, list):
        keys = node.get("x-kubernetes-list-map-keys", ()) if node is not None else ()
        element = walker.items(node)
        for item in value:
            if not isinstance(item, dict):
                continue
            item_path = (*path, key_element(item, keys))
            out[item_path] = ITEM
            _walk_struct(item, element, walker, item_path, out, with_maps)
    elif shape == "list-set" and isinstance(value, list):
        for item in value:
            out[(*path, value_element(item))] = item
    elif shape == "list-granular" and isinstance(value, list):
        element = walker.items(node)
        for index, item in enumerate(value):
            item_path = (*path, f"i:{index}")
            out[item_path] = ITEM
            _walk(item, element, walker, item_path, out, with_maps)
    elif value is not None or shape == "scalar":
        out[path] = value


def _walk_struct(
    value: Mapping[str, Any],
    node: Mapping[str, Any] | None,
    walker: SchemaWalker,
    path: FieldPath,
    out: dict[FieldPath, Any],
    with_maps: bool = False,
) -> None:
    for name, child in value.items():
        child_path = (*path, f"f:{name}")
        child_node = walker.field(node, name)
        if not walker.declares(node, name):
            out[child_path] = ITEM
        _walk(child, child_node, walker, child_path, out, with_maps)


def to_fields_v1(paths: Iterable[FieldPath]) -> dict[str, Any]:
    """A field set as ``FieldsV1`` JSON: a trie, ``"."`` marking a path that is a member and
    has members below it."""
    trie: dict[str, Any] = {}
    members = set(paths)
    for path in sorted(members):
        node = trie
        for element in path:
            node = node.setdefault(element, {})
    _mark_members(trie, (), members)
    return trie


def _mark_members(node: dict[str, Any], path: FieldPath, members: set[FieldPath]) -> None:
    for element, child in node.items():
        if element == ".":
            continue
        child_path = (*path, element)
        if child and child_path in members:
            child["."] = {}
        _mark_members(child, child_path, members)


def from_fields_v1(trie: Mapping[str, Any]) -> set[FieldPath]:
    """The paths of a ``FieldsV1`` trie (the inverse of ``to_fields_v1``)."""
    return set(_paths_of(trie, ()))


def _paths_of(node: Mapping[str, Any], path: FieldPath) -> Iterator[FieldPath]:
    for element, child in node.items():
        if element == ".":
            yield path
            continue
        child_path = (*path, element)
        if isinstance(child, Mapping) and child:
            yield from _paths_of(child, child_path)
        else:
            yield child_path


def path_string(path: FieldPath) -> str:
    """A path as structured-merge-diff prints it in a conflict: ``.spec.replicas``,
    ``.spec.containers[name="web"].image``, ``.metadata.finalizers[="x"]``, ``[3]``."""
    parts = []
    for element in path:
        kind, _, rest = element.partition(":")
        if kind == "f":
            parts.append(f".{rest}")
        elif kind == "k":
            keys = json.loads(rest)
            inner = ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items())
            parts.append(f"[{inner}]")
        elif kind == "v":
            parts.append(f"[={rest}]")
        else:
            parts.append(f"[{rest}]")
    return "".join(parts)


__all__ = [
    "ITEM",
    "FieldPath",
    "SchemaWalker",
    "field_values",
    "from_fields_v1",
    "key_element",
    "path_string",
    "to_fields_v1",
    "value_element",
]
