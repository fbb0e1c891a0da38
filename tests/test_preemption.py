"""Pod priority and preemption, end to end against upstream v1.32.

Priority admission: plugin/pkg/admission/priority/admission.go. Queue order:
pkg/scheduler/framework/plugins/queuesort/priority_sort.go. Preemption:
pkg/scheduler/framework/plugins/defaultpreemption/default_preemption.go and
pkg/scheduler/framework/preemption/preemption.go. Before these, every pod had priority 0 and a
full cluster never made room for anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import pytest
import trio

from kubechaos.api import errors
from kubechaos.api.objects import (
    ObjectMeta,
    Pod,
    PodDisruptionBudget,
    PodDisruptionBudgetSpec,
    PriorityClass,
    Resources,
)
from kubechaos.api.selectors import LabelSelector
from kubechaos.api.validation import validate_pod_spec
from kubechaos.client.context import Context
from kubechaos.cluster import Cluster
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.control.scheduler import Scheduler
from kubechaos.control.scheduler.cache import Placement
from kubechaos.control.scheduler.framework import NodeInfo, PodView
from kubechaos.control.scheduler.plugins import filter_node
from kubechaos.control.scheduler.preemption import Candidate, num_candidates
from kubechaos.observe.metrics.components import scheduler_families
from kubechaos.scenario.loader import ScenarioError, parse_scenario
from tests.golden import run_of

from .factories import deployment, pod, ready_node
from .harness import pods, running, wait_until

STORM = Path(__file__).resolve().parent.parent / "scenarios" / "preemption-storm.yaml"
ONE_CPU = Resources(1000, 16 * 2**30, 110)  # a node with room for two 400m pods, not three
SLOW_STOP = {"kubechaos.io/behaviour": "shutdown=20s"}  # victims take a while to go


def pclass(name: str, value: int, **kwargs: object) -> PriorityClass:
    return PriorityClass(ObjectMeta(name=name), value, **kwargs)  # type: ignore[arg-type]


def get_pod(cluster: Cluster, name: str) -> Pod | None:
    return cluster.api.cache("pods").get(f"/registry/pods/default/{name}")


def messages(cluster: Cluster, reason: str, name: str) -> list[str]:
    return [e.message for e in cluster.events.find(reason, obj=f"default/{name}")]


async def control_plane() -> Context:
    _, ctx = new_control_plane(1)
    await bootstrap(ctx)
    return ctx


@asynccontextmanager
async def full_node(*classes: PriorityClass) -> AsyncIterator[Cluster]:
    """One 1-CPU node running two 400m ``low`` pods (priority 100)."""
    async with running(nodes=1, capacity=ONE_CPU) as cluster:
        await cluster.apply([pclass("low", 100), *classes])
        for name in ("low-a", "low-b"):
            await cluster.apply(
                [
                    pod(
                        name,
                        labels={"app": name},
                        annotations=SLOW_STOP,
                        cpu=400,
                        priority_class_name="low",
                    )
                ]
            )
            await wait_until(lambda n=name: _running(cluster, n), 60, f"{name} running")
        yield cluster


def _running(cluster: Cluster, name: str) -> bool:
    found = get_pod(cluster, name)
    return found is not None and found.status.phase == "Running"


# ---------------------------------------------------------------------------- admission


async def test_system_classes_exist_and_pods_get_their_class_priority() -> None:
    """admission.go admitPod: priorityClassName resolves to the class's value and
    preemptionPolicy; no class and no global default gives 0 and PreemptLowerPriority. The
    apiserver bootstraps system-cluster-critical (2000000000) and system-node-critical
    (2000001000) (pkg/registry/scheduling/rest/storage_scheduling.go)."""
    ctx = await control_plane()
    classes = {pc.metadata.name: pc.value for pc in ctx.api.cache("priorityclasses").list()}
    assert classes == {"system-cluster-critical": 2000000000, "system-node-critical": 2000001000}
    await ctx.api.create(pclass("batch", 10, preemption_policy="Never"))
    critical = await ctx.api.create(pod("dns", priority_class_name="system-cluster-critical"))
    batch = await ctx.api.create(pod("batch", priority_class_name="batch"))
    plain = await ctx.api.create(pod("plain"))
    assert (critical.spec.priority, critical.spec.preemption_policy) == (
        2000000000,
        "PreemptLowerPriority",
    )
    assert (batch.spec.priority, batch.spec.preemption_policy) == (10, "Never")
    assert (plain.spec.priority, plain.spec.priority_class_name) == (0, "")
    assert plain.spec.preemption_policy == "PreemptLowerPriority"


async def test_global_default_class_applies_to_pods_without_a_class() -> None:
    """admission.go getDefaultPriority: a pod without priorityClassName gets the globalDefault
    class's name, value and policy."""
    ctx = await control_plane()
    await ctx.api.create(pclass("standard", 500, global_default=True))
    created = await ctx.api.create(pod("web"))
    assert (created.spec.priority_class_name, created.spec.priority) == ("standard", 500)


