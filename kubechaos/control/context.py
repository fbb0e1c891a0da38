"""What every component is given: the API server to talk through, settings, seed, event log."""

from __future__ import annotations

import random
from typing import Any

import attrs

from kubechaos.api.objects import Namespace, ObjectMeta
from kubechaos.control.apiserver import APIServer
from kubechaos.control.etcd import Etcd
from kubechaos.control.informer import Informer, InformerFactory
from kubechaos.defaults import NODE_LEASE_NAMESPACE, Settings
from kubechaos.sim.events import EventLog
from kubechaos.sim.rand import Rng

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", NODE_LEASE_NAMESPACE)


@attrs.frozen
class Context:
    api: APIServer
    settings: Settings
    rng: Rng
    events: EventLog
    informers: InformerFactory | None = None  # the process's shared informers, if it has some

    def stream(self, name: str) -> random.Random:
        return self.rng.stream(name)

    def informer(
        self, resource: str, component: str, namespace: str | None = None
    ) -> Informer[Any]:
        """An informer on ``resource``: the process's shared one if it shares, else a new one."""
        if self.informers is not None:
            return self.informers.informer(resource, namespace)
        return Informer(
            self.api, resource, component=component, events=self.events, namespace=namespace
        )

    def sharing_informers(self, process: str) -> Context:
        """This context for one process whose components share informers."""
        return attrs.evolve(self, informers=InformerFactory(self.api, self.events, process))


def new_control_plane(seed: int = 0, settings: Settings | None = None) -> tuple[Etcd, Context]:
    """A fresh etcd and API server (no tasks started; call :func:`bootstrap` inside a run)."""
    settings = settings or Settings()
    rng = Rng(seed)
    events = EventLog()
    etcd = Etcd(settings, rng.stream("etcd"))
    api = APIServer(etcd, settings, rng, events)
    return etcd, Context(api, settings, rng, events)


async def bootstrap(ctx: Context) -> None:
    """Create the namespaces every cluster has."""
    for name in SYSTEM_NAMESPACES:
        await ctx.api.create(Namespace(ObjectMeta(name=name)))
