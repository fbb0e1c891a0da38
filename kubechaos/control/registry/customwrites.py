"""Writes of CustomResourceDefinitions and custom objects: create, update (and ``/status``),
patch, delete, as upstream's generic store runs them for the apiextensions kinds
(staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go with the strategies of
staging/src/k8s.io/apiextensions-apiserver/pkg/registry/*).

- create: the body's apiVersion, kind and namespace must match the URL; the server sets uid,
  creationTimestamp and generation 1, and drops status when the status subresource is enabled;
- update: ``metadata.resourceVersion`` is required (custom kinds do not allow unconditional
  updates: 422) and must be the current one (409); a status subresource splits the writes (the
  main resource keeps the old status, ``/status`` changes nothing but status); generation is
  bumped when anything but metadata (and status, with the subresource) changed;
- delete: removes the object, or with finalizers only marks it (``deletionTimestamp``): the
  update that removes the last finalizer removes it;
- ``dryRun=All`` (``kubectl diff``, ``--dry-run=server``): every check, nothing written.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import attrs

from kubechaos.api import errors
from kubechaos.api.crd import crd_info, update_causes, validate_crd, with_defaults
from kubechaos.api.fieldreader import format_path
from kubechaos.api.modelled import cel_rule_paths
from kubechaos.api.objects.custom import JSON, Unstructured
from kubechaos.api.propagation import deletion_finalizers
from kubechaos.control.etcd import Compare, Delete, KeyValue, Put
from kubechaos.control.registry import customrules as rules
from kubechaos.control.registry import preconditions
from kubechaos.control.registry.crdfinalizer import DefinitionDeletion
from kubechaos.control.registry.customresource import CRD_INFO, Served, _decode
from kubechaos.sim.clock import now
from kubechaos.sim.rand import uuid4_text

Written = tuple[Unstructured, list[str]]  # the object as stored, and the client's warnings


def _conflict(served: Served, name: str) -> errors.Conflict:
    return errors.Conflict(
        f'Operation cannot be fulfilled on {served.info.plural}.{served.info.group} "{name}": '
        "the object has been modified; please apply your changes to the latest version and try "
        "again"
    )


def _not_found(served: Served, name: str) -> errors.NotFound:
    return errors.NotFound(f'{served.info.plural}.{served.info.group} "{name}" not found')


def _stored(obj: Unstructured) -> Unstructured:
    """What goes into etcd: the resourceVersion is the key's revision, never stored."""
    if "resourceVersion" in (obj.content.get("metadata") or {}):
        return obj.with_meta(resourceVersion=None)
    return obj