async def test_unknown_class_and_a_conflicting_priority_are_forbidden() -> None:
    """admission.go: "no PriorityClass with name X was found" and "the integer value of
    priority (N) must not be provided in pod spec; ..." are 403 Forbidden."""
    ctx = await control_plane()
    with pytest.raises(errors.Forbidden) as unknown:
        await ctx.api.create(pod("web", priority_class_name="nope"))
    assert unknown.value.code == 403
    assert unknown.value.message == (
        'pods "web" is forbidden: no PriorityClass with name nope was found'
    )
    with pytest.raises(errors.Forbidden, match=r"the integer value of priority \(7\)"):
        await ctx.api.create(pod("web", priority=7))


def test_manifest_priority_fields_are_read_and_validated() -> None:
    """pkg/apis/core/validation ValidatePodSpec: priorityClassName is a DNS-1123 subdomain,
    preemptionPolicy is Never or PreemptLowerPriority."""
    bad = pod("web", priority_class_name="Not_Valid", preemption_policy="Sometimes").spec
    causes = validate_pod_spec("spec", bad)
    assert any(c.startswith("spec.priorityClassName: Invalid value: 'Not_Valid'") for c in causes)
    assert any(c.startswith("spec.preemptionPolicy: Unsupported value") for c in causes)


def test_a_scenario_naming_an_undefined_class_is_a_located_error() -> None:
    """admission.go refuses every pod of a class the cluster lacks (403): a scenario whose
    workloads name one that neither they nor the built-in classes define cannot run as meant,
    so the loader says so at the workload, naming the object and the class."""
    text = """apiVersion: kubechaos/v1
kind: Scenario
metadata: {name: s}
spec:
  duration: 5m
  cluster: {nodeGroups: [{name: worker, count: 1}]}
  workloads:
    - manifest:
        apiVersion: v1
        kind: Pod
        metadata: {name: web}
        spec:
          priorityClassName: NAME
          containers: [{name: web, image: nginx}]
"""
    with pytest.raises(ScenarioError) as refused:
        parse_scenario(text.replace("NAME", "business-critical"))
    (error,) = refused.value.errors
    assert str(error).endswith(
        "spec.workloads[0]: Pod 'web': spec.priorityClassName: no PriorityClass "
        "'business-critical' among the workloads (nor a built-in one): the API server would "
        "refuse its pods (403 Forbidden)"
    )
    assert error.line == 8
    assert parse_scenario(text.replace("NAME", "system-node-critical")).workloads
    defined = text + (
        "    - manifest: {apiVersion: scheduling.k8s.io/v1, kind: PriorityClass,\n"
        "                 metadata: {name: business-critical}, value: 10}\n"
    )
    assert len(parse_scenario(defined.replace("NAME", "business-critical")).workloads) == 2


# ---------------------------------------------------------------------------- queue order


async def test_higher_priority_pod_is_scheduled_first() -> None:
    """queuesort/priority_sort.go Less: higher priority first, then the earlier enqueue. The
    low pod entered the queue first; the one free slot goes to the high one."""
    ctx = await control_plane()
    await ctx.api.create(ready_node("worker-0", cpu=1000))
    await ctx.api.create(pclass("high", 1000))
    await ctx.api.create(pod("low", cpu=800))
    await trio.sleep(1)
    await ctx.api.create(pod("high", cpu=800, priority_class_name="high"))
    scheduler = Scheduler(ctx)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(scheduler.run)
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    bound = {p.metadata.name: p.spec.node_name for p in ctx.api.cache("pods").list()}
    assert bound == {"high": "worker-0", "low": ""}


