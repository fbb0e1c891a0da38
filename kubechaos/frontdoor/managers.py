"""Who manages which field of each object (``metadata.managedFields``), the model's own writers
included, and forgetting the objects that are gone.

The model's objects carry no ``managedFields``: the front door keeps them per object uid. Its
own clients' writes are tracked as they are made (:mod:`.applying`, :mod:`.serverside`); the
model's components' writes are seen through one etcd watch, installed only when the front door
serves, and kept as little as possible: per object, which component wrote it and how (created
it, wrote its status, wrote its scale), and when. The fields each owns are worked out only when
a client reads the object or applies to it, from the object as it is then:

- a component's ``status`` writes (the kubelet's pod status, a controller's workload status):
  ``Update`` entries with ``subresource: status`` owning the status fields (the status
  strategies' reset fields: the subresource owns exactly ``status``); when several components
  wrote a status, the latest owns it (upstream each would keep the fields it last changed);
- the HPA's writes of the ``scale`` subresource: on the parent, as upstream's ScaleHandler
  records them (staging/src/k8s.io/apimachinery/pkg/util/managedfields/scalehandler.go
  ToParent), manager ``kube-controller-manager``, operation ``Update``, the parent's apiVersion,
  ``subresource: scale``, owning ``spec.replicas``, taken from whoever owned it; an apply
  that changes ``spec.replicas`` then conflicts (``conflict with "kube-controller-manager"
  with subresource "scale" using apps/v1: .spec.replicas``) unless forced;
- a component's create (a ReplicaSet's pods, a Deployment's ReplicaSets): an ``Update`` entry
  owning the object's fields, less those others own.

The manager is the component's client name up to its first ``/``, as upstream's field manager
takes it from the User-Agent (``handlers/rest.go`` prefixFromUserAgent: ``kubelet/v1.32.0 ...``
is ``kubelet``; every controller of ``kube-controller-manager`` is ``kube-controller-manager``).
A component's other writes of an object's main resource (the deployment controller's revision
annotation, the garbage collector's owner references) are not tracked.

When an object is removed from storage, its entries go with it (the front door's etcd watch
sees the DELETE), so a long run keeps entries only for objects that exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from kubechaos.client.identity import current_client, current_subresource, retries_requests
from kubechaos.frontdoor import openapi
from kubechaos.frontdoor.encoding import Encoder
from kubechaos.frontdoor.fieldsets import FieldPath, SchemaWalker
from kubechaos.frontdoor.paths import ResourcePath
from kubechaos.frontdoor.serverside import (
    BEFORE_FIRST_APPLY,
    UPDATE,
    ManagerEntry,
    Tracker,
    encode_managed_fields,
)
from kubechaos.sim.clock import now

SPEC_REPLICAS: FieldPath = ("f:spec", "f:replicas")
CREATED, STATUS, SCALE = "", "status", "scale"
_REGISTRY = "/registry/"

#: Per object uid: (manager, how: CREATED, STATUS or SCALE) -> virtual time of its last write.
Records = dict[tuple[str, str], float]


class FieldManagers:
    """Per object uid, its ``managedFields``: the front door's clients' entries as stored,
    the model's components' worked out when asked."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self._entries: dict[str, tuple[ManagerEntry, ...]] = {}
        self._model: dict[str, Records] = {}
        self._walker = SchemaWalker(openapi.definitions())
        self._trackers: dict[tuple[str, str, str], Tracker] = {}

    # ------------------------------------------------------------------ the model's writes
    def watch(self, store: Any) -> None:
        """See every write to storage from now on (``store``: the API server's etcd store)."""
        store.watch(_REGISTRY, store.revision + 1, self.on_events)

    def on_events(self, events: Iterable[Any]) -> None:
        """etcd watch events, delivered in the writer's task: a DELETE forgets the object; a
        PUT by one of the model's components is recorded (the front door's own clients'
        writes are recorded by their requests)."""
        for event in events:
            if event.type == "DELETE":
                if event.prev_kv is not None:
                    self.forget(_uid(event.prev_kv.value))
                continue
            if not retries_requests():
                continue
            manager = current_client().partition("/")[0]
            obj = event.kv.value
            uid = _uid(obj)
            if not manager or not uid:
                continue
            how = _how(event.prev_kv.value if event.prev_kv is not None else None, obj)
            if how is not None:
                self._model.setdefault(uid, {})[(manager, how)] = now()

    def count(self) -> int:
        """How many objects have entries kept (front-door or model)."""
        return len(self.uids())

    def uids(self) -> set[str]:
        """The objects entries are kept for."""
        return self._entries.keys() | self._model.keys()

    # ------------------------------------------------------------------ entries
    def of(self, obj: Any) -> tuple[ManagerEntry, ...]:
        """The entries of a model object, the model's writers' worked out."""
        uid = obj.metadata.uid
        if uid not in self._model:
            return self._entries.get(uid, ())
        return self._worked_out(uid, self.encoder.plain(obj))

    def for_apply(self, obj: Any, encoded: Mapping[str, Any]) -> tuple[ManagerEntry, ...]:
        """The entries an apply starts from: an object no client of the front door has
        written and no component created is first owned by ``before-first-apply``
        (skipnonapplied.go), less what the components own."""
        uid = obj.metadata.uid
        entries = self._worked_out(uid, encoded)
        if uid in self._entries or (CREATED in {how for _, how in self._model.get(uid, {})}):
            return entries
        if not entries:
            return ()  # the tracker adds before-first-apply itself
        tracker = self.tracker_of(encoded)
        owned = frozenset().union(*(e.fields for e in entries))
        fields = frozenset(tracker.owned_paths(encoded, with_maps=True)) - owned
        first = ManagerEntry(
            BEFORE_FIRST_APPLY, UPDATE, tracker.api_version, self.timestamp(), fields
        )
        return (*entries, first) if fields else entries

    def store(self, uid: str, entries: tuple[ManagerEntry, ...]) -> None:
        """The entries after a front-door write (which started from the worked-out ones)."""
        self._model.pop(uid, None)
        if entries:
            self._entries[uid] = entries
        else:
            self._entries.pop(uid, None)

    def updated(
        self,
        target: ResourcePath,
        before: Any,
        stored: Any,
        manager: str,
        subresource: str = "",
    ) -> None:
        """Record a non-apply write of ``stored`` (``before``: the object it replaced, None
        for a create) by ``manager``."""
        managed = self.of(before) if before is not None else ()
        if before is not None and not managed:
            return  # skipnonapplied.go: an untracked object stays so until its first apply
        old = self.encoder.plain(before) if before is not None else None
        tracker = self.tracker(target, subresource)
        new = self.encoder.plain(stored)
        self.store(
            stored.metadata.uid, tracker.update(old, new, managed, manager, self.timestamp())
        )

    def forget(self, uid: str) -> None:
        self._entries.pop(uid, None)
        self._model.pop(uid, None)

    def shown(self, encoded: Any) -> Any:
        """``encoded`` (an object as JSON) with its ``metadata.managedFields``, if any."""
        if not (self._entries or self._model) or not isinstance(encoded, dict):
            return encoded
        meta = encoded.get("metadata")
        if not isinstance(meta, dict):
            return encoded
        uid = meta.get("uid", "")
        if uid in self._model:
            entries = self._worked_out(uid, encoded)
        else:
            entries = self._entries.get(uid, ())
        return with_managed_fields(encoded, entries)

    # ------------------------------------------------------------------ trackers
    def tracker(self, target: ResourcePath, subresource: str = "") -> Tracker:
        return self._tracker(target.resource.group_version, target.resource.kind, subresource)

    def tracker_of(self, encoded: Mapping[str, Any], subresource: str = "") -> Tracker:
        return self._tracker(str(encoded.get("apiVersion")), str(encoded.get("kind")), subresource)

    def _tracker(self, version: str, kind: str, subresource: str) -> Tracker:
        key = (version, kind, subresource)
        tracker = self._trackers.get(key)
        if tracker is None:
            root = openapi.root_definition(version, kind)
            tracker = self._trackers[key] = Tracker(self._walker, root, version, subresource)
        return tracker

    def timestamp(self, at: float | None = None) -> str:
        return self.encoder.anchor.time(now() if at is None else at)

    # ------------------------------------------------------------------ working out
    def _worked_out(self, uid: str, encoded: Mapping[str, Any]) -> tuple[ManagerEntry, ...]:
        """The stored entries, with the model's writers' entries over them: a component's
        write is newer than every stored entry (a front-door write folds them in)."""
        stored = list(self._entries.get(uid, ()))
        records = self._model.get(uid)
        if not records:
            return tuple(stored)
        version = str(encoded.get("apiVersion"))
        newer: list[ManagerEntry] = []
        status = _latest(records, STATUS)
        if status is not None:
            paths = self.tracker_of(encoded, STATUS).owned_paths(encoded, with_maps=True)
            newer.append(self._entry(status, version, frozenset(paths), STATUS))
        scale = _latest(records, SCALE)
        if scale is not None and _has_replicas(encoded):
            newer.append(self._entry(scale, version, frozenset({SPEC_REPLICAS}), SCALE))
        taken = frozenset().union(*(e.fields for e in newer))
        created = _latest(records, CREATED)
        kept = _without(stored, taken, {e.identity for e in newer})
        if created is not None:
            owned = taken.union(*(e.fields for e in kept))
            paths = self.tracker_of(encoded).owned_paths(encoded, with_maps=True)
            newer.append(self._entry(created, version, frozenset(paths) - owned, CREATED))
        return tuple(kept + [e for e in newer if e.fields])

    def _entry(
        self, record: tuple[str, float], version: str, fields: frozenset[FieldPath], how: str
    ) -> ManagerEntry:
        manager, at = record
        return ManagerEntry(manager, UPDATE, version, self.timestamp(at), fields, how)


