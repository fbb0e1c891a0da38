"""The node lifecycle controller (pkg/controller/nodelifecycle): watching nodes' health and
tainting the nodes that lose it.

Node health. A kubelet proves it is alive two ways: renewing its Lease in ``kube-node-lease``
(every 10 s) and posting node status (the Ready condition's ``lastHeartbeatTime``). The controller
never compares those timestamps with its clock (they are written by other machines); like
upstream's ``probeTimestamp`` it notes *when it observed* either of them change. Every
``node_monitor_period`` it looks at each node: if nothing was observed for longer than
``node_monitor_grace_period`` (``node_startup_grace_period`` for a node never seen Ready), it sets
the node's conditions to ``Unknown`` ("Kubelet stopped posting node status.") and, if the node was
Ready, marks the node's pods not ready so the Endpoints controller takes them out of Services.

NoSchedule taints (TaintNodesByCondition, upstream doNoScheduleTaintingPass, on every node
change): ``Unknown`` gives ``node.kubernetes.io/unreachable``, ``False`` gives
``node.kubernetes.io/not-ready``, ``True`` removes both; ``spec.unschedulable`` gives
``node.kubernetes.io/unschedulable``. Taints are written with a server-side patch, so they never
conflict with the kubelet's status writes.

NoExecute taints (taint-based eviction, upstream processTaintBaseEviction) are decided in the
monitor pass from the Ready condition the pass *observed* (before any Unknown it writes itself,
so a node that goes Unknown is queued one period later): a node not Ready is queued in its zone's
rate-limited tainting queue (:mod:`kubechaos.control.controllers.noexecutetainting`), a node
with the opposite NoExecute taint has it swapped at once, a Ready node loses both and leaves the
queue. After the pass come the zone states and their tainting rates, and master disruption mode
(:mod:`kubechaos.control.controllers.nodezones`).

Eviction of the pods on a NoExecute-tainted node is another controller's work
(:mod:`kubechaos.control.controllers.tainteviction`, as upstream since v1.29). It reads this
controller's caches, and this controller starts it once they have synced
(:meth:`NodeLifecycleController.start_once_synced`); the controller manager wires the two.
"""

from __future__ import annotations

import functools

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.objects import (
    NO_EXECUTE,
    NO_SCHEDULE,
    Lease,
    Node,
    NodeCondition,
    Pod,
    Taint,
    key_of,
)
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.controller import Controller
from kubechaos.control.controllers.nodezones import ZoneDisruption, zone_key, zone_label
from kubechaos.control.controllers.noexecutetainting import (
    NoExecuteTainting,
    has_no_execute,
    no_execute_key,
    with_no_execute,
)
from kubechaos.control.controllers.podsbynode import PodsByNode
from kubechaos.defaults import (
    LABEL_EXCLUDE_DISRUPTION,
    NODE_LEASE_NAMESPACE,
    NODE_STATUS_UPDATE_RETRY,
    NODE_UPDATE_WORKER_SIZE,
    TAINT_NOT_READY,
    TAINT_UNREACHABLE,
    TAINT_UNSCHEDULABLE,
)
from kubechaos.sim import timers
from kubechaos.sim.clock import now

# The conditions the controller sets Unknown (upstream leaves NetworkUnavailable alone: it is
# managed by the network plugin, not the kubelet).
CONDITIONS_SET_UNKNOWN = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
# NoSchedule taints this controller keeps in line with a node's conditions on every change (its
# NoExecute taints go through the zones' tainting queues); any other taint is left as it is.
MANAGED_TAINTS = frozenset(
    {
        (TAINT_NOT_READY, NO_SCHEDULE),
        (TAINT_UNREACHABLE, NO_SCHEDULE),
        (TAINT_UNSCHEDULABLE, NO_SCHEDULE),
    }
)


def ready_status(node: Node) -> str | None:
    cond = node.status.condition("Ready")
    return None if cond is None else cond.status


def wanted_taints(node: Node) -> list[tuple[str, str]]:
    """(key, effect) of the NoSchedule taints the node's conditions and spec call for."""
    wanted = []
    status = ready_status(node)
    if status == "False":
        wanted.append((TAINT_NOT_READY, NO_SCHEDULE))
    elif status == "Unknown":
        wanted.append((TAINT_UNREACHABLE, NO_SCHEDULE))
    if node.spec.unschedulable:
        wanted.append((TAINT_UNSCHEDULABLE, NO_SCHEDULE))
    return wanted


