"""Deployments: status is the controller's; a spec or an annotation change bumps
``metadata.generation``; a ``/status`` write keeps the spec and the labels and takes the rest of
the metadata (the controller's revision annotation) from the request.

Upstream's pkg/registry/apps/deployment/strategy.go: ``deploymentStrategy.PrepareForUpdate``
("annotation updates bump the generation because annotations are copied from deployments to
their replica sets") and ``deploymentStatusStrategy.PrepareForUpdate`` (spec and labels of the
stored object, everything else from the request), through which the deployment controller writes
``deployment.kubernetes.io/revision`` (pkg/controller/deployment/sync.go getNewReplicaSet).
"""

from __future__ import annotations

import attrs

from kubechaos.api import discovery
from kubechaos.api.objects import Deployment, DeploymentStatus
from kubechaos.api.objects.copying import replace
from kubechaos.api.validation import validate_deployment
from kubechaos.control.registry.statuswrite import status_write_meta
from kubechaos.control.registry.strategy import ResourceType, Strategy


class DeploymentStrategy(Strategy[Deployment]):
    def prepare_for_create(self, obj: Deployment) -> Deployment:
        return attrs.evolve(obj, status=DeploymentStatus())

    def validate(self, obj: Deployment) -> list[str]:
        return validate_deployment(obj)

    def update(self, old: Deployment, new: Deployment, version: str = "") -> Deployment:
        """The generic merge (a spec change bumps the generation), and an annotation change
        bumps it too: the controller copies annotations onto the new ReplicaSet, so a rollout
        watcher (``kubectl rollout status``) must wait for it to observe them. Labels alone do
        not bump (they are not copied)."""
        merged = super().update(old, new, version)
        bumped = old.metadata.generation + 1
        if merged.metadata.generation != bumped and (
            merged.metadata.annotations != old.metadata.annotations
        ):
            merged = replace(merged, metadata=replace(merged.metadata, generation=bumped))
        return merged

    def update_status(self, old: Deployment, new: Deployment, version: str = "") -> Deployment:
        """A model writer's ``/status`` write: ``new``'s status and the metadata the status
        strategy takes from a request (annotations, finalizers, owner references) over
        ``old``'s spec, labels and server-owned fields; the generation never moves. The
        controller writes the revision annotation this way (one write with its status)."""
        meta = status_write_meta(Deployment, old.metadata, new.metadata, version)
        return replace(old, metadata=meta, status=new.status)


DEPLOYMENTS = ResourceType(discovery.DEPLOYMENTS, Deployment, True, True, DeploymentStrategy)
