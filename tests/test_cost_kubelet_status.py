"""The kubelet status manager's own work per pod lifecycle, counted deterministically (issue 16).

Upstream's status manager (pkg/kubelet/status/status_manager.go) generates a pod's status on
each pod worker sync, merges the kubelet's conditions into the pod's (``mergePodStatus``) and
writes it only when it differs from the last one apart from conditions others own
(``needsUpdate``, ``isPodStatusByKubeletEqual``). These tests count what the model's version of
that costs and fail if work that changes nothing comes back:

- pod conditions allocated per lifecycle: only those whose value changed (a condition equal to
  the pod's current one is that one, and a status whose four kubelet conditions are all
  unchanged carries the pod's own tuple of them);
- the comparison with the last posted status: a status differing in its phase is told apart
  without reading the rest, and equal conditions are never filtered condition by condition.

(Statuses built per write and copies per write are counted in tests/test_cost_node.py and
tests/test_cost_node_steady.py.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs
import pytest
import trio

from kubechaos.api.objects import PodCondition, PodStatus, Probe
from kubechaos.node import initstate, podstate, readinessgates
from kubechaos.node.readinessgates import same_by_kubelet
from kubechaos.sim.clock import run_virtual
from tests.test_cost_node_steady import five_pod_lifecycles
from tests.test_kubelet import behaving, plane, start

READINESS = Probe(initial_delay_seconds=5, period_seconds=10)


def _counting_conditions(into: Counter[str], module: str) -> Callable[..., PodCondition]:
    def made(*args: Any, **kwargs: Any) -> PodCondition:
        into[module] += 1
        return PodCondition(*args, **kwargs)

    return made


def _count_kubelet_conditions(mp: pytest.MonkeyPatch, into: Counter[str]) -> None:
    """Count the PodConditions the kubelet's status code makes, and the merges that kept the
    pod's own tuple of conditions (``kept``) among all merges (``merged``)."""
    for module in (podstate, initstate, readinessgates):
        mp.setattr(module, "PodCondition", _counting_conditions(into, module.__name__))
    merge = getattr(podstate, "_conditions", None)
    if merge is None:
        return  # the merge is not a function of its own (the conditions are still counted)

    def counted(ps: Any, current: tuple[PodCondition, ...], t: float) -> Any:
        merged = merge(ps, current, t)
        into["merged"] += 1
        into["kept"] += merged is current
        return merged

    mp.setattr(podstate, "_conditions", counted)


def test_a_pod_lifecycle_makes_only_the_conditions_that_changed() -> None:
    """Five pods (a readiness probe each) created, Ready, deleted and gone: four status writes
    each (ContainerCreating, Running, Ready, terminated), and per pod exactly ten conditions
    made: the first write's four (PodReadyToStartContainers, Initialized, ContainersReady, Ready,
    pkg/kubelet/status/generate.go), PodReadyToStartContainers turning True when the sandbox
    is up, ContainersReady and Ready turning True, then the three turning False at the end.
    Every other condition written is the pod's own, unchanged (the transition time kept while
    the status holds, as status_manager.go's updateLastTransitionTime does). Rebuilding all
    four on every build made 15 per pod."""
    counts: Counter[str] = Counter()

    with pytest.MonkeyPatch.context() as mp:
        _count_kubelet_conditions(mp, counts)
        writes = run_virtual(five_pod_lifecycles, seed=0)
    assert writes == 5 * 4
    made = sum(counts[m.__name__] for m in (podstate, initstate, readinessgates))
    assert made == 5 * 10
    assert counts["merged"] == writes


def test_a_crash_looping_pod_writes_its_statuses_with_the_pods_own_conditions() -> None:
    """A container that crashes 2 s after each start, before its readiness probe's first
    result (5 s initial delay), for ten virtual minutes: 15 status writes (CrashLoopBackOff
    waits of 10 s, 20 s, 40 s ..., pkg/kubelet/kuberuntime doBackOff), and after the first two
    (ContainerCreating; Running with PodReadyToStartContainers True) every one changes only
    the container status (terminated, waiting, running again, with its restart count) while the
    pod stays not ready. Those 13 carry the pod's own tuple of conditions and make none: five
    conditions in all over the pod's life, where rebuilding all four on every build made 47."""
    counts: Counter[str] = Counter()

    async def main() -> int:
        ctx, net = await plane()
        async with trio.open_nursery() as nursery:
            kubelet, _ = start(nursery, ctx, net)
            await ctx.api.create(behaving("web", "crash-after=2s", readiness=READINESS))
            await trio.sleep(600)
            nursery.cancel_scope.cancel()
        return int(kubelet.status_writes)

    with pytest.MonkeyPatch.context() as mp:
        _count_kubelet_conditions(mp, counts)
        writes = run_virtual(main, seed=0)
    assert writes == 15
    assert sum(counts[m.__name__] for m in (podstate, initstate, readinessgates)) == 5
    assert counts["merged"] == writes
    assert counts["kept"] == 13


class _Reads:
    """A PodStatus that counts which of its fields are read."""

    def __init__(self, status: PodStatus, into: Counter[str]) -> None:
        self._status = status
        self._into = into

    def __getattr__(self, name: str) -> Any:
        self._into[name] += 1
        return getattr(self._status, name)


def test_a_status_whose_phase_changed_is_told_apart_by_its_phase_alone() -> None:
    """needsUpdate's comparison (isPodStatusByKubeletEqual, status_manager.go) asked about the
    sync after a container started (Pending -> Running): the phase answers, nothing else of
    either status is read; asked about two equal statuses (an echo of the kubelet's own write)
    every field is read once and the conditions are compared as tuples, never filtered one by
    one (``_own`` is not called)."""
    before = PodStatus(
        phase="Pending", conditions=(PodCondition("PodScheduled", "True", 1.0),), pod_ip=""
    )
    after = attrs.evolve(before, phase="Running", pod_ip="10.244.0.9")
    reads: Counter[str] = Counter()
    assert not same_by_kubelet(_Reads(before, reads), _Reads(after, reads))  # type: ignore[arg-type]
    assert reads == Counter({"phase": 2})

    filtered: Counter[str] = Counter()
    with pytest.MonkeyPatch.context() as mp:
        own = readinessgates._own
        mp.setattr(readinessgates, "_own", lambda s: filtered.update(["_own"]) or own(s))
        reads.clear()
        echo = attrs.evolve(after)
        assert same_by_kubelet(_Reads(echo, reads), _Reads(after, reads))  # type: ignore[arg-type]
        assert filtered == Counter()
        assert set(reads.values()) == {2}  # each field of each status once
        # a foreign condition added (a gate's): filtered, and still equal by the kubelet
        gate = attrs.evolve(after, conditions=(*after.conditions, PodCondition("g", "True")))
        assert same_by_kubelet(gate, after)
        assert filtered == Counter({"_own": 2})
