"""The API as a client sees it (client-go's typed interface, compressed to one generic client).

Components hold an :class:`APIClient`, never the API server itself: what they may do is read,
watch and write objects through the verbs below, exactly what a process outside the control
plane could do over HTTP. The model's :class:`~kubechaos.control.apiserver.APIServer` is the one
implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from kubechaos.api.objects import APIObject, Pod
from kubechaos.api.selectors import FieldSelector, LabelSelector
from kubechaos.api.watch import WatchStream

T = TypeVar("T", bound=APIObject)


class APIClient(Protocol):
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

    async def create(self, obj: T) -> T: ...

    async def update(self, obj: T) -> T: ...

    async def update_status(self, obj: T) -> T: ...

    async def patch(
        self, resource: str, namespace: str, name: str, mutate: Callable[[Any], Any]
    ) -> Any: ...

    async def bind(self, namespace: str, name: str, node_name: str) -> Pod: ...

    async def evict(
        self, namespace: str, name: str, grace_period_seconds: int | None = None
    ) -> Pod: ...

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
