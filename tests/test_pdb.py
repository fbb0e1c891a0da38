"""PodDisruptionBudgets, the Eviction API and ``kubectl drain``, end to end against upstream
v1.32: pkg/controller/disruption/disruption.go (status), pkg/registry/core/pod/storage/
eviction.go (the ``pods/eviction`` subresource), staging/src/k8s.io/kubectl/pkg/drain/drain.go
(the drain). Before these, a node-drain deleted pods a budget protected within milliseconds."""

from __future__ import annotations

import itertools

import attrs
import pytest
import trio

from kubechaos.api import errors
from kubechaos.api.objects import (
    ObjectMeta,
    Pod,
    PodCondition,
    PodDisruptionBudget,
    PodDisruptionBudgetSpec,
    PodDisruptionBudgetStatus,
    PodStatus,
    Probe,
)
from kubechaos.api.selectors import LabelSelector
from kubechaos.cluster import Cluster
from kubechaos.control.controllermanager import ControllerManager
from kubechaos.control.registry import eviction
from kubechaos.control.registry.eviction import MAX_DISRUPTED_POD_SIZE
from kubechaos.faults import Chaos, NodeDrain, PodEvict, Target
from kubechaos.observe.metrics.collector import ClusterCollector
from kubechaos.observe.metrics.kubestate import KubeStateMetrics
from kubechaos.sim.events import Event

from .factories import deployment, pod
from .harness import pods, ready_pods, running, wait_until

READINESS = Probe(period_seconds=1, failure_threshold=1)


def budget(
    name: str = "web",
    min_available: int | str | None = None,
    max_unavailable: int | str | None = None,
    policy: str = "IfHealthyBudget",
    labels: dict[str, str] | None = None,
) -> PodDisruptionBudget:
    return PodDisruptionBudget(
        ObjectMeta(name=name, namespace="default"),
        PodDisruptionBudgetSpec(
            LabelSelector(labels or {"app": "web"}), min_available, max_unavailable, policy
        ),
    )


def get_budget(cluster: Cluster, name: str = "web") -> PodDisruptionBudget:
    return cluster.api.cache("poddisruptionbudgets").get(
        f"/registry/poddisruptionbudgets/default/{name}"
    )


def get_pod(cluster: Cluster, name: str) -> Pod | None:
    return cluster.api.cache("pods").get(f"/registry/pods/default/{name}")


async def web_with_budget(cluster: Cluster, replicas: int, pdb: PodDisruptionBudget) -> None:
    await cluster.apply([deployment("web", replicas, readiness=READINESS), pdb])
    await wait_until(lambda: len(ready_pods(cluster)) == replicas, 60, "ready pods")
    await wait_until(
        lambda: get_budget(cluster, pdb.metadata.name).status.current_healthy == replicas,
        30,
        "the budget's status",
    )


async def test_disruption_controller_status_integer_and_percent() -> None:
    """disruption.go getExpectedPodCount / countHealthyPods / updatePdbStatus: an integer
    minAvailable counts the selected pods; a percentage maxUnavailable scales the owning
    Deployment's replicas (rounded up); disruptionsAllowed = currentHealthy - desiredHealthy;
    the DisruptionAllowed condition follows."""
    async with running(nodes=3) as cluster:
        await web_with_budget(cluster, 3, budget(min_available=3))
        status = get_budget(cluster).status
        assert (status.current_healthy, status.desired_healthy, status.expected_pods) == (3, 3, 3)
        assert status.disruptions_allowed == 0 and status.observed_generation == 1
        cond = status.condition("DisruptionAllowed")
        assert cond is not None and (cond.status, cond.reason) == ("False", "InsufficientPods")
        await cluster.apply([budget("pct", max_unavailable="33%")])
        await wait_until(lambda: get_budget(cluster, "pct").status.expected_pods == 3, 30, "pct")
        pct = get_budget(cluster, "pct").status
        # 33% of 3 rounds up to 1 unavailable: 2 desired, 1 allowed
        assert (pct.desired_healthy, pct.disruptions_allowed) == (2, 1)
        cond = pct.condition("DisruptionAllowed")
        assert cond is not None and (cond.status, cond.reason) == ("True", "SufficientPods")


