"""Faults of the machines: containers killed or failing, nodes crashing, kubelets stopping,
drains, operator taints, and a container engine that is slow or cannot pull.

Pod faults (``container-kill``, ``pod-failure``) pick their pods through the API server, as a
chaos tool does, then act on the runtime of each pod's node, behind the kubelet's back: the
kubelet learns of the damage the way it learns of any container exit. Node faults act on the
:class:`~kubechaos.cluster.NodeAgent` (crash/boot, kubelet stop/start) or on its
:class:`~kubechaos.node.runtime.ContainerRuntime` seams; ``node-drain`` is the one that goes
through the API server, as ``kubectl drain`` does.

Every seam counts holders, so faults overlap: two crashes of a node keep it down until both are
reverted, two ``runtime-slow`` factors multiply, two pull outages both have to end. A fault
object may be injected again while an earlier occurrence is still active (``every`` shorter than
``duration``), so what one occurrence did is remembered per occurrence (see
:class:`_PerOccurrence`), and its revert undoes exactly that.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable
from typing import Any

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.objects import NO_EXECUTE, NO_SCHEDULE, PREFER_NO_SCHEDULE, Node, Pod, Taint
from kubechaos.api.selectors import FieldSelector
from kubechaos.cluster import Cluster, NodeAgent
from kubechaos.faults.base import Fault, FaultEnv, FaultError, fault_type, param
from kubechaos.faults.chaos import pod_key, select_nodes, select_pods
from kubechaos.faults.evict import DrainFilter, evict_with_retry
from kubechaos.node.runtime import KILLED_EXIT_CODE


@attrs.define(kw_only=True)
class _PerOccurrence(Fault):
    """A fault that remembers, per occurrence, what its injection did (in the occurrence's
    :attr:`FaultEnv.memory`), so that the revert of that occurrence undoes exactly that."""

    def _remember(self, env: FaultEnv, record: Any) -> None:
        env.memory = record

    def _recall(self, env: FaultEnv) -> Any:
        record, env.memory = env.memory, None
        return record


def _by_node(pods: Iterable[Pod]) -> dict[str, list[Pod]]:
    """Pods grouped by the node they are bound to, in the order given."""
    grouped: dict[str, list[Pod]] = {}
    for pod in pods:
        grouped.setdefault(pod.spec.node_name, []).append(pod)
    return grouped


def _agents(cluster: Cluster, names: Iterable[str]) -> list[NodeAgent]:
    return [cluster.nodes[name] for name in names if name in cluster.nodes]


# ============================================================================ pods


@fault_type(
    "container-kill",
    target="pods",
    lasting=False,
    summary="the runtime kills the container; the kubelet restarts it per restartPolicy "
    "(restart count rises)",
)
@attrs.define(kw_only=True)
class ContainerKill(Fault):
    """Kill the running containers of the matching pods in their node's runtime (Chaos Mesh's
    container-kill). The kubelet sees the exit, records it (``lastState``) and restarts the
    container as its restart policy says, with CrashLoopBackOff as for any exit. Pods whose node
    is down or whose containers are not running are not hit."""

    container: str | None = param(
        None, "container", "string", "the container to kill; default: every container of the pod"
    )
    exit_code: int = param(
        KILLED_EXIT_CODE,
        "exitCode",
        "count",
        "the exit code the killed process shows (137: SIGKILL)",
    )

    async def inject(self, env: FaultEnv) -> list[str]:
        if not 0 <= self.exit_code <= 255:
            raise FaultError(f"exitCode must be 0-255, got {self.exit_code}")
        cluster: Cluster = env.cluster
        pods = await select_pods(env, self.target)
        hit: list[str] = []
        for node, group in _by_node(pods).items():
            agent = cluster.nodes.get(node)
            if agent is None:
                continue
            uids = {p.metadata.uid: p for p in group}
            killed = agent.runtime.kill(uids, trio.current_time(), self.container, self.exit_code)
            killed_uids = {c.pod_uid: None for c in killed}
            hit.extend(pod_key(p) for p in group if p.metadata.uid in killed_uids)
        return hit


@fault_type(
    "pod-failure",
    target="pods",
    summary="matching pods' containers fail (crash on start) for the duration, then behave again",
)
@attrs.define(kw_only=True)
class PodFailure(_PerOccurrence):
    """The matching pods' containers fail (Chaos Mesh's pod-failure): at injection the running
    ones die with exit code 1, and every start during the fault crashes at once with the same
    code, so the kubelet's CrashLoopBackOff grows (10 s, 20 s, 40 s ...). After the revert the
    next restart, when the backoff in force lets it happen, runs normally. The pods are those
    matching at injection; a replacement created meanwhile is not affected."""

    async def inject(self, env: FaultEnv) -> list[str]:
        cluster: Cluster = env.cluster
        pods = await select_pods(env, self.target)
        record: list[tuple[str, list[str]]] = []
        for node, group in _by_node(pods).items():
            agent = cluster.nodes.get(node)
            if agent is None:
                continue
            uids = [p.metadata.uid for p in group]
            agent.runtime.fail_pods(uids, trio.current_time())
            record.append((node, uids))
        self._remember(env, record)
        return [pod_key(p) for p in pods if p.spec.node_name in cluster.nodes]

    async def revert(self, env: FaultEnv) -> None:
        cluster: Cluster = env.cluster
        for node, uids in self._recall(env) or ():
            cluster.nodes[node].runtime.heal_pods(uids)


# ============================================================================ nodes


@fault_type(
    "node-crash",
    target="nodes",
    summary="the node's kubelet, runtime and containers stop; with a duration the node boots "
    "again after it (empty runtime, pods re-synced)",
)
@attrs.define(kw_only=True)
class NodeCrash(_PerOccurrence):
    """The machine dies: kubelet, containers and kube-proxy stop, its pod IPs stop answering,
    no more heartbeats. The node lifecycle controller marks it Ready=Unknown after
    ``nodeMonitorGracePeriod``, taints it NoExecute at its zone's rate (none while the zone is
    a small one partially disrupted, or every zone is down) and the taint eviction deletes its
    pods after the default 300 s toleration, as upstream. The revert boots it (see :meth:`NodeAgent.boot
    <kubechaos.cluster.NodeAgent.boot>`): an empty runtime with the images still on disk, a
    fresh kubelet that registers again and restarts the pods still bound to it (their restart
    counts rise), kube-proxy with empty rules until its first sync."""

    async def inject(self, env: FaultEnv) -> list[str]:
        nodes = select_nodes(env, self.target)
        for agent in _agents(env.cluster, nodes):
            agent.crash()
        self._remember(env, nodes)
        return nodes

    async def revert(self, env: FaultEnv) -> None:
        for agent in _agents(env.cluster, self._recall(env) or ()):
            agent.boot()


@fault_type(
    "kubelet-stop",
    target="nodes",
    summary="the kubelet stops (no heartbeats, no status) while containers keep running",
)
@attrs.define(kw_only=True)
class KubeletStop(_PerOccurrence):
    """The kubelet process stops: no heartbeats (the node goes Ready=Unknown after the grace
    period), no pod status, no reaction to pod changes, while containers keep running and
    serving traffic. The revert starts a fresh kubelet that adopts the running containers
    without restarting them, as an upstream kubelet restart does (see :meth:`Restorer.adopt
    <kubechaos.node.kubelet.restore.Restorer.adopt>` for what the runtime lets it recover)."""

    async def inject(self, env: FaultEnv) -> list[str]:
        nodes = select_nodes(env, self.target)
        for agent in _agents(env.cluster, nodes):
            agent.stop_kubelet()
        self._remember(env, nodes)
        return nodes

    async def revert(self, env: FaultEnv) -> None:
        for agent in _agents(env.cluster, self._recall(env) or ()):
            agent.start_kubelet()


def _set_unschedulable(value: bool, changed: list[bool]) -> Any:
    def mutate(node: Node) -> Node:
        changed.append(node.spec.unschedulable != value)
        return attrs.evolve(node, spec=attrs.evolve(node.spec, unschedulable=value))

    return mutate


@fault_type(
    "node-drain",
    target="nodes",
    summary="cordon, then evict every pod through the Eviction API, as `kubectl drain` does "
    "(budgets respected, a refused eviction retried every 5 s)",
)
@attrs.define(kw_only=True)
class NodeDrain(_PerOccurrence):
    """``kubectl drain --ignore-daemonsets``: cordon the node (``spec.unschedulable``), then
    evict each pod bound to it through the Eviction API (``pods/eviction``), so
    PodDisruptionBudgets hold: a refused eviction (429) is retried every 5 s
    (drain.go) until it passes, ``timeout`` ends, or the fault's duration ends. DaemonSet pods
    are skipped; a pod no controller owns stops the whole drain (nothing is evicted) unless
    ``force``. Each pod stops with its own grace period unless ``gracePeriod`` says otherwise;
    an evicted pod is reported ``evicted`` once it is gone (polled every 1 s, as kubectl waits
    for deletion), and the node ``drained`` once every pod is.
    The revert stops the evictions still retrying and uncordons the node, unless it was
    cordoned before the first drain in force or another drain still holds it."""

    grace_period: float | None = param(
        None,
        "gracePeriod",
        "duration",
        "how long each pod gets to stop (kubectl drain --grace-period); default: the pod's own "
        "terminationGracePeriodSeconds",
    )
    timeout: float | None = param(
        None,
        "timeout",
        "duration",
        "give up retrying refused evictions after this long (kubectl drain --timeout); "
        "default: until the fault's duration ends",
    )
    force: bool = param(
        False,
        "force",
        "bool",
        "also evict pods no controller owns (kubectl drain --force); without it such a pod "
        "stops the drain",
    )

    async def inject(self, env: FaultEnv) -> list[str]:
        cluster: Cluster = env.cluster
        nodes = select_nodes(env, self.target)
        held: list[NodeAgent] = []
        try:
            for agent in _agents(cluster, nodes):
                agent.cordon_holds += 1
                held.append(agent)
                if agent.cordon_holds == 1:
                    changed: list[bool] = []
                    await cluster.api.patch(
                        "nodes", "", agent.name, _set_unschedulable(True, changed)
                    )
                    agent.cordoned_by_fault = any(changed)
        except errors.APIError:
            for agent in held:  # the injection failed: it holds nothing (a cordon may stay)
                agent.cordon_holds -= 1
            raise
        scopes = [trio.CancelScope() for _ in held]  # a scope is entered once: one per node
        for agent, scope in zip(held, scopes, strict=True):
            env.nursery.start_soon(self._drain, cluster, agent.name, scope)
        self._remember(env, ([a.name for a in held], scopes))
        return [a.name for a in held]

    async def _drain(self, cluster: Cluster, node: str, scope: trio.CancelScope) -> None:
        with scope, trio.move_on_after(math.inf if self.timeout is None else self.timeout):
            grace = None if self.grace_period is None else int(self.grace_period)
            try:
                pods, _ = await cluster.api.list("pods", None, None, FieldSelector(node))
            except errors.APIError as exc:
                cluster.events.record(
                    "kubectl", "Node", node, "DrainFailed", f"error: unable to drain node: {exc}"
                )
                return
            evict, bare = DrainFilter(self.force).split(sorted(pods, key=pod_key))
            if bare:
                cluster.events.record(
                    "kubectl",
                    "Node",
                    node,
                    "DrainFailed",
                    f'error: unable to drain node "{node}" due to error: cannot delete Pods '
                    "that declare no controller (use --force to override): "
                    + ", ".join(pod_key(p) for p in bare),
                )
                return
            settings = cluster.ctx.settings
            retry, wait = (
                settings.drain_evict_retry_seconds,
                settings.drain_wait_for_delete_interval,
            )
            async with trio.open_nursery() as nursery:
                for pod in evict:
                    nursery.start_soon(evict_with_retry, cluster, pod, grace, retry, wait)
            cluster.events.record("kubectl", "Node", node, "Drained", f"node/{node} drained")

    async def revert(self, env: FaultEnv) -> None:
        cluster: Cluster = env.cluster
        names, scopes = self._recall(env) or ((), ())
        for scope in scopes:
            scope.cancel()
        for agent in _agents(cluster, names):
            agent.cordon_holds = max(agent.cordon_holds - 1, 0)
            if agent.cordon_holds == 0 and agent.cordoned_by_fault:
                agent.cordoned_by_fault = False
                with contextlib.suppress(errors.NotFound):
                    await cluster.api.patch("nodes", "", agent.name, _set_unschedulable(False, []))


def _with_taint(taint: Taint, added: list[bool]) -> Any:
    def mutate(node: Node) -> Node:
        if any((t.key, t.effect) == (taint.key, taint.effect) for t in node.spec.taints):
            added.append(False)  # kubectl taint refuses a taint already there: keep it
            return node
        added.append(True)
        return attrs.evolve(node, spec=attrs.evolve(node.spec, taints=(*node.spec.taints, taint)))

    return mutate


def _without_taint(key: str, effect: str) -> Any:
    def mutate(node: Node) -> Node:
        kept = tuple(t for t in node.spec.taints if (t.key, t.effect) != (key, effect))
        return attrs.evolve(node, spec=attrs.evolve(node.spec, taints=kept))

    return mutate


@fault_type(
    "node-taint",
    target="nodes",
    summary="the operator taints the nodes (`kubectl taint`), e.g. the out-of-service taint "
    "of a non-graceful node shutdown",
)
@attrs.define(kw_only=True)
class NodeTaint(_PerOccurrence):
    """``kubectl taint nodes <node> key=value:effect``: a taint added through the API server.
    With ``node.kubernetes.io/out-of-service`` on a node that is not Ready (the non-graceful
    node shutdown cure, "Non-Graceful Node Shutdown" docs), the pod garbage collector
    force-deletes its terminating pods and, with ``NoExecute``, the taint eviction controller
    deletes the others first. A node that already has the key and effect keeps its taint; the
    revert (``kubectl taint nodes <node> key:effect-``) removes only the taints this
    occurrence added."""

    key: str = param("node.kubernetes.io/out-of-service", "key", "string", "the taint's key")
    value: str = param("nodeshutdown", "value", "string", "the taint's value")
    effect: str = param(
        NO_EXECUTE,
        "effect",
        "choice",
        "the taint's effect",
        (NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE),
    )

    async def inject(self, env: FaultEnv) -> list[str]:
        cluster: Cluster = env.cluster
        tainted = []
        for name in select_nodes(env, self.target):
            added: list[bool] = []
            with contextlib.suppress(errors.NotFound):
                await cluster.api.patch(
                    "nodes", "", name, _with_taint(Taint(self.key, self.effect, self.value), added)
                )
            if any(added):
                tainted.append(name)
        self._remember(env, tainted)
        return tainted

    async def revert(self, env: FaultEnv) -> None:
        for name in self._recall(env) or ():
            with contextlib.suppress(errors.NotFound):
                await env.cluster.api.patch(
                    "nodes", "", name, _without_taint(self.key, self.effect)
                )


@fault_type(
    "runtime-slow",
    target="nodes",
    summary="container engine operations slowed by a factor",
)
@attrs.define(kw_only=True)
class RuntimeSlow(_PerOccurrence):
    """Every container engine operation on the matching nodes (sandbox creation, image pulls,
    container create and start) takes ``factor`` times as long, priced when the operation
    begins. Overlapping faults multiply; a revert divides out exactly its own factor."""

    factor: float = param(10.0, "factor", "factor", "how many times slower every operation is")

    async def inject(self, env: FaultEnv) -> list[str]:
        nodes = select_nodes(env, self.target)
        for agent in _agents(env.cluster, nodes):
            agent.runtime.add_slow_factor(self.factor)
        self._remember(env, nodes)
        return nodes

    async def revert(self, env: FaultEnv) -> None:
        for agent in _agents(env.cluster, self._recall(env) or ()):
            agent.runtime.remove_slow_factor(self.factor)


@fault_type(
    "image-pull-failure",
    target="nodes",
    summary="image pulls fail on matching nodes",
)
@attrs.define(kw_only=True)
class ImagePullFailure(_PerOccurrence):
    """Image pulls on the matching nodes fail (a registry outage): a pod whose image is not on
    its node yet goes ``ImagePullBackOff`` and the kubelet retries after 10 s, 20 s, ... up to
    300 s; the first retry after the revert succeeds. Images already on a node are unaffected,
    and a pull is judged when it is requested (one already under way finishes as it started)."""

    images: tuple[str, ...] = param(
        (), "images", "strings", "the images whose pulls fail; default: every image"
    )

    async def inject(self, env: FaultEnv) -> list[str]:
        nodes = select_nodes(env, self.target)
        for agent in _agents(env.cluster, nodes):
            agent.runtime.pull_failures.append(tuple(self.images))
        self._remember(env, nodes)
        return nodes

    async def revert(self, env: FaultEnv) -> None:
        images = tuple(self.images)
        for agent in _agents(env.cluster, self._recall(env) or ()):
            with contextlib.suppress(ValueError):
                agent.runtime.pull_failures.remove(images)


__all__ = [
    "ContainerKill",
    "ImagePullFailure",
    "KubeletStop",
    "NodeCrash",
    "NodeDrain",
    "PodFailure",
    "RuntimeSlow",
]
