"""Custom objects as a component sees them: the verbs the garbage collector needs (get, list,
watch, patch, delete) over resources named ``<plural>.<group>``, as kubectl names them
(``widgets.example.com``; the definitions themselves are
``customresourcedefinitions.apiextensions.k8s.io``).

Upstream a controller reaches custom objects with the dynamic client
(staging/src/k8s.io/client-go/dynamic) over the same API server; here
:class:`~kubechaos.control.registry.customclient.CustomClient` is the one implementation, and
its requests take the API server's request path (latency, request faults, statistics).
Objects are :class:`~kubechaos.api.objects.custom.Unstructured`; a patch's ``mutate`` turns one
into the wanted one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from kubechaos.api.selectors import FieldSelector, LabelSelector
from kubechaos.api.watch import WatchStream

CRD_RESOURCE = "customresourcedefinitions.apiextensions.k8s.io"


class CustomAPI(Protocol):
    async def get(
        self, resource: str, namespace: str, name: str, resource_version: str = ""
    ) -> Any: ...

    async def list(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
    ) -> tuple[list[Any], int]: ...

    async def watch(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
        resource_version: int = 0,
        client: str = "",
    ) -> WatchStream: ...

    async def patch(
        self, resource: str, namespace: str, name: str, mutate: Callable[[Any], Any]
    ) -> Any: ...

    async def delete(
        self,
        resource: str,
        namespace: str,
        name: str,
        grace_period_seconds: int | None = None,
        uid: str | None = None,
        resource_version: str | None = None,
        dry_run: bool = False,
        propagation_policy: str | None = None,
    ) -> Any: ...


__all__ = ["CRD_RESOURCE", "CustomAPI"]
