"""Controller references: which controller owns which object, and adopting or releasing objects
whose labels come to match, or stop matching, an owner's selector (upstream's
ControllerRefManager). Shared by the ReplicaSet and Deployment controllers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from kubechaos.api import errors
from kubechaos.api.objects import (
    APIObject,
    ObjectMeta,
    OwnerReference,
    key_of,
    with_meta,
)
from kubechaos.api.selectors import LabelSelector

T = TypeVar("T", bound=APIObject)
Owner = Any  # a ReplicaSet or a Deployment: anything with metadata and spec.selector

# ---------------------------------------------------------------------------- ownership


def still_owned_by_other_kind(old: APIObject, new: APIObject, kind: str) -> bool:
    """Whether an update leaves the object with the very same controller reference, naming a
    controller of another kind than ``kind``: the fast path of a controller's update handler for
    the objects of other controllers (most pods belong to ReplicaSets). Upstream's updatePod
    (daemon_controller.go, job_controller.go) resolves such a reference to nothing of its own and
    returns; the handler must have kept nothing for the old version either. The API server keeps
    the owner references tuple through every write that leaves it alone, so this is an identity
    check and one kind read."""
    meta, old_meta = new.metadata, old.metadata
    if meta.owner_references is not old_meta.owner_references or meta.uid != old_meta.uid:
        return False
    ref = meta.controller_ref()
    return ref is not None and ref.kind != kind


class OwnedIndex(Generic[T]):
    """Objects grouped by their controller owner's UID; orphans grouped by namespace and by
    each of their labels.

    What upstream keeps as the ``controllerUID`` indexer: a sync asks "which pods does this
    ReplicaSet own" in time proportional to the answer, not to the cluster; and "which orphans
    might it adopt" (:meth:`matching_orphans`) in time proportional to the orphans carrying one
    label of its selector, usually none.
    """

    def __init__(self) -> None:
        self._owned: dict[str, dict[str, T]] = {}
        self._orphans: dict[str, dict[str, T]] = {}
        self._bucket: dict[str, dict[str, T]] = {}  # object key -> the bucket it sits in
        # orphans by (namespace, label key, label value), and the order each joined its
        # namespace's orphans (the order :meth:`orphans` lists them in)
        self._orphan_pairs: dict[tuple[str, str, str], dict[str, None]] = {}
        self._orphan_labels: dict[str, tuple[str, Mapping[str, str], int]] = {}
        self._orphan_seq = 0

    def put(self, obj: T, key: str | None = None) -> None:
        """File ``obj`` (``key``: its key_of, if the caller has it already)."""
        if key is None:
            key = key_of(obj)
        meta = obj.metadata
        filed = self._bucket.get(key)
        if filed is not None and filed[key].metadata.owner_references is meta.owner_references:
            # A new version with the very same owner references (the API server keeps the
            # tuple through every write that does not change it: status writes, most of a
            # pod's events): the same owner, the same bucket, in place; an orphan also needs
            # the same labels object to keep its place in the label index.
            orphan = self._orphan_labels.get(key)
            if orphan is None or orphan[1] is meta.labels:
                filed[key] = obj
                return
        ref = meta.controller_ref()
        if ref is not None:
            bucket = self._owned.setdefault(ref.uid, {})
        else:
            bucket = self._orphans.setdefault(meta.namespace, {})
        old = self._bucket.get(key)
        if old is not None and old is not bucket:
            del old[key]
        if ref is None:
            self._file_orphan(key, meta.namespace, meta.labels, old is bucket)
        elif key in self._orphan_labels:
            self._unfile_orphan(key)
        bucket[key] = obj
        self._bucket[key] = bucket

    def discard(self, obj: T) -> None:
        key = key_of(obj)
        bucket = self._bucket.pop(key, None)
        if bucket is not None:
            del bucket[key]
        if key in self._orphan_labels:
            self._unfile_orphan(key)

    def _file_orphan(
        self, key: str, namespace: str, labels: Mapping[str, str], stays: bool
    ) -> None:
        """File an orphan under its label pairs; ``stays``: it was already among the
        namespace's orphans (it keeps its place in their order), else it joins at the end."""
        filed = self._orphan_labels.get(key)
        if filed is not None and stays:
            if filed[1] == labels:
                return
            seq = filed[2]
        else:
            seq = self._orphan_seq
            self._orphan_seq += 1
        if filed is not None:
            self._unfile_orphan(key)
        for k, v in labels.items():
            self._orphan_pairs.setdefault((namespace, k, v), {})[key] = None
        self._orphan_labels[key] = (namespace, labels, seq)

    def _unfile_orphan(self, key: str) -> None:
        namespace, labels, _ = self._orphan_labels.pop(key)
        for k, v in labels.items():
            pair = (namespace, k, v)
            keys = self._orphan_pairs[pair]
            del keys[key]
            if not keys:
                del self._orphan_pairs[pair]

    def owned_by(self, uid: str) -> list[T]:
        return list(self._owned.get(uid, {}).values())

    def orphans(self, namespace: str) -> list[T]:
        return list(self._orphans.get(namespace, {}).values())

    def matching_orphans(self, namespace: str, selector: LabelSelector) -> list[T]:
        """The orphans of ``namespace`` that ``selector`` selects, in :meth:`orphans`' order:
        only those carrying one matchLabels pair of it are looked at (every orphan of the
        namespace for a selector with none)."""
        orphans = self._orphans.get(namespace)
        if not orphans:
            return []
        pair = selector.index_key()
        if pair is None:
            found = list(orphans.values())
        else:
            keys = list(self._orphan_pairs.get((namespace, *pair), ()))
            if len(keys) > 1:
                keys.sort(key=lambda k: self._orphan_labels[k][2])
            found = [orphans[key] for key in keys]
        return [obj for obj in found if selector.matches(obj.metadata.labels)]

    def owned_items(self, uid: str) -> list[tuple[str, T]]:
        """``(key, object)`` of what ``uid`` owns, in the order they were filed."""
        return list(self._owned.get(uid, {}).items())

    def has_orphans(self, namespace: str) -> bool:
        return bool(self._orphans.get(namespace))