def with_managed_fields(encoded: Any, entries: tuple[ManagerEntry, ...]) -> Any:
    """``encoded`` (an object as JSON) with ``entries`` as its ``metadata.managedFields``."""
    if not entries:
        return encoded
    meta = {**encoded.get("metadata", {}), "managedFields": encode_managed_fields(entries)}
    return {**encoded, "metadata": meta}


def _how(old: Any, new: Any) -> str | None:
    """How a component wrote ``new`` over ``old`` (None: a create), or None if untracked."""
    if old is None:
        return CREATED
    if current_subresource() == SCALE:
        return SCALE
    old_status, new_status = getattr(old, "status", None), getattr(new, "status", None)
    if old_status is not new_status and old_status != new_status:
        return STATUS
    return None


def _latest(records: Records, how: str) -> tuple[str, float] | None:
    found = [(at, manager) for (manager, kind), at in records.items() if kind == how]
    if not found:
        return None
    at, manager = max(found)
    return manager, at


def _without(
    entries: list[ManagerEntry], taken: frozenset[FieldPath], replaced: set[Any]
) -> list[ManagerEntry]:
    """``entries`` less the fields newer writers took, and less those a newer entry of the
    same manager replaces."""
    kept = []
    for entry in entries:
        if entry.identity in replaced:
            continue
        fields = entry.fields - taken
        if fields:
            kept.append(attrs.evolve(entry, fields=fields))
    return kept


def _has_replicas(encoded: Mapping[str, Any]) -> bool:
    spec = encoded.get("spec")
    return isinstance(spec, Mapping) and "replicas" in spec


def _uid(obj: Any) -> str:
    meta = getattr(obj, "metadata", None)
    if meta is None and isinstance(obj, Mapping):
        meta = obj.get("metadata")
        return str(meta.get("uid", "")) if isinstance(meta, Mapping) else ""
    return str(getattr(meta, "uid", "") or "")


__all__ = ["SPEC_REPLICAS", "FieldManagers", "with_managed_fields"]
