"""Faults on the control plane: etcd, the API server, the watches feeding informers, and the
scheduler and controller-manager processes.

None of them takes a target: each acts on one component through the seam that component exposes
(see the docstrings of :mod:`kubechaos.control.etcd`, :mod:`kubechaos.control.apiserver` and
:mod:`kubechaos.control.watchcache`). Every seam is a list of hooks or a count of holders, so
faults overlap: two ``apiserver-unavailable`` faults each add a hook, and requests succeed again
only once both are reverted.

One fault object may be injected again while an earlier injection is still active (a schedule
whose ``every`` is shorter than its ``duration``), so what an injection must undo is not kept on
the fault itself but per injection, under the random stream :class:`~kubechaos.faults.Chaos`
creates for that occurrence and hands again to its revert.

Requests and watches are picked by client name, as the API server knows it: ``kube-scheduler``,
``kube-controller-manager``, ``kubelet/<node>``, ``kube-proxy``, ``kubechaos``. A filter matches a
name exactly or by the part before its ``/``, so ``kubelet`` means every kubelet and
``kubelet/worker-1`` one of them.
"""

from __future__ import annotations

import random
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.discovery import API_RESOURCES
from kubechaos.api.watch import ObjectEvent
from kubechaos.cluster import Cluster, Process
from kubechaos.control.apiserver import Request
from kubechaos.control.watchcache import Watch
from kubechaos.faults.base import Fault, FaultEnv, fault_type, param
from kubechaos.sim import timers
from kubechaos.sim.clock import now

Interceptor = Callable[[ObjectEvent], ObjectEvent | None]

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")
WRITE_DROP_MODES = ("error", "silent")
CLIENT_HELP = (
    "kube-scheduler, kube-controller-manager, kubelet (every node) or kubelet/<node>, "
    "kube-proxy, kubechaos; with run --api also external clients by User-Agent: kubectl, "
    "python-client; and a run's external processes by name (run --exec, spec.processes)"
)


def name_matches(name: str, wanted: Iterable[str], separator: str = "/") -> bool:
    """Whether ``name`` is one of ``wanted`` or its part before ``separator`` is
    (``kubelet/worker-1`` matches ``kubelet``; ``update_status`` matches ``update``)."""
    wanted = tuple(wanted)
    return name in wanted or name.partition(separator)[0] in wanted


def _check_resources(resources: Sequence[str]) -> None:
    for resource in resources:
        if resource.partition("/")[0] not in API_RESOURCES:
            raise ValueError(
                f"unknown resource {resource!r}; expected one of {', '.join(API_RESOURCES)}"
            )


def _jittered(rng: random.Random, latency: float, jitter: float) -> float:
    """``latency`` give or take up to ``jitter``, uniformly (as tc netem's delay jitter)."""
    if not jitter:
        return latency
    return max(0.0, latency + rng.uniform(-jitter, jitter))


@attrs.define(kw_only=True)
class ControlPlaneFault(Fault):
    """Keeps what each injection attached (in its env's memory), so its revert detaches exactly
    that."""

    def _keep(self, env: FaultEnv, state: Any) -> None:
        env.memory = state

    def _take(self, env: FaultEnv) -> Any:
        state, env.memory = env.memory, None
        return state


def _detach(hooks: list[Any], hook: Any) -> None:
    if hook is not None and hook in hooks:
        hooks.remove(hook)


