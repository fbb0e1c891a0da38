"""Evicting pods as ``kubectl drain`` does (staging/src/k8s.io/kubectl/pkg/drain/drain.go and
cmd/drain): which pods a drain may take, and the eviction loop that retries a refused (429)
eviction every 5 s. Shared by ``node-drain`` and ``pod-evict``.

What kubectl prints is recorded as ``kubectl`` events with the same words: ``evicting pod
<ns>/<name>``, ``error when evicting pods/"<name>" -n "<ns>" (will retry after 5s): <message>``,
``pod/<name> evicted``.
"""

from __future__ import annotations

import attrs

from kubechaos.api import errors
from kubechaos.api.objects import Pod
from kubechaos.cluster import Cluster
from kubechaos.faults.chaos import pod_key
from kubechaos.sim import timers

COMPONENT = "kubectl"


@attrs.frozen
class DrainFilter:
    """drain.go GetPodsForDeletion's filters: DaemonSet pods are skipped
    (``--ignore-daemonsets``), pods with no controller refused unless ``--force``."""

    force: bool = False

    def split(self, pods: list[Pod]) -> tuple[list[Pod], list[Pod]]:
        """(pods to evict, bare pods that stop the drain)."""
        evict, bare = [], []
        for pod in pods:
            ref = pod.metadata.controller_ref()
            if ref is not None and ref.kind == "DaemonSet":
                continue
            if pod.is_terminal() or pod.metadata.deletion_timestamp is not None:
                evict.append(pod)  # deleted/finished pods are always deletable
            elif ref is None and not self.force:
                bare.append(pod)
            else:
                evict.append(pod)
        return evict, bare


async def evict_with_retry(
    cluster: Cluster,
    pod: Pod,
    grace: int | None,
    retry_seconds: float | None,
    wait_interval: float | None = None,
) -> bool:
    """drain.go evictPods for one pod: POST its eviction; a 429 (a budget refuses) is retried
    every ``retry_seconds`` (``None``: not retried) until it passes or the caller's scope
    ends. With ``wait_interval`` (kubectl drain), an accepted eviction is then waited on as
    drain.go waitForDelete does: the pod is polled every ``wait_interval`` until it is gone or
    replaced by a pod of another UID, and only then reported ``evicted``. True once evicted (or
    already gone); False on any other error, which stops the drain of this pod, as kubectl."""
    api, events = cluster.api, cluster.events
    ns, name = pod.metadata.namespace, pod.metadata.name
    events.record(COMPONENT, "Pod", pod_key(pod), "Evicting", f"evicting pod {ns}/{name}")
    while True:
        try:
            await api.evict(ns, name, grace_period_seconds=grace)
        except errors.NotFound:
            return True
        except errors.TooManyRequests as exc:
            if retry_seconds is None:
                events.record(
                    COMPONENT,
                    "Pod",
                    pod_key(pod),
                    "EvictionRefused",
                    f'error when evicting pods/"{name}" -n "{ns}": {exc.message}',
                )
                return False
            events.record(
                COMPONENT,
                "Pod",
                pod_key(pod),
                "EvictionRefused",
                f'error when evicting pods/"{name}" -n "{ns}" (will retry after '
                f"{retry_seconds:g}s): {exc.message}",
            )
            await timers.sleep(retry_seconds)
            continue
        except errors.APIError as exc:
            events.record(
                COMPONENT,
                "Pod",
                pod_key(pod),
                "EvictionFailed",
                f'error when evicting pods/"{name}" -n "{ns}": {exc}',
            )
            return False
        if wait_interval is not None:
            await _wait_for_delete(cluster, pod, wait_interval)
        events.record(COMPONENT, "Pod", pod_key(pod), "Evicted", f"pod/{name} evicted")
        return True


async def _wait_for_delete(cluster: Cluster, pod: Pod, interval: float) -> None:
    """drain.go waitForDelete (wait.PollImmediate): until a get answers NotFound or a pod of
    another UID (a StatefulSet's replacement), checking at once and then every ``interval``. A
    failed get (the API server down) is polled again, as the drain's global timeout, not this
    loop, bounds it here."""
    ns, name, uid = pod.metadata.namespace, pod.metadata.name, pod.metadata.uid
    while True:
        try:
            current = await cluster.api.get("pods", ns, name)
        except errors.NotFound:
            return
        except errors.APIError:
            current = None
        if current is not None and current.metadata.uid != uid:
            return
        await timers.sleep(interval)


__all__ = ["COMPONENT", "DrainFilter", "evict_with_retry"]
