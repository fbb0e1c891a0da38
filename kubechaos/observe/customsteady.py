"""Custom objects in steady state: an informer per established CustomResourceDefinition.

:class:`CustomWatch` is an API client like a status poller (``kubectl wait``, Flux's kstatus
checks): it watches CustomResourceDefinitions, and for each one that is ``Established`` starts an
informer on its kind (its storage version), so custom objects an operator's CRD brings at run
time count from the moment the definition is served; the informer is stopped when the
definition goes (or stops being established) and its objects no longer count. Every added,
updated or deleted custom object goes to ``listeners`` (the run's
:class:`~kubechaos.observe.steady.SteadyStateMonitor`), which judges it by kstatus
(:mod:`kubechaos.observe.kstatus`). A run whose cluster never gets a definition pays one list
and one idle watch on the definitions.

Reads go through the API server's request path (``api.custom``: its latency, request faults,
statistics, under the resource's plural), as a client's would, with the informer's list,
watch-from-revision and relist-on-410 (:class:`~kubechaos.client.informer.Informer`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import trio

from kubechaos.api import errors
from kubechaos.api.crd import GROUP, PLURAL, CRDInfo, crd_info
from kubechaos.api.objects.custom import Unstructured
from kubechaos.api.selectors import FieldSelector, LabelSelector
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.observe import kstatus
from kubechaos.observe.convergence import Listener
from kubechaos.sim.clock import now

COMPONENT = "observer"
CRD_RESOURCE = f"{GROUP}/v1/{PLURAL}"


def established(crd: Unstructured) -> bool:
    """The definition's ``Established`` condition is True (it is served)."""
    status = crd.content.get("status") or {}
    return any(
        isinstance(c, dict) and c.get("type") == "Established" and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )


def resource_of(info: CRDInfo) -> str:
    """``group/version/plural`` of a definition's storage version (what the informer reads)."""
    version = next((v.name for v in info.versions if v.storage), info.versions[0].name)
    return f"{info.group}/{version}/{info.plural}"


class CustomClient:
    """What an :class:`Informer` calls (``list``, ``watch``) for ``group/version/plural``
    resources, served by the API server's custom resource storage."""

    def __init__(self, api: Any) -> None:
        self.api = api

    def _served(self, resource: str) -> Any:
        group, version, plural = resource.split("/")
        served = self.api.custom.resolve(group, version, plural)
        if served is None:
            raise errors.NotFound(f"the server could not find the requested resource ({resource})")
        return served

    async def list(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
    ) -> tuple[list[Any], int]:
        result: tuple[list[Any], int] = await self.api.custom.list(
            self._served(resource), namespace, label_selector
        )
        return result

    async def watch(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
        resource_version: int = 0,
        client: str = "",
    ) -> Any:
        return await self.api.custom.watch(
            self._served(resource), namespace, label_selector, resource_version, client,
            self.api.watch_hooks,
        )  # fmt: skip


