"""Faults on the network: stale kube-proxy routes, partitions, delay and loss between nodes.

Two seams carry them. kube-proxy's :meth:`~kubechaos.node.proxy.KubeProxy.freeze` pins a node's
rules where they were (nested: each freeze holds until its own unfreeze). The pod network's
``path_hooks`` see every service request that crosses the network, with its source node and the
node of the pod it reached, and add delay or drop it; traffic stacks them (delays add, any drop
drops). A partition that also cuts nodes off from the control plane enters through the API
server: the kubelets' requests fail as a client sees an unreachable server (after a timeout), the
kubelets' watches go quiet, and the nodes' kube-proxies freeze.

The model knows the node of a pod only while a pod holds the IP: a request on a stale route to an
IP nobody holds any more reaches "no node" (None), which no node selector matches. Its outcome
(connection refused) is the same either way except under a partition, where upstream it would
time out instead; the difference is small and on the safe side.
"""

from __future__ import annotations

import random
import weakref
from collections.abc import Callable, Collection

import attrs

from kubechaos.api import errors
from kubechaos.api.discovery import API_RESOURCES
from kubechaos.api.watch import ObjectEvent
from kubechaos.control.apiserver import APIServer, Request
from kubechaos.control.watchcache import Watch
from kubechaos.defaults import Settings
from kubechaos.faults.base import Fault, FaultEnv, fault_type, param
from kubechaos.faults.chaos import matching_nodes, select_nodes
from kubechaos.faults.targets import Target
from kubechaos.node.network import DROP, PathHook

DIRECTIONS = ("from", "to", "both")
_DIRECTION_HELP = (
    "which requests: from the matching nodes (source), to pods on them (destination), or both"
)


@attrs.define(kw_only=True)
class _NetworkFault(Fault):
    """A lasting fault that remembers, per injection (in its env's memory), how to undo it:
    repeats of one fault may overlap (``every`` shorter than ``duration``)."""

    def _remember(self, env: FaultEnv, undo: list[Callable[[], None]]) -> None:
        env.memory = undo

    async def revert(self, env: FaultEnv) -> None:
        undo, env.memory = env.memory, None
        for step in reversed(undo or ()):
            step()


@attrs.define(kw_only=True)
class _PathFault(_NetworkFault):
    """A fault on the service-traffic path of the target nodes: one path hook per injection."""

    async def inject(self, env: FaultEnv) -> list[str]:
        nodes = select_nodes(env, self.target)
        undo: list[Callable[[], None]] = []
        if nodes:
            _attach(env, self._hook(frozenset(nodes), env.rng), undo)
        self._remember(env, undo)
        return nodes

    def _hook(self, nodes: frozenset[str], rng: random.Random) -> PathHook:
        raise NotImplementedError


def _freeze_proxies(env: FaultEnv, nodes: list[str], undo: list[Callable[[], None]]) -> None:
    for node in nodes:
        proxy = env.cluster.proxies.get(node)
        if proxy is not None:
            proxy.freeze()
            undo.append(proxy.unfreeze)


def _attach(env: FaultEnv, hook: PathHook, undo: list[Callable[[], None]]) -> None:
    hooks: list[PathHook] = env.cluster.network.path_hooks
    hooks.append(hook)
    undo.append(lambda: hooks.remove(hook))


# ---------------------------------------------------------------------- proxy-partition
@fault_type(
    "proxy-partition",
    target="nodes",
    summary="kube-proxy on matching nodes receives no endpoint updates: its routes go stale",
)
@attrs.define(kw_only=True)
class ProxyPartition(_NetworkFault):
    """The node's kube-proxy keeps routing to the endpoints it last synced; a pod deleted or
    replaced meanwhile is still dialled at its old IP. On revert it resyncs with the fleet's
    next sync and catches up."""

    async def inject(self, env: FaultEnv) -> list[str]:
        nodes = select_nodes(env, self.target)
        undo: list[Callable[[], None]] = []
        _freeze_proxies(env, nodes, undo)
        self._remember(env, undo)
        return nodes