async def test_eviction_refused_with_429_when_the_budget_allows_no_disruption() -> None:
    """eviction.go checkAndDecrement: disruptionsAllowed 0 answers 429 TooManyRequests "Cannot
    evict pod as it would violate the pod's disruption budget." and the pod is untouched."""
    async with running(nodes=3) as cluster:
        await web_with_budget(cluster, 3, budget(min_available=3))
        victim = ready_pods(cluster)[0]
        with pytest.raises(errors.TooManyRequests) as refused:
            await cluster.api.evict("default", victim.metadata.name)
        assert refused.value.code == 429
        assert refused.value.message.startswith(
            "Cannot evict pod as it would violate the pod's disruption budget."
        )
        after = get_pod(cluster, victim.metadata.name)
        assert after is not None and after.metadata.deletion_timestamp is None
        assert after.status.condition("DisruptionTarget") is None


async def test_eviction_allowed_decrements_the_budget_and_marks_the_pod() -> None:
    """eviction.go: an allowed eviction decrements disruptionsAllowed (recording the pod in
    disruptedPods) in the same request, adds the DisruptionTarget condition (reason
    EvictionByEvictionAPI) and deletes the pod gracefully; the next eviction is refused."""
    async with running(nodes=3) as cluster:
        await web_with_budget(cluster, 3, budget(min_available=2))
        assert get_budget(cluster).status.disruptions_allowed == 1
        first, second = ready_pods(cluster)[:2]
        evicted = await cluster.api.evict("default", first.metadata.name)
        assert evicted.metadata.deletion_timestamp is not None
        assert evicted.metadata.deletion_grace_period_seconds == 30
        cond = evicted.status.condition("DisruptionTarget")
        assert cond is not None and (cond.status, cond.reason) == (
            "True",
            "EvictionByEvictionAPI",
        )
        status = get_budget(cluster).status
        assert status.disruptions_allowed == 0 and first.metadata.name in status.disrupted_pods
        with pytest.raises(errors.TooManyRequests):
            await cluster.api.evict("default", second.metadata.name)


async def test_a_pod_with_two_budgets_cannot_be_evicted() -> None:
    """eviction.go: "This pod has more than one PodDisruptionBudget, which the eviction
    subresource does not support." (500)."""
    async with running(nodes=3) as cluster:
        await web_with_budget(cluster, 3, budget(min_available=1))
        await cluster.apply([budget("other", max_unavailable=1)])
        with pytest.raises(errors.InternalError, match="more than one PodDisruptionBudget"):
            await cluster.api.evict("default", ready_pods(cluster)[0].metadata.name)


async def test_unhealthy_pod_eviction_policy() -> None:
    """eviction.go Create: a not-Ready pod under IfHealthyBudget is evicted only while
    currentHealthy >= desiredHealthy, else it needs a disruption like any pod (429 here);
    AlwaysAllow evicts it regardless, without spending the budget."""
    async with running(nodes=3) as cluster:
        sick_labels = {"app": "web", "track": "sick"}
        sick = deployment(
            "sick",
            1,
            labels=sick_labels,
            annotations={"kubechaos.io/behaviour": "startup=10000s"},
            readiness=READINESS,
        )
        await cluster.apply([sick])
        await web_with_budget(cluster, 3, budget(min_available=4))
        await wait_until(lambda: get_budget(cluster).status.expected_pods == 4, 30, "4 pods")
        unhealthy = next(p for p in pods(cluster) if p.metadata.labels.get("track") == "sick")
        await wait_until(
            lambda: get_pod(cluster, unhealthy.metadata.name).status.phase == "Running",
            60,
            "the sick pod running",
        )
        with pytest.raises(errors.TooManyRequests):
            await cluster.api.evict("default", unhealthy.metadata.name)
        await cluster.apply([budget(min_available=4, policy="AlwaysAllow")])
        evicted = await cluster.api.evict("default", unhealthy.metadata.name)
        assert evicted.metadata.deletion_timestamp is not None
        assert get_budget(cluster).status.disruptions_allowed == 0
        with pytest.raises(errors.TooManyRequests):  # Ready pods are still protected
            await cluster.api.evict("default", ready_pods(cluster)[0].metadata.name)
        # IfHealthyBudget with the application intact (3 healthy >= 3 desired): evicted
        await cluster.apply([budget(min_available=3)])
        await wait_until(lambda: get_budget(cluster).status.desired_healthy == 3, 30, "resync")
        replacement = await _wait_for_sick(cluster, unhealthy.metadata.name)
        evicted = await cluster.api.evict("default", replacement)
        assert evicted.metadata.deletion_timestamp is not None


