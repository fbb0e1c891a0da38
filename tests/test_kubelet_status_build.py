"""The status the kubelet builds and its comparison with the last one posted, checked against
their plain definitions on many random pods (issue 16 made both cheaper; they must not change).

- ``build_status``'s conditions: the kubelet's four (PodReadyToStartContainers, Initialized,
  ContainersReady, Ready: pkg/kubelet/status/generate.go) merged into the pod's current ones,
  keeping the conditions other writers own (pkg/kubelet/status/status_manager.go
  ``mergePodStatus``), each kept condition keeping its transition time while its status holds;
- ``same_by_kubelet``: upstream's ``isPodStatusByKubeletEqual`` (status_manager.go): two
  statuses equal once the conditions the kubelet does not own are dropped.
"""

from __future__ import annotations

import random

import attrs
import pytest
import trio

from kubechaos.api.objects import ContainerStatus, PodCondition, PodStatus
from kubechaos.node.initstate import ready_to_start_condition
from kubechaos.node.podstate import (
    KUBELET_CONDITIONS,
    RUNNING,
    SANDBOX_READY,
    ContainerRun,
    PodState,
    build_status,
    pod_phase,
)
from kubechaos.node.readinessgates import gated_ready, same_by_kubelet
from kubechaos.sim.clock import now, run_virtual
from tests.factories import pod

TYPES = (*KUBELET_CONDITIONS, "PodScheduled", "DisruptionTarget", "example.com/gate")


def _reference(ps: PodState, host_ip: str) -> PodStatus:
    """``build_status`` as first written: all four conditions built anew, then merged (the
    first condition of each type replaced in place, the missing ones appended)."""
    current = ps.pod.status
    start = ps.start_time if ps.start_time is not None else 0.0
    not_ready = "" if ps.ready_status == "True" else "ContainersNotReady"
    if ps.terminal or ps.finished:
        not_ready = "PodCompleted"
    t = now()
    mine = {
        "PodReadyToStartContainers": ready_to_start_condition(ps, ps.sandbox == SANDBOX_READY, t),
        "Initialized": PodCondition("Initialized", "True", start),
        "ContainersReady": PodCondition(
            "ContainersReady", ps.ready_status, ps.ready_since, not_ready
        ),
        "Ready": PodCondition("Ready", ps.ready_status, ps.ready_since, not_ready)
        if not (ps.pod.spec.readiness_gates and ps.ready_status == "True")
        else gated_ready(ps.pod, t),
    }
    conditions = [mine.pop(cond.type, cond) for cond in current.conditions]
    conditions.extend(mine.values())
    return PodStatus(
        phase=pod_phase(ps),
        conditions=tuple(conditions),
        container_statuses=tuple(run.status() for run in ps.runs),
        pod_ip=ps.ip,
        host_ip=host_ip,
        start_time=ps.start_time,
    )


def _condition(rng: random.Random, type_: str) -> PodCondition:
    return PodCondition(
        type_,
        rng.choice(("True", "False")),
        rng.choice((0.0, 3.0, 7.0)),
        rng.choice(("", "ContainersNotReady", "PodCompleted")),
        rng.choice(("", "", "a message")),
    )


def _random_pod_state(rng: random.Random) -> PodState:
    gates = ("example.com/gate",) if rng.random() < 0.3 else ()
    spec_pod = pod("web", readiness_gates=gates)
    conditions = [_condition(rng, rng.choice(TYPES)) for _ in range(rng.randrange(7))]
    spec_pod = attrs.evolve(spec_pod, status=PodStatus(conditions=tuple(conditions)))
    ps = PodState(spec_pod)
    run = ContainerRun(ps, 0, spec_pod.spec.containers[0], None)
    ps.runs.append(run)
    ps.start_time = rng.choice((None, 3.0))
    if rng.random() < 0.6:
        ps.sandbox, ps.ip = SANDBOX_READY, "10.244.0.9"
        run.state, run.started, run.started_at = RUNNING, True, 3.0
        run.ready = rng.random() < 0.5
    ps.ready_status = rng.choice(("True", "False"))
    ps.ready_since = rng.choice((0.0, 3.0, 7.0))
    ps.terminal = rng.random() < 0.2
    ps.finished = rng.random() < 0.2
    return ps


