"""The objects a fault disturbed, followed along the causal chain, and whether they are whole.

A fault's *scope* is the pods it disturbed, each followed to its replacement: a
:class:`Chain` starts at a pod the fault hit and moves on to the pod its ReplicaSet creates when
that pod is gone. The scope is *whole* when the last pod of every chain exists, is not being
deleted and is Ready, and no request routed to an IP of any pod of a chain failed, nor did a
Service those pods back answer ``no_endpoints`` (a failure is an instant out). It is looked at on
each sample and at each workload event and failed request the steady-state monitor hears of.
:class:`~kubechaos.observe.steady.SteadyStateMonitor` measures a fault's recovery on its scope
instead of the whole cluster when it overlapped another injection (see there).

Which pods a fault disturbed, by type (the injection's ``targets`` in its ``FaultInjected``
event): ``pod-kill``, ``container-kill`` and ``pod-failure`` the target pods; ``node-crash``,
``kubelet-stop`` and ``node-drain`` every pod bound to the target nodes at the injection. Every
other type (the control plane, etcd, the network, the runtime, image pulls) can disturb any
object, so it has no scope. Nor has a fault that hit a pod no ReplicaSet controls (nothing would
replace it) or one the observer could not find.

Upstream facts the chain relies on:

- A pod being deleted (``deletionTimestamp`` set, or gone after a force delete) is no longer an
  active pod of its ReplicaSet (``controller.FilterActivePods``), so the ReplicaSet controller
  creates a replacement from the template at its next sync, with event ``SuccessfulCreate``
  (``Created pod: NAME``) on the ReplicaSet. This is how a pod kill, a drain's eviction and a
  taint-manager eviction (``TaintManagerEviction``, after the ``NoExecute`` taint's
  ``tolerationSeconds``, on a node that went NotReady) are all repaired. The chain takes the
  first replacement its ReplicaSet creates after its pod is gone (several waiting chains of one
  ReplicaSet take them in the order they began to wait).
- A replacement counts toward the Deployment's available replicas once its ``Ready`` condition
  is True (``minReadySeconds`` 0); the Endpoints controller then adds its IP to the Services
  whose selector matches its labels, and each kube-proxy routes to it after its next sync.
- Until every kube-proxy has synced, requests can still be routed to a deleted pod's IP
  (``connection_refused``; ``timeout`` when its node is down): failures that belong to the pod.
- A pod that is not deleted (a killed container restarted in place, a node that reboots, a
  kubelet that restarts) is whole again when it is Ready again.
"""

from __future__ import annotations

import attrs

from kubechaos.api.objects import Pod
from kubechaos.api.selectors import FieldSelector
from kubechaos.cluster import Cluster
from kubechaos.sim.events import Event
from kubechaos.traffic import NO_ENDPOINTS, TrafficStats

POD_FAULTS = frozenset({"pod-kill", "container-kill", "pod-failure"})
NODE_FAULTS = frozenset({"node-crash", "kubelet-stop", "node-drain"})
REPLICASET_CONTROLLER = "replicaset-controller"
CREATED_POD = "Created pod: "
# a replacement the ReplicaSet controller announced but the API never showed (a write etcd
# silently dropped) no longer holds its chain after this long: the next replacement takes it
UNSEEN_GRACE = 1.0


def _pod_key(name: str) -> str:
    """The watch cache's key of pod ``namespace/name`` (its etcd key)."""
    return f"/registry/pods/{name}"


def _name(pod: Pod) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


@attrs.define
class Chain:
    """One disturbed pod and its replacements, in order; the last is the one that counts."""

    owner: str  # the ReplicaSet "namespace/name" that replaces its pods
    pods: list[str]  # "namespace/name"
    services: tuple[tuple[str, str], ...]  # (namespace, name) of the Services they back
    seen: bool = True  # the last pod was seen in the API since it joined the chain
    linked_at: float = 0.0


@attrs.define(eq=False)
class Scope:
    """What one injection disturbed, and whether it was whole at each sample since."""

    chains: list[Chain]
    times: list[float] = attrs.field(factory=list)
    steady: list[bool] = attrs.field(factory=list)
    failed: dict[str, int] = attrs.field(factory=dict)  # per pod IP, at the previous sample
    no_endpoints: dict[tuple[str, str], int] = attrs.field(factory=dict)

    @property
    def pods(self) -> set[str]:
        return {pod for chain in self.chains for pod in chain.pods}

    def objects(self) -> list[str]:
        """Every pod the scope was measured on, in chain order (disturbed, then replacements)."""
        return [pod for chain in self.chains for pod in chain.pods]