# ---------------------------------------------------------------------------- preemption


async def test_high_priority_pod_preempts_a_low_priority_one_on_a_full_node() -> None:
    """preemption.go Preempt/prepareCandidate: the victim gets DisruptionTarget (reason
    PreemptionByScheduler, "default-scheduler: preempting to accommodate a higher priority
    pod"), a graceful delete and a "Preempted by pod <uid> on node <node>" event; the
    preemptor gets status.nominatedNodeName, its FailedScheduling has no preemption part
    (schedule_one.go: PostFilter succeeded), and it is bound once the victim is gone.
    selectVictimsOnNode reprieves the earlier-started low-a: only low-b goes."""
    async with full_node(pclass("high", 1000)) as cluster:
        high = await cluster.api.create(pod("high", cpu=500, priority_class_name="high"))
        await wait_until(lambda: messages(cluster, "Preempted", "low-b"), 30, "the preemption")
        assert messages(cluster, "Preempted", "low-b") == [
            f"Preempted by pod {high.metadata.uid} on node worker-0"
        ]
        victim = get_pod(cluster, "low-b")
        assert victim is not None and victim.metadata.deletion_timestamp is not None
        cond = victim.status.condition("DisruptionTarget")
        assert cond is not None and (cond.status, cond.reason, cond.message) == (
            "True",
            "PreemptionByScheduler",
            "default-scheduler: preempting to accommodate a higher priority pod",
        )
        assert messages(cluster, "FailedScheduling", "high")[0] == (
            "0/1 nodes are available: 1 Insufficient cpu."
        )
        await wait_until(
            lambda: (
                (p := get_pod(cluster, "high")) is not None
                and p.status.nominated_node_name == "worker-0"
            ),
            10,
            "the nomination",
        )
        await wait_until(lambda: _running(cluster, "high"), 60, "high running")
        assert get_pod(cluster, "low-a") is not None and not messages(cluster, "Preempted", "low-a")
        assert cluster_metric(cluster, "scheduler_preemption_attempts_total") >= 1
        assert cluster_metric(cluster, "scheduler_preemption_victims_count") == 1
        assert cluster_metric(cluster, "scheduler_preemption_victims_sum") == 1


def cluster_metric(cluster: Cluster, name: str) -> float:
    return sum(s.value for m in scheduler_families(cluster) for s in m.samples if s.name == name)


async def test_a_budget_protected_victim_is_spared_when_another_exists() -> None:
    """default_preemption.go SelectVictimsOnNode / filterPodsWithPDBViolation: PDB-violating
    pods are reprieved first, so low-b (protected by a budget allowing no disruption, and the
    later-started one that would otherwise go) stays and low-a goes."""
    budget = PodDisruptionBudget(
        ObjectMeta(name="b", namespace="default"),
        PodDisruptionBudgetSpec(LabelSelector({"app": "low-b"}), min_available=1),
    )
    async with full_node(pclass("high", 1000)) as cluster:
        await cluster.apply([budget])
        await trio.sleep(5)
        await cluster.api.create(pod("high", cpu=500, priority_class_name="high"))
        await wait_until(lambda: messages(cluster, "Preempted", "low-a"), 30, "the preemption")
        assert not messages(cluster, "Preempted", "low-b")


async def test_a_budget_is_violated_when_no_other_victim_exists() -> None:
    """filterPodsWithPDBViolation only orders the victims: when the protected pods are the only
    lower-priority ones, one of them is preempted all the same."""
    budget = PodDisruptionBudget(
        ObjectMeta(name="all", namespace="default"),
        PodDisruptionBudgetSpec(LabelSelector({"tier": "low"}), min_available=2),
    )
    async with running(nodes=1, capacity=ONE_CPU) as cluster:
        await cluster.apply([pclass("low", 100), pclass("high", 1000), budget])
        await cluster.apply([deployment("low", 2, labels={"tier": "low"}, cpu=400)])
        await trio.sleep(20)
        await cluster.api.create(pod("high", cpu=500, priority_class_name="high"))
        await wait_until(lambda: _running(cluster, "high"), 90, "high running")
        assert len(cluster.events.find("Preempted")) == 1


