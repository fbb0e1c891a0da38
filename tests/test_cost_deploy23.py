"""What a Deployment sync that writes its status costs the controller's own code (issue 16),
counted deterministically, never timed.

- a status write whose Available condition stands builds one DeploymentStatus and no condition,
  works out minimum availability once and copies the Deployment with ``copying.replace``, never
  ``attrs.evolve`` (the old path built the Available condition only to find it there and copied
  with ``attrs.evolve``);
- a progressing rollout rewrites its Progressing condition as one condition object, built with
  the transition time it keeps (the old path built it, then copied it with ``attrs.evolve`` to
  set that time, and built the Available condition too);
- FindNewReplicaSet picks the oldest matching ReplicaSet without sorting them all on every sync,
  and still the oldest when more than one matches;
- maxSurge and maxUnavailable are resolved from their percentages once per strategy and size,
  not on every sync (the old path parsed both percentages at each ask).

Each count fails if the removed work comes back. Calls are counted by the file of the caller
(:func:`tests.test_cost_controllers_sync.calls_from`), so the API server's copies do not count.
"""

from __future__ import annotations

from collections import Counter

import attrs
import trio

from kubechaos.api import rollout
from kubechaos.api.objects import DeploymentCondition, DeploymentStatus, ObjectMeta, copying
from kubechaos.control.controllers.deployment import util as deployment_util
from kubechaos.control.controllers.deployment.progress import sync_rollout_status
from kubechaos.control.controllers.deployment.sync import DeploymentSync

from .factories import deployment, replicaset
from .test_cost_controllers_sync import (
    _converged_deployment,
    calls_from,
    stale_converged_deployment,
)
from .test_replicaset import control_plane

_DEPLOYMENT_CODE = ("controllers/deployment/",)


def _counted() -> dict[str, object]:
    return {
        "status": DeploymentStatus.__init__,
        "condition": DeploymentCondition.__init__,
        "evolve": attrs.evolve,
        "replace": copying.replace,
        "minimum": deployment_util.minimum_available,
    }


async def test_a_status_write_whose_available_condition_stands_builds_no_condition() -> None:
    """pkg/controller/deployment/sync.go calculateStatus: the counts from the ReplicaSets, then
    SetDeploymentCondition of the Available condition (MinimumReplicasAvailable), which changes
    nothing when a condition of that status and reason is there. A Deployment whose cached
    ready count is stale syncs: one status is built from the counts, with the Deployment's own
    conditions (no condition is built only to be found there), minimum availability is worked
    out once, and the write copies the Deployment once with ``copying.replace``."""
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        dc = await stale_converged_deployment(ctx, nursery)
        stale = dc.deployments.get("default/web")
        assert stale is not None
        with calls_from(_DEPLOYMENT_CODE, **_counted()) as counts:
            await dc.sync("default/web")
        assert counts == Counter(status=1, minimum=1, replace=1), counts
        written = await ctx.api.get("deployments", "default", "web")
        assert written.status.ready_replicas == 3
        assert written.status.conditions == stale.status.conditions
        nursery.cancel_scope.cancel()


async def test_a_progressing_rollout_builds_its_progressing_condition_once() -> None:
    """pkg/controller/deployment/progress.go syncRolloutStatus: while a rollout progresses
    (here: more Ready replicas than the status says, one replica short of ``spec.replicas``),
    the Progressing condition is rewritten as ReplicaSetUpdated with a new lastUpdateTime and,
    since it stays True, the old lastTransitionTime. That is one condition built with that
    transition time, one status copy with it and the Deployment's copy for the write; no
    Available condition (it stands) and no ``attrs.evolve``."""
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        dc = await _converged_deployment(ctx, nursery)
        d = dc.deployments.get("default/web")
        assert d is not None
        old_progressing = DeploymentCondition(
            deployment_util.PROGRESSING, "True", deployment_util.RS_UPDATED, "progressing", 1.0, 1.0
        )
        others = [c for c in d.status.conditions if c.type != deployment_util.PROGRESSING]
        conditions = (*others, old_progressing)
        stale = attrs.evolve(
            d,
            spec=attrs.evolve(d.spec, replicas=4),
            status=attrs.evolve(d.status, ready_replicas=0, conditions=conditions),
        )
        rs_list = dc._rs_by_owner.owned_by(d.metadata.uid)
        sync = DeploymentSync(dc, stale, rs_list)
        with calls_from(_DEPLOYMENT_CODE, **_counted()) as counts:
            await sync_rollout_status(sync, rs_list, rs_list[0])
        assert counts == Counter(status=1, condition=1, minimum=1, replace=2), counts
        progressing = sync.d.status.condition(deployment_util.PROGRESSING)
        assert progressing is not None and progressing.reason == deployment_util.RS_UPDATED
        assert progressing.last_transition_time == 1.0
        assert progressing.last_update_time > 1.0
        nursery.cancel_scope.cancel()


def test_find_new_replica_set_takes_the_oldest_match_without_sorting() -> None:
    """pkg/controller/deployment/util/deployment_util.go FindNewReplicaSet sorts the
    ReplicaSets by creation (ReplicaSetsByCreationTimestamp, names breaking ties) and returns
    the first whose template equals the Deployment's ignoring pod-template-hash. The oldest
    match is returned, equal creation times going to the smaller name; with one match the
    sort key is never read."""
    d = deployment("web")
    template = d.spec.template

    def made(name: str, created: float, matching: bool) -> object:
        rs = replicaset(name, labels={"app": "other"})
        if matching:
            rs = attrs.evolve(rs, spec=attrs.evolve(rs.spec, template=template))
        meta: ObjectMeta = attrs.evolve(rs.metadata, uid=name, creation_timestamp=created)
        return attrs.evolve(rs, metadata=meta)

    old, new, twin_b, twin_a = (
        made("old", 1.0, False),
        made("new", 5.0, True),
        made("twin-b", 3.0, True),
        made("twin-a", 3.0, True),
    )
    with calls_from(("deployment/util.py",), key=deployment_util.by_creation) as counts:
        assert deployment_util.find_new_replica_set(d, [old, new]) is new  # type: ignore[list-item]
    assert counts == Counter(), counts
    found = deployment_util.find_new_replica_set(d, [new, twin_b, old, twin_a])  # type: ignore[list-item]
    assert found is twin_a


def test_a_deployment_s_fenceposts_are_resolved_once_per_strategy_and_size() -> None:
    """pkg/controller/deployment/util/deployment_util.go ResolveFenceposts (MaxSurge,
    MaxUnavailable): maxSurge and maxUnavailable, each an int or a percentage of
    ``spec.replicas`` (intstr.GetScaledValueFromIntOrPercent), maxSurge rounded up and
    maxUnavailable down, unavailable 1 if both are 0. Every Deployment sync asks (the Available
    condition's minimum); the percentages are read once per strategy and size, not per sync,
    and the answers are upstream's."""
    rollout.resolve_fenceposts.cache_clear()
    d = deployment("web", replicas=10)  # the default strategy: 25% and 25%
    with calls_from(("api/rollout.py",), scaled=rollout.scaled_value) as counts:
        for _ in range(5):
            assert rollout.max_surge(d) == 3
            assert rollout.max_unavailable(d) == 2
    assert counts == Counter(scaled=2), counts
    assert rollout.resolve_fenceposts("0%", "10%", 3) == (0, 1)
    small = attrs.evolve(d, spec=attrs.evolve(d.spec, replicas=3))
    assert (rollout.max_surge(small), rollout.max_unavailable(small)) == (1, 0)
