"""The node heartbeat: register the Node, renew its Lease, post its status.

Mirrors upstream's ``pkg/kubelet/kubelet_node_status.go`` (``registerWithAPIServer``,
``tryUpdateNodeStatus``) together with the loops of ``kubelet.go`` and the node lease controller
that drive it. One task does it all: register (retrying with backoff until it works), then renew
the Lease every ``nodeLeaseDurationSeconds / 4`` and, every ``nodeStatusUpdateFrequency``, post
node status if it changed or ``nodeStatusReportFrequency`` has passed since the last report.

It is separate from the pods' side of the kubelet because nothing in it depends on pods: a node
whose pods are all broken still heartbeats, and one whose API server is unreachable still runs
its pods. How the Lease is written is :mod:`kubechaos.node.kubelet.nodelease`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.objects import (
    ContainerImage,
    Node,
    NodeCondition,
    NodeSpec,
    NodeStatus,
    ObjectMeta,
    normalized_image_name,
)
from kubechaos.client.interface import APIClient
from kubechaos.defaults import (
    KUBELET_NODE_STATUS_UPDATE_RETRY,
    NODE_LEASE_BACKOFF_INITIAL,
    NODE_LEASE_BACKOFF_MAX,
    NODE_LEASE_RENEW_INTERVAL_FRACTION,
    NODE_REGISTRATION_BACKOFF_INITIAL,
    NODE_REGISTRATION_BACKOFF_MAX,
    Settings,
)
from kubechaos.node.boot import BootTimeline
from kubechaos.node.kubelet.config import KubeletEvents, NodeConfig
from kubechaos.node.kubelet.nodelease import NodeLease
from kubechaos.sim import timers
from kubechaos.sim.clock import now

# The node conditions the kubelet posts: (type, status, reason, message). No pressure is modelled.
_NODE_CONDITIONS = (
    (
        "MemoryPressure",
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


_OWN_TYPES = frozenset(c[0] for c in _NODE_CONDITIONS)


def with_foreign_conditions(
    old: tuple[NodeCondition, ...], mine: list[NodeCondition]
) -> list[NodeCondition]:
    """The kubelet's conditions in the place the stored ones hold, the conditions of types it does
    not own (a node-problem-detector's) kept as they are: its setters (pkg/kubelet/nodestatus/
    setters.go) each update only their own type in ``node.Status.Conditions``."""
    by_type = {c.type: c for c in mine}
    out = []
    for cond in old:
        if cond.type not in _OWN_TYPES:
            out.append(cond)
        elif cond.type in by_type:
            out.append(by_type.pop(cond.type))
    return out + list(by_type.values())


class NodeHeartbeat:
    """Registers the node, then keeps its Lease and status fresh."""

    def __init__(
        self,
        api: APIClient,
        settings: Settings,
        config: NodeConfig,
        events: KubeletEvents,
        fresh_boot: bool,
        images: Callable[[], list[str]] = list,
        rng: random.Random | None = None,
        boot: BootTimeline | None = None,
        images_version: Callable[[], int] | None = None,
    ) -> None:
        """``fresh_boot`` False: the machine did not reboot since the last kubelet ran (a kubelet
        restart), so re-registering is no ``Rebooted`` event. ``images``: the images the node's
        runtime has on disk, reported in ``status.images``; ``images_version``, if given, a
        number that changes whenever they do (checked at every status sync instead of them)."""
        self.api = api
        self.settings = settings
        self.config = config
        self.name = config.name
        self.events = events
        self.fresh_boot = fresh_boot
        self._images = images
        self._images_version = images_version
        self._rng = rng  # the seeded stream the heartbeats' jitter is drawn from
        self._boot = boot  # the reboot it starts in: Ready only once runtime and network are
        self.lease = NodeLease(api, settings, config.name)
        self.node: Node | None = None  # as last read or written
        self.registered = trio.Event()
        self._last_status_report = -math.inf
        # the stored status last found up to date, and the inputs it was checked against
        self._checked_status: NodeStatus | None = None
        self._checked_inputs: tuple[Any, ...] = ()

    async def run(self) -> None:
        await self._register()
        renew_every = self.settings.node_lease_duration_seconds * NODE_LEASE_RENEW_INTERVAL_FRACTION
        status_every = self.settings.node_status_update_frequency
        next_lease = now()
        next_status = now() + status_every
        lease_backoff = NODE_LEASE_BACKOFF_INITIAL
        boot = self._boot  # None once the boot is over: readiness changes no more
        while True:
            if now() >= next_lease:
                if await self.lease.renew(self.node):
                    lease_backoff = NODE_LEASE_BACKOFF_INITIAL
                    next_lease = now() + self._jittered(renew_every)
                else:
                    next_lease = now() + lease_backoff
                    lease_backoff = min(lease_backoff * 2, NODE_LEASE_BACKOFF_MAX)
            if now() >= next_status:
                await self._sync_node_status()
                next_status = now() + self._jittered(status_every)
            if boot is not None:
                change = boot.next_change(now())
                if change is None:  # the clock only moves on: no change will come
                    boot = None
                else:  # fastNodeStatusUpdate: posted as soon as it changes
                    next_status = min(next_status, change)
            await timers.sleep_until(min(next_lease, next_status))

    def _jittered(self, period: float) -> float:
        """wait.JitterUntil(f, period, 0.04, sliding=true), as the node lease controller and the
        kubelet's node status loop run: the next run is a period plus up to 4 % of it after this
        one ended, so a fleet's heartbeats drift apart instead of ticking in step."""
        factor = self.settings.node_heartbeat_jitter_factor
        if not factor or self._rng is None:
            return period
        return period + period * factor * self._rng.random()

    def _node_status(self, old: NodeStatus | None) -> NodeStatus:
        t = now()
        conditions = []
        not_ready = self._boot.not_ready(t) if self._boot is not None else None
        for type_, status, reason, message in _NODE_CONDITIONS:
            if type_ == "Ready" and not_ready is not None:
                status, reason, message = "False", "KubeletNotReady", not_ready
            previous = old.condition(type_) if old is not None else None
            since = t
            if previous is not None and previous.status == status:
                since = previous.last_transition_time
            conditions.append(NodeCondition(type_, status, t, since, reason, message))
        if old is not None and any(c.type not in _OWN_TYPES for c in old.conditions):
            conditions = with_foreign_conditions(old.conditions, conditions)
        capacity = self.config.capacity
        address = self.config.address
        return NodeStatus(capacity, capacity, tuple(conditions), address, self._node_images())

    def _node_images(self) -> tuple[ContainerImage, ...]:
        """setNodeStatusImages: the runtime's images, biggest first, at most
        nodeStatusMaxImages of them, all if that is -1 (every image has the one modelled size)."""
        size = self.settings.image_size_mib * 1024 * 1024
        cap = self.settings.node_status_max_images
        names = self._images() if cap < 0 else self._images()[:cap]  # -1: no cap
        return tuple(ContainerImage((normalized_image_name(n),), size) for n in names)

    def _inputs(self, t: float) -> tuple[Any, ...]:
        """What the desired status depends on besides the stored one and the heartbeat times,
        at ``t``: the boot's verdict on Ready and the runtime's images (capacity and address
        are fixed)."""
        not_ready = self._boot.not_ready(t) if self._boot is not None else None
        if self._images_version is not None:
            return not_ready, self._images_version()  # no list of every image, every 10 s
        return not_ready, tuple(self._images())

    @staticmethod
    def _significant(status: NodeStatus) -> tuple[Any, ...]:
        """What counts as a change (heartbeat times do not)."""
        conditions = tuple((c.type, c.status, c.reason, c.message) for c in status.conditions)
        return conditions, status.capacity, status.allocatable, status.address, status.images

    async def _register(self) -> None:
        """Create the Node, or take over the existing one (a reboot); retry until it works."""
        backoff = NODE_REGISTRATION_BACKOFF_INITIAL
        while True:
            try:
                await self._try_register()
                self.registered.set()
                return
            except errors.APIError as exc:
                self.events.node(self.name, "RegistrationFailed", str(exc))
            await timers.sleep(backoff)
            backoff = min(backoff * 2, NODE_REGISTRATION_BACKOFF_MAX)

    async def _try_register(self) -> None:
        node = Node(
            ObjectMeta(name=self.name, labels=self.config.node_labels()),
            NodeSpec(pod_cidr=self.config.pod_cidr, taints=self.config.taints),
            self._node_status(None),
        )
        try:
            self.node = await self.api.create(node)
            self._last_status_report = now()
            self._ready_event(None, self.node.status)
            return
        except errors.AlreadyExists:
            pass
        existing = await self.api.get("nodes", "", self.name)
        self.node = await self.api.update_status(
            attrs.evolve(existing, status=self._node_status(existing.status))
        )
        self._last_status_report = now()
        if self.fresh_boot:
            self.events.node(self.name, "Rebooted", f"Node {self.name} has been rebooted")
        self._ready_event(existing.status, self.node.status)

    def _ready_event(self, old: NodeStatus | None, new: NodeStatus) -> None:
        """The Ready condition setter's events (pkg/kubelet/nodestatus/setters.go
        ReadyCondition): NodeReady or NodeNotReady when the status it posts changes Ready's."""
        was = old.condition("Ready") if old is not None else None
        ready = new.condition("Ready")
        if ready is None or (was is not None and was.status == ready.status):
            return
        event = "NodeReady" if ready.status == "True" else "NodeNotReady"
        self.events.node(self.name, event, f"Node {self.name} status is now: {event}")

    async def _sync_node_status(self) -> None:
        """tryUpdateNodeStatus: GET the node, post status if changed or the report is due."""
        for _ in range(KUBELET_NODE_STATUS_UPDATE_RETRY):
            try:
                node: Node = await self.api.get("nodes", "", self.name, resource_version="0")
            except errors.NotFound:
                await self._register()  # deleted from the API: register again
                return
            except errors.APIError:
                continue
            t = now()
            due = t - self._last_status_report >= self.settings.node_status_report_frequency
            status = node.status
            if not due and status is self._checked_status:
                # Fast path: the very status found up to date last time (the watch cache hands
                # back the same object until someone writes the node), checked against the
                # same inputs: building the desired status would find no change again. It must
                # agree with _node_status: what that depends on besides the stored status is
                # what _inputs returns (the identity test comes first: it decides most checks).
                inputs = self._inputs(t)
                if inputs == self._checked_inputs:
                    self.node = node
                    return
            else:
                inputs = self._inputs(t)
            desired = self._node_status(node.status)
            changed = self._significant(desired) != self._significant(node.status)
            if not changed and not due:
                self.node = node
                self._checked_status, self._checked_inputs = status, inputs
                return
            try:
                self.node = await self.api.update_status(attrs.evolve(node, status=desired))
            except errors.APIError:
                continue
            self._last_status_report = now()
            self._ready_event(node.status, desired)
            return