# ====================================================================== etcd
@fault_type(
    "etcd-write-drop",
    target="none",
    summary="writes matching a key prefix are dropped with a probability; mode error (the caller "
    "sees a failure) or silent (acknowledged, then lost)",
)
@attrs.define(kw_only=True)
class EtcdWriteDrop(ControlPlaneFault):
    """Writes under ``keyPrefix`` are lost.

    ``error``: the proposal never commits, the API server answers 500 ``etcdserver: request timed
    out`` and the client retries as it would. ``silent``: etcd acknowledges the write (the client
    gets success and a resourceVersion) and never applies it: no read and no watch ever sees it.
    The acknowledged resourceVersion is a revision etcd consumed for nothing, so it never comes
    back for another object and a compare-and-swap on it conflicts. Components repair a silent
    loss only where they re-check the API's view against their own (the kubelet's status manager
    re-posts a status whose echo never came back); elsewhere the loss stands until something
    writes the object again.
    """

    key_prefix: str = param(
        "/registry/",
        "keyPrefix",
        "string",
        "etcd key prefix of the writes to drop (/registry/<resource>/<namespace>/<name>)",
    )
    probability: float = param(1.0, "probability", "fraction", "share of matching writes lost")
    mode: str = param(
        "error",
        "mode",
        "choice",
        "error: the write fails with an etcd timeout (500); silent: acknowledged, then lost",
        choices=WRITE_DROP_MODES,
    )

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.mode not in WRITE_DROP_MODES:
            raise ValueError(
                f"mode must be one of {', '.join(WRITE_DROP_MODES)}, got {self.mode!r}"
            )

    async def inject(self, env: FaultEnv) -> list[str]:
        rng, prefix, probability, mode = env.rng, self.key_prefix, self.probability, self.mode

        def drop(key: str) -> str | None:
            if key.startswith(prefix) and (probability >= 1.0 or rng.random() < probability):
                return mode
            return None

        env.cluster.etcd.write_hooks.append(drop)
        self._keep(env, drop)
        return ["etcd"]

    async def revert(self, env: FaultEnv) -> None:
        _detach(env.cluster.etcd.write_hooks, self._take(env))


@fault_type("etcd-latency", target="none", summary="added latency on etcd requests")
@attrs.define(kw_only=True)
class EtcdLatency(ControlPlaneFault):
    """Every etcd round trip (a quorum read, a raft commit) takes longer; requests the API server
    serves from its watch cache (lists, watches, ``resourceVersion=0`` gets) do not touch etcd and
    are not slowed."""

    latency: float = param(0.1, "latency", "duration", "added to every etcd request")
    jitter: float = param(0.0, "jitter", "duration", "the added latency varies by up to this much")

    async def inject(self, env: FaultEnv) -> list[str]:
        rng, latency, jitter = env.rng, self.latency, self.jitter

        def slow() -> float:
            return _jittered(rng, latency, jitter)

        env.cluster.etcd.latency_hooks.append(slow)
        self._keep(env, slow)
        return ["etcd"]

    async def revert(self, env: FaultEnv) -> None:
        _detach(env.cluster.etcd.latency_hooks, self._take(env))


@fault_type(
    "etcd-unavailable",
    target="none",
    summary="etcd has no leader: every request fails for the duration",
)
@attrs.define(kw_only=True)
class EtcdUnavailable(ControlPlaneFault):
    """etcd loses its leader: every read, write and list fails with 500 ``etcdserver: no
    leader``; open watches stay open but carry nothing (nothing is written). Leases do not expire
    while leaderless, and the new leader renews them all, as etcd's lessor does on promotion."""

    async def inject(self, env: FaultEnv) -> list[str]:
        env.cluster.etcd.lose_leader()
        self._keep(env, True)
        return ["etcd"]

    async def revert(self, env: FaultEnv) -> None:
        if self._take(env):
            env.cluster.etcd.regain_leader()


