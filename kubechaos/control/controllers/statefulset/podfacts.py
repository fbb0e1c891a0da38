"""What a StatefulSet sync reads of each pod's status, read once per version of the pod.

Upstream's syncStatefulSet lists the set's pods and updateStatefulSet walks them on every sync
(pkg/controller/statefulset/stateful_set_control.go: processReplica's isRunningAndReady,
isRunningAndAvailable, isFailed/isSucceeded; computeReplicaStatus), and a set's pods each change
a few times on their way to Ready, so a sync per pod event reads replicas x events over a
scale-up. Here a pod's terminal phase and Ready time are read from its status the first time a
sync sees that version of the pod (the informer hands each version over as a new object) and
kept until the pod changes or goes; the walk itself stays upstream's.
"""

from __future__ import annotations

from kubechaos.api.objects import Pod, key_of


class PodFacts:
    """Per pod key: (the pod version seen, whether it is Failed or Succeeded, its Ready time)."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[Pod, bool, float | None]] = {}

    def of(self, pod: Pod) -> tuple[bool, float | None]:
        """(terminal, Ready since or None) of this version of the pod."""
        if not pod.metadata.uid:
            return False, None  # a replica not created yet: Pending, no conditions
        key = key_of(pod)
        hit = self._seen.get(key)
        if hit is not None and hit[0] is pod:
            return hit[1], hit[2]
        terminal, since = pod.is_terminal(), pod.ready_since()
        self._seen[key] = (pod, terminal, since)
        return terminal, since

    def since(self, pod: Pod) -> float | None:
        return self.of(pod)[1]

    def forget(self, pod: Pod) -> None:
        self._seen.pop(key_of(pod), None)


__all__ = ["PodFacts"]