# ---------------------------------------------------------------------- network-partition
@fault_type(
    "network-partition",
    target="nodes",
    summary="traffic between two node groups, and optionally between nodes and the control "
    "plane, is dropped (heartbeats from cut-off nodes are lost)",
)
@attrs.define(kw_only=True)
class NetworkPartition(_NetworkFault):
    """Side A is the target, side B ``peers`` (default: every other node; a peer that is also a
    target stays on side A). Service requests between the sides are dropped (the client times
    out); within a side, and to or from nodes on neither side, nothing changes.

    With ``controlPlane`` side A also loses the API server: its kubelets' requests time out and
    fail, so the node lifecycle controller sees no heartbeat and marks the nodes NotReady after
    ``nodeMonitorGracePeriod`` (and evicts their pods after the not-ready toleration, 300 s), and
    A's kube-proxies freeze. The kubelets keep their containers running on what they last knew;
    after the revert they reconnect, resume from where their watches stopped and report Ready.
    """

    peers: Target | None = param(
        None,
        "peers",
        "nodes",
        "the other side: a node selector (nodes/nodeGroup/labelSelector); default: every node "
        "not in the target",
    )
    control_plane: bool = param(
        False,
        "controlPlane",
        "bool",
        "also cut the target nodes off from the API server: their kubelets' heartbeats are lost "
        "and their kube-proxies get no updates",
    )

    async def inject(self, env: FaultEnv) -> list[str]:
        side_a = select_nodes(env, self.target)
        in_a = dict.fromkeys(side_a)
        if self.peers is None:
            candidates = sorted(env.cluster.nodes)
        else:
            candidates = matching_nodes(env.cluster, self.peers)
        side_b = [n for n in candidates if n not in in_a]  # a node is on one side only
        undo: list[Callable[[], None]] = []
        if side_a and side_b:
            _attach(env, _partition(frozenset(side_a), frozenset(side_b)), undo)
        if self.control_plane and side_a:
            cut = _ControlPlaneCut.of(env.cluster.api)
            cut.hold(side_a)
            undo.append(lambda: cut.release(side_a))
            _freeze_proxies(env, side_a, undo)
        self._remember(env, undo)
        return side_a


def _partition(a: frozenset[str], b: frozenset[str]) -> PathHook:
    def hook(source: str, destination: str | None) -> float:
        if (source in a and destination in b) or (source in b and destination in a):
            return DROP
        return 0.0

    return hook


# ---------------------------------------------------------------------- delay and loss
def _matcher(nodes: Collection[str], direction: str) -> Callable[[str, str | None], bool]:
    """Does a request from ``source`` to a pod on ``destination`` cross the faulted nodes in
    ``direction``? A request matches once, even when both its ends are on matching nodes."""
    if direction == "from":
        return lambda source, destination: source in nodes
    if direction == "to":
        return lambda source, destination: destination in nodes
    return lambda source, destination: source in nodes or destination in nodes


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction: expected one of {', '.join(DIRECTIONS)}, got {direction!r}")


@fault_type(
    "network-delay",
    target="nodes",
    summary="latency (with jitter) on service traffic from or to matching nodes",
)
@attrs.define(kw_only=True)
class NetworkDelay(_PathFault):
    """Each matching request takes ``latency`` longer, give or take up to ``jitter`` (uniform,
    as ``tc netem delay LATENCY JITTER`` draws by default); a request slowed past the client's
    timeout times out. Overlapping delays add up."""

    latency: float | None = param(
        None, "latency", "duration", "the delay added to each matching request (required)"
    )
    jitter: float = param(
        0.0, "jitter", "duration", "each request's delay varies uniformly by up to this much"
    )
    direction: str = param("both", "direction", "choice", _DIRECTION_HELP, DIRECTIONS)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.latency is None:
            raise ValueError("network-delay needs params.latency (a duration such as 100ms)")
        _check_direction(self.direction)

    def _hook(self, nodes: frozenset[str], rng: random.Random) -> PathHook:
        matches = _matcher(nodes, self.direction)
        latency, jitter = float(self.latency or 0.0), self.jitter

        def hook(source: str, destination: str | None) -> float:
            if not matches(source, destination):
                return 0.0
            if jitter:
                return max(0.0, latency + jitter * (2.0 * rng.random() - 1.0))
            return latency

        return hook


@fault_type(
    "network-loss",
    target="nodes",
    summary="loss probability on service traffic from or to matching nodes",
)
@attrs.define(kw_only=True)
class NetworkLoss(_PathFault):
    """Each matching request is lost with ``probability`` (the client times out), drawn from the
    fault's own seeded stream. Overlapping losses compound (any loss loses the request)."""

    probability: float | None = param(
        None, "probability", "fraction", "the chance each matching request is lost (required)"
    )
    direction: str = param("both", "direction", "choice", _DIRECTION_HELP, DIRECTIONS)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.probability is None or not 0.0 <= self.probability <= 1.0:
            raise ValueError("network-loss needs params.probability between 0 and 1 (or 0%-100%)")
        _check_direction(self.direction)

    def _hook(self, nodes: frozenset[str], rng: random.Random) -> PathHook:
        matches = _matcher(nodes, self.direction)
        probability = float(self.probability or 0.0)
        draw = rng.random

        def hook(source: str, destination: str | None) -> float:
            if matches(source, destination) and draw() < probability:
                return DROP
            return 0.0

        return hook


