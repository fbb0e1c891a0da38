"""The ``DisruptionTarget`` pod condition, added before a controller deletes a pod (v1.32).

Upstream: pkg/apis/core/types.go (``DisruptionTarget`` and its reasons),
pkg/controller/tainteviction/taint_eviction.go ``addConditionAndDeletePod``.
"""

from __future__ import annotations

import attrs
import trio

from kubechaos.api.objects import Taint

from .test_nodelifecycle import cluster, deleted_at, get_pod, running_pod


async def test_taint_eviction_adds_disruption_target_before_deleting_once() -> None:
    """taint_eviction.go addConditionAndDeletePod: the pod gets DisruptionTarget True, reason
    DeletionByTaintManager, then one graceful deletion (the condition's own status update does
    not schedule a second one: the timed worker queue keeps a done worker's key)."""
    async with cluster("n1") as (ctx, _):
        await running_pod(ctx, "plain", "n1")
        await trio.sleep(3)
        drain = Taint("example.com/drain", "NoExecute", time_added=trio.current_time())
        await ctx.api.patch(
            "nodes",
            "",
            "n1",
            lambda n: attrs.evolve(n, spec=attrs.evolve(n.spec, taints=(*n.spec.taints, drain))),
        )
        await trio.sleep(2)
        p = await get_pod(ctx, "plain")
        assert deleted_at(p) is not None
        cond = p.status.condition("DisruptionTarget")
        assert cond is not None and (cond.status, cond.reason) == (
            "True",
            "DeletionByTaintManager",
        )
        assert [e.message for e in ctx.events.find("TaintManagerEviction")] == [
            "Marking for deletion Pod default/plain"
        ]
