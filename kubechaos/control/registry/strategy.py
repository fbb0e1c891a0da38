"""What every kind's strategy can do, and the defaults for a kind with no special rules.

Mirrors upstream's ``RESTCreateStrategy`` / ``RESTUpdateStrategy`` / ``RESTDeleteStrategy``
interfaces (staging/src/k8s.io/apiserver/pkg/registry/rest/{create,update,delete}.go) as one base
class: the generic request path in :mod:`kubechaos.control.apiserver` calls these hooks in a
fixed order, and a kind overrides only those where it differs. Kept apart from the kinds so each
kind's module reads as "what is special about this kind" and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

import attrs

from kubechaos.api import errors
from kubechaos.api.discovery import APIResource
from kubechaos.api.objects import APIObject, ObjectMeta
from kubechaos.api.objects.copying import replace
from kubechaos.control.registry.ipallocator import ClusterIPAllocator
from kubechaos.defaults import Settings

ObjT = TypeVar("ObjT", bound=APIObject)


@attrs.frozen
class ResourceType:
    """One row of the resource table: a kind as discovery shows it, the class that holds it,
    and the strategy that handles it."""

    api: APIResource
    cls: type
    has_status: bool  # whether spec and status are written through separate verbs
    bumps_generation: bool
    strategy: type[Strategy[Any]]

    @property
    def name(self) -> str:
        return self.api.name

    @property
    def namespaced(self) -> bool:
        return self.api.namespaced


@attrs.frozen
class StrategyOptions:
    """What strategies need of the API server they serve: its settings, its allocators, and
    what its watch cache holds of a resource (``cached("priorityclasses")``), which upstream's
    admission plugins read from their informers."""

    settings: Settings
    cluster_ips: ClusterIPAllocator
    cached: Callable[[str], list[Any]] = lambda resource: []


class Strategy(Generic[ObjT]):
    """A kind's rules; the generic request path calls the hooks in this order.

    create: :meth:`create_changes` (or, for a kind that does not state its rules as changes,
    :meth:`prepare_for_create` and :meth:`admit`), :meth:`validate`, the write, then
    :meth:`after_create`. update: :meth:`update` (or :meth:`update_status`), then
    :meth:`validate` (``update`` and ``patch`` only). delete: :meth:`deletion_grace`, and
    :meth:`after_delete` once the object is gone.
    """

    # Whether an object being deleted is removed when its last finalizer goes. Pods are not:
    # their kubelet's final delete removes them.
    delete_when_finalized: ClassVar[bool] = True

    def __init__(self, resource: ResourceType, options: StrategyOptions) -> None:
        self.resource = resource
        self.options = options

    # ------------------------------------------------------------------ create
    def create_changes(self, obj: ObjT, meta: ObjectMeta) -> dict[str, Any] | None:
        """This kind's create rules (upstream's PrepareForCreate, then its mutating admission) as
        the top-level fields they set, which the generic step makes in the one copy that carries
        the server's metadata ``meta`` (name, namespace, UID... already set: rules read those
        from ``meta``, the rest from the client's ``obj``). None (the default): the kind's rules
        are :meth:`prepare_for_create` then :meth:`admit`, called on that copy."""
        return None

    def prepare_for_create(self, obj: ObjT) -> ObjT:
        """Reset what a client may not set on create (status, for kinds whose status is
        written by controllers); upstream's PrepareForCreate."""
        return obj

    def admit(self, obj: ObjT) -> ObjT:
        """Mutating admission particular to this kind (after defaulting, before validation)."""
        return obj

    def validate(self, obj: ObjT) -> list[str]:
        """Every cause that makes ``obj`` invalid (empty: valid)."""
        raise NotImplementedError

    def after_create(self, obj: ObjT) -> None:
        """The object was written: record whatever it now holds (an allocated IP)."""

    # ------------------------------------------------------------------ update
    def update(self, old: ObjT, new: ObjT, version: str = "") -> ObjT:
        """The ``update`` verb: ``new``'s spec and metadata over ``old``, keeping what the
        server owns (identity, timestamps, generation, and status if written separately);
        ``version`` is the resourceVersion the write will commit at (registry.stamp)."""
        old_meta = old.metadata
        # The generation bump goes into the merge's one copy (not a second copy of the merged
        # object): decided on the spec the client sent, which is the spec the kind's rules
        # leave unless they replace it; if they do, it is decided again on theirs below.
        bumps = self.resource.bumps_generation
        generation = old_meta.generation
        if bumps and getattr(new, "spec", None) != getattr(old, "spec", None):
            generation += 1
        if new.metadata is old_meta:
            # the metadata the client was served, sent back (most controllers' writes): what the
            # merge would take from ``old`` is there already, but the version and generation
            meta = replace(old_meta, resource_version=version, generation=generation)
        else:
            meta = replace(
                new.metadata,
                name=old_meta.name,
                namespace=old_meta.namespace,
                uid=old_meta.uid,
                resource_version=version,
                creation_timestamp=old_meta.creation_timestamp,
                deletion_timestamp=old_meta.deletion_timestamp,
                deletion_grace_period_seconds=old_meta.deletion_grace_period_seconds,
                generation=generation,
                generate_name=old_meta.generate_name,
            )
        merged: Any
        if self.resource.has_status:  # one copy for both
            merged = replace(new, metadata=meta, status=old.status)  # type: ignore[union-attr]
        else:
            merged = replace(new, metadata=meta)
        prepared = self.prepare_for_update(old, merged)
        if bumps and getattr(prepared, "spec", None) is not getattr(merged, "spec", None):
            # the kind's rules changed the spec (a Job's selector kept): the spec they leave
            # decides, as upstream compares the object it is about to write
            changed = getattr(prepared, "spec", None) != getattr(old, "spec", None)
            generation = old_meta.generation + 1 if changed else old_meta.generation
            if prepared.metadata.generation != generation:
                prepared = replace(
                    prepared, metadata=replace(prepared.metadata, generation=generation)
                )
        return prepared

    def validate_update(self, old: ObjT, new: ObjT) -> list[str]:
        """:meth:`validate` of ``new``, replacing the stored ``old`` (upstream's ValidateUpdate);
        a kind may check only what differs from ``old``, for the same causes."""
        return self.validate(new)

    def prepare_for_update(self, old: ObjT, new: ObjT) -> ObjT:
        """This kind's update rules, on the merged object: refuse changes to immutable fields,
        carry over what the client may leave out; upstream's PrepareForUpdate/ValidateUpdate."""
        return new

    def update_status(self, old: ObjT, new: ObjT, version: str = "") -> ObjT:
        """The ``/status`` subresource: ``new``'s status over ``old``, nothing else (but the
        ``version`` the write will commit at, stamped in the same copy: registry.stamp)."""
        if not self.resource.has_status:
            raise errors.NotFound(f"{self.resource.name} has no status subresource")
        current: Any = old  # the kinds with a status subresource all have a ``status`` field
        meta = replace(old.metadata, resource_version=version)
        return replace(current, metadata=meta, status=new.status)  # type: ignore[union-attr]

    # ------------------------------------------------------------------ delete
    def deletion_grace(self, obj: ObjT, requested: int | None) -> int:
        """Seconds of graceful deletion; 0 removes the object at once (if no finalizers)."""
        return 0

    def after_delete(self, obj: ObjT) -> None:
        """The object is gone: release whatever it held."""


def refuse(obj: Any, causes: list[str]) -> None:
    """Raise 422 Invalid for ``obj`` if there are ``causes``."""
    if causes:
        raise errors.Invalid(type(obj).__name__, obj.metadata.name, causes)
