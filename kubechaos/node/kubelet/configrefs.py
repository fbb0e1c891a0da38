"""The kubelet's view of the ConfigMaps and Secrets its pods reference.

Upstream the kubelet reads them through the API server with a watch-based manager
(``pkg/kubelet/configmap/configmap_manager.go`` and ``pkg/kubelet/secret/secret_manager.go``,
``ResourceChangeDetectionStrategy: Watch``): an object is watched once a pod references it.
Here two informers (all namespaces) are started the first time a pod of the node has a
reference, so a node whose pods reference nothing lists and watches nothing.

A container's references are resolved before it is created, as upstream's ``startContainer`` →
``generateContainerConfig`` → ``makeEnvironmentVariables`` (``pkg/kubelet/kubelet_pods.go``)
does: a missing object, or a missing key of a non-optional reference, is an error the container
waits in as ``CreateContainerConfigError``. A pod's configMap and secret volumes are resolved
before its sandbox, as the volume manager's ``WaitForAttachAndMount`` does
(``pkg/kubelet/volumemanager/volume_manager.go``; the configmap volume plugin's ``SetUpAt`` in
``pkg/volume/configmap/configmap.go`` fails with ``configmap "x" not found``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import trio

from kubechaos.api.objects import ConfigRef
from kubechaos.client.context import Context
from kubechaos.client.informer import Informer
from kubechaos.node.kubelet.config import COMPONENT

# pod_workers.go: a pod whose sync failed is synced again after the kubelet's backOffPeriod
# (kubelet.go ``backOffPeriod = time.Second * 10``; its jitter is left out to stay reproducible)
CONFIG_RETRY_SECONDS = 10.0

_RESOURCES = {"ConfigMap": "configmaps", "Secret": "secrets"}


class ConfigSource:
    """Looks references up in informer caches started on first need."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._informers: dict[str, Informer[Any]] = {}
        self._nursery: trio.Nursery | None = None
        self._waiting: list[Callable[[], None]] = []  # to call once the caches are synced
        self.poke: Callable[[], None] = lambda: None  # wakes the node loop (set by the kubelet)

    def bind(self, nursery: trio.Nursery) -> None:
        """The kubelet's nursery, where the informers run once they are needed."""
        self._nursery = nursery

    def _informer(self, kind: str) -> Informer[Any] | None:
        informer = self._informers.get(kind)
        if informer is None and self._nursery is not None:
            informer = Informer(
                self._ctx.api, _RESOURCES[kind], component=COMPONENT, events=self._ctx.events
            )
            self._informers[kind] = informer
            self._nursery.start_soon(informer.run)
            self._nursery.start_soon(self._call_when_synced, informer)
        return informer

    async def _call_when_synced(self, informer: Informer[Any]) -> None:
        await informer.synced.wait()
        waiting, self._waiting = self._waiting, []
        for call in waiting:
            call()

    def error(
        self, namespace: str, refs: Iterable[ConfigRef], retry: Callable[[], None]
    ) -> str | None:
        """Why ``refs`` cannot be resolved (upstream's message), "" while a cache is still being
        listed (``retry`` is called once it is), or None if they can."""
        for ref in refs:
            informer = self._informer(ref.kind)
            if informer is None:
                continue  # not running (unit tests without a kubelet): nothing to check
            if not informer.synced.is_set():
                self._waiting.append(retry)
                return ""
            obj = informer.get(f"{namespace}/{ref.name}")
            if obj is None:
                if ref.optional:
                    continue
                return f'{ref.kind.lower()} "{ref.name}" not found'
            if ref.key and not ref.optional:
                keys = set(obj.data) | set(getattr(obj, "binary_data", {}) or {})
                keys |= set(getattr(obj, "string_data", {}) or {})
                if ref.key not in keys:
                    return f"couldn't find key {ref.key} in {ref.kind} {namespace}/{ref.name}"
        return None