# ====================================================================== API server
@attrs.define(kw_only=True)
class RequestFault(ControlPlaneFault):
    """A fault on API requests, optionally only some verbs, resources or clients."""

    verbs: Sequence[str] = param(
        (),
        "verbs",
        "strings",
        f"only these verbs ({', '.join(VERBS)}; update covers status updates); empty: all",
    )
    resources: Sequence[str] = param(
        (),
        "resources",
        "strings",
        "only these resources (pods, nodes, ...; pods covers pods/binding); empty: all",
    )
    clients: Sequence[str] = param(
        (), "clients", "strings", f"only requests from these clients ({CLIENT_HELP}); empty: all"
    )

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for verb in self.verbs:
            if verb.partition("_")[0] not in VERBS:
                raise ValueError(f"unknown verb {verb!r}; expected one of {', '.join(VERBS)}")
        _check_resources(self.resources)

    def selects(self, request: Request) -> bool:
        return (
            (not self.verbs or name_matches(request.verb, self.verbs, "_"))
            and (not self.resources or name_matches(request.resource, self.resources))
            and (not self.clients or name_matches(request.client, self.clients))
        )

    def _attach(self, env: FaultEnv, hook: Callable[[Request], float]) -> list[str]:
        env.cluster.api.request_hooks.append(hook)
        self._keep(env, hook)
        return ["kube-apiserver"]

    async def revert(self, env: FaultEnv) -> None:
        _detach(env.cluster.api.request_hooks, self._take(env))


@fault_type(
    "apiserver-unavailable",
    target="none",
    summary="the API server answers 503 to every matching request",
)
@attrs.define(kw_only=True)
class APIServerUnavailable(RequestFault):
    """Matching requests get 503 ServiceUnavailable, as from an API server that is up but cannot
    serve (overloaded, its storage not ready). Watches already open keep streaming: they are
    requests answered before the fault; re-establishing one is a request and fails."""

    async def inject(self, env: FaultEnv) -> list[str]:
        selects = self.selects

        def refuse(request: Request) -> float:
            if selects(request):
                raise errors.ServiceUnavailable(
                    "the server is currently unable to handle the request"
                )
            return 0.0

        return self._attach(env, refuse)


@fault_type(
    "apiserver-throttle",
    target="none",
    summary="the API server answers 429 to a fraction of matching requests",
)
@attrs.define(kw_only=True)
class APIServerThrottle(RequestFault):
    """A share of matching requests get 429 TooManyRequests, as API Priority and Fairness
    rejects requests when a priority level's queues are full."""

    fraction: float = param(0.5, "fraction", "fraction", "share of matching requests refused")

    async def inject(self, env: FaultEnv) -> list[str]:
        selects, rng, fraction = self.selects, env.rng, self.fraction

        def throttle(request: Request) -> float:
            if selects(request) and (fraction >= 1.0 or rng.random() < fraction):
                # with Retry-After: 1, as apiserver filters/maxinflight.go tooManyRequests
                raise errors.TooManyRequests("Too many requests, please try again later.", 1)
            return 0.0

        return self._attach(env, throttle)


@fault_type(
    "apiserver-latency",
    target="none",
    summary="added latency on matching API requests",
)
@attrs.define(kw_only=True)
class APIServerLatency(RequestFault):
    """Matching requests take longer to answer (the result is as it would have been)."""

    latency: float = param(1.0, "latency", "duration", "added to every matching request")
    jitter: float = param(0.0, "jitter", "duration", "the added latency varies by up to this much")

    async def inject(self, env: FaultEnv) -> list[str]:
        selects, rng, latency, jitter = self.selects, env.rng, self.latency, self.jitter

        def slow(request: Request) -> float:
            return _jittered(rng, latency, jitter) if selects(request) else 0.0

        return self._attach(env, slow)


# ====================================================================== watches
class _Tap:
    """One injection's hold on a component's watches: an interceptor on each, open or new."""

    def __init__(
        self, selects: Callable[[Watch], bool], make: Callable[[Watch], Interceptor]
    ) -> None:
        self._selects = selects
        self._make = make
        self.taps: list[tuple[Watch, Interceptor]] = []

    def on_watch(self, watch: Watch) -> None:
        """A watch hook: tap ``watch`` if it is one of the component's."""
        if not self._selects(watch):
            return
        if len(self.taps) % 64 == 63:  # informers re-watch: forget closed watches now and then
            self.taps = [(w, i) for w, i in self.taps if not w.closed]
        interceptor = self._make(watch)
        watch.interceptors.append(interceptor)
        self.taps.append((watch, interceptor))

    def release(self) -> None:
        for watch, interceptor in self.taps:
            _detach(watch.interceptors, interceptor)
        self.taps = []


