"""Faults aimed at pods through the API server: what ``kubectl delete pod`` (``pod-kill``) and
the Eviction API (``pod-evict``) do to a workload."""

from __future__ import annotations

import contextlib

import attrs
import trio

from kubechaos.api import errors
from kubechaos.faults.base import Fault, FaultEnv, fault_type, param
from kubechaos.faults.chaos import keys, select_pods
from kubechaos.faults.evict import evict_with_retry


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
        "how long the pods get to stop; 0 deletes at once (--force), pods already Terminating "
        "included; default: the pod's own terminationGracePeriodSeconds",
    )

    async def inject(self, env: FaultEnv) -> list[str]:
        grace = None if self.grace_period is None else int(self.grace_period)
        # A force delete (0) also takes pods already Terminating: it is what removes a pod whose
        # node is gone (no kubelet will ever confirm its graceful deletion).
        pods = await select_pods(env, self.target, terminating=grace == 0)
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


@fault_type(
    "pod-evict",
    target="pods",
    lasting=False,
    summary="evicts matching pods through the Eviction API: PodDisruptionBudgets are respected "
    "(a refused eviction is retried every 5 s, as kubectl drain does)",
)
@attrs.define(kw_only=True)
class PodEvict(Fault):
    """POST ``pods/eviction`` for each matching pod: unlike ``pod-kill`` (a delete, which no
    budget can stop, as Chaos Mesh's pod-kill), a pod whose PodDisruptionBudget allows no
    disruption is refused (429) and the eviction retried every 5 s until it passes or
    ``timeout`` ends. A pod gets ``DisruptionTarget`` before its graceful deletion."""

    grace_period: float | None = param(
        None,
        "gracePeriod",
        "duration",
        "how long the pods get to stop; default: the pod's own terminationGracePeriodSeconds",
    )
    timeout: float = param(
        0.0,
        "timeout",
        "duration",
        "how long refused evictions are retried; 0 tries each pod once",
    )

    async def inject(self, env: FaultEnv) -> list[str]:
        pods = await select_pods(env, self.target)
        grace = None if self.grace_period is None else int(self.grace_period)
        retry = env.cluster.ctx.settings.drain_evict_retry_seconds

        async def evict_all() -> None:
            with trio.move_on_after(self.timeout):
                async with trio.open_nursery() as nursery:
                    for pod in pods:
                        nursery.start_soon(evict_with_retry, env.cluster, pod, grace, retry)

        if self.timeout > 0:
            env.nursery.start_soon(evict_all)
        else:
            for pod in pods:
                await evict_with_retry(env.cluster, pod, grace, None)
        return keys(pods)