class ObjectTracker:
    """Finds each injection's scope and follows its chains as the cluster repairs them."""

    def __init__(self, cluster: Cluster, traffic: TrafficStats | None) -> None:
        self.pods = cluster.api.cache("pods")
        self.services = cluster.api.cache("services")
        self.traffic = traffic
        self.mark = 0  # the pod cache's revision at the previous sample
        self.open: list[Scope] = []  # scopes still sampled (their recovery is not known)

    # ------------------------------------------------------------------ scopes
    def scope_for(self, fault_type: str, targets: list[str], at: float) -> Scope | None:
        """The scope of an injection of ``fault_type`` that hit ``targets`` at ``at``, right
        after it; None when its disturbance cannot be told apart from other faults' (see
        module). Its series starts whole at ``at``: what the fault hit was serving until then."""
        recent = self.pods.deleted_since(self.mark)
        if fault_type in POD_FAULTS:
            gone = {_name(p): p for p in recent if isinstance(p, Pod)}
            seeds = [self.pods.get(_pod_key(t)) or gone.get(t) for t in targets]
        elif fault_type in NODE_FAULTS:
            seeds = []
            for node in targets:
                seeds += self.pods.list(field_selector=FieldSelector(node_name=node))
                seeds += [p for p in recent if isinstance(p, Pod) and p.spec.node_name == node]
        else:
            return None
        chains: dict[str, Chain] = {}
        for pod in seeds:
            if not isinstance(pod, Pod):
                return None  # not found: nothing to follow
            ref = pod.metadata.controller_ref()
            if ref is None or ref.kind != "ReplicaSet":
                return None  # nothing replaces it: its absence is not a recovery to measure
            owner = f"{pod.metadata.namespace}/{ref.name}"
            chains.setdefault(_name(pod), Chain(owner, [_name(pod)], self._services_of(pod)))
        scope = Scope(list(chains.values()), times=[at], steady=[True])
        for pod in seeds:
            if isinstance(pod, Pod) and pod.status.pod_ip:
                self._watch_ip(scope, pod.status.pod_ip)
        scope.no_endpoints = self._no_endpoints(scope)
        self.open.append(scope)
        return scope

    def _services_of(self, pod: Pod) -> tuple[tuple[str, str], ...]:
        labels = pod.metadata.labels
        found = []
        for svc in self.services.list(pod.metadata.namespace):
            selector = svc.spec.selector
            if selector and all(labels.get(k) == v for k, v in selector.items()):
                found.append((svc.metadata.namespace, svc.metadata.name))
        return tuple(sorted(found))

    def close(self, scope: Scope) -> None:
        if scope in self.open:
            self.open.remove(scope)

    # ------------------------------------------------------------------ the chain
    def on_event(self, event: Event) -> None:
        """A ReplicaSet created a pod: it continues the first chain of that ReplicaSet whose
        pod is gone (waiting longest first)."""
        if event.reason != "SuccessfulCreate" or event.component != REPLICASET_CONTROLLER:
            return
        if not event.message.startswith(CREATED_POD):
            return
        namespace = event.object.split("/", 1)[0]
        created = f"{namespace}/{event.message[len(CREATED_POD) :]}"
        for scope in self.open:
            for chain in scope.chains:
                if chain.owner == event.object and self._waiting(chain, event.time):
                    chain.pods.append(created)
                    chain.seen, chain.linked_at = False, event.time
                    return

    def _waiting(self, chain: Chain, now: float) -> bool:
        pod = self.pods.get(_pod_key(chain.pods[-1]))
        gone = pod is None or pod.metadata.deletion_timestamp is not None
        return gone and (chain.seen or now - chain.linked_at >= UNSEEN_GRACE)

    # ------------------------------------------------------------------ samples
    def sample(self, at: float) -> None:
        """One sample of every open scope: whole or not (see module)."""
        self.observe(at)
        self.mark = self.pods.revision

    def observe(self, at: float) -> None:
        """Each open scope at ``at`` (a sample, or an event that may change it: a workload's
        informer event, failed requests). Failures are an instant out: the scope is whole again
        at once if its pods are."""
        for scope in self.open:
            pods_whole = self._pods_whole(scope)
            failed = self._failed_since(scope)
            if failed and pods_whole:
                scope.times += [at, at]
                scope.steady += [False, True]
            else:
                scope.times.append(at)
                scope.steady.append(pods_whole and not failed)

    def _pods_whole(self, scope: Scope) -> bool:
        whole = True
        for chain in scope.chains:
            pod = self.pods.get(_pod_key(chain.pods[-1]))
            if pod is None:
                whole = False
                continue
            chain.seen = True
            if pod.status.pod_ip and pod.status.pod_ip not in scope.failed:
                self._watch_ip(scope, pod.status.pod_ip)
            if pod.metadata.deletion_timestamp is not None or not pod.is_ready():
                whole = False
        return whole

    def _failed_since(self, scope: Scope) -> bool:
        """A request routed to one of the scope's pods, or a ``no_endpoints`` answer of a
        Service they back, failed since the scope was last observed."""
        failed_now = False
        failed = self.traffic.failed_by_ip if self.traffic is not None else {}
        for ip, before in scope.failed.items():
            now = failed.get(ip, 0)
            if now > before:
                failed_now = True
                scope.failed[ip] = now
        no_endpoints = self._no_endpoints(scope)
        if any(n > scope.no_endpoints.get(k, 0) for k, n in no_endpoints.items()):
            failed_now = True
        scope.no_endpoints = no_endpoints
        return failed_now

    def _watch_ip(self, scope: Scope, ip: str) -> None:
        """Count failures routed to ``ip`` from now on."""
        failed = self.traffic.failed_by_ip if self.traffic is not None else {}
        scope.failed[ip] = failed.get(ip, 0)

    def _no_endpoints(self, scope: Scope) -> dict[tuple[str, str], int]:
        services = {svc for chain in scope.chains for svc in chain.services}
        if not services or self.traffic is None:
            return {}
        counts = dict.fromkeys(services, 0)
        for (ns, svc, _src, outcome), n in self.traffic.requests.items():
            if outcome == NO_ENDPOINTS and (ns, svc) in counts:
                counts[(ns, svc)] += n
        return counts


__all__ = ["NODE_FAULTS", "POD_FAULTS", "Chain", "ObjectTracker", "Scope"]