@attrs.define(kw_only=True)
class WatchFault(ControlPlaneFault):
    """A fault on the watches of one component, optionally only some resources."""

    component: str | None = param(
        None, "component", "string", f"whose watches (required): {CLIENT_HELP}"
    )
    resources: Sequence[str] = param(
        (),
        "resources",
        "strings",
        "only watches of these resources (pods, endpoints, ...); empty: all",
    )

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if not self.component:
            raise ValueError(f"{self.type} needs a component ({CLIENT_HELP})")
        _check_resources(self.resources)

    def selects(self, watch: Watch) -> bool:
        return name_matches(watch.name, (self.component or "",)) and (
            not self.resources or watch.resource in self.resources
        )

    def _tap(self, env: FaultEnv, make: Callable[[Watch], Interceptor]) -> _Tap:
        """Intercept the component's open watches and every new one until released."""
        api = env.cluster.api
        tap = _Tap(self.selects, make)
        for resource in self.resources or API_RESOURCES:
            for watch in api.cache(resource).open_watches():
                tap.on_watch(watch)
        api.watch_hooks.append(tap.on_watch)
        return tap

    def _untap(self, env: FaultEnv, tap: _Tap) -> None:
        _detach(env.cluster.api.watch_hooks, tap.on_watch)
        tap.release()


@fault_type(
    "watch-drop",
    target="none",
    summary="a component's informers miss watch events (a stale view)",
)
@attrs.define(kw_only=True)
class WatchDrop(WatchFault):
    """Events on the component's watches are lost with ``probability``.

    The informer's view goes stale: an object whose event was dropped looks as it did before
    until it changes again (the next event carries its whole state) or the informer relists (after
    a watch expiry); a dropped deletion leaves a ghost until then. That staleness is the point:
    controllers act on what their informers show. Reverting stops the loss but heals nothing.
    """

    probability: float = param(1.0, "probability", "fraction", "share of events lost")

    async def inject(self, env: FaultEnv) -> list[str]:
        rng, probability = env.rng, self.probability

        def make(watch: Watch) -> Interceptor:
            def drop(event: ObjectEvent) -> ObjectEvent | None:
                if probability >= 1.0 or rng.random() < probability:
                    return None
                return event

            return drop

        self._keep(env, self._tap(env, make))
        return [self.component or ""]

    async def revert(self, env: FaultEnv) -> None:
        tap = self._take(env)
        if tap is not None:
            self._untap(env, tap)


