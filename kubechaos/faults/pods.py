"""Faults aimed at pods through the API server: what ``kubectl delete pod`` does to a workload."""

from __future__ import annotations

import contextlib

import attrs

from kubechaos.api import errors
from kubechaos.faults.base import Fault, FaultEnv, fault_type, param
from kubechaos.faults.chaos import keys, select_pods


@fault_type(
    "pod-kill",
    target="pods",
    lasting=False,
    summary="deletes matching pods through the API (grace period configurable, 0 = force)",
)
@attrs.define(kw_only=True)
class PodKill(Fault):
    grace_period: float | None = param(
        None,
        "gracePeriod",
        "duration",
        "how long the pods get to stop; 0 deletes at once (--force); default: the pod's own "
        "terminationGracePeriodSeconds",
    )

    async def inject(self, env: FaultEnv) -> list[str]:
        pods = await select_pods(env, self.target)
        grace = None if self.grace_period is None else int(self.grace_period)
        for pod in pods:
            # A pod that went away since the list is not a failure: it is already gone.
            with contextlib.suppress(errors.NotFound):
                await env.cluster.api.delete(
                    "pods",
                    pod.metadata.namespace,
                    pod.metadata.name,
                    grace_period_seconds=grace,
                    uid=pod.metadata.uid,
                )
        return keys(pods)
