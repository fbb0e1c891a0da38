"""What every component is given: a client of the API server, settings, seed, event log."""

from __future__ import annotations

import random
from typing import Any

import attrs

from kubechaos.client.customapi import CustomAPI
from kubechaos.client.informer import Informer, InformerFactory
from kubechaos.client.interface import APIClient
from kubechaos.client.metrics import MetricsAPI
from kubechaos.defaults import Settings
from kubechaos.sim.events import EventLog
from kubechaos.sim.rand import Rng


@attrs.frozen
class Context:
    api: APIClient
    settings: Settings
    rng: Rng
    events: EventLog
    informers: InformerFactory | None = None  # the process's shared informers, if it has some
    # metrics.k8s.io as metrics-server serves it (see kubechaos.client.metrics)
    metrics: MetricsAPI = attrs.field(factory=MetricsAPI)
    custom: CustomAPI | None = None  # custom objects (the dynamic client), where served

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