async def _wait_for_sick(cluster: Cluster, gone: str) -> str:
    def running_sick() -> list[Pod]:
        return [
            p
            for p in pods(cluster)
            if p.metadata.labels.get("track") == "sick"
            and p.metadata.name != gone
            and p.status.phase == "Running"
        ]

    await wait_until(lambda: bool(running_sick()), 60, "a running replacement")
    return running_sick()[0].metadata.name


async def test_drain_blocked_by_a_budget_retries_every_5s_and_disrupts_nothing() -> None:
    """drain.go evictPods: a 429 is retried every 5 s ("error when evicting pods/... (will
    retry after 5s): Cannot evict pod as it would violate the pod's disruption budget.");
    with the budget at 0 no pod of the node is deleted while the drain lasts."""
    async with running(nodes=3) as cluster:
        await web_with_budget(cluster, 3, budget(min_available=3))
        node = ready_pods(cluster)[0].spec.node_name
        protected = {p.metadata.uid for p in pods(cluster) if p.spec.node_name == node}
        chaos = Chaos(cluster)
        injection = await chaos.inject(NodeDrain(name="drain", target=Target(nodes=(node,))))
        assert injection is not None
        await wait_until(lambda: len(_refusals(cluster)) >= 5, 60, "five refusals")
        times = [e.time for e in _refusals(cluster)]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(4.9 <= g <= 5.2 for g in gaps), gaps
        assert (
            "(will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget."
            in (_refusals(cluster)[0].message)
        )
        still = {p.metadata.uid for p in pods(cluster) if p.metadata.deletion_timestamp is None}
        assert protected <= still and len(ready_pods(cluster)) == 3
        await chaos.revert(injection)
        count = len(_refusals(cluster))
        await trio.sleep(20)
        assert len(_refusals(cluster)) == count  # the revert stopped the retries


def _refusals(cluster: Cluster) -> list[Event]:
    return [e for e in cluster.events.find("EvictionRefused") if e.component == "kubectl"]


async def test_drain_proceeds_once_a_replacement_is_ready_elsewhere() -> None:
    """disruption.go + drain.go: the first eviction spends the budget; the replacement becomes
    Ready on another node, the controller allows one more disruption, and the retried eviction
    of the second pod passes; never fewer than minAvailable Ready pods."""
    async with running(nodes=2) as cluster:
        await web_with_budget(cluster, 4, budget(min_available=3))
        node = "worker-0"
        on_node = [p for p in pods(cluster) if p.spec.node_name == node]
        assert len(on_node) >= 2
        chaos = Chaos(cluster)
        await chaos.inject(NodeDrain(name="drain", target=Target(nodes=(node,))))
        lowest = 4
        for _ in range(120):
            lowest = min(lowest, len(ready_pods(cluster)))
            if cluster.events.find("Drained"):
                break
            await trio.sleep(0.5)
        assert cluster.events.find("Drained"), "the drain finished"
        assert lowest >= 3
        assert _refusals(cluster), "the second eviction waited for the replacement"
        assert len(cluster.events.find("Evicted")) == len(on_node)


