"""The kubelet: one per node, turning the pods bound to it into running containers.

Upstream the kubelet runs a goroutine per pod (pod workers), per probe (prober workers) and a
PLEG relisting the runtime every second. At 150,000 pods that shape would cost millions of task
wakeups per virtual minute, so this kubelet keeps the *timing* of upstream and changes only the
machinery. Four tasks per node:

* the **informer** watches the pods bound to the node (``spec.nodeName`` field selector) and
  hands changes to the node loop;
* the **node loop** owns all pod and container state and a timer heap of everything that will
  happen at a known time: a runtime operation completing (sandbox, image pull, create, start), a
  process exiting, a probe result flipping (computed ahead by :mod:`kubechaos.node.probes`), a
  CrashLoopBackOff expiring, a SIGTERMed process being gone. It wakes once per distinct instant
  with work, handles everything due, and sleeps: a healthy container costs nothing after it is
  ready, however long it runs;
* the **status manager** posts ``Pod.status`` for the pods the loop marked dirty, one write per
  pod however many changes piled up, re-reading on Conflict; it also deletes pods whose graceful
  termination is complete (grace 0, UID precondition), as upstream's status manager does;
* the **heartbeat** registers the Node, renews its Lease every ``nodeLeaseDurationSeconds / 4``
  and posts node status when it changed, else every ``nodeStatusReportFrequency``.

Cancelling :meth:`Kubelet.run` stops the kubelet process; what happens to the containers is the
runtime's business. A new ``Kubelet`` for the same node starts from what the runtime holds:

* after a **reboot** the runtime is empty (the node agent calls
  :meth:`~kubechaos.node.runtime.ContainerRuntime.forget_workloads`): the kubelet re-registers,
  re-lists its pods and starts them again, continuing their restart counts as upstream does
  (see :meth:`Kubelet._restore`);
* after a **kubelet restart** the containers kept running: the kubelet *adopts* every pod whose
  sandbox it finds (see :meth:`Kubelet._adopt`), without restarting anything, and removes the
  sandboxes of pods that left the API meanwhile (upstream's housekeeping of orphaned pods).

A container killed behind the kubelet's back (:meth:`ContainerRuntime.kill
<kubechaos.node.runtime.ContainerRuntime.kill>`) reaches the node loop through the runtime's
``unseen_exits`` and ``listener``: the loop is woken and handles the exit like any other (restart
per policy, CrashLoopBackOff). Upstream's PLEG notices within its 1 s relist; here it is at once.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import math
from collections.abc import Callable
from typing import Any

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.objects import (
    ContainerStatus,
    Lease,
    LeaseSpec,
    Node,
    NodeCondition,
    NodeSpec,
    NodeStatus,
    ObjectMeta,
    OwnerReference,
    Pod,
    Probe,
    Resources,
    Taint,
)
from kubechaos.api.selectors import FieldSelector
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.defaults import (
    KUBELET_NODE_STATUS_UPDATE_RETRY,
    LABEL_ARCH,
    LABEL_HOSTNAME,
    LABEL_OS,
    NODE_LEASE_BACKOFF_INITIAL,
    NODE_LEASE_BACKOFF_MAX,
    NODE_LEASE_NAMESPACE,
    NODE_LEASE_RENEW_INTERVAL_FRACTION,
    NODE_LEASE_UPDATE_RETRIES,
    NODE_REGISTRATION_BACKOFF_INITIAL,
    NODE_REGISTRATION_BACKOFF_MAX,
    POD_STATUS_CONFLICT_RETRIES,
    POD_STATUS_SYNC_PERIOD,
)
from kubechaos.node.behaviour import BehaviourError, ProbeKind, behaviour_for
from kubechaos.node.network import NodeIPAM, PodNetwork
from kubechaos.node.podstate import (
    NO_SANDBOX,
    RUNNING,
    SANDBOX_CREATING,
    SANDBOX_GONE,
    SANDBOX_READY,
    TERMINATED,
    WAITING,
    Backoff,
    ContainerRun,
    PodState,
    build_status,
)
from kubechaos.node.probes import failure_message, next_flip
from kubechaos.node.runtime import (
    FAILED_START_EXIT_CODE,
    KILLED_EXIT_CODE,
    ContainerRuntime,
    PullTicket,
    RuntimeContainer,
)
from kubechaos.sim.clock import now

COMPONENT = "kubelet"


@attrs.frozen
class NodeConfig:
    """What a node is, as its kubelet registers it."""

    name: str
    capacity: Resources
    labels: dict[str, str] = attrs.field(factory=dict)
    taints: tuple[Taint, ...] = ()
    pod_cidr: str = ""
    address: str = ""


# Timer kinds on the node loop's heap.
_SANDBOX, _PULLED, _CREATED, _STARTED, _EXITED, _STOPPED, _PROBE, _RESTART, _PULL_RETRY = range(9)

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


class Kubelet:
    def __init__(
        self,
        ctx: Context,
        config: NodeConfig,
        network: PodNetwork,
        runtime: ContainerRuntime,
        fresh_boot: bool = True,
    ) -> None:
        """``fresh_boot`` False: the machine did not reboot since the last kubelet ran (a kubelet
        restart), so re-registering is no ``Rebooted`` event."""
        self.ctx = ctx
        self.fresh_boot = fresh_boot
        self.api = ctx.api
        self.settings = ctx.settings
        self.config = config
        self.name = config.name
        self.network = network
        self.runtime = runtime
        self.ipam = NodeIPAM(config.pod_cidr)
        self.pods: dict[str, PodState] = {}  # by UID
        self.informer: Informer[Pod] = Informer(
            ctx.api,
            "pods",
            component=COMPONENT,
            events=ctx.events,
            field_selector=FieldSelector(config.name),
        )
        self.informer.add_handler(Handler(self._on_add, self._on_update, self._on_delete))
        s = ctx.settings
        self.crash_backoff = Backoff(
            s.crash_loop_backoff_initial, s.crash_loop_backoff_max, s.crash_loop_backoff_reset
        )
        self.image_backoff = Backoff(
            s.crash_loop_backoff_initial, s.crash_loop_backoff_max, s.crash_loop_backoff_reset
        )
        self._heap: list[tuple[float, int, int, Any, int, Any]] = []
        self._seq = itertools.count()
        self._pending: dict[str, Pod | None] = {}  # informer changes for the loop, by UID
        self._wake = trio.Event()
        self._dirty: dict[str, None] = {}  # UIDs whose status must be posted
        # UIDs whose status another writer changed -> when seen; re-asserted at the next reconcile
        self._reconcile: dict[str, float] = {}
        self._status_wake = trio.Event()
        self._used = Resources()  # requests of the admitted, non-terminal pods
        self._sandboxes = 0
        # sandboxes a previous kubelet left running, by pod UID: (IP, containers), until adopted
        self._adoptable: dict[str, tuple[str, list[RuntimeContainer]]] = {}
        self.node: Node | None = None
        self.lease: Lease | None = None
        self.registered = trio.Event()
        self._last_status_report = -math.inf
        # read-only figures for metrics and tests
        self.pod_start_durations: list[float] = []
        self.loop_wakeups = 0
        self.status_writes = 0

    # ================================================================== public
    def running_pods(self) -> int:
        """Pods with a running sandbox (``kubelet_running_pods``)."""
        return self._sandboxes

    async def run(self) -> None:
        """Run the kubelet until cancelled (cancellation is the process dying).

        It starts from what the runtime holds: nothing after a reboot, running pods to adopt
        after a kubelet restart (see the module docstring).
        """
        self._adoptable = self._survivors()
        self.runtime.unseen_exits.clear()  # adoption reads the containers' states directly
        self.runtime.listener = self._poke
        self._clear_stale_endpoints()
        self.network.set_node_up(self.name, True)
        self._event("Node", self.name, "Starting", "Starting kubelet.")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._heartbeat)
            nursery.start_soon(self.informer.run)
            nursery.start_soon(self._node_loop)
            nursery.start_soon(self._status_manager)
            if self._adoptable:
                nursery.start_soon(self._wake_when_listed)

    # ================================================================== helpers
    def _event(self, kind: str, obj: str, reason: str, message: str) -> None:
        # no extra fields: 150,000 pods make ~600,000 start-up events, and the pod's node is
        # in its spec anyway
        self.ctx.events.record(COMPONENT, kind, obj, reason, message)

    def _pod_event(self, ps: PodState, reason: str, message: str) -> None:
        self._event("Pod", ps.key, reason, message)

    def _at(self, when: float, kind: int, target: Any, token: int, arg: Any = None) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), kind, target, token, arg))

    def _mark_dirty(self, ps: PodState) -> None:
        self._dirty[ps.uid] = None
        self._status_wake.set()

    def _poke(self) -> None:
        """The runtime has news (a container killed from outside): wake the node loop."""
        self._wake.set()

    def _survivors(self) -> dict[str, tuple[str, list[RuntimeContainer]]]:
        """The sandboxes (and their containers) a previous kubelet left in the runtime."""
        if not self.runtime.sandboxes:
            return {}
        found: dict[str, tuple[str, list[RuntimeContainer]]] = {
            uid: (ip, []) for uid, ip in self.runtime.sandboxes.items()
        }
        for container in self.runtime.containers.values():
            entry = found.get(container.pod_uid)
            if entry is not None:
                entry[1].append(container)
        return found

    async def _wake_when_listed(self) -> None:
        """Once the first pod list is in, the node loop removes what nobody adopted."""
        await self.informer.synced.wait()
        self._wake.set()

    def _remove_orphans(self) -> None:
        """Sandboxes of pods that left the API while no kubelet ran: kill and remove them
        (upstream's HandlePodCleanups)."""
        orphans, self._adoptable = self._adoptable, {}
        for uid, (ip, containers) in orphans.items():
            for container in containers:
                self.runtime.remove_container(container.container_id)
            self.runtime.remove_pod_sandbox(uid)
            endpoint = self.network.lookup(ip)
            if endpoint is not None and endpoint.node == self.name:
                self.network.detach(ip)

    def _clear_stale_endpoints(self) -> None:
        """A previous incarnation's endpoints died with it: nothing answers at their IPs.

        Endpoints of sandboxes still in the runtime (a kubelet restart) are kept for adoption.
        """
        if not self.config.pod_cidr or not len(self.network):
            return
        kept = {ip for ip, _ in self._adoptable.values()}
        net = ipaddress.ip_network(self.config.pod_cidr)
        if net.version != 4:
            candidates = [str(a) for a in net.hosts()]
        else:  # a few hundred lookups per boot; build the strings cheaply
            first = int(net.network_address)
            candidates = [
                f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}"
                for a in range(first + 1, first + net.num_addresses - 1)
            ]
        for ip in candidates:
            endpoint = self.network.lookup(ip)
            if endpoint is not None and endpoint.node == self.name and ip not in kept:
                self.network.detach(ip)

    # ================================================================== informer handlers
    def _on_add(self, pod: Pod) -> None:
        self._pending[pod.metadata.uid] = pod
        self._wake.set()

    def _on_delete(self, pod: Pod) -> None:
        self._pending[pod.metadata.uid] = None
        self._wake.set()

    def _on_update(self, old: Pod, new: Pod) -> None:
        uid = new.metadata.uid
        if old.metadata.uid != uid:
            self._on_delete(old)
            self._on_add(new)
            return
        ps = self.pods.get(uid)
        if ps is None or uid in self._pending:
            self._on_add(new)
            return
        ps.pod = new
        if (
            new.metadata.deletion_timestamp != old.metadata.deletion_timestamp
            or new.metadata.deletion_grace_period_seconds
            != old.metadata.deletion_grace_period_seconds
        ):
            self._on_add(new)
        elif (
            ps.last_posted is not None
            and int(new.metadata.resource_version or 0) > ps.last_posted_rv
            and new.status != ps.last_posted
            and uid not in self._reconcile
        ):
            # someone else wrote this pod's status (e.g. the node lifecycle controller marking
            # it not ready): the status manager re-asserts the kubelet's view at its next
            # reconcile, as upstream's syncBatch does every syncPeriod. Not at once: a writer
            # that answers the kubelet's write (the node lifecycle controller while the node is
            # not Ready) would otherwise fight it in a tight loop.
            self._reconcile[uid] = now()
            self._status_wake.set()

    # ================================================================== node loop
    async def _node_loop(self) -> None:
        while True:
            self.loop_wakeups += 1
            if self.runtime.unseen_exits:
                self._runtime_exits()
            self._run_due()
            if self._adoptable and self.informer.synced.is_set():
                self._remove_orphans()  # every listed pod has been added (and adopted) by now
            deadline = self._heap[0][0] if self._heap else math.inf
            self._wake = trio.Event()
            with trio.move_on_at(deadline):
                await self._wake.wait()

    def _run_due(self) -> None:
        heap = self._heap
        while True:
            if self._pending:
                self._process_pending()
            elif heap and heap[0][0] <= now():
                _, _, kind, target, token, arg = heapq.heappop(heap)
                self._dispatch(kind, target, token, arg)
            else:
                return

    def _process_pending(self) -> None:
        pending, self._pending = self._pending, {}
        fresh: list[Pod] = []
        for uid, pod in pending.items():
            ps = self.pods.get(uid)
            if pod is None:
                if ps is not None:
                    self._forget(ps)
            elif ps is None:
                fresh.append(pod)
            else:
                ps.pod = pod
                if pod.metadata.deletion_timestamp is not None:
                    self._terminate(ps)
        # admit in creation order, as HandlePodAdditions does
        fresh.sort(key=lambda p: (p.metadata.creation_timestamp or 0.0, p.metadata.name))
        for pod in fresh:
            self._add_pod(pod)

    def _runtime_exits(self) -> None:
        """PLEG: containers the runtime saw die outside the kubelet's own doing."""
        ids, self.runtime.unseen_exits = self.runtime.unseen_exits, []
        for container_id in ids:
            container = self.runtime.containers.get(container_id)
            if container is None:
                continue
            ps = self.pods.get(container.pod_uid)
            if ps is None:
                continue
            for run in ps.runs:
                if run.container_id == container_id and run.state == RUNNING:
                    code = container.exit_code
                    self._exited(run, KILLED_EXIT_CODE if code is None else code)

    def _dispatch(self, kind: int, target: Any, token: int, arg: Any) -> None:
        if kind == _SANDBOX:
            if target.token == token and target.uid in self.pods:
                self._sandbox_ready(target)
            return
        run: ContainerRun = target
        if run.token != token or run.pod.uid not in self.pods:
            return
        handler = self._handlers[kind]
        handler(self, run, arg)

    # ================================================================== pod lifecycle
    def _add_pod(self, pod: Pod) -> None:
        if pod.is_terminal():
            return  # finished before this kubelet saw it: nothing to run
        ps = PodState(pod)
        self.pods[ps.uid] = ps
        for index, container in enumerate(pod.spec.containers):
            try:
                behaviour = behaviour_for(pod.metadata.annotations, container.name)
            except BehaviourError as exc:
                behaviour = None
                self._pod_event(ps, "FailedBehaviour", str(exc))
            ps.runs.append(ContainerRun(ps, index, container, behaviour))
        ps.ready_since = now()
        survivor = self._adoptable.pop(ps.uid, None) if self._adoptable else None
        if pod.metadata.deletion_timestamp is not None:
            if survivor is not None:
                # deleted while the kubelet was down, still running: stop it gracefully now
                self._adopt(ps, *survivor)
                self._terminate(ps)
                self._refresh(ps)
                return
            # deleted while this node was down: nothing runs, finish the deletion
            ps.terminating = ps.finished = True
            self._mark_dirty(ps)
            return
        # a pod the previous kubelet admitted and left running is not admitted again
        rejection = None if survivor is not None else self._admission_failure(ps)
        if rejection is not None:
            ps.rejected = rejection
            ps.terminal = True
            self._pod_event(ps, rejection[0], rejection[1])
            self._mark_dirty(ps)
            return
        ps.counted = True
        self._used = self._used + ps.requests
        # kubelet_pod_start_duration: only for pods no kubelet had started before (a pod
        # re-synced after a reboot is not a new pod start)
        ps.start_recorded = ps.start_time is not None
        if ps.start_time is None:
            ps.start_time = now()
        if survivor is not None:
            self._adopt(ps, *survivor)
            if ps.all_done():
                self._completed(ps)
            self._refresh(ps)
            return
        self._restore(ps)
        if ps.all_done():
            self._completed(ps)
        else:
            if pod.status.pod_ip:
                self._pod_event(
                    ps, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created."
                )
            ps.ip = ""
            self._create_sandbox(ps)
        self._refresh(ps)

    def _admission_failure(self, ps: PodState) -> tuple[str, str] | None:
        """The kubelet's admission (GeneralPredicates): node selector, then resources."""
        labels = self._node_labels()
        for key, value in ps.pod.spec.node_selector.items():
            if labels.get(key) != value:
                return (
                    "NodeAffinity",
                    "Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match "
                    "Pod's node affinity/selector",
                )
        capacity = self.config.capacity
        wanted = self._used + ps.requests
        for field, resource in (
            ("cpu_millis", "cpu"),
            ("memory_bytes", "memory"),
            ("pods", "pods"),
        ):
            if getattr(wanted, field) > getattr(capacity, field):
                used = getattr(self._used, field)
                requested = getattr(ps.requests, field)
                return (
                    f"OutOf{resource}",
                    f"Pod was rejected: Node didn't have enough resource: {resource}, "
                    f"requested: {requested}, used: {used}, capacity: {getattr(capacity, field)}",
                )
        return None

    def _restore(self, ps: PodState) -> None:
        """Set each container up to start, continuing from the status a previous boot posted.

        After a reboot the runtime is empty but the API still has the old statuses. As upstream
        (restart count from the container log directory; ``ContainerStatusUnknown`` for a
        container that was running and is gone), a container that ran before starts again with
        its restart count + 1; one that was running is first recorded as terminated with 137; one
        that had terminated for good under the restart policy stays terminated.
        """
        old_statuses = {s.name: s for s in ps.pod.status.container_statuses}
        for run in ps.runs:
            self._restore_run(ps, run, old_statuses.get(run.name))

    def _restore_run(self, ps: PodState, run: ContainerRun, old: ContainerStatus | None) -> None:
        """:meth:`_restore` for one container (also used for one the runtime does not have)."""
        if old is not None:
            run.restart_count = old.restart_count
            run.ever_ran = (
                old.state != WAITING or old.started_at is not None or old.restart_count > 0
            )
            run.started_at = old.started_at
            if old.state == RUNNING:  # it vanished with the reboot
                run.term_reason = old.last_termination_reason
                run.record_exit(KILLED_EXIT_CODE, "ContainerStatusUnknown", now())
            elif old.state == TERMINATED:
                run.state = TERMINATED
                run.exit_code, run.finished_at = old.exit_code, old.finished_at
                run.term_reason, run.prev_term_reason = old.reason, old.last_termination_reason
            elif old.exit_code is not None:  # waiting after an exit (CrashLoopBackOff)
                run.exit_code, run.finished_at = old.exit_code, old.finished_at
                run.term_reason = old.last_termination_reason
        if run.state == TERMINATED:
            if not self._should_restart(ps, run):
                return
            run.pending_restart = True
        ps.start_queue.append(run.index)

    def _adopt(self, ps: PodState, ip: str, containers: list[RuntimeContainer]) -> None:
        """Take over a pod whose sandbox survived the previous kubelet (a kubelet restart).

        Upstream a restarted kubelet lists the runtime and carries on: running containers are
        not touched. The runtime here keeps each container's ID, attempt, state, start time and
        exit, so the kubelet recovers all of that; what only the old kubelet knew comes from the
        pod's posted status (readiness, whether the startup probe had passed, the reason of the
        previous termination). Limits, from the runtime not running scripts by itself: a
        scripted exit due while no kubelet ran is recorded at adoption, and probe results due
        meanwhile are caught up only from now on. CrashLoopBackOff starts afresh, as upstream
        keeps its backoff in memory.
        """
        self.ipam.reserve(ip)
        endpoint = self.network.lookup(ip)
        if endpoint is None or endpoint.node != self.name or endpoint.pod != ps.key:
            if endpoint is not None:
                self.network.detach(ip)
            endpoint = self.network.attach(ip, self.name, ps.key)
        ps.endpoint, ps.ip, ps.sandbox = endpoint, ip, SANDBOX_READY
        self._sandboxes += 1
        latest: dict[str, RuntimeContainer] = {}
        for candidate in containers:
            seen = latest.get(candidate.name)
            if seen is None or candidate.attempt >= seen.attempt:
                latest[candidate.name] = candidate
        old_statuses = {s.name: s for s in ps.pod.status.container_statuses}
        restart: list[ContainerRun] = []
        t = now()
        for run in ps.runs:
            old = old_statuses.get(run.name)
            container = latest.get(run.name)
            if container is None or container.state == "created" or run.behaviour is None:
                # never created, or its start was in flight: start it (again)
                if container is not None:
                    run.container_id = container.container_id
                self._restore_run(ps, run, old)
                continue
            run.container_id = container.container_id
            run.restart_count = container.attempt
            run.ever_ran = True
            run.started_at = container.started_at
            if container.state == "running":
                self._adopt_running(run, old, t)
                continue
            code = KILLED_EXIT_CODE if container.exit_code is None else container.exit_code
            finished = container.finished_at if container.finished_at is not None else t
            if old is not None and old.state != RUNNING and old.finished_at == finished:
                # an exit the previous kubelet had already reported
                run.state = TERMINATED
                run.exit_code, run.finished_at = code, finished
                if old.state == TERMINATED:
                    run.term_reason = old.reason
                    run.prev_term_reason = old.last_termination_reason
                else:
                    run.term_reason = old.last_termination_reason
            else:  # it exited while no kubelet was watching
                run.term_reason = old.last_termination_reason if old is not None else ""
                run.record_exit(code, "Completed" if code == 0 else "Error", finished)
                self._event(
                    "Pod", ps.key, "ContainerDied", f"Container {run.name} exited with code {code}"
                )
            if self._should_restart(ps, run):
                restart.append(run)
        if ps.pod.metadata.deletion_timestamp is not None:
            return  # the caller terminates it: nothing starts again
        for run in restart:
            self._restart(run)
        self._advance_start(ps)

    def _adopt_running(self, run: ContainerRun, old: ContainerStatus | None, t: float) -> None:
        """A container found running: pick up its script and probes where they are."""
        assert run.behaviour is not None and run.started_at is not None
        run.state, run.reason = RUNNING, ""
        run.term_reason = old.last_termination_reason if old is not None else ""
        run.pending_restart = run.kill_restart = False
        run.stop_at = None
        exits = run.behaviour.exits()
        if exits is not None:
            self._at(max(t, run.started_at + exits[0]), _EXITED, run, run.token, exits[1])
        at = t - run.started_at
        startup = run.spec.startup_probe
        if startup is not None and not (old is not None and old.started):
            run.started = False
            self._schedule_probe(run, "startup", startup, None, at)
            return
        run.started = True
        readiness = run.spec.readiness_probe
        if readiness is None:
            run.ready = True
        else:
            # the prober's first run after a restart gives today's answer; the posted status
            # holds the verdict the old kubelet had reached
            run.ready = old is not None and old.ready
            self._schedule_probe(run, "readiness", readiness, run.ready, at)
        liveness = run.spec.liveness_probe
        if liveness is not None:
            self._schedule_probe(run, "liveness", liveness, True, at)

    def _create_sandbox(self, ps: PodState) -> None:
        ps.sandbox = SANDBOX_CREATING
        ps.token += 1
        self._at(now() + self.runtime.sandbox_duration(), _SANDBOX, ps, ps.token)

    def _sandbox_ready(self, ps: PodState) -> None:
        try:
            ip = self.ipam.allocate()
        except RuntimeError as exc:
            self._pod_event(
                ps,
                "FailedCreatePodSandBox",
                f"Failed to create pod sandbox: failed to allocate an IP: {exc}",
            )
            ps.token += 1
            self._at(now() + self.settings.crash_loop_backoff_initial, _SANDBOX, ps, ps.token)
            return
        stale = self.network.lookup(ip)
        if stale is not None and stale.node == self.name:
            # left by this node's previous incarnation (its containers died with it); an IP
            # held on another node is a real conflict, which the network refuses
            self.network.detach(ip)
        ps.endpoint = self.network.attach(ip, self.name, ps.key)
        ps.ip = ip
        ps.sandbox = SANDBOX_READY
        self._sandboxes += 1
        self.runtime.run_pod_sandbox(ps.uid, ip)
        self._advance_start(ps)

    def _teardown_sandbox(self, ps: PodState) -> None:
        if ps.sandbox == SANDBOX_READY:
            self.network.detach(ps.ip)
            self.ipam.release(ps.ip)
            self.runtime.remove_pod_sandbox(ps.uid)
            self._sandboxes -= 1
        ps.endpoint = None
        if ps.sandbox != NO_SANDBOX:
            ps.sandbox = SANDBOX_GONE
        ps.token += 1  # a sandbox still being created never completes
        if ps.counted:
            ps.counted = False
            self._used = self._used - ps.requests

    def _completed(self, ps: PodState) -> None:
        """Every container is terminated for good: the pod is Succeeded or Failed."""
        ps.terminal = True
        self._teardown_sandbox(ps)
        self._mark_dirty(ps)

    def _terminate(self, ps: PodState) -> None:
        """Graceful deletion: SIGTERM every running container, start nothing more."""
        if ps.finished or (ps.terminal and ps.sandbox != SANDBOX_READY):
            ps.terminating = ps.finished = True
            self._mark_dirty(ps)
            return
        meta = ps.pod.metadata
        grace = meta.deletion_grace_period_seconds
        if grace is None:
            grace = ps.pod.spec.termination_grace_period_seconds
        ps.terminating = True
        ps.start_queue.clear()
        if ps.sandbox == SANDBOX_CREATING:
            ps.token += 1
        ps.starting = None
        for run in ps.runs:
            if run.state == RUNNING:
                if run.stop_at is None:
                    self._pod_event(ps, "Killing", f"Stopping container {run.name}")
                self._stop(run, grace)
            else:
                run.token += 1  # no pending start, restart or pull retry
                run.pending_restart = False
        self._check_terminated(ps)

    def _check_terminated(self, ps: PodState) -> None:
        if ps.terminating and not ps.finished and not any(r.state == RUNNING for r in ps.runs):
            ps.finished = True
            self._teardown_sandbox(ps)
            self._refresh(ps)

    def _forget(self, ps: PodState) -> None:
        """The pod is gone from the API: kill whatever runs at once and clean up."""
        for run in ps.runs:
            if run.state == RUNNING:
                self._pod_event(ps, "Killing", f"Stopping container {run.name}")
            run.token += 1
            if run.container_id:
                self.runtime.remove_container(run.container_id)
            self.crash_backoff.forget((ps.uid, run.name))
            self.image_backoff.forget((ps.uid, run.spec.image))
        self._teardown_sandbox(ps)
        del self.pods[ps.uid]
        self._dirty.pop(ps.uid, None)
        self._reconcile.pop(ps.uid, None)

    def _refresh(self, ps: PodState) -> None:
        """Derive pod-level truth after a container change: network flags, Ready, dirty."""
        running = ps.sandbox == SANDBOX_READY and ps.all_running()
        ready = running and ps.all_ready()
        if ps.endpoint is not None:
            ps.endpoint.running = running
            ps.endpoint.ready = ready
        status = "True" if ready else "False"
        if status != ps.ready_status:
            ps.ready_status = status
            ps.ready_since = now()
        if ready and not ps.start_recorded:
            ps.start_recorded = True
            created = ps.pod.metadata.creation_timestamp
            if created is not None:
                self.pod_start_durations.append(now() - created)
        self._mark_dirty(ps)

    # ================================================================== container lifecycle
    def _advance_start(self, ps: PodState) -> None:
        """Start the next queued container; upstream SyncPod starts them one after another."""
        if ps.starting is not None or ps.sandbox != SANDBOX_READY or ps.terminating:
            return
        while ps.start_queue:
            run = ps.runs[ps.start_queue.pop(0)]
            if run.behaviour is None:
                run.state, run.reason = WAITING, "CreateContainerConfigError"
                self._mark_dirty(ps)
                continue
            image = run.spec.image
            run.token += 1
            # imagePullPolicy Always is treated as IfNotPresent: its registry round trip for a
            # cached image is not modelled
            if self.runtime.has_image(image):
                self._pod_event(
                    ps, "Pulled", f'Container image "{image}" already present on machine'
                )
                self._at(now() + self.runtime.create_duration(), _CREATED, run, run.token)
            elif run.spec.image_pull_policy == "Never":
                run.state, run.reason = WAITING, "ErrImageNeverPull"
                self._pod_event(
                    ps,
                    "ErrImageNeverPull",
                    f'Container image "{image}" is not present with pull policy of Never',
                )
                self._mark_dirty(ps)
                continue
            else:
                self._pod_event(ps, "Pulling", f'Pulling image "{image}"')
                ticket = self.runtime.request_pull(image, now())
                self._at(ticket.done_at, _PULLED, run, run.token, (ticket, now()))
            ps.starting = run.index
            return

    def _pulled(self, run: ContainerRun, arg: tuple[PullTicket, float]) -> None:
        ps = run.pod
        ticket, asked_at = arg
        image = run.spec.image
        if self.runtime.finish_pull(image, now()):
            self._pod_event(
                ps,
                "Pulled",
                f'Successfully pulled image "{image}" in {ticket.pull_seconds:.3f}s '
                f"({now() - asked_at:.3f}s including waiting)",
            )
            self._at(now() + self.runtime.create_duration(), _CREATED, run, run.token)
            return
        key = (ps.uid, image)
        self.image_backoff.next(key, now(), now())
        self._pod_event(
            ps,
            "Failed",
            f'Failed to pull image "{image}": failed to pull and unpack image: '
            "failed to resolve reference: registry unavailable",
        )
        self._pod_event(ps, "BackOff", f'Back-off pulling image "{image}"')
        run.state, run.reason = WAITING, "ImagePullBackOff"
        run.token += 1
        self._at(now() + self.image_backoff.get(key), _PULL_RETRY, run, run.token)
        ps.starting = None
        self._mark_dirty(ps)
        self._advance_start(ps)

    def _pull_retry(self, run: ContainerRun, arg: Any) -> None:
        ps = run.pod
        ps.start_queue.insert(0, run.index)
        self._advance_start(ps)

    def _created(self, run: ContainerRun, arg: Any) -> None:
        ps = run.pod
        if run.ever_ran:
            run.restart_count += 1
        if run.container_id:
            self.runtime.remove_container(run.container_id)
        run.container_id = self.runtime.create_container(
            ps.uid, run.name, run.spec.image, run.restart_count
        )
        self._pod_event(ps, "Created", f"Created container {run.name}")
        self._at(now() + self.runtime.start_duration(), _STARTED, run, run.token)

    def _started(self, run: ContainerRun, arg: Any) -> None:
        ps = run.pod
        t = now()
        self.runtime.start_container(run.container_id, t)
        run.state, run.reason = RUNNING, ""
        run.started_at = t
        run.ever_ran = True
        run.pending_restart = run.kill_restart = False
        run.stop_at = None
        run.ready = False
        self._pod_event(ps, "Started", f"Started container {run.name}")
        ps.starting = None
        assert run.behaviour is not None
        if self.runtime.failing and self.runtime.fails_on_start(ps.uid):
            exits: tuple[float, int] | None = (0.0, FAILED_START_EXIT_CODE)  # a pod-failure fault
        else:
            exits = run.behaviour.exits()
        if exits is not None:
            self._at(t + exits[0], _EXITED, run, run.token, exits[1])
        startup = run.spec.startup_probe
        if startup is not None:
            run.started = False
            self._schedule_probe(run, "startup", startup, None, 0.0)
        else:
            self._container_started(run, 0.0)
        self._refresh(ps)
        self._advance_start(ps)

    def _container_started(self, run: ContainerRun, at: float) -> None:
        """The startup probe passed (or there is none): readiness and liveness begin."""
        run.started = True
        readiness = run.spec.readiness_probe
        if readiness is None:
            run.ready = True
        else:
            self._schedule_probe(run, "readiness", readiness, False, at)
        liveness = run.spec.liveness_probe
        if liveness is not None:
            self._schedule_probe(run, "liveness", liveness, True, at)

    def _schedule_probe(
        self, run: ContainerRun, kind: ProbeKind, probe: Probe, current: bool | None, at: float
    ) -> None:
        assert run.behaviour is not None and run.started_at is not None
        flip = next_flip(probe, run.behaviour, kind, current, at)
        if flip is not None:
            when, value = flip
            self._at(run.started_at + when, _PROBE, run, run.token, (kind, value, when, probe))

    def _probe(self, run: ContainerRun, arg: tuple[ProbeKind, bool, float, Probe]) -> None:
        kind, value, when, probe = arg
        ps = run.pod
        if kind == "readiness":
            run.ready = value
            if not value:
                self._pod_event(ps, "Unhealthy", failure_message(kind, probe))
            self._schedule_probe(run, kind, probe, value, when + probe.period_seconds)
            self._refresh(ps)
            return
        if ps.terminating or run.stop_at is not None:
            return  # upstream stops liveness and startup probes of a terminating pod
        if kind == "startup" and value:
            self._container_started(run, when)
            self._refresh(ps)
            return
        self._pod_event(ps, "Unhealthy", failure_message(kind, probe))
        self._pod_event(
            ps, "Killing", f"Container {run.name} failed {kind} probe, will be restarted"
        )
        run.kill_restart = True
        self._stop(run, ps.pod.spec.termination_grace_period_seconds)

    def _stop(self, run: ContainerRun, grace: float) -> None:
        """SIGTERM: the process is gone after its shutdown time, or SIGKILLed at ``grace``."""
        assert run.behaviour is not None
        seconds, code = run.behaviour.stop_seconds(grace)
        exit_at = now() + seconds
        if run.stop_at is not None and run.stop_at <= exit_at:
            return
        run.stop_at = exit_at
        self._at(exit_at, _STOPPED, run, run.token, code)

    def _exited(self, run: ContainerRun, code: int) -> None:
        """The process ended (on its own or stopped): record it, then restart or settle."""
        ps = run.pod
        t = now()
        run.token += 1
        run.record_exit(code, "Completed" if code == 0 else "Error", t)
        self.runtime.container_exited(run.container_id, t, code)
        self._event("Pod", ps.key, "ContainerDied", f"Container {run.name} exited with code {code}")
        if ps.terminating:
            self._check_terminated(ps)
        elif self._should_restart(ps, run):
            self._restart(run)
        elif ps.all_done():
            self._completed(ps)
        run.kill_restart = False
        self._refresh(ps)

    def _should_restart(self, ps: PodState, run: ContainerRun) -> bool:
        policy = ps.pod.spec.restart_policy
        if policy == "Always":
            return True
        if policy == "OnFailure":
            return run.exit_code != 0 or run.kill_restart
        return False

    def _restart(self, run: ContainerRun, arg: Any = None) -> None:
        """doBackOff: restart now, or wait out CrashLoopBackOff counted from the exit."""
        ps = run.pod
        key = (ps.uid, run.name)
        finished = run.finished_at if run.finished_at is not None else now()
        run.pending_restart = True
        if self.crash_backoff.is_in_backoff_since(key, finished, now()):
            run.state, run.reason = WAITING, "CrashLoopBackOff"
            run.token += 1
            self._at(finished + self.crash_backoff.get(key), _RESTART, run, run.token)
            self._pod_event(
                ps,
                "BackOff",
                f"Back-off restarting failed container {run.name} in pod "
                f"{ps.pod.metadata.name}_{ps.pod.metadata.namespace}({ps.uid})",
            )
            self._mark_dirty(ps)
            return
        self.crash_backoff.next(key, finished, now())
        ps.start_queue.append(run.index)
        self._advance_start(ps)

    # the handler for each timer kind that targets a container
    _handlers: dict[int, Callable[[Kubelet, ContainerRun, Any], None]] = {
        _PULLED: _pulled,
        _CREATED: _created,
        _STARTED: _started,
        _EXITED: _exited,
        _STOPPED: _exited,
        _PROBE: _probe,
        _RESTART: _restart,
        _PULL_RETRY: _pull_retry,
    }

    # ================================================================== status manager
    async def _status_manager(self) -> None:
        """Post the statuses of dirty pods; retry failed posts a syncPeriod later.

        Upstream also reconciles every syncPeriod: a pod whose status in the API differs from the
        one last posted is posted again. Two things leave such a difference. Another writer's
        change (``_on_update`` notes it): re-posted half to one syncPeriod later, if it still
        differs. A write etcd acknowledged and then lost: each post is re-checked once, half to
        one syncPeriod later, and posted again if the informer's copy is still older than the
        acknowledged resourceVersion. A node whose pods' statuses do not change sets no timer.
        """
        retry: dict[str, None] = {}
        posted: dict[str, float] = {}  # UID -> when its status was posted, oldest first
        while True:
            settled = now() - POD_STATUS_SYNC_PERIOD / 2
            while posted:
                uid, at = next(iter(posted.items()))
                if at > settled:
                    break
                del posted[uid]
                ps = self.pods.get(uid)
                if (
                    ps is not None
                    and int(ps.pod.metadata.resource_version or 0) < ps.last_posted_rv
                ):
                    ps.force_sync = True  # acknowledged, never seen: lost
                    self._dirty[uid] = None
            while self._reconcile:
                uid, at = next(iter(self._reconcile.items()))
                if at > settled:
                    break
                del self._reconcile[uid]
                ps = self.pods.get(uid)
                if ps is not None and ps.pod.status != ps.last_posted:
                    ps.force_sync = True  # another writer's status: re-assert the kubelet's
                    self._dirty[uid] = None
            if not self._dirty:
                self._status_wake = trio.Event()
                if retry:
                    with trio.move_on_after(POD_STATUS_SYNC_PERIOD):
                        await self._status_wake.wait()
                    self._dirty.update(retry)
                    retry.clear()
                else:
                    check_at = (
                        min(
                            next(iter(posted.values()), math.inf),
                            next(iter(self._reconcile.values()), math.inf),
                        )
                        + POD_STATUS_SYNC_PERIOD
                    )
                    with trio.move_on_at(check_at):
                        await self._status_wake.wait()
                continue
            batch = list(self._dirty)
            self._dirty.clear()
            for uid in batch:
                ps = self.pods.get(uid)
                if ps is None:
                    continue
                writes = self.status_writes
                if not await self._sync_status(ps):
                    retry[uid] = None
                if self.status_writes != writes:
                    posted.pop(uid, None)
                    posted[uid] = now()

    async def _sync_status(self, ps: PodState) -> bool:
        """Post ``ps``'s status if it changed; delete it once terminated. False: retry later."""
        meta = ps.pod.metadata
        for _ in range(POD_STATUS_CONFLICT_RETRIES):
            if ps.uid not in self.pods:
                return True
            status = build_status(ps, self.config.address)
            if status == ps.last_posted and not ps.force_sync:
                break
            pod = ps.pod
            try:
                updated = await self.api.update_status(
                    attrs.evolve(
                        pod, metadata=attrs.evolve(pod.metadata, resource_version=""), status=status
                    )
                )
            except errors.NotFound:
                return True  # deleted: the informer will say so
            except errors.Conflict:
                if not await self._reread(ps):
                    return True
                continue
            except errors.APIError:
                return False
            self.status_writes += 1
            ps.last_posted = status
            ps.last_posted_rv = int(updated.metadata.resource_version)
            ps.force_sync = False
            break
        else:
            return False
        if ps.finished and not ps.delete_sent and ps.uid in self.pods:
            try:
                await self.api.delete(
                    "pods", meta.namespace, meta.name, grace_period_seconds=0, uid=ps.uid
                )
            except (errors.NotFound, errors.Conflict):
                pass  # already gone, or the name now belongs to another pod
            except errors.APIError:
                return False
            ps.delete_sent = True
        return True

    async def _reread(self, ps: PodState) -> bool:
        """After a Conflict: fetch the pod again. False if it is gone or was replaced."""
        meta = ps.pod.metadata
        try:
            fresh = await self.api.get("pods", meta.namespace, meta.name)
        except errors.APIError:
            return False
        if fresh.metadata.uid != ps.uid:
            return False
        if int(fresh.metadata.resource_version) > int(ps.pod.metadata.resource_version or 0):
            ps.pod = fresh
        return True

    # ================================================================== heartbeat
    def _node_labels(self) -> dict[str, str]:
        return {LABEL_HOSTNAME: self.name, LABEL_OS: "linux", LABEL_ARCH: "amd64"} | dict(
            self.config.labels
        )

    def _node_status(self, old: NodeStatus | None) -> NodeStatus:
        t = now()
        conditions = []
        for type_, status, reason, message in _NODE_CONDITIONS:
            previous = old.condition(type_) if old is not None else None
            since = t
            if previous is not None and previous.status == status:
                since = previous.last_transition_time
            conditions.append(NodeCondition(type_, status, t, since, reason, message))
        capacity = self.config.capacity
        return NodeStatus(capacity, capacity, tuple(conditions), self.config.address)

    @staticmethod
    def _significant(status: NodeStatus) -> tuple[Any, ...]:
        """What counts as a change (heartbeat times do not)."""
        conditions = tuple((c.type, c.status, c.reason) for c in status.conditions)
        return conditions, status.capacity, status.allocatable, status.address

    async def _register(self) -> None:
        """Create the Node, or take over the existing one (a reboot); retry until it works."""
        backoff = NODE_REGISTRATION_BACKOFF_INITIAL
        while True:
            try:
                await self._try_register()
                self.registered.set()
                return
            except errors.APIError as exc:
                self._event("Node", self.name, "RegistrationFailed", str(exc))
            await trio.sleep(backoff)
            backoff = min(backoff * 2, NODE_REGISTRATION_BACKOFF_MAX)

    async def _try_register(self) -> None:
        node = Node(
            ObjectMeta(name=self.name, labels=self._node_labels()),
            NodeSpec(pod_cidr=self.config.pod_cidr, taints=self.config.taints),
            self._node_status(None),
        )
        try:
            self.node = await self.api.create(node)
            self._last_status_report = now()
            self._event(
                "Node", self.name, "NodeReady", f"Node {self.name} status is now: NodeReady"
            )
            return
        except errors.AlreadyExists:
            pass
        existing = await self.api.get("nodes", "", self.name)
        was_ready = existing.is_ready()
        self.node = await self.api.update_status(
            attrs.evolve(existing, status=self._node_status(existing.status))
        )
        self._last_status_report = now()
        if self.fresh_boot:
            self._event("Node", self.name, "Rebooted", f"Node {self.name} has been rebooted")
        if not was_ready:
            self._event(
                "Node", self.name, "NodeReady", f"Node {self.name} status is now: NodeReady"
            )

    async def _heartbeat(self) -> None:
        await self._register()
        renew_every = self.settings.node_lease_duration_seconds * NODE_LEASE_RENEW_INTERVAL_FRACTION
        status_every = self.settings.node_status_update_frequency
        next_lease = now()
        next_status = now() + status_every
        lease_backoff = NODE_LEASE_BACKOFF_INITIAL
        while True:
            if now() >= next_lease:
                if await self._renew_lease():
                    lease_backoff = NODE_LEASE_BACKOFF_INITIAL
                    while next_lease <= now():
                        next_lease += renew_every
                else:
                    next_lease = now() + lease_backoff
                    lease_backoff = min(lease_backoff * 2, NODE_LEASE_BACKOFF_MAX)
            if now() >= next_status:
                await self._sync_node_status()
                while next_status <= now():
                    next_status += status_every
            await trio.sleep_until(min(next_lease, next_status))

    async def _renew_lease(self) -> bool:
        """Create or renew ``kube-node-lease/<node>``; a few quick retries, as upstream."""
        for _ in range(NODE_LEASE_UPDATE_RETRIES):
            t = now()
            try:
                if self.lease is None:
                    self.lease = await self._ensure_lease(t)
                    return True
                self.lease = await self.api.update(
                    attrs.evolve(
                        self.lease,
                        spec=attrs.evolve(
                            self.lease.spec,
                            holder_identity=self.name,
                            lease_duration_seconds=self.settings.node_lease_duration_seconds,
                            renew_time=t,
                        ),
                    )
                )
                return True
            except (errors.Conflict, errors.NotFound):
                self.lease = None
            except errors.APIError:
                # upstream retryUpdateLease retries at once on any error, not only a Conflict
                continue
        return False

    async def _ensure_lease(self, t: float) -> Lease:
        try:
            existing: Lease = await self.api.get("leases", NODE_LEASE_NAMESPACE, self.name)
        except errors.NotFound:
            owner: tuple[OwnerReference, ...] = ()
            if self.node is not None:
                owner = (OwnerReference("Node", self.name, self.node.metadata.uid, False),)
            return await self.api.create(
                Lease(
                    ObjectMeta(
                        name=self.name, namespace=NODE_LEASE_NAMESPACE, owner_references=owner
                    ),
                    LeaseSpec(self.name, self.settings.node_lease_duration_seconds, t, t),
                )
            )
        return await self.api.update(
            attrs.evolve(
                existing,
                spec=attrs.evolve(
                    existing.spec,
                    holder_identity=self.name,
                    lease_duration_seconds=self.settings.node_lease_duration_seconds,
                    renew_time=t,
                ),
            )
        )

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
            desired = self._node_status(node.status)
            changed = self._significant(desired) != self._significant(node.status)
            due = now() - self._last_status_report >= self.settings.node_status_report_frequency
            if not changed and not due:
                self.node = node
                return
            try:
                self.node = await self.api.update_status(attrs.evolve(node, status=desired))
            except errors.APIError:
                continue
            self._last_status_report = now()
            return


__all__ = ["Kubelet", "NodeConfig"]