class CustomHistory:
    """Each judged custom object's kstatus over the run, for the report: ``(kind, apiVersion,
    namespace, name)`` -> ``[time, status, message]`` at every change (status ``Deleted`` when
    it went). Objects whose status follows no convention are not judged, so not kept."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str, str], list[tuple[float, str, str]]] = {}

    @staticmethod
    def _key(obj: Unstructured) -> tuple[str, str, str, str]:
        meta = obj.metadata
        return (obj.kind, obj.api_version, meta.namespace, meta.name)

    def _note(self, key: tuple[str, str, str, str], status: str, message: str) -> None:
        history = self.objects.setdefault(key, [])
        if not history or history[-1][1:] != (status, message):
            history.append((now(), status, message))

    def changed(self, obj: Any) -> None:
        key = self._key(obj)
        if not kstatus.follows_convention(obj.content):
            if key in self.objects:
                self._note(key, kstatus.CURRENT, "status follows no convention: not judged")
            return
        self._note(key, *kstatus.compute(obj.content, obj.deleting is not None))

    def deleted(self, obj: Any) -> None:
        key = self._key(obj)
        if key in self.objects:
            self._note(key, "Deleted", "")


class CustomWatch:
    """Watches definitions, and the objects of each established one (see module)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.client = CustomClient(ctx.api)
        self._api: Any = cast(
            Any, self.client
        )  # an Informer's client: list and watch are all it calls
        self.history = CustomHistory()
        self.listeners: list[Listener] = [self.history]
        # kinds (``Kind.group``, as resolution.kind_of names them) whose informer a
        # ``kind`` listener wants told of, besides the steady-state listeners: see watch_kind
        self._kind_listeners: dict[tuple[str, str], list[Listener]] = {}
        self.kinds: dict[str, CRDInfo] = {}  # served now, by definition name
        self.ever: set[tuple[str, str]] = set()  # (group, kind) of every kind served in the run
        self.informers: dict[str, tuple[Informer[Any], trio.CancelScope]] = {}
        self._nursery: trio.Nursery | None = None
        self.definitions: Informer[Any] = Informer(
            self._api,
            CRD_RESOURCE,
            component=COMPONENT,
            events=ctx.events,
        )
        self.definitions.add_handler(
            Handler(
                on_add=self._definition,
                on_update=lambda _old, new: self._definition(new),
                on_delete=lambda crd: self._stop(crd.metadata.name),
            )
        )

    def watch_kind(self, group: str, kind: str, listener: Listener) -> None:
        """Tell ``listener`` too of every object of ``kind`` in ``group`` (any group when
        empty: a condition SLO on a custom kind), from when its definition is established."""
        self._kind_listeners.setdefault((group, kind), []).append(listener)

    def ever_served(self, group: str, kind: str) -> bool:
        """A definition of ``kind`` in ``group`` (any group when empty) was served in the run."""
        return any(k == kind and group in ("", g) for g, k in self.ever)

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self.definitions.run)

    def _definition(self, crd: Unstructured) -> None:
        name = crd.metadata.name
        if not established(crd) or crd.deleting is not None:
            self._stop(name)
            return
        info = crd_info(crd.content)
        if name in self.kinds and resource_of(self.kinds[name]) == resource_of(info):
            self.kinds[name] = info
            return
        self._stop(name)
        self.kinds[name] = info
        self._start(name)

    def _start(self, name: str) -> None:
        if self._nursery is None or name in self.informers:
            return
        info = self.kinds[name]
        self.ever.add((info.group, info.kind))
        informer: Informer[Any] = Informer(
            self._api,
            resource_of(info),
            component=COMPONENT,
            events=self.ctx.events,
        )
        tell = self._teller(info)
        informer.add_handler(
            Handler(
                on_add=lambda obj: tell(obj, False),
                on_update=lambda _old, new: tell(new, False),
                on_delete=lambda obj: tell(obj, True),
            )
        )
        scope = trio.CancelScope()
        self.informers[name] = (informer, scope)
        self._nursery.start_soon(self._run_informer, informer, scope)

    def _teller(self, info: CRDInfo) -> Callable[[Any, bool], None]:
        listeners = [
            *self.listeners,
            *self._kind_listeners.get((info.group, info.kind), ()),
            *self._kind_listeners.get(("", info.kind), ()),  # named without a group
        ]

        def tell(obj: Any, deleted: bool) -> None:
            for listener in listeners:
                if deleted:
                    listener.deleted(obj)
                else:
                    listener.changed(obj)

        return tell

    @staticmethod
    async def _run_informer(informer: Informer[Any], scope: trio.CancelScope) -> None:
        with scope:
            await informer.run()

    def _stop(self, name: str) -> None:
        """The definition went (or is no longer established): its objects no longer count."""
        info = self.kinds.pop(name, None)
        running = self.informers.pop(name, None)
        if running is None or info is None:
            return
        informer, scope = running
        scope.cancel()
        tell = self._teller(info)
        for obj in informer.list():
            tell(obj, True)


__all__ = [
    "CRD_RESOURCE",
    "CustomClient",
    "CustomHistory",
    "CustomWatch",
    "established",
    "resource_of",
]