class SelectorIndex:
    """Owners (by key) indexed by one ``matchLabels`` pair of their selector.

    Answers "which owners might select an object with these labels" for orphan adoption without
    scanning every owner; candidates are then checked against their full selector.
    """

    def __init__(self) -> None:
        self._by_pair: dict[tuple[str, str, str], dict[str, None]] = {}
        self._unindexed: dict[str, dict[str, None]] = {}  # selectors with no matchLabels
        self._selectors: dict[str, tuple[str, LabelSelector]] = {}
        self._slot_of: dict[str, dict[str, None]] = {}  # owner key -> the slot it is filed in

    def _slot(self, namespace: str, selector: LabelSelector) -> dict[str, None]:
        pair = selector.index_key()
        if pair is None:
            return self._unindexed.setdefault(namespace, {})
        return self._by_pair.setdefault((namespace, *pair), {})

    def put(self, key: str, namespace: str, selector: LabelSelector) -> None:
        known = self._selectors.get(key)
        if known is not None and known[1] is selector and known[0] == namespace:
            # Fast path of the common put (an owner's status write keeps its selector object):
            # the same slot, without working out its pair again. Moved to the slot's end, as
            # discard-then-file does (the order :meth:`matching` lists owners in).
            slot = self._slot_of[key]
            del slot[key]
            slot[key] = None
            return
        self.discard(key)
        slot = self._slot(namespace, selector)  # (slots are never removed: kept per key)
        slot[key] = None
        self._selectors[key] = (namespace, selector)
        self._slot_of[key] = slot

    def discard(self, key: str) -> None:
        if self._selectors.pop(key, None) is not None:
            self._slot_of.pop(key).pop(key, None)

    def matching(self, namespace: str, labels: Mapping[str, str]) -> list[str]:
        found: dict[str, None] = {}
        for pair in labels.items():
            found.update(self._by_pair.get((namespace, *pair), {}))
        found.update(self._unindexed.get(namespace, {}))
        return [key for key in found if self._selectors[key][1].matches(labels)]


