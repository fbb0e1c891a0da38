"""The injector: puts faults into a running cluster and takes them out again, on the record.

:class:`Chaos` is what a schedule, a test or the pytest plugin calls. Every injection, revert and
failure to inject is an event in the cluster's event log (component ``kubechaos``, kind
``Fault``, reasons ``FaultInjected`` / ``FaultReverted`` / ``FaultFailed``), so a run's timeline,
its metrics and its recovery times all read the same record. Requests a fault makes (a pod
deletion, a cordon) are made as the client ``kubechaos``, like a chaos tool's service account.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.objects import Pod
from kubechaos.api.selectors import selector_from_labels
from kubechaos.client.identity import as_client
from kubechaos.cluster import Cluster
from kubechaos.faults.base import Fault, FaultEnv, FaultError
from kubechaos.faults.targets import Target, pick

COMPONENT = "kubechaos"
NODE_GROUP_LABEL = "kubechaos.io/node-group"


@attrs.define(eq=False)
class Injection:
    """One injection of a fault: when, what it hit, and when (if) it was reverted."""

    fault: Fault
    injected_at: float
    targets: list[str]
    occurrence: int = 0
    reverted_at: float | None = None
    env: FaultEnv | None = None  # what inject was given; revert gets the very same object

    @property
    def active(self) -> bool:
        return self.reverted_at is None


class Chaos:
    """Injects faults into one running :class:`~kubechaos.cluster.Cluster`."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.injections: list[Injection] = []
        self._occurrences: dict[str, int] = {}

    @property
    def active(self) -> list[Injection]:
        return [i for i in self.injections if i.active]

    def _env(self, fault: Fault, occurrence: int) -> FaultEnv:
        rng = self.cluster.ctx.stream(f"fault/{fault.name}/{occurrence}")
        return FaultEnv(self.cluster, rng, self.cluster.nursery)

    async def inject(self, fault: Fault) -> Injection | None:
        """Inject ``fault`` now; None (and a FaultFailed event) if it could not act."""
        occurrence = self._occurrences.get(fault.name, 0)
        self._occurrences[fault.name] = occurrence + 1
        env = self._env(fault, occurrence)
        try:
            with as_client(COMPONENT):
                targets = await fault.inject(env)
        except (FaultError, errors.APIError) as exc:
            self._record(fault, "FaultFailed", f"{fault.type} could not be injected: {exc}")
            return None
        injection = Injection(fault, trio.current_time(), targets, occurrence, env=env)
        self.injections.append(injection)
        hit = ", ".join(targets) if targets else "none picked"
        self._record(
            fault,
            "FaultInjected",
            f"{fault.type} ({hit})" + (f" {p}" if (p := fault.describe_params()) else ""),
            targets=list(targets),
            lasting=fault.held(),
        )
        return injection

    async def revert(self, injection: Injection) -> None:
        """Undo ``injection`` (a no-op for an instantaneous fault, still recorded)."""
        if not injection.active:
            return
        fault = injection.fault
        injection.reverted_at = trio.current_time()
        with as_client(COMPONENT):
            await fault.revert(injection.env or self._env(fault, injection.occurrence))
        self._record(fault, "FaultReverted", f"{fault.type} reverted")

    def _record(self, fault: Fault, reason: str, message: str, **fields: object) -> None:
        self.cluster.events.record(
            COMPONENT, "Fault", fault.name, reason, message, type=fault.type, **fields
        )


# ---------------------------------------------------------------------- target resolution
async def select_pods(env: FaultEnv, target: Target, *, terminating: bool = False) -> list[Pod]:
    """The pods ``target`` picks, listed through the API server (as a chaos tool would):
    bound, not already terminating (unless ``terminating``: a force delete takes a pod stuck
    Terminating, as ``kubectl delete --force --grace-period=0`` does). A target that matches
    nothing is a failed injection, as Chaos Mesh's selector refuses an empty list; a mode that
    picks none of the matches (a ``random-max-percent`` draw of 0) is an injection that hit
    nothing."""
    cluster: Cluster = env.cluster
    selector = selector_from_labels(dict(target.label_selector)) if target.label_selector else None
    pods, _ = await cluster.api.list("pods", target.namespace, selector)
    names = set(target.names)
    matches = sorted(
        (
            p
            for p in pods
            if (terminating or p.metadata.deletion_timestamp is None)
            and p.spec.node_name
            and (not names or p.metadata.name in names)
        ),
        key=lambda p: (p.metadata.namespace, p.metadata.name),
    )
    if not matches:
        raise FaultError(f"its target matched no pod ({target.describe()})")
    return pick(matches, target.mode, target.value, env.rng)


def matching_nodes(cluster: Cluster, target: Target) -> list[str]:
    """Every node ``target`` matches, in name order (no mode applied)."""
    wanted = set(target.nodes)
    found = []
    for name, agent in cluster.nodes.items():
        labels = agent.config.labels
        if wanted and name not in wanted:
            continue
        if target.node_group is not None and labels.get(NODE_GROUP_LABEL) != target.node_group:
            continue
        if not target.matches_labels(labels):
            continue
        found.append(name)
    return sorted(found)


def select_nodes(env: FaultEnv, target: Target) -> list[str]:
    """The nodes ``target`` picks (node faults act on the machines, not through the API)."""
    matches = matching_nodes(env.cluster, target)
    if not matches:
        raise FaultError(f"its target matched no node ({target.describe()})")
    return pick(matches, target.mode, target.value, env.rng)


def pod_key(pod: Pod) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


def keys(pods: Iterable[Pod]) -> list[str]:
    return [pod_key(p) for p in pods]