class _DelayLine:
    """Events held back for ``delay`` and handed on in arrival order by one task."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.held: deque[tuple[float, Watch, Interceptor, ObjectEvent]] = deque()
        self.scope = trio.CancelScope()
        self._wake = trio.Event()

    def make(self, watch: Watch) -> Interceptor:
        def hold(event: ObjectEvent) -> ObjectEvent | None:
            if not self.held:
                self._wake.set()
            self.held.append((now() + self.delay, watch, hold, event))
            return None

        return hold

    async def run(self) -> None:
        with self.scope:
            while True:
                if not self.held:
                    self._wake = trio.Event()
                    await self._wake.wait()
                    continue
                await timers.sleep_until(self.held[0][0])
                self._release_due(now())

    def _release_due(self, until: float) -> None:
        """Hand on every held event due by ``until``; the delay is constant, so due times rise
        with arrival and each watch sees its events in order."""
        held = self.held
        while held and held[0][0] <= until:
            _, watch, interceptor, event = held.popleft()
            watch.resume(event, interceptor)

    def flush(self) -> None:
        self.scope.cancel()
        self._release_due(float("inf"))


@fault_type(
    "watch-delay",
    target="none",
    summary="a component's informers see watch events late (a stale view)",
)
@attrs.define(kw_only=True)
class WatchDelay(WatchFault):
    """Events on the component's watches arrive ``delay`` late, in order: the component acts on a
    view that lags the cluster. One task per injection hands the held events on; reverting hands
    on at once whatever is still held."""

    delay: float = param(5.0, "delay", "duration", "how late each event arrives")

    async def inject(self, env: FaultEnv) -> list[str]:
        line = _DelayLine(self.delay)
        tap = self._tap(env, line.make)
        env.nursery.start_soon(line.run, name=f"watch-delay/{self.name}")
        self._keep(env, (tap, line))
        return [self.component or ""]

    async def revert(self, env: FaultEnv) -> None:
        kept = self._take(env)
        if kept is not None:
            tap, line = kept
            line.flush()  # while still attached, so what it hands on passes the taps behind it
            self._untap(env, tap)


# ====================================================================== processes
@attrs.define
class _Hold:
    """Crash faults holding one process down; it restarts when the last one lets go."""

    count: int
    was_running: bool


# Keyed by the Process (weakly: a finished cluster takes its holds with it).
_HOLDS: weakref.WeakKeyDictionary[Process, _Hold] = weakref.WeakKeyDictionary()


def hold_process(process: Process) -> None:
    """Stop ``process`` (or keep it stopped one more hold)."""
    hold = _HOLDS.get(process)
    if hold is None:
        hold = _HOLDS[process] = _Hold(0, process.running)
    hold.count += 1
    process.stop()


def release_process(process: Process, nursery: trio.Nursery) -> None:
    """Let go of one :func:`hold_process`; the last one starts it again if it ran before."""
    hold = _HOLDS.get(process)
    if hold is None:
        return
    hold.count -= 1
    if hold.count == 0:
        del _HOLDS[process]
        if hold.was_running:
            process.start(nursery)


@attrs.define(kw_only=True)
class ProcessCrash(ControlPlaneFault):
    """The process dies, losing everything in memory (informer caches, work queues, the
    scheduler's assumed pods). Reverting starts a fresh one, which relists and takes up the work
    from what the API shows; overlapping crashes keep it down until the last is reverted.
    Without a duration it stays down to the end of the run."""

    def process(self, cluster: Cluster) -> Process:
        raise NotImplementedError

    async def inject(self, env: FaultEnv) -> list[str]:
        process = self.process(env.cluster)
        hold_process(process)
        self._keep(env, process)
        return [process.name]

    async def revert(self, env: FaultEnv) -> None:
        process = self._take(env)
        if process is not None:
            release_process(process, env.cluster.nursery)


@fault_type(
    "scheduler-crash",
    target="none",
    summary="kube-scheduler dies, losing its in-memory state; with a duration it restarts and "
    "relists",
)
@attrs.define(kw_only=True)
class SchedulerCrash(ProcessCrash):
    def process(self, cluster: Cluster) -> Process:
        return cluster.scheduler


@fault_type(
    "controller-manager-crash",
    target="none",
    summary="kube-controller-manager dies, losing its in-memory state; with a duration it "
    "restarts and relists",
)
@attrs.define(kw_only=True)
class ControllerManagerCrash(ProcessCrash):
    def process(self, cluster: Cluster) -> Process:
        return cluster.controller_manager


__all__ = [
    "APIServerLatency",
    "APIServerThrottle",
    "APIServerUnavailable",
    "ControlPlaneFault",
    "ControllerManagerCrash",
    "EtcdLatency",
    "EtcdUnavailable",
    "EtcdWriteDrop",
    "ProcessCrash",
    "RequestFault",
    "SchedulerCrash",
    "WatchDelay",
    "WatchDrop",
    "WatchFault",
    "hold_process",
    "name_matches",
    "release_process",
]
