"""The RollingUpdate strategy of a DaemonSet (pkg/controller/daemon/update.go, v1.32).

Without surge (``maxSurge`` 0) an old pod is deleted, and its replacement then created by the
manage pass, only while fewer than ``maxUnavailable`` of the DaemonSet's nodes are unavailable;
an old pod that is not available anyway is replaced at once. With surge the new pod is created
beside the old one (at most ``maxSurge`` nodes at a time, or at once where the old pod is not
available) and the old one deleted when the new one is available. Both bounds are an integer or
a percentage of the desired number of nodes, rounded up; both 0 means ``maxUnavailable`` 1.

Upstream walks its node-to-pods map in Go's random order; here nodes are taken by name, so
a run is the same every time.
"""

from __future__ import annotations

from collections.abc import Callable

from kubechaos.api.objects import DaemonSet, Node, Pod
from kubechaos.api.rollout import scaled_value
from kubechaos.control.controllers.daemon.util import (
    NodeFacts,
    available,
    by_creation,
    is_pod_available,
    is_pod_updated,
    template_generation,
)

NodeCheck = Callable[[Node], tuple[bool, bool]]


def max_surge_and_unavailable(ds: DaemonSet, desired: int) -> tuple[int, int]:
    """updatedDesiredNodeCounts's bounds (both rounded up; both 0: unavailable 1)."""
    strategy = ds.spec.update_strategy
    surge = scaled_value(strategy.max_surge, desired, True)
    unavailable = scaled_value(strategy.max_unavailable, desired, True)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def find_updated_pods_on_node(
    pods: list[Pod], is_new: Callable[[Pod], bool]
) -> tuple[Pod | None, Pod | None, bool]:
    """findUpdatedPodsOnNode: (new pod, old pod, ok); not ok when a node has two of a kind."""
    new = old = None
    for pod in pods:
        if pod.metadata.deletion_timestamp is not None:
            continue
        if is_new(pod):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def rolling_update(
    ds: DaemonSet,
    names: list[str],
    facts: Callable[[str], NodeFacts],
    desired: int,
    should_run: Callable[[str], bool],
    at: float,
) -> tuple[list[Pod], list[str]]:
    """The old pods to delete and the nodes to create new pods on (upstream's rollingUpdate),
    over the nodes with daemon pods (``names``, sorted) and each one's new and old pod."""
    surge, unavailable = max_surge_and_unavailable(ds, desired)
    min_ready = ds.spec.min_ready_seconds
    if surge == 0:
        return _without_surge(names, facts, unavailable, min_ready, at), []
    num_surge = 0
    allowed: list[str] = []
    candidates: list[str] = []
    to_delete: list[Pod] = []
    for node in names:
        f = facts(node)
        if not f.ok:
            num_surge += 1  # the manage pass cleans this node up; counted as surging
            continue
        if f.old is None:
            continue
        if f.new is None:
            if not available(f.old_since, min_ready, at):
                if should_run(node):
                    allowed.append(node)
            elif num_surge < surge:
                candidates.append(node)
            continue
        if not available(f.new_since, min_ready, at):
            num_surge += 1
            continue
        to_delete.append(f.old)
    remaining = max(0, min(surge - num_surge, len(candidates)))
    return to_delete, [*allowed, *candidates[:remaining]]


def _without_surge(
    names: list[str],
    facts: Callable[[str], NodeFacts],
    max_unavailable: int,
    min_ready: int,
    at: float,
) -> list[Pod]:
    num_unavailable = 0
    allowed: list[Pod] = []
    candidates: list[Pod] = []
    for node in names:
        f = facts(node)
        if not f.ok or (f.new is None) == (f.old is None):
            num_unavailable += 1  # the manage pass creates or deletes here: unavailable
            continue
        if f.new is not None:
            if not available(f.new_since, min_ready, at):
                num_unavailable += 1
            continue
        assert f.old is not None
        if not available(f.old_since, min_ready, at):
            allowed.append(f.old)
        elif num_unavailable < max_unavailable:
            candidates.append(f.old)
    remaining = max(0, min(max_unavailable - num_unavailable, len(candidates)))
    return [*allowed, *candidates[:remaining]]


def surge_excess(ds: DaemonSet, running: list[Pod], hash_: str, at: float) -> list[Pod]:
    """podsShouldBeOnNode with surge: of a node's running pods (oldest first) keep the oldest
    new and the oldest old one, the old one only while it is ready and the new one not yet
    available; every other is deleted."""
    generation = template_generation(ds)
    newest: Pod | None = None
    oldest_old: Pod | None = None
    excess: list[Pod] = []
    for pod in running:
        if is_pod_updated(pod, hash_, generation):
            if newest is None:
                newest = pod
                continue
        elif oldest_old is None:
            oldest_old = pod
            continue
        excess.append(pod)
    if (
        newest is not None
        and oldest_old is not None
        and (not oldest_old.is_ready() or is_pod_available(newest, ds.spec.min_ready_seconds, at))
    ):
        excess.append(oldest_old)
    return excess


def allows_surge(ds: DaemonSet) -> bool:
    """util.AllowsSurge: maxSurge scaled against one node (rounded up) is not 0."""
    strategy = ds.spec.update_strategy
    return strategy.type == "RollingUpdate" and scaled_value(strategy.max_surge, 1, True) != 0


def pods_should_be_on_node(
    ds: DaemonSet,
    name: str,
    pods: list[Pod] | None,
    verdict: tuple[bool, bool],
    hash_: str,
    may_delete_failed: Callable[[Pod], bool],
    succeeded: Callable[[Pod], None],
    at: float,
) -> tuple[list[str], list[Pod]]:
    """podsShouldBeOnNode: (nodes needing a daemon pod, pods to delete) for one node. A node
    that should run the pod and has none needs one; where it may continue, failed pods go
    (when their back-off allows) and succeeded ones, and of the running ones all but the
    oldest (with surge: see :func:`surge_excess`); where it may not continue, all go."""
    should_run, should_continue = verdict
    if should_run and not pods:
        return [name], []
    if not pods:
        return [], []
    if not should_continue:
        return [], [p for p in pods if p.metadata.deletion_timestamp is None]
    deletes: list[Pod] = []
    running: list[Pod] = []
    for pod in pods:
        if pod.metadata.deletion_timestamp is not None:
            continue
        if pod.status.phase == "Failed":
            if may_delete_failed(pod):
                deletes.append(pod)
        elif pod.status.phase == "Succeeded":
            succeeded(pod)
            deletes.append(pod)
        else:
            running.append(pod)
    if len(running) > 1:
        running.sort(key=by_creation)
    if not allows_surge(ds):
        return [], deletes + running[1:]
    if not running:
        return ([name] if should_run else []), deletes
    return [], deletes + surge_excess(ds, running, hash_, at)


__all__ = [
    "allows_surge",
    "find_updated_pods_on_node",
    "max_surge_and_unavailable",
    "pods_should_be_on_node",
    "rolling_update",
    "surge_excess",
]
