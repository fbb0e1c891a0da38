"""The node's Lease: ``kube-node-lease/<node>``, renewed as the kubelet's cheap heartbeat.

Mirrors upstream's ``pkg/kubelet/nodelease`` (the kubelet's configuration of
``component-helpers/apimachinery/lease``'s controller): create the Lease owned by the Node,
then renew its ``renewTime`` with a few quick retries per attempt. The node lifecycle controller
reads it to tell a live node from a dead one. When to renew is the heartbeat's business
(:mod:`kubechaos.node.kubelet.node_status`); this module is only how.
"""

from __future__ import annotations

from kubechaos.api import errors
from kubechaos.api.objects import Lease, LeaseSpec, Node, ObjectMeta, OwnerReference
from kubechaos.client.interface import APIClient
from kubechaos.defaults import NODE_LEASE_NAMESPACE, NODE_LEASE_UPDATE_RETRIES, Settings
from kubechaos.sim.clock import now


class NodeLease:
    """Creates and renews one node's Lease."""

    def __init__(self, api: APIClient, settings: Settings, node_name: str) -> None:
        self.api = api
        self.settings = settings
        self.name = node_name
        self.lease: Lease | None = None  # as last written; None: read or create it first

    async def renew(self, node: Node | None) -> bool:
        """Create or renew ``kube-node-lease/<node>``; a few quick retries, as upstream.

        ``node`` is the registered Node, if any: a created Lease is owned by it.
        """
        for _ in range(NODE_LEASE_UPDATE_RETRIES):
            t = now()
            try:
                if self.lease is None:
                    self.lease = await self._ensure(t, node)
                    return True
                self.lease = await self.api.update(self._renewed(self.lease, t))
                return True
            except (errors.Conflict, errors.NotFound):
                self.lease = None
            except errors.APIError:
                # upstream retryUpdateLease retries at once on any error, not only a Conflict
                continue
        return False

    async def _ensure(self, t: float, node: Node | None) -> Lease:
        try:
            existing: Lease = await self.api.get("leases", NODE_LEASE_NAMESPACE, self.name)
        except errors.NotFound:
            owner: tuple[OwnerReference, ...] = ()
            if node is not None:
                owner = (OwnerReference("Node", self.name, node.metadata.uid, False),)
            return await self.api.create(
                Lease(
                    ObjectMeta(
                        name=self.name, namespace=NODE_LEASE_NAMESPACE, owner_references=owner
                    ),
                    LeaseSpec(self.name, self.settings.node_lease_duration_seconds, t, t),
                )
            )
        return await self.api.update(self._renewed(existing, t))

    def _renewed(self, lease: Lease, t: float) -> Lease:
        """``lease`` held by this node, renewed at ``t``: its metadata as read or last written
        (the update's resourceVersion precondition), the spec's other fields kept.

        Built with the two constructors rather than two ``attrs.evolve`` (every node, every
        10 s): the same objects, field for field, as evolving ``lease`` and its spec would give.
        """
        spec = lease.spec
        return Lease(
            lease.metadata,
            LeaseSpec(
                self.name,
                self.settings.node_lease_duration_seconds,
                spec.acquire_time,
                t,
                spec.lease_transitions,
            ),
        )