def test_the_built_conditions_are_the_plain_merge_of_the_kubelets_four() -> None:
    """On 3,000 random pods (conditions in any order, duplicated, foreign, equal to the ones
    the kubelet would build or not; readiness gates or not) the status built equals the one
    the plain merge builds (status_manager.go mergePodStatus keeps the other writers'
    conditions; generate.go's conditions keep their transition time while their status holds),
    field by field and condition by condition. When the kubelet's four are all unchanged the
    pod's own tuple of conditions is returned (nothing is allocated for it)."""
    rng = random.Random(16)
    kept = 0

    async def main() -> None:
        nonlocal kept
        await trio.sleep(9)
        for _ in range(3000):
            ps = _random_pod_state(rng)
            built = build_status(ps, "10.0.0.1")
            assert built == _reference(ps, "10.0.0.1")
            assert [type(c) for c in built.conditions] == [PodCondition] * len(built.conditions)
            echoed = attrs.evolve(ps.pod, status=built)
            ps.pod = echoed
            again = build_status(ps, "10.0.0.1")
            assert again == built
            assert again.conditions is echoed.status.conditions  # unchanged: the pod's own
            kept += 1

    run_virtual(main, seed=0)
    assert kept == 3000


def _isPodStatusByKubeletEqual(old: PodStatus, new: PodStatus) -> bool:
    """The plain definition: compare copies with the foreign conditions dropped."""

    def own(status: PodStatus) -> PodStatus:
        return attrs.evolve(
            status,
            conditions=tuple(c for c in status.conditions if c.type in KUBELET_CONDITIONS),
        )

    return own(old) == own(new)


def _random_status(rng: random.Random, base: PodStatus | None) -> PodStatus:
    if base is not None and rng.random() < 0.5:
        # a neighbour of base: one field or one condition changed, or a foreign condition added
        change = rng.randrange(5)
        if change == 0:
            return attrs.evolve(base, phase=rng.choice(("Pending", "Running")))
        if change == 1:
            return attrs.evolve(base, pod_ip=rng.choice(("", "10.244.0.9")))
        if change == 2:
            return attrs.evolve(base, conditions=(*base.conditions, _condition(rng, "X")))
        if change == 3:
            return attrs.evolve(base, container_statuses=(ContainerStatus("app", "running"),))
        return attrs.evolve(base, conditions=tuple(reversed(base.conditions)))
    return PodStatus(
        phase=rng.choice(("Pending", "Running")),
        conditions=tuple(_condition(rng, rng.choice(TYPES)) for _ in range(rng.randrange(5))),
        container_statuses=(ContainerStatus("app", rng.choice(("waiting", "running"))),),
        pod_ip=rng.choice(("", "10.244.0.9")),
        start_time=rng.choice((None, 3.0)),
        nominated_node_name=rng.choice(("", "n2")),
    )


@pytest.mark.parametrize("seed", range(3))
def test_same_by_kubelet_is_upstreams_is_pod_status_by_kubelet_equal(seed: int) -> None:
    """On random pairs of statuses (neighbours differing in one field, one condition, a foreign
    condition, the order of conditions), ``same_by_kubelet`` answers as comparing the two with
    the conditions the kubelet does not own dropped (status_manager.go
    isPodStatusByKubeletEqual; PodConditionByKubelet in pkg/kubelet/types/pod_status.go)."""
    rng = random.Random(seed)
    verdicts = set()
    for _ in range(2000):
        a = _random_status(rng, None)
        b = _random_status(rng, a)
        expected = _isPodStatusByKubeletEqual(a, b)
        assert same_by_kubelet(a, b) is expected
        assert same_by_kubelet(b, a) is expected
        assert same_by_kubelet(a, attrs.evolve(a)) is True
        verdicts.add(expected)
    assert verdicts == {True, False}
