"""Deleting a CustomResourceDefinition, as upstream's apiextensions-apiserver does it.

- The DELETE (staging/src/k8s.io/apiextensions-apiserver/pkg/registry/customresourcedefinition/
  etcd.go ``Delete``): the first one sets ``deletionTimestamp``, adds the
  ``customresourcecleanup.apiextensions.k8s.io`` finalizer and the condition ``Terminating``
  True, reason ``InstanceDeletionPending``; the definition stays, still served, and new objects
  of its kind are refused (405, "create not allowed while custom resource definition is
  terminating", customresource_handler.go).
- The CRD finalizer (pkg/controller/finalizer/crd_finalizer.go), a controller of the
  apiextensions-apiserver: ``Terminating`` reason ``InstanceDeletionInProgress``, one
  deletecollection per namespace holding objects (each object deleted as a DELETE would: its
  own finalizers hold it), then a poll every 5 s for up to a minute until no object is left
  (``InstanceDeletionCheck`` and a retry if some still are); then ``Terminating`` False,
  ``InstanceDeletionCompleted`` "removed all instances", the finalizer removed, and the
  definition is gone, its resource no longer served. A definition never established skips the
  instances (``NeverEstablished``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from kubechaos.api.objects.custom import Unstructured
from kubechaos.control.etcd import Compare, Delete, KeyValue, Put
from kubechaos.control.registry import customrules as rules
from kubechaos.control.registry.customresource import CRD_INFO, CustomStorage, Served, _decode
from kubechaos.sim import timers
from kubechaos.sim.clock import now

CLEANUP = "customresourcecleanup.apiextensions.k8s.io"
PENDING = (
    "InstanceDeletionPending",
    "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
)
IN_PROGRESS = ("InstanceDeletionInProgress", "CustomResource deletion is in progress")
RETRY_BASE, RETRY_MAX = 0.005, 1000.0  # workqueue.DefaultControllerRateLimiter's exponential part


class DefinitionDeletion(CustomStorage):
    """The definition side of :class:`~kubechaos.control.registry.customwrites.CustomResources`."""

    # where the CRD finalizer runs: the cluster's nursery (None: a bare control plane, whose
    # definitions stay Terminating as upstream's would without its controllers)
    spawn: Callable[..., Any] | None = None
    crd_poll: tuple[float, float] = (5.0, 60.0)  # interval, timeout (set from the settings)

    def _delete_one(
        self, served: Served, kv: KeyValue, finalizers: tuple[str, ...] | None = None
    ) -> tuple[Unstructured, bool]:
        raise NotImplementedError

    def _delete_definition(self, kv: KeyValue) -> tuple[Unstructured, bool]:
        crd: Unstructured = kv.value
        if crd.deleting is not None:  # the generic store: finalizers still pending
            return _decode(crd, kv.mod_revision), False
        finalizers = list(crd.metadata.finalizers)
        if CLEANUP not in finalizers:
            finalizers.append(CLEANUP)
        marked = attrs.evolve(crd, deleting=now()).with_meta(finalizers=finalizers)
        marked = marked.with_content(**rules.with_terminating(marked.content, now(), *PENDING))
        result = self.etcd.txn(
            [Compare(kv.key, "mod", "=", kv.mod_revision)], [Put(kv.key, marked)]
        )
        if self.spawn is not None:
            self.spawn(self._finalize_definition, crd.metadata.name)
        return _decode(marked, result.revision), False

    # ------------------------------------------------------------------ the CRD finalizer
    async def _finalize_definition(self, name: str) -> None:
        failures = 0
        while not await self._finalize_once(name):
            failures += 1
            await timers.sleep(min(RETRY_BASE * 2**failures, RETRY_MAX))

    async def _finalize_once(self, name: str) -> bool:
        """One sync of crd_finalizer.go; False: instances remain, to be retried."""
        plural = CRD_INFO.plural + "/status"
        found = await self._call("update", plural, lambda: self._terminating(name, IN_PROGRESS))
        if not found:
            return True  # gone, or no longer ours to finalize
        info = self.definitions.get(name)
        outcome = (False, "NeverEstablished", "resource was never established")
        if info is not None:
            served = Served(info, next(v for v in info.versions if v.storage))
            namespaces = await self._call("list", info.plural, lambda: self._namespaces(served))
            for namespace in namespaces:
                await self._call(
                    "deletecollection",
                    info.plural,
                    lambda ns=namespace: self._delete_all(served, ns),
                    reads=1,
                    writes=1,
                )
            interval, timeout = self.crd_poll
            deadline = now() + timeout
            while await self._call("list", info.plural, lambda: self._count(served)):
                if now() + interval > deadline:
                    check = (
                        "InstanceDeletionCheck",
                        "could not confirm zero CustomResources remaining: timed out waiting "
                        "for the condition",
                    )
                    await self._call("update", plural, lambda c=check: self._terminating(name, c))
                    return False
                await timers.sleep(interval)
            outcome = (False, "InstanceDeletionCompleted", "removed all instances")
        await self._call("update", plural, lambda: self._release(name, outcome), reads=1, writes=1)
        return True

    def _namespaces(self, served: Served) -> list[str]:
        items = self.etcd.store.range(self._prefix(served.info))
        return sorted({kv.value.metadata.namespace for kv in items})

    def _count(self, served: Served) -> int:
        return int(self.etcd.store.count(self._prefix(served.info)))

    def _delete_all(self, served: Served, namespace: str) -> None:
        for kv in self.etcd.store.range(self._prefix(served.info)):
            if kv.value.metadata.namespace == namespace:
                self._delete_one(served, kv)

    def _crd_kv(self, name: str) -> KeyValue | None:
        kv = self.etcd.get(self._key(CRD_INFO, "", name))
        if kv is None or kv.value.deleting is None or CLEANUP not in kv.value.metadata.finalizers:
            return None
        return kv

    def _terminating(self, name: str, why: tuple[str, str], status: bool = True) -> bool:
        kv = self._crd_kv(name)
        if kv is None:
            return False
        crd: Unstructured = kv.value
        updated = crd.with_content(**rules.with_terminating(crd.content, now(), *why, status))
        if updated != crd:
            self.etcd.txn([Compare(kv.key, "mod", "=", kv.mod_revision)], [Put(kv.key, updated)])
        return True

    def _release(self, name: str, outcome: tuple[bool, str, str]) -> None:
        """The last status update: the condition, and the finalizer removed (the definition
        goes once no finalizer is left)."""
        kv = self._crd_kv(name)
        if kv is None:
            return
        status, reason, message = outcome
        crd: Unstructured = kv.value
        crd = crd.with_content(
            **rules.with_terminating(crd.content, now(), reason, message, status)
        )
        kept = [f for f in crd.metadata.finalizers if f != CLEANUP]
        if kept:
            crd = crd.with_meta(finalizers=kept)
            self.etcd.txn([Compare(kv.key, "mod", "=", kv.mod_revision)], [Put(kv.key, crd)])
            return
        self.etcd.txn([Compare(kv.key, "mod", "=", kv.mod_revision)], [Delete(kv.key)])
        self._unserve(name)


__all__ = ["CLEANUP", "DefinitionDeletion"]