async def claim(
    api: Any,
    resource: str,
    owner: Owner,
    candidates: Iterable[T],
    recheck_owner: Callable[[], Awaitable[None]],
) -> list[T]:
    """Upstream's ClaimObject over ``candidates``: keep, adopt or release each; return the kept.

    Adoption is preceded, once, by ``recheck_owner`` (a fresh read of the owner from the API
    server), because the cached owner may already be deleted and an adopted object would then be
    orphaned again at once. Errors other than NotFound are raised after the pass so the owner is
    synced again; NotFound means the object is gone, which needs no retry.
    """
    uid = owner.metadata.uid
    deleting = owner.metadata.deletion_timestamp is not None
    selector: LabelSelector = owner.spec.selector
    claimed: list[T] = []
    failures: list[errors.APIError] = []
    rechecked = False
    for obj in candidates:
        meta = obj.metadata
        ref = meta.controller_ref()
        try:
            if ref is not None:
                if ref.uid != uid:
                    continue  # someone else's
                if selector.matches(meta.labels):
                    claimed.append(obj)
                elif not deleting:
                    await api.patch(
                        resource, meta.namespace, meta.name, _release_mutation(meta.uid, uid)
                    )
                continue
            if deleting or not selector.matches(meta.labels) or meta.deletion_timestamp:
                continue
            if not rechecked:
                await recheck_owner()
                rechecked = True
            ref = OwnerReference(type(owner).KIND, owner.metadata.name, uid, True)
            adopted = await api.patch(
                resource, meta.namespace, meta.name, _adopt_mutation(meta.uid, ref)
            )
            claimed.append(adopted)
        except errors.NotFound:
            continue
        except errors.APIError as exc:
            failures.append(exc)
    if failures:
        raise failures[0]
    return claimed


def _adopt_mutation(obj_uid: str, ref: OwnerReference) -> Callable[[Any], Any]:
    def adopt(current: Any) -> Any:
        meta: ObjectMeta = current.metadata
        if meta.uid != obj_uid:
            raise errors.Conflict(f"{meta.name}: UID precondition failed")
        if meta.controller_ref() is not None:
            raise errors.Invalid(
                type(current).__name__,
                meta.name,
                ["metadata.ownerReferences: Only one reference can have Controller set to true"],
            )
        return with_meta(current, owner_references=(*meta.owner_references, ref))

    return adopt


def _release_mutation(obj_uid: str, owner_uid: str) -> Callable[[Any], Any]:
    def release(current: Any) -> Any:
        meta: ObjectMeta = current.metadata
        if meta.uid != obj_uid:
            raise errors.Conflict(f"{meta.name}: UID precondition failed")
        refs = tuple(r for r in meta.owner_references if r.uid != owner_uid)
        return with_meta(current, owner_references=refs)

    return release


def recheck_deletion(api: Any, resource: str, owner: Owner) -> Callable[[], Awaitable[None]]:
    """Upstream's RecheckDeletionTimestamp: refuse to adopt for an owner that is gone or going."""

    async def recheck() -> None:
        meta = owner.metadata
        fresh = await api.get(resource, meta.namespace, meta.name)
        if fresh.metadata.uid != meta.uid:
            raise errors.Conflict(
                f"original {meta.namespace}/{meta.name} is gone: got uid {fresh.metadata.uid}, "
                f"wanted {meta.uid}"
            )
        if fresh.metadata.deletion_timestamp is not None:
            raise errors.Conflict(f"{meta.namespace}/{meta.name} has just been deleted")

    return recheck


# ---------------------------------------------------------------------------- expectations