async def test_preemption_policy_never_waits() -> None:
    """default_preemption.go PodEligibleToPreemptOthers: preemptionPolicy Never is "not
    eligible due to preemptionPolicy=Never."; nothing is evicted and the pod stays Pending."""
    async with full_node(pclass("polite", 1000, preemption_policy="Never")) as cluster:
        await cluster.api.create(pod("high", cpu=500, priority_class_name="polite"))
        await trio.sleep(30)
        assert not cluster.events.find("Preempted")
        assert messages(cluster, "FailedScheduling", "high")[0] == (
            "0/1 nodes are available: 1 Insufficient cpu. "
            "preemption: not eligible due to preemptionPolicy=Never."
        )
        high = get_pod(cluster, "high")
        assert high is not None and not high.spec.node_name


async def test_equal_priority_never_preempts() -> None:
    """SelectVictimsOnNode removes only pods of strictly lower priority: with none, the node's
    status is "No preemption victims found for incoming pod" and the FitError says so."""
    async with full_node() as cluster:
        await cluster.api.create(pod("same", cpu=500, priority_class_name="low"))
        await trio.sleep(30)
        assert not cluster.events.find("Preempted")
        assert messages(cluster, "FailedScheduling", "same")[0] == (
            "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are "
            "available: 1 No preemption victims found for incoming pod."
        )


async def test_not_again_while_a_victim_is_terminating_on_the_nominated_node() -> None:
    """PodEligibleToPreemptOthers: a retry while a pod it preempted is still terminating on its
    nominated node is "not eligible due to a terminating pod on the nominated node." (the
    unschedulable pods are flushed to a retry after 5 minutes; the victim takes 20 s beyond
    that to stop)."""
    async with running(nodes=1, capacity=ONE_CPU) as cluster:
        await cluster.apply([pclass("low", 100), pclass("high", 1000)])
        slow = pod("slow", annotations={"kubechaos.io/behaviour": "shutdown=1000s"}, cpu=800)
        slow = attrs.evolve(
            slow,
            spec=attrs.evolve(
                slow.spec, priority_class_name="low", termination_grace_period_seconds=320
            ),
        )
        await cluster.apply([slow])
        await wait_until(lambda: _running(cluster, "slow"), 60, "slow running")
        await cluster.api.create(pod("high", cpu=500, priority_class_name="high"))
        await wait_until(lambda: messages(cluster, "Preempted", "slow"), 30, "the preemption")
        await trio.sleep(305)
        assert (
            "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to a "
            "terminating pod on the nominated node."
        ) in messages(cluster, "FailedScheduling", "high")
        assert len(cluster.events.find("Preempted")) == 1
        await wait_until(lambda: _running(cluster, "high"), 60, "high running")


async def test_recreated_victims_stay_pending_behind_the_nominated_pod() -> None:
    """The victims' ReplicaSet recreates them at the low priority: they find no lower-priority
    victim and stay Pending, and the room goes to the nominated high-priority pod
    (RunFilterPluginsWithNominatedPods)."""
    async with running(nodes=1, capacity=ONE_CPU) as cluster:
        await cluster.apply([pclass("low", 100), pclass("high", 1000)])
        await cluster.apply([deployment("low", 2, cpu=400, priority_class_name="low")])
        await wait_until(lambda: len(pods(cluster, "low")) == 2, 30, "two low pods")
        await trio.sleep(20)
        await cluster.apply([deployment("high", 1, cpu=500, priority_class_name="high")])
        await wait_until(
            lambda: any(p.status.phase == "Running" for p in pods(cluster, "high")), 90, "high"
        )
        pending = [p for p in pods(cluster, "low") if not p.spec.node_name]
        assert len(pending) == 1
        failed = messages(cluster, "FailedScheduling", pending[0].metadata.name)
        assert failed and "No preemption victims found for incoming pod" in failed[-1]