class CustomResources(DefinitionDeletion):
    """Definitions and custom objects: reads (:class:`CustomStorage`) and writes."""

    @classmethod
    def on(cls, api: Any, rng: Any) -> CustomResources:
        """The apiextensions side of ``api``: its etcd, its request path, its namespaces."""
        namespaces = api.cache("namespaces")
        store = cls(
            api.etcd,
            api._call,
            # namespaces are kept at upstream's key, /registry/namespaces/<name>
            lambda ns: namespaces.get(f"/registry/namespaces/{ns}") is not None,
            rng.stream("apiserver-custom-uid"),
            lambda base: rng.generated_name(base, "generate-name"),
            api.settings.watch_cache_size,
        )
        store.crd_poll = (
            api.settings.crd_finalizer_poll_interval,
            api.settings.crd_finalizer_poll_timeout,
        )
        return store

    # ------------------------------------------------------------------ create
    async def create(
        self,
        served: Served,
        body: Any,
        namespace: str,
        field_validation: str = "",
        dry_run: bool = False,
    ) -> Written:
        def create_in_etcd() -> Written:
            content = rules.check_envelope(served.info, served.version.name, body, namespace)
            meta = content["metadata"]
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = self._generated_name(str(meta["generateName"]))
            if served.info.namespaced and not self._namespace_exists(meta["namespace"]):
                raise errors.NotFound(f'namespaces "{meta["namespace"]}" not found')
            for key in rules.SERVER_META:
                meta.pop(key, None)
            meta["uid"] = uuid4_text(self._uid_rng)
            meta["generation"] = 1
            if served.has_status:
                content.pop("status", None)
            if served.is_crd:
                content = self._checked_crd(content, None)
                warnings = [
                    f"{format_path(p)}: CEL validation rules are not evaluated by kubechaos"
                    for p in cel_rule_paths(content)
                ]
            else:
                self._refuse_if_terminating(served)
                content, warnings = rules.checked_content(
                    served.info, served.version, content, field_validation
                )
            content["apiVersion"] = self._storage_api_version(served)
            obj = Unstructured(content, created=now())
            key = self._key(served.info, meta.get("namespace", ""), meta["name"])
            if dry_run:  # ?dryRun=All: every check, no write
                if self.etcd.get(key) is not None:
                    raise errors.AlreadyExists(
                        f'{served.info.plural}.{served.info.group} "{meta["name"]}" already exists'
                    )
                return obj, warnings
            result = self.etcd.txn([Compare(key, "create", "=", 0)], [Put(key, obj)])
            if not result.succeeded:
                raise errors.AlreadyExists(
                    f'{served.info.plural}.{served.info.group} "{meta["name"]}" already exists'
                )
            if served.is_crd:
                return self._establish(key, obj), warnings
            return _decode(obj, result.revision), warnings

        return await self._call("create", served.info.plural, create_in_etcd, writes=1)

    @staticmethod
    def _storage_api_version(served: Served) -> str:
        """Objects are stored at the storage version (conversion strategy None: only the
        apiVersion changes, apiextensions-apiserver pkg/apiserver/conversion/nop_converter.go)."""
        storage = next(v.name for v in served.info.versions if v.storage)
        return f"{served.info.group}/{storage}"

    def _refuse_if_terminating(self, served: Served) -> None:
        content = self.crd_content(served.info)
        crd = self._caches[f"{CRD_INFO.group}/{CRD_INFO.plural}"].get(
            self._key(CRD_INFO, "", served.info.name)
        )
        if content is not None and crd is not None and crd.deleting is not None:
            raise rules.MethodNotAllowed(
                "create not allowed while custom resource definition is terminating"
            )

    def _checked_crd(self, content: JSON, old: JSON | None) -> JSON:
        content = with_defaults(content)
        causes = rules.meta_causes(content) + validate_crd(content)
        if old is not None:
            causes += update_causes(content, old, rules.is_established(old))
        if causes:
            name = str((content.get("metadata") or {}).get("name", ""))
            raise rules.CustomInvalid(rules.qualified_kind(CRD_INFO), name, causes)
        return content

    def _establish(self, key: str, obj: Unstructured) -> Unstructured:
        """The naming controller's status write, then (names accepted) the establishing
        controller's, right after the create: two revisions, as upstream's two controllers."""
        info = crd_info(obj.content)
        conflict = rules.names_conflict(info, self.definitions.values())
        status = rules.naming_status(obj.content, conflict, now())
        writes = [status] if conflict[0] else [status, rules.established(status, now())]
        for written in writes:
            kv = self.etcd.get(key)
            assert kv is not None
            obj = obj.with_content(status=written)
            result = self.etcd.txn([Compare(key, "mod", "=", kv.mod_revision)], [Put(key, obj)])
        if not conflict[0]:
            self._serve(obj.content)
        return _decode(obj, result.revision)

    # ------------------------------------------------------------------ update / patch
    async def update(
        self,
        served: Served,
        namespace: str,
        name: str,
        body: Any,
        subresource: str = "",
        field_validation: str = "",
        dry_run: bool = False,
    ) -> Written:
        def update_in_etcd() -> Written:
            kv = self._current(served, namespace, name)
            content = rules.check_envelope(served.info, served.version.name, body, namespace)
            rv = str(content["metadata"].get("resourceVersion", "") or "")
            if not rv:
                raise rules.CustomInvalid(
                    rules.qualified_kind(served.info),
                    name,
                    [
                        "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
                    ],
                )
            if rv != str(kv.mod_revision):
                raise _conflict(served, name)
            return self._commit(served, kv, content, subresource, field_validation, dry_run)

        resource = served.info.plural + (f"/{subresource}" if subresource else "")
        return await self._call("update", resource, update_in_etcd, reads=1, writes=1)

    async def patch(
        self,
        served: Served,
        namespace: str,
        name: str,
        apply_patch: Callable[[JSON], Any],
        subresource: str = "",
        field_validation: str = "",
        dry_run: bool = False,
    ) -> Written:
        """``apply_patch`` turns the current object's JSON into the wanted one (a merge or JSON
        patch); read, patch and write are one step, so only a patch that states a
        resourceVersion can conflict."""

        def patch_in_etcd() -> Written:
            kv = self._current(served, namespace, name)
            current = copy.deepcopy(_decode(kv.value, kv.mod_revision).content)
            current["apiVersion"] = f"{served.info.group}/{served.version.name}"
            patched = apply_patch(current)
            if not isinstance(patched, dict):
                raise errors.BadRequest("the patch must leave the object a JSON object")
            meta = patched.get("metadata")
            meta = meta if isinstance(meta, dict) else {}
            rv = str(meta.get("resourceVersion", "") or "")
            if rv and rv != str(kv.mod_revision):
                raise _conflict(served, name)
            content = rules.check_envelope(served.info, served.version.name, patched, namespace)
            return self._commit(served, kv, content, subresource, field_validation, dry_run)

        resource = served.info.plural + (f"/{subresource}" if subresource else "")
        return await self._call("patch", resource, patch_in_etcd, reads=1, writes=1)

    def _current(self, served: Served, namespace: str, name: str) -> KeyValue:
        kv = self.etcd.get(self._key(served.info, namespace, name))
        if kv is None:
            raise _not_found(served, name)
        return kv

    def _commit(
        self,
        served: Served,
        kv: KeyValue,
        content: JSON,
        subresource: str,
        fv: str,
        dry_run: bool = False,
    ) -> Written:
        old: Unstructured = kv.value
        merged = rules.merged_update(old.content, content, served.has_status, subresource)
        warnings: list[str] = []
        if served.is_crd:
            merged = self._checked_crd(merged, old.content)
        else:
            merged, warnings = rules.checked_content(served.info, served.version, merged, fv)
        merged["apiVersion"] = self._storage_api_version(served)
        if rules.generation_changed(served.has_status, old.content, merged):
            meta = merged["metadata"]
            meta["generation"] = int(meta.get("generation", 0) or 0) + 1
        new = _stored(attrs.evolve(old, content=merged))
        if new == old or dry_run:
            return _decode(old if new == old else new, kv.mod_revision), warnings
        finished = new.deleting is not None and not new.metadata.finalizers
        op: Put | Delete = Delete(kv.key) if finished else Put(kv.key, new)
        result = self.etcd.txn([Compare(kv.key, "mod", "=", kv.mod_revision)], [op])
        if not result.succeeded:
            raise _conflict(served, new.metadata.name)
        if finished:
            self._after_removed(served, new)
        elif served.is_crd and rules.is_established(merged):
            self._serve(merged)
        return _decode(new, result.revision), warnings

    async def apply(self, obj: Unstructured) -> tuple[Unstructured, str]:
        """``kubectl apply`` of a manifest: create it, or give the existing object the
        manifest's labels, annotations and content; and whether it was created or configured."""
        served = self.by_kind(obj.api_version, obj.kind)
        if served is None:
            raise errors.NotFound(
                f'no matches for kind "{obj.kind}" in version "{obj.api_version}"'
            )
        namespace, name = obj.metadata.namespace, obj.metadata.name
        try:
            created, _ = await self.create(served, obj.content, namespace)
            return created, "created"
        except errors.AlreadyExists:
            pass
        for _ in range(5):
            current = await self.get(served, namespace, name)
            meta = dict(current.content["metadata"])
            wanted = obj.content.get("metadata") or {}
            for key in ("labels", "annotations", "finalizers"):
                if key in wanted:
                    meta[key] = wanted[key]
            try:
                updated, _ = await self.update(
                    served, namespace, name, {**obj.content, "metadata": meta}
                )
                return updated, "configured"
            except errors.Conflict:
                continue  # someone wrote it meanwhile: read again, as kubectl retries
        raise _conflict(served, name)

    # ------------------------------------------------------------------ delete
    async def delete(
        self,
        served: Served,
        namespace: str,
        name: str,
        uid: str | None = None,
        dry_run: bool = False,
        resource_version: str | None = None,
        propagation_policy: str | None = None,
    ) -> tuple[Unstructured, bool]:
        """Delete; returns the object and whether it is gone (False: finalizers pending).

        As the generic store's Delete: the uid and resourceVersion preconditions (409), then
        the finalizers the ``propagationPolicy`` leaves (``orphan``, ``foregroundDeletion``:
        :func:`~kubechaos.api.propagation.deletion_finalizers`; no policy keeps the object's
        own, background being the custom kinds' default); an object with finalizers is only
        marked, ``deletionTimestamp`` now and ``deletionGracePeriodSeconds`` 0."""

        def delete_in_etcd() -> tuple[Unstructured, bool]:
            kv = self._current(served, namespace, name)
            obj: Unstructured = kv.value
            preconditions.check(obj, kv.mod_revision, uid, resource_version, name)  # type: ignore[arg-type]
            if served.is_crd:
                if dry_run:
                    return _decode(obj, kv.mod_revision), False
                return self._delete_definition(kv)
            finalizers = deletion_finalizers(obj.metadata.finalizers, propagation_policy)
            if dry_run:
                return _decode(obj, kv.mod_revision), not finalizers
            return self._delete_one(served, kv, finalizers)

        return await self._call("delete", served.info.plural, delete_in_etcd, reads=1, writes=1)

    def _delete_one(
        self, served: Served, kv: KeyValue, finalizers: tuple[str, ...] | None = None
    ) -> tuple[Unstructured, bool]:
        obj: Unstructured = kv.value
        finalizers = obj.metadata.finalizers if finalizers is None else finalizers
        if not finalizers:
            result = self.etcd.txn([Compare(kv.key, "mod", "=", kv.mod_revision)], [Delete(kv.key)])
            if not result.succeeded:  # pragma: no cover - nothing runs between read and write
                raise _conflict(served, obj.metadata.name)
            self._after_removed(served, obj)
            return _decode(obj, result.revision), True
        if obj.deleting is not None and finalizers == obj.metadata.finalizers:
            return _decode(obj, kv.mod_revision), False
        if obj.deleting is not None:  # a second delete changing the policy: its finalizers
            marked = obj.with_meta(finalizers=list(finalizers))
        else:
            marked = attrs.evolve(obj, deleting=now()).with_meta(
                deletionGracePeriodSeconds=0,
                generation=obj.metadata.generation + 1,
                finalizers=list(finalizers),
            )
        result = self.etcd.txn(
            [Compare(kv.key, "mod", "=", kv.mod_revision)], [Put(kv.key, marked)]
        )
        if not result.succeeded:  # pragma: no cover
            raise _conflict(served, obj.metadata.name)
        return _decode(marked, result.revision), False

    def _after_removed(self, served: Served, obj: Unstructured) -> None:
        """An object is gone: a definition (its last finalizer removed) is no longer served."""
        if served.is_crd:
            self._unserve(obj.metadata.name)


__all__ = ["CustomResources", "Written"]
