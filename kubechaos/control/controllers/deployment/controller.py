"""The Deployment controller itself: its informers, indexes, event handlers and syncDeployment.

A model of pkg/controller/deployment/deployment_controller.go. The handlers decide which
Deployment an event concerns (the owner of a ReplicaSet, the Deployments whose selector could
adopt an orphan, the Deployment of a Recreate rollout whose old pod went away) and queue its key;
:meth:`DeploymentController.sync` claims the Deployment's ReplicaSets and picks what one pass does:
status only, scale, or a rollout by its strategy. The work itself is in the sibling modules.
"""

from __future__ import annotations

import trio

from kubechaos.api.objects import Deployment, OwnerReference, Pod, ReplicaSet, key_of
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.controller import Controller
from kubechaos.control.controllers.deployment.recreate import rollout_recreate
from kubechaos.control.controllers.deployment.rolling import rollout_rolling
from kubechaos.control.controllers.deployment.sync import DeploymentSync
from kubechaos.control.controllers.deployment.util import TemplateMatches
from kubechaos.control.controllers.ownership import (
    OwnedIndex,
    SelectorIndex,
    claim,
    recheck_deletion,
)


class DeploymentController(Controller):
    name = "deployment-controller"
    queue_name = "deployment"  # upstream's workqueue name

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.workers = ctx.settings.concurrent_deployment_syncs
        self.deployments: Informer[Deployment] = ctx.informer("deployments", self.name)
        self.replicasets: Informer[ReplicaSet] = ctx.informer("replicasets", self.name)
        self.pods: Informer[Pod] = ctx.informer("pods", self.name)
        self._selectors = SelectorIndex()
        self._rs_by_owner: OwnedIndex[ReplicaSet] = OwnedIndex()
        self._pods_by_owner: OwnedIndex[Pod] = OwnedIndex()
        self.template_matches = TemplateMatches()  # which ReplicaSet is a Deployment's new one
        self.deployments.add_handler(Handler(self._on_d_add, self._on_d_update, self._on_d_delete))
        self.replicasets.add_handler(
            Handler(self._on_rs_add, self._on_rs_update, self._on_rs_delete)
        )
        self.pods.add_handler(
            Handler(self._pods_by_owner.put, self._on_pod_update, self._on_pod_delete)
        )

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.deployments.run)
            nursery.start_soon(self.replicasets.run)
            nursery.start_soon(self.pods.run)
            await super().run()

    async def wait_synced(self) -> None:
        await self.deployments.synced.wait()
        await self.replicasets.synced.wait()
        await self.pods.synced.wait()

    def pods_of(self, rs: ReplicaSet) -> list[Pod]:
        return self._pods_by_owner.owned_by(rs.metadata.uid)

    # ------------------------------------------------------------------ event handlers
    def _on_d_add(self, d: Deployment) -> None:
        self._selectors.put(key_of(d), d.metadata.namespace, d.spec.selector)
        self.enqueue(key_of(d))

    def _on_d_update(self, old: Deployment, d: Deployment) -> None:
        self._on_d_add(d)

    def _on_d_delete(self, d: Deployment) -> None:
        self._selectors.discard(key_of(d))
        self.enqueue(key_of(d))

    def _owner_of(self, namespace: str, ref: OwnerReference | None) -> Deployment | None:
        if ref is None or ref.kind != Deployment.KIND:
            return None
        d = self.deployments.get(f"{namespace}/{ref.name}")
        return d if d is not None and d.metadata.uid == ref.uid else None

    def _enqueue_owner(self, namespace: str, ref: OwnerReference | None) -> None:
        d = self._owner_of(namespace, ref)
        if d is not None:
            self.enqueue(key_of(d))

    def _enqueue_adopters(self, rs: ReplicaSet) -> None:
        for key in self._selectors.matching(rs.metadata.namespace, rs.metadata.labels):
            self.enqueue(key)

    def _on_rs_add(self, rs: ReplicaSet) -> None:
        self._rs_by_owner.put(rs)
        ref = rs.metadata.controller_ref()
        if ref is None and rs.metadata.deletion_timestamp is None:
            self._enqueue_adopters(rs)
        else:
            self._enqueue_owner(rs.metadata.namespace, ref)

    def _on_rs_update(self, old: ReplicaSet, rs: ReplicaSet) -> None:
        if old.metadata.uid != rs.metadata.uid:  # re-created behind a relist
            self._on_rs_delete(old)
            self._on_rs_add(rs)
            return
        self._rs_by_owner.put(rs)
        if old.metadata.resource_version == rs.metadata.resource_version:
            return
        meta, old_meta = rs.metadata, old.metadata
        ref = meta.controller_ref()
        # (the API server keeps the owner references tuple through writes that leave it alone:
        # the ReplicaSet controller's status writes, nearly every update here)
        same_refs = meta.owner_references is old_meta.owner_references
        old_ref = ref if same_refs else old_meta.controller_ref()
        owner_changed = not same_refs and ref != old_ref
        if owner_changed and old_ref is not None:
            self._enqueue_owner(old_meta.namespace, old_ref)
        if ref is not None:
            self._enqueue_owner(meta.namespace, ref)
        elif owner_changed or old_meta.labels != meta.labels:
            self._enqueue_adopters(rs)

    def _on_rs_delete(self, rs: ReplicaSet) -> None:
        self._rs_by_owner.discard(rs)
        self.template_matches.forget(rs.metadata.uid)
        self._enqueue_owner(rs.metadata.namespace, rs.metadata.controller_ref())

    def _on_pod_update(self, old: Pod, pod: Pod) -> None:
        if old.metadata.uid != pod.metadata.uid:  # re-created behind a relist
            self._on_pod_delete(old)
        self._pods_by_owner.put(pod)

    def _on_pod_delete(self, pod: Pod) -> None:
        """A Recreate rollout waits for old pods to go; their deletion is its cue to go on."""
        self._pods_by_owner.discard(pod)
        ref = pod.metadata.controller_ref()
        if ref is None or ref.kind != ReplicaSet.KIND:
            return
        rs = self.replicasets.get(f"{pod.metadata.namespace}/{ref.name}")
        if rs is None or rs.metadata.uid != ref.uid:
            return
        d = self._owner_of(rs.metadata.namespace, rs.metadata.controller_ref())
        if d is not None and d.spec.strategy.type == "Recreate":
            self.enqueue(key_of(d))

    # ------------------------------------------------------------------ sync
    async def sync(self, key: str) -> None:
        """syncDeployment: claim the ReplicaSets, then status only, scale, or roll out."""
        d = self.deployments.get(key)
        if d is None:
            return  # deleted; the garbage collector removes what it owned
        # its own ReplicaSets and the orphans its selector matches (ClaimReplicaSets adopts
        # those, ignores the other orphans): never every orphan of the namespace
        candidates = [
            *self._rs_by_owner.owned_by(d.metadata.uid),
            *self._rs_by_owner.matching_orphans(d.metadata.namespace, d.spec.selector),
        ]
        rs_list = await claim(
            self.api, "replicasets", d, candidates, recheck_deletion(self.api, "deployments", d)
        )
        sync = DeploymentSync(self, d, rs_list)
        if d.metadata.deletion_timestamp is not None:
            await sync.sync_status_only()
            return
        await sync.check_paused_conditions()
        if d.spec.paused or await sync.is_scaling_event():
            await sync.sync_scale()
        elif d.spec.strategy.type == "Recreate":
            await rollout_recreate(sync)
        else:
            await rollout_rolling(sync)
