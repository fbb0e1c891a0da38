"""The kubelet's own truth about its pods, and how that truth is written into ``Pod.status``.

:class:`PodState` and :class:`ContainerRun` are mutable, per-node bookkeeping (the kubelet's pod
workers, prober results and runtime view rolled into one); they never leave the kubelet.
:func:`build_status` turns them into the immutable :class:`~kubechaos.api.objects.PodStatus` the
status manager posts, following upstream's ``generateAPIPodStatus`` and ``getPhase``.
:class:`Backoff` is client-go's ``flowcontrol.Backoff`` as the kubelet configures it (no jitter),
which is what gives CrashLoopBackOff its exact 10 s, 20 s, 40 s ... 300 s waits.
"""

from __future__ import annotations

from collections.abc import Hashable

import attrs

from kubechaos.api.objects import (
    Container,
    ContainerStatus,
    ObjectMeta,
    Pod,
    PodCondition,
    PodStatus,
    Resources,
)
from kubechaos.node.behaviour import Behaviour
from kubechaos.node.initstate import (
    APP,
    INIT,
    PODINITIALIZING,
    InitState,
    init_phase,
    init_statuses,
    initialized_condition,
    ready_to_start_condition,
)
from kubechaos.node.network import Endpoint
from kubechaos.node.readinessgates import gated_ready
from kubechaos.sim.clock import now

WAITING, RUNNING, TERMINATED = "waiting", "running", "terminated"
# sandbox lifecycle of a pod
NO_SANDBOX, SANDBOX_CREATING, SANDBOX_READY, SANDBOX_GONE = "none", "creating", "ready", "gone"
# The pod conditions the kubelet owns; the others (PodScheduled, DisruptionTarget) are kept.
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")


# ---------------------------------------------------------------------------- backoff

_TOLERANCE = 1e-6


@attrs.define(slots=True)
class _BackoffEntry:
    backoff: float
    last_update: float