async def test_nominated_pods_hold_their_room_against_lower_priority_pods() -> None:
    """RunFilterPluginsWithNominatedPods: a pod nominated to a node counts there for pods of no
    higher priority, so the room its victims leave is not taken by them."""
    ctx = await control_plane()
    await ctx.api.create(ready_node("worker-0", cpu=1000))
    scheduler = Scheduler(ctx)
    node = ready_node("worker-0", cpu=1000)
    scheduler.cache.node_changed(node)
    info = scheduler.cache.offered_node("worker-0")
    assert info is not None
    high = attrs.evolve(pod("high", cpu=600), spec=attrs.evolve(pod("h", cpu=600).spec, priority=9))
    low = pod("low", cpu=600)
    scheduler.preemption.nominator.update(PodView("default/high", high), "worker-0")
    low_view = PodView("default/low", low)
    assert filter_node(low_view, info) is None
    assert scheduler.preemption.filter(low_view, info) is not None
    assert scheduler.preemption.filter(PodView("default/high", high), info) is None


def victim(priority: int, started: float) -> Placement:
    base = pod(f"v-{priority}-{started}")
    placed = attrs.evolve(
        base,
        spec=attrs.evolve(base.spec, priority=priority),
        status=attrs.evolve(base.status, start_time=started),
    )
    return Placement("n", placed, assumed=False)


def best(*candidates: tuple[str, int, list[Placement]]) -> str:
    built = [
        Candidate(NodeInfo(name), victims, violations) for name, violations, victims in candidates
    ]
    return max(built, key=Candidate.rank).info.name


def test_the_node_is_picked_by_upstreams_criteria_in_order() -> None:
    """preemption.go pickOneNodeForPreemption: fewest PDB violations, then the lowest highest
    victim priority, the smallest priority sum, the fewest victims, the latest start of the
    highest-priority victims, then the first."""
    assert best(("a", 1, [victim(1, 0)]), ("b", 0, [victim(50, 0)])) == "b"
    assert best(("a", 0, [victim(50, 0)]), ("b", 0, [victim(10, 0), victim(10, 0)])) == "b"
    assert best(("a", 0, [victim(10, 0), victim(9, 0)]), ("b", 0, [victim(10, 0)])) == "b"
    # equal sums (offset by 2^31 per victim, so fewer victims is a smaller sum first)
    assert best(("a", 0, [victim(10, 5)]), ("b", 0, [victim(10, 9)])) == "b"
    assert best(("a", 0, [victim(10, 5)]), ("b", 0, [victim(10, 5)])) == "a"


def test_candidate_search_is_bounded_as_upstream() -> None:
    """default_preemption.go calculateNumCandidates: max(nodes * 10 %, 100), at most the
    nodes."""
    assert num_candidates(50, 10, 100) == 50
    assert num_candidates(500, 10, 100) == 100
    assert num_candidates(5000, 10, 100) == 500


# ---------------------------------------------------------------------------- the scenario


def test_preemption_storm_scenario() -> None:
    """scenarios/preemption-storm.yaml: the scale-up at 2m preempts exactly the four batch
    workers the four new checkout pods need (one Preempted event each, every victim with
    DisruptionTarget PreemptionByScheduler), checkout is whole again once the victims' 10 s
    shutdown is over, the recreated workers stay Pending with "No preemption victims found for
    incoming pod", and the node crash's replacements preempt again."""
    run = run_of(STORM.stem)
    preempted = run.events.find(reason="Preempted")
    at_scale_up = [e for e in preempted if 120 <= e.time < 125]
    assert len(at_scale_up) == 4
    assert any(e.time > 600 for e in preempted), "the crashed node's replacements preempt too"
    pending = [
        p
        for p in run.cluster.api.cache("pods").list("default")
        if p.metadata.labels.get("app") == "batch" and not p.spec.node_name
    ]
    assert len(pending) >= 4  # the preempted workers, recreated, never placed again
    last = [
        e.message
        for e in run.events.find("FailedScheduling", obj=f"default/{pending[0].metadata.name}")
    ]
    assert last and "No preemption victims found for incoming pod" in last[-1]
    available = [
        e.time
        for e in run.events.find(reason="DeploymentAvailable")
        if e.object == "default/checkout" and 120 < e.time < 300
    ]
    assert available and 130 <= available[0] <= 150  # 10 s shutdown + start-up
    assert run.slo_ok