def desired_taints(node: Node, at: float) -> tuple[Taint, ...]:
    """The node's taints with the managed NoSchedule ones made to match its state.

    Taints that stay keep their ``time_added``; NoExecute ones are left as they are.
    """
    wanted = wanted_taints(node)
    kept = [
        t
        for t in node.spec.taints
        if (t.key, t.effect) not in MANAGED_TAINTS or (t.key, t.effect) in wanted
    ]
    have = {(t.key, t.effect) for t in kept}
    added = [
        Taint(key, effect, time_added=at if effect == NO_EXECUTE else None)
        for key, effect in wanted
        if (key, effect) not in have
    ]
    return (*kept, *added)


def taints_in_sync(node: Node) -> bool:
    if (
        not node.spec.taints
        and not node.spec.unschedulable
        and ready_status(node) in (None, "True")
    ):
        return True  # a healthy node: the monitor asks this of every node every period
    wanted = wanted_taints(node)
    managed = [(t.key, t.effect) for t in node.spec.taints if (t.key, t.effect) in MANAGED_TAINTS]
    return sorted(managed) == sorted(wanted)


def with_conditions_unknown(node: Node, at: float) -> Node:
    """The node as the controller writes it when its kubelet has gone quiet."""
    conditions = list(node.status.conditions)
    for type_ in CONDITIONS_SET_UNKNOWN:
        index = next((i for i, c in enumerate(conditions) if c.type == type_), None)
        if index is None:
            conditions.append(
                NodeCondition(
                    type_,
                    "Unknown",
                    last_heartbeat_time=node.metadata.creation_timestamp or 0.0,
                    last_transition_time=at,
                    reason="NodeStatusNeverUpdated",
                    message="Kubelet never posted node status.",
                )
            )
        elif conditions[index].status != "Unknown":
            conditions[index] = attrs.evolve(
                conditions[index],
                status="Unknown",
                reason="NodeStatusUnknown",
                message="Kubelet stopped posting node status.",
                last_transition_time=at,
            )
    return attrs.evolve(node, status=attrs.evolve(node.status, conditions=tuple(conditions)))


def _needs_unknown(node: Node) -> bool:
    for type_ in CONDITIONS_SET_UNKNOWN:
        cond = node.status.condition(type_)
        if cond is None or cond.status != "Unknown":
            return True
    return False


def _ready_not_false(pod: Pod) -> bool:
    """MarkPodsNotReady only rewrites an existing Ready condition that is not already False."""
    cond = pod.status.condition("Ready")
    return cond is not None and cond.status != "False"


@attrs.define
class NodeHealth:
    """What the controller has observed of one node's kubelet (upstream's nodeHealthData)."""

    probe_timestamp: float  # when we last saw the kubelet prove it is alive
    heartbeat: float | None = None  # the Ready condition's lastHeartbeatTime we last saw
    renew_time: float | None = None  # the Lease's renewTime we last saw
    node_seen: bool = False
    ever_ready: bool = False