class Backoff:
    """client-go ``util/flowcontrol.Backoff`` with ``maxJitterFactor`` 0, as the kubelet uses it.

    ``Next(id, eventTime)`` starts an entry at ``initial`` or doubles it (capped at ``cap``);
    ``IsInBackOffSince(id, eventTime)`` is true while less than the entry's backoff has passed
    since ``eventTime``. An entry whose last update is more than ``expiry`` (2 x cap upstream)
    before ``eventTime`` has expired: the container ran cleanly long enough to start over.
    """

    def __init__(self, initial: float, cap: float, expiry: float) -> None:
        self.initial = initial
        self.cap = cap
        self.expiry = expiry
        self._entries: dict[Hashable, _BackoffEntry] = {}

    def _expired(self, event_time: float, entry: _BackoffEntry) -> bool:
        return event_time - entry.last_update > self.expiry

    def next(self, key: Hashable, event_time: float, now: float) -> None:
        entry = self._entries.get(key)
        if entry is None or self._expired(event_time, entry):
            self._entries[key] = _BackoffEntry(self.initial, now)
        else:
            entry.backoff = min(entry.backoff * 2, self.cap)
            entry.last_update = now

    def is_in_backoff_since(self, key: Hashable, event_time: float, now: float) -> bool:
        entry = self._entries.get(key)
        if entry is None or self._expired(event_time, entry):
            return False
        # the tolerance keeps a timer set for exactly event_time + backoff from landing a
        # rounding error short of it
        return now - event_time < entry.backoff - _TOLERANCE

    def get(self, key: Hashable) -> float:
        entry = self._entries.get(key)
        return 0.0 if entry is None else entry.backoff

    def forget(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


# ---------------------------------------------------------------------------- state


class ContainerRun:
    """One container of a pod across its restarts, as the kubelet sees it.

    ``token`` is bumped whenever what is in flight for the container changes (a new start, an
    exit, a cancellation); timers carry the token they were set with and are ignored when it no
    longer matches, so nothing ever has to be removed from the node's timer heap.
    """

    __slots__ = (
        "behaviour",
        "container_id",
        "ever_ran",
        "exit_code",
        "finished_at",
        "in_post_start",
        "index",
        "kill_restart",
        "kind",
        "message",
        "name",
        "pending_restart",
        "pod",
        "prev_term_reason",
        "ready",
        "reason",
        "restart_count",
        "spec",
        "started",
        "started_at",
        "state",
        "stop_at",
        "term_at",
        "term_reason",
        "token",
    )

    def __init__(
        self,
        pod: PodState,
        index: int,
        spec: Container,
        behaviour: Behaviour | None,
        kind: str = APP,
    ) -> None:
        self.pod = pod
        self.index = index
        self.spec = spec
        self.name = spec.name
        self.kind = kind  # APP, INIT or SIDECAR (kubechaos.node.initstate)
        self.behaviour = behaviour  # None: the annotation did not parse
        self.state = WAITING
        # why it is waiting (while waiting); PodInitializing in a pod with init containers
        self.reason = "ContainerCreating" if pod.init is None else PODINITIALIZING
        self.message = ""  # ... and the waiting state's message (CreateContainerConfigError)
        self.restart_count = 0
        self.ever_ran = False  # a container of this name has run before (restarts count)
        self.started_at: float | None = None
        self.finished_at: float | None = None  # of the current or last termination
        self.exit_code: int | None = None  # of the current or last termination
        self.term_reason = ""  # Completed | Error | ContainerStatusUnknown, of the last exit
        self.prev_term_reason = ""  # ... and of the exit before that
        self.started = False  # startup probe passed (or none) while running
        self.ready = False  # readiness verdict while running
        self.stop_at: float | None = None  # being stopped; the process is gone by then
        self.term_at: float | None = None  # when SIGTERM is sent (after the preStop hook)
        self.kill_restart = False  # killed by a failed liveness/startup probe
        self.in_post_start = False  # the process runs, its postStart hook has not returned
        self.pending_restart = False  # terminated, but will be started again
        self.container_id = ""
        self.token = 0

    def done(self) -> bool:
        """Terminated for good under the pod's restart policy."""
        return self.state == TERMINATED and not self.pending_restart

    def has_terminated(self) -> bool:
        return self.exit_code is not None

    def record_exit(self, code: int, reason: str, at: float) -> None:
        self.state = TERMINATED
        self.prev_term_reason = self.term_reason
        self.term_reason = reason
        self.exit_code, self.finished_at = code, at
        self.ready = self.started = self.in_post_start = False
        self.stop_at = None
        self.term_at = None

    def status(self) -> ContainerStatus:
        if self.state == RUNNING:
            return ContainerStatus(
                self.name,
                RUNNING,
                "",
                self.ready,
                self.started,
                self.restart_count,
                None,
                self.started_at,
                None,
                self.term_reason,
            )
        if self.state == TERMINATED:
            return ContainerStatus(
                self.name,
                TERMINATED,
                self.term_reason,
                False,
                False,
                self.restart_count,
                self.exit_code,
                self.started_at,
                self.finished_at,
                self.prev_term_reason,
            )
        # waiting after a termination keeps the last exit's code and time (upstream lastState)
        return ContainerStatus(
            self.name,
            WAITING,
            self.reason,
            False,
            False,
            self.restart_count,
            self.exit_code,
            self.started_at,
            self.finished_at,
            self.term_reason,
            self.message,
        )


class PodState:
    """Everything the kubelet tracks for one pod (keyed by UID: names are reused)."""

    __slots__ = (
        "counted",
        "delete_sent",
        "endpoint",
        "finished",
        "force_sync",
        "init",
        "ip",
        "key",
        "last_posted",
        "last_posted_rv",
        "pod",
        "ready_since",
        "ready_status",
        "rejected",
        "request_meta",
        "request_meta_from",
        "requests",
        "runs",
        "sandbox",
        "start_queue",
        "start_recorded",
        "start_time",
        "starting",
        "terminal",
        "terminating",
        "token",
        "uid",
    )

    def __init__(self, pod: Pod) -> None:
        self.pod = pod
        self.uid = pod.metadata.uid
        self.key = f"{pod.metadata.namespace}/{pod.metadata.name}"
        self.runs: list[ContainerRun] = []  # init containers first (see .initstate)
        self.init: InitState | None = None  # None: the pod has no init containers
        self.requests: Resources = pod.spec.requests()
        self.counted = False  # its requests are in the node's admitted total
        self.sandbox = NO_SANDBOX
        self.ip = pod.status.pod_ip
        self.endpoint: Endpoint | None = None
        self.start_queue: list[int] = []  # container indices waiting to be started, in order
        self.starting: int | None = None  # the container whose start is in flight
        self.terminating = False  # deletionTimestamp seen: SIGTERM sent, no more starts
        self.finished = False  # graceful deletion complete: post final status, then delete
        self.terminal = False  # Succeeded/Failed: nothing will run again
        self.rejected: tuple[str, str] | None = None  # admission failure (reason, message)
        self.start_time: float | None = pod.status.start_time
        self.ready_status = "False"
        self.ready_since = 0.0
        self.start_recorded = False
        self.last_posted: PodStatus | None = None
        self.last_posted_rv = 0
        # the metadata the status manager's writes send (no resourceVersion), and what of the
        # pod's metadata it was copied from (see PodStatusManager._unconditioned)
        self.request_meta: ObjectMeta | None = None
        self.request_meta_from: tuple[object, ...] = ()
        self.force_sync = False
        self.delete_sent = False
        self.token = 0

    def running_and_ready(self) -> tuple[bool, bool]:
        """Whether the app containers and sidecars all run (regular init containers are done),
        and whether they are all ready too: one pass over the containers, as each container
        change asks both (:meth:`~kubechaos.node.kubelet.pod_lifecycle.PodLifecycle.refresh`)."""
        ready = True
        for run in self.runs:
            if run.kind != INIT:
                if run.state != RUNNING:
                    return False, False
                if not run.ready:
                    ready = False
        return True, ready

    def all_done(self) -> bool:
        """The app containers are terminated for good (sidecars do not count)."""
        runs = self.runs if self.init is None else self.runs[self.init.count :]
        return all(run.done() for run in runs)


# ---------------------------------------------------------------------------- status


def pod_phase(ps: PodState) -> str:
    """Upstream ``getPhase`` (pkg/kubelet/kubelet_pods.go); init containers: :func:`init_phase`."""
    if ps.rejected is not None:
        return "Failed"
    policy = ps.pod.spec.restart_policy
    waiting = running = stopped = succeeded = 0
    runs = ps.runs
    if ps.init is not None:
        verdict, running, waiting = init_phase(ps)
        if verdict:
            return verdict
        runs = runs[ps.init.count :]
    for run in runs:
        if run.state == RUNNING:
            running += 1
        elif run.state == TERMINATED:
            stopped += 1
            if run.exit_code == 0:
                succeeded += 1
        elif run.has_terminated():
            stopped += 1
        else:
            waiting += 1
    is_terminal = ps.terminal or ps.finished
    if waiting > 0 and not is_terminal:
        return "Pending"
    if running > 0:
        return "Running"
    if stopped > 0 and waiting == 0:
        if is_terminal:
            return "Succeeded" if stopped == succeeded else "Failed"
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    # terminal with containers that never ran (deleted before they started): upstream sets
    # the phase of a terminal pod to Failed when getPhase did not give a terminal one.
    return "Failed" if is_terminal else "Pending"


# pkg/kubelet/kubelet.go rejectPod: the event carries the admission's message, the pod's status
# message (phase Failed, the same reason) this prefix and the message
POD_REJECTED = "Pod was rejected: "


def build_status(ps: PodState, host_ip: str) -> PodStatus:
    """The status the kubelet posts for ``ps``: its own conditions merged into the current ones."""
    current = ps.pod.status
    if ps.rejected is not None:
        reason, message = ps.rejected
        return attrs.evolve(current, phase="Failed", reason=reason, message=POD_REJECTED + message)
    conditions = _conditions(ps, current.conditions, now())  # before the phase, as it was
    init = ps.init
    runs = ps.runs if init is None else ps.runs[init.count :]
    return PodStatus(
        pod_phase(ps),
        conditions,
        tuple([run.status() for run in runs]),
        () if init is None else init_statuses(ps),
        ps.ip,
        host_ip,
        ps.start_time,
        "",
        "",
    )


def _kept(
    cond: PodCondition | None, type_: str, status: str, since: float, reason: str
) -> PodCondition:
    """The condition ``(type_, status, since, reason)``: ``cond`` itself when it is that one
    (conditions are immutable, so the current object stands for an equal new one)."""
    if (
        cond is not None
        and cond.status == status
        and cond.last_transition_time == since
        and cond.reason == reason
        and not cond.message
    ):
        return cond
    return PodCondition(type_, status, since, reason)


def _conditions(
    ps: PodState, current: tuple[PodCondition, ...], t: float
) -> tuple[PodCondition, ...]:
    """The pod's conditions with the kubelet's four merged in: the others (PodScheduled,
    DisruptionTarget, a gate's) are kept, as upstream's mergePodStatus keeps them
    (pkg/kubelet/status/status_manager.go). Here the first condition of each of the four types
    is replaced in place and those the pod lacks are appended in :data:`KUBELET_CONDITIONS`
    order (upstream lists the kept ones first, then the kubelet's: the same set of conditions).

    Each of the four that equals the pod's current one *is* the current one, and when all
    four are, the result is ``current`` itself: a status whose conditions did not change
    allocates none, and the comparisons after it (:func:`same_by_kubelet`, the API server's
    unchanged check) find them identical at once. Must give what building all four anew and
    merging them would (tests/test_kubelet_status_build.py checks both ways agree)."""
    first: dict[str, PodCondition] = {c.type: c for c in reversed(current)}
    get = first.get
    ready_status, since = ps.ready_status, ps.ready_since
    if ps.terminal or ps.finished:
        not_ready = "PodCompleted"
    else:
        not_ready = "" if ready_status == "True" else "ContainersNotReady"
    start = ps.start_time if ps.start_time is not None else 0.0
    to_start = ready_to_start_condition(ps, ps.sandbox == SANDBOX_READY, t)
    if ps.init is None:
        init = _kept(get("Initialized"), "Initialized", "True", start, "")
    else:
        init = initialized_condition(ps, t)
    containers = _kept(get("ContainersReady"), "ContainersReady", ready_status, since, not_ready)
    if ready_status == "True" and ps.pod.spec.readiness_gates:
        ready = gated_ready(ps.pod, t)
    else:
        ready = _kept(get("Ready"), "Ready", ready_status, since, not_ready)
    if (
        get("Ready") is ready
        and get("ContainersReady") is containers
        and get("PodReadyToStartContainers") is to_start
        and get("Initialized") is init
    ):
        return current  # all four in place and unchanged
    mine = {
        "PodReadyToStartContainers": to_start,
        "Initialized": init,
        "ContainersReady": containers,
        "Ready": ready,
    }
    merged = [mine.pop(cond.type, cond) for cond in current]
    merged.extend(mine.values())
    return tuple(merged)


__all__ = [
    "KUBELET_CONDITIONS",
    "POD_REJECTED",
    "RUNNING",
    "TERMINATED",
    "WAITING",
    "Backoff",
    "ContainerRun",
    "PodState",
    "build_status",
    "pod_phase",
]
