"""Custom objects in steady state: a feed per established CustomResourceDefinition.

:class:`CustomWatch` follows CustomResourceDefinitions, and for each one that is
``Established`` follows its objects, so custom objects an operator's CRD brings at run time
count from the moment the definition is served; it stops following them when the definition
goes (or stops being established), and they no longer count. Every created, updated or deleted
custom object goes to ``listeners`` (the run's
:class:`~kubechaos.observe.steady.SteadyStateMonitor`), which judges it by kstatus
(:mod:`kubechaos.observe.kstatus`), and to the condition SLOs that name its kind.

It follows them by :class:`~kubechaos.observe.feed.Feed` (as the API server's watch caches are
fed: no task, no request), so watching for custom objects never changes the run, and a run whose
cluster never gets a definition pays nothing but the subscription.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubechaos.api.crd import GROUP, PLURAL, CRDInfo, crd_info
from kubechaos.api.objects.custom import Unstructured
from kubechaos.client.context import Context
from kubechaos.observe import kstatus
from kubechaos.observe.convergence import Listener
from kubechaos.observe.feed import Feed
from kubechaos.sim.clock import now

CRD_PREFIX = f"/registry/{GROUP}/{PLURAL}/"


def established(crd: Unstructured) -> bool:
    """The definition's ``Established`` condition is True (it is served)."""
    status = crd.content.get("status") or {}
    return any(
        isinstance(c, dict) and c.get("type") == "Established" and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )


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
        self.history = CustomHistory()
        self.listeners: list[Listener] = [self.history]
        # kinds whose objects a ``kind`` listener (a condition SLO) wants told of, besides the
        # steady-state listeners: see watch_kind
        self._kind_listeners: dict[tuple[str, str], list[Listener]] = {}
        self.kinds: dict[str, CRDInfo] = {}  # served now, by definition name
        self.ever: set[tuple[str, str]] = set()  # (group, kind) of every kind served in the run
        self.feeds: dict[str, Feed] = {}  # by definition name
        self.definitions: Feed | None = None

    def watch_kind(self, group: str, kind: str, listener: Listener) -> None:
        """Tell ``listener`` too of every object of ``kind`` in ``group`` (any group when
        empty: a condition SLO on a custom kind), from when its definition is established."""
        self._kind_listeners.setdefault((group, kind), []).append(listener)

    def ever_served(self, group: str, kind: str) -> bool:
        """A definition of ``kind`` in ``group`` (any group when empty) was served in the run."""
        return any(k == kind and group in ("", g) for g, k in self.ever)

    def start(self) -> None:
        """Subscribe to the definitions (once the cluster is up); no task is started."""
        if self.definitions is None:
            self.definitions = Feed(
                self.ctx.api, CRD_PREFIX, self._definition,
                lambda crd: self._stop(crd.metadata.name),
            )  # fmt: skip

    def _definition(self, crd: Unstructured) -> None:
        name = crd.metadata.name
        if not established(crd) or crd.deleting is not None:
            self._stop(name)
            return
        info = crd_info(crd.content)
        if name in self.kinds and prefix_of(self.kinds[name]) == prefix_of(info):
            self.kinds[name] = info
            return
        self._stop(name)
        self.kinds[name] = info
        self.ever.add((info.group, info.kind))
        tell = self._teller(info)
        self.feeds[name] = Feed(
            self.ctx.api, prefix_of(info), lambda obj: tell(obj, False), lambda obj: tell(obj, True)
        )

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

    def _stop(self, name: str) -> None:
        """The definition went (or is no longer established): its objects no longer count."""
        info = self.kinds.pop(name, None)
        feed = self.feeds.pop(name, None)
        if feed is None or info is None:
            return
        tell = self._teller(info)
        for obj in feed.stop():
            tell(obj, True)


def prefix_of(info: CRDInfo) -> str:
    """Where a definition's objects live in etcd (``/registry/<group>/<plural>/``)."""
    return f"/registry/{info.group}/{info.plural}/"


__all__ = ["CRD_PREFIX", "CustomHistory", "CustomWatch", "established", "prefix_of"]