class NodeLifecycleController(Controller):
    """Node health monitor and condition taints.

    The monitor pass writes the Unknown status of overdue nodes and marks their pods not ready
    (as upstream's monitorNodeHealth), decides NoExecute taints and zone states. Its work queue
    holds node names; a sync retries marking pods not ready and reconciles the node's taints
    (NoSchedule on every change, NoExecute as the monitor decided). The per-period cost of a
    healthy cluster is one pass over the node cache.
    """

    name = "node-lifecycle-controller"
    queue_name = "node_lifecycle_controller"  # upstream's workqueue name
    workers = NODE_UPDATE_WORKER_SIZE

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.nodes: Informer[Node] = ctx.informer("nodes", self.name)
        self.leases: Informer[Lease] = ctx.informer(
            "leases", self.name, namespace=NODE_LEASE_NAMESPACE
        )
        self.pods: Informer[Pod] = ctx.informer("pods", self.name)
        self.pods_by_node = PodsByNode(self.pods)
        self.health: dict[str, NodeHealth] = {}
        settings = ctx.settings
        self._shorter_grace = min(
            settings.node_monitor_grace_period, settings.node_startup_grace_period
        )
        self._mark_pending: dict[str, None] = {}  # nodes whose pods must be marked not ready
        # cached nodes whose Ready status is neither unset nor True: the only nodes whose pods
        # a pod event may call to be marked (usually none, so a pod event reads one set)
        self._unready: set[str] = set()
        # node -> the controller NoExecute taint the monitor wants it to have now (None: none)
        self._no_execute: dict[str, str | None] = {}
        self.zones = ZoneDisruption(ctx.settings)
        self.tainting = NoExecuteTainting(ctx, self.nodes, self.zones)
        self._nursery: trio.Nursery | None = None
        self._tainting_started = False
        self.nodes.add_handler(
            Handler(self._on_node_add, self._on_node_update, self._on_node_delete)
        )
        self.leases.add_handler(Handler(self._on_lease, self._on_lease_update))
        self.pods.add_handler(Handler(self._on_pod, self._on_pod_update))
        self._started_once_synced: list[Controller] = []

    def start_once_synced(self, controller: Controller) -> None:
        """Run ``controller`` inside this one, started once this one's informers have synced.

        For the taint eviction controller, which reads these informers (and runs none of its
        own): register it before :meth:`run`.
        """
        self._started_once_synced.append(controller)

    # ------------------------------------------------------------------ lifecycle
    async def wait_synced(self) -> None:
        for informer in (self.nodes, self.leases, self.pods):
            await informer.synced.wait()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            for informer in (self.nodes, self.leases, self.pods):
                nursery.start_soon(informer.run)
            await self.wait_synced()
            for controller in self._started_once_synced:
                nursery.start_soon(controller.run)
            self._nursery = nursery
            nursery.start_soon(self._monitor)
            await super().run()

    async def _monitor(self) -> None:
        """Every node_monitor_period, one monitorNodeHealth pass."""
        period = self.ctx.settings.node_monitor_period
        tick = now()
        while True:
            at = now()
            # The nodes as listed at the start of the pass: what it "observed" of each.
            nodes = list(self.nodes.store.items())
            written = await self._update_overdue(nodes, at)
            self._monitor_pass(nodes, at, written)
            tick += period
            await timers.sleep_until(tick)

    async def _update_overdue(self, nodes: list[tuple[str, Node]], at: float) -> dict[str, bool]:
        """Write Unknown to the nodes overdue at ``at`` and mark their pods not ready, up to
        nodeUpdateWorkerSize at a time (upstream ParallelizeUntil over tryUpdateNodeHealth).
        Returns each overdue node's outcome: written, or failed (the pass skips it: "no pods
        will be evicted")."""
        overdue = [
            name for name, node in nodes if self._overdue(name, node, at) and _needs_unknown(node)
        ]
        written: dict[str, bool] = {}
        if overdue:
            limiter = trio.CapacityLimiter(NODE_UPDATE_WORKER_SIZE)
            async with trio.open_nursery() as nursery:
                for name in overdue:
                    nursery.start_soon(self._update_one, name, limiter, written)
        return written

    async def _update_one(
        self, name: str, limiter: trio.CapacityLimiter, written: dict[str, bool]
    ) -> None:
        async with limiter:
            node = self.nodes.get(name)
            try:
                updated = None if node is None else await self._update_health(node)
            except errors.APIError:
                updated = None
            written[name] = updated is not None
            if updated is None:
                return
            if name in self._mark_pending:
                try:
                    await self._mark_pods_not_ready(name)
                except errors.APIError:
                    self.enqueue(name)  # retried by a sync (upstream nodesToRetry)

    def _monitor_pass(
        self, nodes: list[tuple[str, Node]], at: float, written: dict[str, bool]
    ) -> None:
        """The rest of monitorNodeHealth: queue the nodes that need a sync, decide their
        NoExecute taints, count each zone's Ready nodes (as the pass leaves them) and act on
        the zones' states. O(nodes), no pod is looked at."""
        counts: dict[str, list[int]] = {}
        for name, node in nodes:
            outcome = written.get(name)
            if outcome is False:
                continue
            if name in self._mark_pending or not taints_in_sync(node):
                self.enqueue(name)
            observed = ready_status(node)
            current = "Unknown" if outcome else observed
            zone = zone_key(node)
            if LABEL_EXCLUDE_DISRUPTION not in node.metadata.labels:
                count = counts.get(zone)
                if count is None:
                    count = counts[zone] = [0, 0]
                count[0 if current == "True" else 1] += 1
            if current is not None:
                self._process_taint_based_eviction(name, node, zone, observed or "Unknown", at)
        decision = self.zones.handle(counts, at)
        if decision.enter_master_disruption:
            self.events.record(
                self.name,
                "Cluster",
                "",
                "EnteringMasterDisruptionMode",
                "Controller detected that all Nodes are not-Ready. Entering master disruption mode.",
            )
            for name, node in nodes:
                self._mark_reachable(name, node, zone_key(node), at)
        if decision.exit_master_disruption:
            self.events.record(
                self.name,
                "Cluster",
                "",
                "ExitingMasterDisruptionMode",
                "Controller detected that some Nodes are Ready. Exiting master disruption mode.",
            )
            for health in self.health.values():
                health.probe_timestamp = at
        for zone, state in decision.transitions:
            label = zone_label(zone)
            self.events.record(
                self.name,
                "Zone",
                label,
                "ZoneStateChange",
                f"Controller detected that zone {label} is now in state {state}.",
            )
        if any(self.zones.tainters.values()):
            self._start_tainting()
            self.tainting.wake()

    def _start_tainting(self) -> None:
        """The tainting pass starts with the first node queued for tainting, so a run without a
        failing node has one task fewer (and the same schedule as before zones were modelled)."""
        if not self._tainting_started and self._nursery is not None:
            self._tainting_started = True
            self._nursery.start_soon(self.tainting.run)

    def _process_taint_based_eviction(
        self, name: str, node: Node, zone: str, observed: str, at: float
    ) -> None:
        """Upstream processTaintBaseEviction, from the Ready status the pass observed."""
        if observed == "True":
            self._mark_reachable(name, node, zone, at)
            return
        key, opposite = (
            (TAINT_NOT_READY, TAINT_UNREACHABLE)
            if observed == "False"
            else (TAINT_UNREACHABLE, TAINT_NOT_READY)
        )
        if has_no_execute(node, opposite):
            self._want_no_execute(name, key)  # swapped at once, not rate limited
            return
        tainter = self.zones.tainter(zone, at)
        if not has_no_execute(node, key):
            tainter.remove(name)  # markNodeForTainting: lost its taint, so queue it again
        tainter.add(name, at)

    def _mark_reachable(self, name: str, node: Node, zone: str, at: float) -> None:
        """Upstream markNodeAsReachable: both NoExecute taints off, out of the zone's queue."""
        if no_execute_key(node) is not None:
            self._want_no_execute(name, None)
        self.zones.tainter(zone, at).remove(name)

    def _want_no_execute(self, name: str, key: str | None) -> None:
        self._no_execute[name] = key
        self.enqueue(name)

    # ------------------------------------------------------------------ observing heartbeats
    def _grace_period(self, name: str, node: Node) -> float:
        """Startup grace for a node not yet seen Ready. A restarted controller has seen nothing,
        so a node that is not Ready when it starts gets the startup grace (60 s, not 50 s)."""
        settings = self.ctx.settings
        health = self.health.get(name)
        never_ready = health is None or not health.ever_ready
        if node.status.condition("Ready") is None or never_ready:
            return settings.node_startup_grace_period
        return settings.node_monitor_grace_period

    def _overdue(self, name: str, node: Node, at: float) -> bool:
        health = self.health.get(name)
        if health is None or at <= health.probe_timestamp + self._shorter_grace:
            return False  # in time whichever grace applies (every pass asks it of every node)
        return at > health.probe_timestamp + self._grace_period(name, node)

    def _observe_node(self, node: Node) -> None:
        """Note a change of the Ready heartbeat (upstream: a new LastHeartbeatTime)."""
        name = node.metadata.name
        ready = node.status.condition("Ready")
        heartbeat = None if ready is None else ready.last_heartbeat_time
        health = self.health.get(name)
        if health is None:
            # A node first seen without a Ready condition counts from its creation (upstream).
            first = now() if ready is not None else (node.metadata.creation_timestamp or now())
            health = self.health[name] = NodeHealth(first, heartbeat, node_seen=True)
        elif not health.node_seen:
            health.node_seen = True
            health.heartbeat = heartbeat
        elif heartbeat is not None and heartbeat != health.heartbeat:
            health.heartbeat = heartbeat
            health.probe_timestamp = now()
        if ready is not None and ready.status == "True":
            health.ever_ready = True

    def _on_lease(self, lease: Lease) -> None:
        self._on_lease_update(None, lease)

    def _on_lease_update(self, old: Lease | None, lease: Lease) -> None:
        """A renewal seen (every node, every 10 s: the handler itself, no wrapper): the node
        proved alive now if its renewTime moved on (upstream's tryUpdateNodeHealth compares
        the observed lease's renewTime with the saved one's)."""
        renew = lease.spec.renew_time
        if renew is None:
            return
        health = self.health.get(lease.metadata.name)
        if health is None:
            self.health[lease.metadata.name] = NodeHealth(now(), renew_time=renew)
        elif health.renew_time is None or renew > health.renew_time:
            health.renew_time = renew
            health.probe_timestamp = now()

    def _on_node_add(self, node: Node) -> None:
        self._observe_node(node)
        self._note_readiness(node.metadata.name, ready_status(node))
        if not taints_in_sync(node):
            self.enqueue(node.metadata.name)

    def _on_node_update(self, old: Node, new: Node) -> None:
        self._observe_node(new)
        name = new.metadata.name
        before, after = ready_status(old), ready_status(new)
        self._note_readiness(name, after)
        if before == "True" and after != "True":
            self.events.record(
                self.name, "Node", name, "NodeNotReady", f"Node {name} status is now: NodeNotReady"
            )
        elif before != "True" and after == "True":
            self.events.record(
                self.name, "Node", name, "NodeReady", f"Node {name} status is now: NodeReady"
            )
        if not taints_in_sync(new):
            self.enqueue(name)

    def _note_readiness(self, name: str, status: str | None) -> None:
        if status in (None, "True"):
            self._unready.discard(name)
        else:
            self._unready.add(name)

    def _on_node_delete(self, node: Node) -> None:
        self._unready.discard(node.metadata.name)
        self.health.pop(node.metadata.name, None)
        self._mark_pending.pop(node.metadata.name, None)
        self._no_execute.pop(node.metadata.name, None)

    def _on_pod(self, pod: Pod) -> None:
        self._on_pod_update(pod, pod)

    def _on_pod_update(self, old: Pod, pod: Pod) -> None:
        """A ready pod on a node that is not Ready is marked not ready (upstream processPod;
        the update handler itself, not a lambda around it: one call per pod update)."""
        node_name = pod.spec.node_name
        if node_name not in self._unready or not pod.is_ready():
            return
        if node_name not in self._mark_pending:
            self._mark_pending[node_name] = None
            self.enqueue(node_name)

    # ------------------------------------------------------------------ reconcile one node
    async def sync(self, key: str) -> None:
        node = self.nodes.get(key)
        if node is None:
            return
        if key in self._mark_pending:
            if ready_status(node) == "True":
                self._mark_pending.pop(key, None)
            else:
                await self._mark_pods_not_ready(key)
        if not taints_in_sync(node):
            await self.api.patch("nodes", "", key, _retaint)
        if key in self._no_execute:
            wanted = self._no_execute.pop(key)
            try:
                await self.api.patch("nodes", "", key, functools.partial(with_no_execute, wanted))
            except errors.NotFound:
                return
            except errors.APIError:
                self._no_execute.setdefault(key, wanted)
                raise

    async def _update_health(self, node: Node) -> Node | None:
        """Write the Unknown status if the node is overdue (re-reading it on conflicts)."""
        name = node.metadata.name
        for _ in range(NODE_STATUS_UPDATE_RETRY):
            at = now()
            if not (self._overdue(name, node, at) and _needs_unknown(node)):
                return node
            was_ready = ready_status(node) == "True"
            try:
                written = await self.api.update_status(with_conditions_unknown(node, at))
            except errors.Conflict:
                try:
                    node = await self.api.get("nodes", "", name)
                except errors.NotFound:
                    return None
                self._observe_node(node)
                continue
            except errors.NotFound:
                return None
            if was_ready:
                self._mark_pending[name] = None
            return written
        return node

    async def _mark_pods_not_ready(self, node_name: str) -> None:
        """Upstream MarkPodsNotReady: the node cannot report on its pods, so nobody may trust
        them to serve. Raises (and keeps the node pending) if some pod could not be written."""
        failure: errors.APIError | None = None
        for pod in self.pods_by_node.pods(node_name):
            if not _ready_not_false(pod):
                continue
            try:
                await self._mark_pod_not_ready(pod)
            except errors.APIError as exc:
                failure = exc
        if failure is not None:
            raise failure
        self._mark_pending.pop(node_name, None)

    async def _mark_pod_not_ready(self, pod: Pod) -> None:
        key = key_of(pod)
        for attempt in range(2):
            at = now()
            conditions = tuple(
                attrs.evolve(c, status="False", last_transition_time=at) if c.type == "Ready" else c
                for c in pod.status.conditions
            )
            try:
                await self.api.update_status(
                    attrs.evolve(pod, status=attrs.evolve(pod.status, conditions=conditions))
                )
            except errors.NotFound:
                return
            except errors.Conflict:
                if attempt:
                    raise
                try:
                    pod = await self.api.get("pods", pod.metadata.namespace, pod.metadata.name)
                except errors.NotFound:
                    return
                if not _ready_not_false(pod):
                    return
                continue
            self.events.record(self.name, "Pod", key, "NodeNotReady", "Node is not ready")
            return


def _retaint(node: Node) -> Node:
    """The server-side half of the taint patch: applied to the node as it is in etcd."""
    return attrs.evolve(node, spec=attrs.evolve(node.spec, taints=desired_taints(node, now())))


__all__ = [
    "NodeLifecycleController",
    "desired_taints",
    "with_conditions_unknown",
]
