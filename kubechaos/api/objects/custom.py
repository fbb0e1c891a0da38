"""Custom objects: instances of a CustomResourceDefinition's kind, held unstructured.

Upstream's apiextensions-apiserver never decodes a custom object into a typed struct: it is an
``unstructured.Unstructured``, a JSON map, from the request body to etcd and back
(staging/src/k8s.io/apiextensions-apiserver/pkg/registry/customresource). The model does the
same: :class:`Unstructured` wraps the JSON map (never mutated once stored: a change is a new
map) with the two times the model keeps in virtual seconds (the front door writes them as
wall-clock times). :attr:`Unstructured.metadata` is the small view the watch cache and the
selectors read (namespace, name, labels), so custom objects share the typed kinds' etcd and
watch-cache machinery unchanged.

CustomResourceDefinitions themselves are held the same way (upstream serves them from the same
apiextensions-apiserver, and operators send them as JSON).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from kubechaos.api.objects.meta import OwnerReference

JSON = dict[str, Any]


@attrs.frozen(slots=True)
class UnstructuredMeta:
    """What the watch cache, selectors and clients read of an unstructured object's metadata."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    resource_version: str
    uid: str
    finalizers: tuple[str, ...]
    deletion_timestamp: float | None
    generation: int
    owner_references: tuple[OwnerReference, ...] = ()


@attrs.frozen(slots=True, eq=True)
class Unstructured:
    """One custom object (or CustomResourceDefinition): its JSON map and its virtual times."""

    content: JSON  # apiVersion, kind, metadata (without the times), spec, status, ...
    created: float | None = None  # metadata.creationTimestamp, virtual seconds
    deleting: float | None = None  # metadata.deletionTimestamp, virtual seconds

    @property
    def metadata(self) -> UnstructuredMeta:
        meta = self.content.get("metadata") or {}
        return UnstructuredMeta(
            name=str(meta.get("name", "")),
            namespace=str(meta.get("namespace", "")),
            labels=meta.get("labels") or {},
            resource_version=str(meta.get("resourceVersion", "")),
            uid=str(meta.get("uid", "")),
            finalizers=tuple(meta.get("finalizers") or ()),
            deletion_timestamp=self.deleting,
            generation=int(meta.get("generation", 0) or 0),
            owner_references=owner_references(meta.get("ownerReferences")),
        )

    @property
    def kind(self) -> str:
        return str(self.content.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.content.get("apiVersion", ""))

    def with_meta(self, **fields: Any) -> Unstructured:
        """A copy with these metadata fields set (a value of None removes the field)."""
        meta = dict(self.content.get("metadata") or {})
        for key, value in fields.items():
            if value is None:
                meta.pop(key, None)
            else:
                meta[key] = value
        return attrs.evolve(self, content={**self.content, "metadata": meta})

    def with_content(self, **parts: Any) -> Unstructured:
        """A copy with these top-level parts (``spec``, ``status``) replaced (None removes)."""
        content = dict(self.content)
        for key, value in parts.items():
            if value is None:
                content.pop(key, None)
            else:
                content[key] = value
        return attrs.evolve(self, content=content)


def owner_references(refs: Any) -> tuple[OwnerReference, ...]:
    """``metadata.ownerReferences`` as JSON (a list of maps) read into references."""
    if not refs or not isinstance(refs, list):
        return ()
    return tuple(
        OwnerReference(
            str(ref.get("kind", "")),
            str(ref.get("name", "")),
            str(ref.get("uid", "")),
            bool(ref.get("controller", False)),
            str(ref.get("apiVersion", "")),
            bool(ref.get("blockOwnerDeletion", False)),
        )
        for ref in refs
        if isinstance(ref, Mapping)
    )


def is_unstructured(obj: object) -> bool:
    return isinstance(obj, Unstructured)


__all__ = ["JSON", "Unstructured", "UnstructuredMeta", "is_unstructured", "owner_references"]