# ---------------------------------------------------------------------- the control-plane cut
class APIServerUnreachable(errors.APIError):
    """What a kubelet cut off from the control plane gets for each request, after its timeout.

    Upstream the client sees a transport error (``dial tcp ...: i/o timeout`` or ``context
    deadline exceeded``), not an API status; the model's clients treat it like any failed request
    and retry on their own schedule. 504 / ``Timeout`` is the closest status for the metrics.
    """

    code = 504
    reason = "Timeout"


# Requests the kubelet makes with its heartbeat client (node lease and node status), whose
# timeout is min(nodeStatusUpdateFrequency, nodeLeaseDurationSeconds): cmd/kubelet/app/server.go
# buildKubeletClientConfig. Its other requests have only the transport's dial timeout.
_HEARTBEAT_RESOURCES = ("leases", "nodes")

_CUTS: weakref.WeakKeyDictionary[APIServer, _ControlPlaneCut] = weakref.WeakKeyDictionary()


class _ControlPlaneCut:
    """The kubelets of one cluster that cannot reach the API server, each held by a count of
    faults, so overlapping partitions of a node cost each request one timeout (not one per fault)
    and the node reconnects only when the last of them is reverted.

    While any node is cut it owns two request hooks (one adds the client's timeout, one fails the
    request: a hook that raises adds no latency) and a watch hook. A cut kubelet's open watches
    withhold every event; when the node reconnects they are closed, and the kubelet's informer
    watches again from the last resourceVersion it saw, as client-go's reflector does after its
    connection broke (relisting if the watch cache has moved past it).
    """

    def __init__(self, api: APIServer) -> None:
        self.api = api
        settings: Settings = api.settings
        self._heartbeat_timeout = float(
            min(settings.node_status_update_frequency, settings.node_lease_duration_seconds)
        )
        self._connect_timeout = settings.client_connect_timeout_seconds
        self._holds: dict[str, int] = {}  # client name ("kubelet/<node>") -> faults holding it
        self._muted: dict[Watch, Callable[[ObjectEvent], ObjectEvent | None]] = {}

    @classmethod
    def of(cls, api: APIServer) -> _ControlPlaneCut:
        cut = _CUTS.get(api)
        if cut is None:
            cut = _CUTS[api] = cls(api)
        return cut

    def hold(self, nodes: list[str]) -> None:
        if not self._holds:
            self.api.request_hooks += [self._delay, self._refuse]
            self.api.watch_hooks.append(self._on_watch)
        newly_cut: dict[str, None] = {}
        for node in nodes:
            client = f"kubelet/{node}"
            held = self._holds.get(client, 0)
            self._holds[client] = held + 1
            if not held:
                newly_cut[client] = None
        if newly_cut:
            for watch in self._open_watches():
                if watch.name in newly_cut:
                    self._mute(watch)

    def release(self, nodes: list[str]) -> None:
        reconnected: dict[str, None] = {}
        for node in nodes:
            client = f"kubelet/{node}"
            held = self._holds.get(client, 0) - 1
            if held > 0:
                self._holds[client] = held
            elif client in self._holds:
                del self._holds[client]
                reconnected[client] = None
        for watch, interceptor in list(self._muted.items()):
            if watch.name in reconnected:
                del self._muted[watch]
                if interceptor in watch.interceptors:
                    watch.interceptors.remove(interceptor)
                watch.stop()  # the client watches again from its last resourceVersion
        if not self._holds:
            self.api.request_hooks.remove(self._delay)
            self.api.request_hooks.remove(self._refuse)
            self.api.watch_hooks.remove(self._on_watch)
            _CUTS.pop(self.api, None)

    def _open_watches(self) -> list[Watch]:
        return [w for r in API_RESOURCES for w in self.api.cache(r).open_watches() if not w.closed]

    def _mute(self, watch: Watch) -> None:
        if watch in self._muted:
            return

        def withhold(event: ObjectEvent) -> ObjectEvent | None:
            return None

        self._muted[watch] = withhold
        watch.interceptors.append(withhold)

    def _on_watch(self, watch: Watch) -> None:
        # A watch the kubelet asked for just before the cut, answered after it began.
        if watch.name in self._holds:
            self._mute(watch)

    def _delay(self, request: Request) -> float:
        if request.client not in self._holds:
            return 0.0
        if request.resource in _HEARTBEAT_RESOURCES:
            return self._heartbeat_timeout
        return self._connect_timeout

    def _refuse(self, request: Request) -> float:
        if request.client in self._holds:
            raise APIServerUnreachable(
                f"{request.verb} {request.resource}: dial tcp kube-apiserver:6443: i/o timeout"
            )
        return 0.0


__all__ = [
    "DIRECTIONS",
    "APIServerUnreachable",
    "NetworkDelay",
    "NetworkLoss",
    "NetworkPartition",
    "ProxyPartition",
]