async def test_drain_refuses_bare_pods_unless_forced() -> None:
    """drain.go unreplicatedFilter: a pod no controller owns stops the drain ("cannot delete
    Pods that declare no controller (use --force to override)"); nothing is evicted. With
    force it is evicted like the others."""
    async with running(nodes=2) as cluster:
        bare = pod(
            "bare",
            labels={"app": "bare"},
            node_selector={"kubernetes.io/hostname": "worker-0"},
            readiness=READINESS,
        )
        await cluster.apply([bare])
        await wait_until(lambda: get_pod(cluster, "bare").is_ready(), 60, "bare ready")
        chaos = Chaos(cluster)
        first = await chaos.inject(NodeDrain(name="drain", target=Target(nodes=("worker-0",))))
        await wait_until(lambda: bool(cluster.events.find("DrainFailed")), 10, "refusal")
        assert "use --force to override" in cluster.events.find("DrainFailed")[0].message
        assert get_pod(cluster, "bare").metadata.deletion_timestamp is None
        assert first is not None
        await chaos.revert(first)
        await chaos.inject(NodeDrain(name="forced", target=Target(nodes=("worker-0",)), force=True))
        await wait_until(lambda: bool(cluster.events.find("Drained")), 10, "drained")
        gone = get_pod(cluster, "bare")
        assert gone is None or gone.metadata.deletion_timestamp is not None


async def test_pod_evict_respects_budgets_where_pod_kill_does_not() -> None:
    """pod-evict goes through eviction.go (429 at a budget of 0); pod-kill deletes (Chaos Mesh's
    pod-kill), which no budget stops."""
    async with running(nodes=3) as cluster:
        await web_with_budget(cluster, 3, budget(min_available=3))
        chaos = Chaos(cluster)
        await chaos.inject(PodEvict(name="evict", target=Target(label_selector={"app": "web"})))
        assert len(ready_pods(cluster)) == 3
        assert len(_refusals(cluster)) == 3
        assert all("will retry" not in e.message for e in _refusals(cluster))


async def test_no_budget_no_disruption_controller_and_no_pdb_families() -> None:
    """A run without budgets pays nothing for the kind: the disruption controller does not run
    (no request for poddisruptionbudgets), and no kube_poddisruptionbudget_* family is exposed
    (used to: the kind did not exist)."""
    async with running(nodes=1) as cluster:
        await cluster.apply([deployment("web", 1, readiness=READINESS)])
        await wait_until(lambda: len(ready_pods(cluster)) == 1, 60, "ready")
        manager = cluster.controller_manager.instance
        assert isinstance(manager, ControllerManager)
        assert manager.controller_for("PodDisruptionBudget") is None
        assert not [k for k in cluster.api.stats.total if k[1] == "poddisruptionbudgets"]
        assert ClusterCollector(cluster).optional_families() == []
        await cluster.apply([budget(min_available=1)])
        assert manager.controller_for("PodDisruptionBudget") is not None


async def test_kube_state_metrics_pdb_families() -> None:
    """kube-state-metrics internal/store/poddisruptionbudget.go: the status gauges with labels
    namespace and poddisruptionbudget."""
    async with running(nodes=3) as cluster:
        await web_with_budget(cluster, 3, budget(min_available=2))
        got = {
            s.name: (s.labels, s.value)
            for m in KubeStateMetrics(cluster).families("poddisruptionbudgets")
            for s in m.samples
        }
        labels = {"namespace": "default", "poddisruptionbudget": "web"}
        assert got["kube_poddisruptionbudget_status_current_healthy"] == (labels, 3)
        assert got["kube_poddisruptionbudget_status_desired_healthy"] == (labels, 2)
        assert got["kube_poddisruptionbudget_status_pod_disruptions_allowed"] == (labels, 1)
        assert got["kube_poddisruptionbudget_status_expected_pods"] == (labels, 3)
        assert got["kube_poddisruptionbudget_status_observed_generation"] == (labels, 1)
        assert "kube_poddisruptionbudget_created" in got


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (PodDisruptionBudgetStatus(disruptions_allowed=-1), "pdb disruptions allowed is negative"),
        (
            PodDisruptionBudgetStatus(
                disruptions_allowed=5,
                disrupted_pods={f"p{i}": 0.0 for i in range(MAX_DISRUPTED_POD_SIZE + 1)},
            ),
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ),
    ],
)
async def test_a_budget_in_a_state_the_controller_never_leaves_forbids_eviction(
    status, why
) -> None:
    """eviction.go checkAndDecrement: a negative disruptionsAllowed, or more than
    MaxDisruptedPodSize (2000) evictions the disruption controller has not confirmed, answer 403
    Forbidden (``errors.NewForbidden(policy.Resource("poddisruptionbudget"), name, ...)``);
    kubechaos answered 500, which kubectl drain reports differently."""
    ready = attrs.evolve(
        pod("p", labels={"app": "web"}),
        status=PodStatus(phase="Running", conditions=(PodCondition("Ready", "True", 0.0),)),
    )
    pdb = attrs.evolve(budget(min_available=1), status=status)
    with pytest.raises(errors.Forbidden) as refused:
        eviction.decide(ready, pdb)
    assert refused.value.code == 403
    assert refused.value.message == f'poddisruptionbudget.policy "web" is forbidden: {why}'
    # exactly MaxDisruptedPodSize unconfirmed evictions still pass ("> MaxDisruptedPodSize")
    if status.disrupted_pods:
        at_limit = dict(list(status.disrupted_pods.items())[:MAX_DISRUPTED_POD_SIZE])
        spent = eviction.decide(
            ready, attrs.evolve(pdb, status=attrs.evolve(status, disrupted_pods=at_limit))
        )
        assert spent is not None and spent.status.disruptions_allowed == 4


async def test_drain_reports_a_pod_evicted_once_it_is_gone_and_the_node_drained_after_all() -> None:
    """drain.go evictPods → waitForDelete: after an accepted eviction kubectl polls the pod
    (wait.PollImmediate, every 1 s) until it is NotFound or has another UID, and only then
    prints "pod/<name> evicted"; "node/<name> drained" follows the last of them. kubechaos used
    to report both the moment the Eviction API answered, while the pods were still stopping."""
    async with running(nodes=2) as cluster:
        slow = {"kubechaos.io/behaviour": "shutdown=4s"}
        await cluster.apply([deployment("web", 2, annotations=slow, readiness=READINESS)])
        await wait_until(lambda: len(ready_pods(cluster)) == 2, 60, "ready")
        node = "worker-0"
        on_node = {p.metadata.name for p in pods(cluster) if p.spec.node_name == node}
        assert on_node
        gone_at: dict[str, float] = {}
        await Chaos(cluster).inject(NodeDrain(name="drain", target=Target(nodes=(node,))))
        while True:
            present = {p.metadata.name for p in pods(cluster)}
            for name in on_node - present:
                gone_at.setdefault(name, trio.current_time())
            if cluster.events.find("Drained"):
                break  # (looked once more: the last pod may go in the pass that drains)
            await trio.sleep(0.05)
        evicted = {e.object.split("/")[1]: e.time for e in cluster.events.find("Evicted")}
        assert set(evicted) == on_node
        for name, at in evicted.items():
            assert gone_at[name] - 0.05 <= at <= gone_at[name] + 1.0 + 0.1, (name, at, gone_at)
        first_eviction = min(e.time for e in cluster.events.find("Evicting"))
        assert min(evicted.values()) - first_eviction >= 3.9  # each pod needs 4 s to stop
        (drained,) = cluster.events.find("Drained")
        assert drained.time == max(evicted.values())
