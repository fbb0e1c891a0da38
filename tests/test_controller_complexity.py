"""Complexity guards for the controllers (issue 16): deterministic work counts, never wall time.

Each test runs the same shape at two sizes at a fixed seed and counts the work one controller
does (selector evaluations, pods whose endpoint is rebuilt, pods looked at by a sync) through
:mod:`kubechaos.api.workcount` or a counting wrapper; doubling the size must at most ~double the
work (<= 2.2x). A reintroduced per-sync walk of a namespace's pods, or a per-sync recomputation
of every pod of a 100-replica ReplicaSet, makes the count grow ~4x and fails.

Upstream keeps these costs down with informer indexes (client-go
``tools/cache/thread_safe_store.go`` ``ByIndex``; the ReplicaSet and Job controllers' pods come
from a controllerUID index) and per-pod work done once per pod change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest
import trio

from kubechaos.api import workcount
from kubechaos.api.objects import (
    CrossVersionObjectReference,
    HorizontalPodAutoscaler,
    HorizontalPodAutoscalerSpec,
    MetricSpec,
    MetricTarget,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodCondition,
    PodDisruptionBudget,
    PodDisruptionBudgetSpec,
    PodStatus,
)
from kubechaos.api.selectors import LabelSelector
from kubechaos.client.informer import LABEL_INDEX, NAMESPACE_INDEX, Informer, label_index
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.control.controllers import disruption, endpointaddresses, servicepods
from kubechaos.control.controllers.endpointslice import EndpointSliceController
from kubechaos.control.controllers.podautoscaler.controller import HorizontalController
from kubechaos.control.controllers.replicaset import ReplicaSetController
from kubechaos.control.controllers.rstally import TalliedIndex

from .factories import PodReadier, deployment, pod, pod_spec, replicaset, service
from .harness import ready_pods, running, wait_until

GROWTH = 2.2  # per doubling


async def _replicaset_work(replicas: int) -> int:
    """Selector evaluations while one ReplicaSet of ``replicas`` pods is created, made ready
    and then loses a tenth of its pods (each pod change is a sync of the whole ReplicaSet)."""
    _, ctx = new_control_plane(seed=7)
    await bootstrap(ctx)
    workcount.reset()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ReplicaSetController(ctx).run)
        nursery.start_soon(PodReadier(ctx).run)
        await ctx.api.create(replicaset("web", replicas=replicas))
        await trio.sleep(30)
        pods, _ = await ctx.api.list("pods", "default")
        for victim in sorted(pods, key=lambda p: p.metadata.name)[::10]:
            await ctx.api.delete("pods", "default", victim.metadata.name)
        await trio.sleep(30)
        rs = await ctx.api.get("replicasets", "default", "web")
        assert rs.status.ready_replicas == replicas
        nursery.cancel_scope.cancel()
    return workcount.SELECTOR_MATCHES


async def test_replicaset_claims_and_counts_each_pod_change_once() -> None:
    """pkg/controller/replicaset/replica_set.go syncReplicaSet claims the pods and
    calculateStatus counts them on every sync; a pod's selector match and readiness are
    derived once per version of the pod here, so 100 replicas cost ~2x 50, not ~4x."""
    small, large = await _replicaset_work(50), await _replicaset_work(100)
    assert 0 < large <= GROWTH * small, (small, large)


def _counting(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> dict[str, int]:
    calls = {"n": 0}
    original: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


async def _service_work(monkeypatch: pytest.MonkeyPatch, replicas: int) -> dict[str, int]:
    """Endpoint entries built and per-pod selector checks while ``replicas`` pods of one
    one-pair-selector Service become ready, and one two-pair Service selects the same pods."""
    addresses = _counting(monkeypatch, endpointaddresses, "EndpointAddress")
    slice_endpoints = _counting(monkeypatch, EndpointSliceController, "_endpoint")
    matches = _counting(monkeypatch, servicepods, "selector_matches")
    async with running(nodes=4, seed=3) as cluster:
        labels = {"app": "web", "tier": "fe"}
        await cluster.apply([deployment("web", replicas, labels=labels), service("web")])
        await wait_until(lambda: len(ready_pods(cluster)) == replicas, 120, "ready pods")
        await trio.sleep(10)
        ep = cluster.api.cache("endpoints").get("/registry/endpoints/default/web")
        assert len(ep.subsets[0].addresses) == replicas
        one_pair = dict(matches)
        await cluster.apply([service("two", labels)])
        await trio.sleep(5)
        two = cluster.api.cache("endpoints").get("/registry/endpoints/default/two")
        assert len(two.subsets[0].addresses) == replicas
    return {
        "addresses": addresses["n"],
        "slice_endpoints": slice_endpoints["n"],
        "one_pair_matches": one_pair["n"],
        "two_pair_matches": matches["n"] - one_pair["n"],
    }


async def test_endpoints_are_rebuilt_only_for_pods_that_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pkg/controller/endpoint/endpoints_controller.go and pkg/controller/endpointslice sync a
    Service from all the pods it selects (podLister.Pods(ns).List(selector)); an address or a
    slice endpoint is built here once per pod version, so its count grows with the pods, not
    with pods x syncs. A one-pair selector's index bucket is its selection: its pods are matched
    only when they change (to find their Services), not on every sync; a two-pair selector still
    checks each pod of the smaller bucket."""
    small = await _service_work(monkeypatch, 40)
    monkeypatch.undo()
    large = await _service_work(monkeypatch, 80)
    for counter in ("addresses", "slice_endpoints", "one_pair_matches"):
        assert 0 < large[counter] <= GROWTH * small[counter], (counter, small, large)
    assert large["two_pair_matches"] >= 2 * 80  # each pod, by both controllers


def _budget(name: str) -> PodDisruptionBudget:
    return PodDisruptionBudget(
        ObjectMeta(name=name, namespace="default"),
        PodDisruptionBudgetSpec(LabelSelector({"app": name}), min_available=1),
    )


async def _budget_work(monkeypatch: pytest.MonkeyPatch, apps: int) -> int:
    """Pods a disruption controller's syncs select for a budget while ``apps`` Deployments of
    4 replicas, each with a budget, come up in one namespace."""
    checks = {"n": 0}
    original = disruption.DisruptionController._selected

    def selected(self: disruption.DisruptionController, pdb: Any) -> Any:
        pods = original(self, pdb)
        checks["n"] += len(pods)
        return pods

    monkeypatch.setattr(disruption.DisruptionController, "_selected", selected)
    async with running(nodes=apps, seed=3) as cluster:
        await cluster.apply(
            [obj for i in range(apps) for obj in (deployment(f"a{i}", 4), _budget(f"a{i}"))]
        )
        cache = cluster.api.cache("poddisruptionbudgets")
        await wait_until(
            lambda: all(
                (b := cache.get(f"/registry/poddisruptionbudgets/default/a{i}")) is not None
                and b.status.current_healthy == 4
                for i in range(apps)
            ),
            120,
            "every budget counts its 4 ready pods",
        )
        await trio.sleep(30)
    return checks["n"]


async def test_a_budget_sync_reads_only_its_own_pods(monkeypatch: pytest.MonkeyPatch) -> None:
    """pkg/controller/disruption/disruption.go getPodsForPdb lists the budget's namespace
    through the pod lister's namespace index; here, through the informer's label index, only
    the pods carrying one matchLabels pair of the budget's selector: twice the budgets and
    pods, ~twice the pods checked, where a walk of every pod per sync makes it ~4x."""
    small = await _budget_work(monkeypatch, 4)
    monkeypatch.undo()
    large = await _budget_work(monkeypatch, 8)
    assert 0 < large <= GROWTH * small, (small, large)


def _autoscaler(name: str) -> HorizontalPodAutoscaler:
    return HorizontalPodAutoscaler(
        ObjectMeta(name=name, namespace="default"),
        HorizontalPodAutoscalerSpec(
            CrossVersionObjectReference("Deployment", name, "apps/v1"),
            4,
            2,
            (MetricSpec("Resource", "cpu", MetricTarget("Utilization", 50)),),
        ),
    )


async def _autoscaler_work(apps: int) -> int:
    """Pods HPA syncs look at (selector evaluations, or the index bucket a one-pair selector
    takes as it is) while ``apps`` Deployments, each with an HPA, run for two minutes (eight
    syncs each)."""
    counted = {"n": 0}
    original = HorizontalController._selected

    def selected(self: HorizontalController, *args: Any) -> Any:
        before = workcount.SELECTOR_MATCHES + workcount.PODS_VISITED
        out = original(self, *args)
        counted["n"] += workcount.SELECTOR_MATCHES + workcount.PODS_VISITED - before
        return out

    HorizontalController._selected = selected  # type: ignore[method-assign]
    try:
        async with running(nodes=apps, seed=3) as cluster:
            await cluster.apply(
                [obj for i in range(apps) for obj in (deployment(f"a{i}", 2), _autoscaler(f"a{i}"))]
            )
            await wait_until(lambda: len(ready_pods(cluster, "a0")) == 2, 60, "ready pods")
            await trio.sleep(120)
    finally:
        HorizontalController._selected = original  # type: ignore[method-assign]
    return counted["n"]


async def test_an_autoscaler_sync_reads_only_its_targets_pods() -> None:
    """pkg/controller/podautoscaler/replica_calculator.go (GetResourceReplicas, called from
    horizontal.go computeReplicasForMetrics) reads the target's pods by its scale selector
    (podLister.Pods(namespace).List(selector)); here from the informer's
    label index, so doubling the HPAs and their pods doubles the selector evaluations, where a
    walk of the namespace per sync quadruples them."""
    small, large = await _autoscaler_work(4), await _autoscaler_work(8)
    assert 0 < large <= GROWTH * small, (small, large)


def test_informer_indexers_follow_adds_updates_and_deletes() -> None:
    """client-go tools/cache/thread_safe_store.go: an object is filed under each value its
    index function returns, re-filed when they change, unfiled when deleted; indexers added
    late index what the store already holds; a taken name with another function is refused."""
    informer: Informer[Any] = Informer(None, "pods", component="t", events=None)  # type: ignore[arg-type]
    informer._apply("ADDED", pod("a", labels={"app": "web"}))
    informer.add_indexers({LABEL_INDEX: label_index})
    informer.add_indexers({LABEL_INDEX: label_index})  # the same again: a no-op
    informer._apply("ADDED", pod("b", labels={"app": "web", "tier": "fe"}))
    names = lambda value: [p.metadata.name for p in informer.by_index(LABEL_INDEX, value)]  # noqa: E731
    assert names("default/app=web") == ["a", "b"]
    assert names("default/tier=fe") == ["b"]
    informer._apply("MODIFIED", pod("a", labels={"app": "db"}))
    assert names("default/app=web") == ["b"] and names("default/app=db") == ["a"]
    informer._apply("DELETED", pod("b", labels={"app": "web", "tier": "fe"}))
    assert names("default/app=web") == [] and names("default/tier=fe") == []
    with pytest.raises(ValueError, match="already exists"):
        informer.add_indexers({LABEL_INDEX: lambda obj: ()})
    assert NAMESPACE_INDEX not in informer._indices


def test_replicaset_tally_equals_a_fresh_count_of_its_pods() -> None:
    """replica_set.go calculateStatus counts, over the claimed pods, the fully labelled
    (template labels all present), Ready and available ones; the tally kept from pod events
    gives the same numbers without reading the pods: kept = active, owned and selected; a pod
    that stops matching the selector is a stray (claim would release it), a terminating one
    drops out; a changed template rebuilds the tally from the owner index."""
    ref = OwnerReference("ReplicaSet", "web", "rs-uid", True)
    ready = PodStatus(phase="Running", conditions=(PodCondition("Ready", "True"),))

    def owned(name: str, labels: dict[str, str], status: PodStatus | None = None) -> Pod:
        meta = ObjectMeta(name=name, namespace="default", labels=labels, owner_references=(ref,))
        return Pod(meta, pod_spec(), status or PodStatus())

    index = TalliedIndex()
    index.put(owned("a", {"app": "web", "v": "1"}, ready))
    selector, template_labels = LabelSelector({"app": "web"}), {"app": "web", "v": "1"}
    tally = index.tally("rs-uid", selector, template_labels)
    index.put(owned("b", {"app": "web"}))
    index.put(owned("c", {"app": "db"}, ready))
    counts = (tally.kept, tally.fully_labeled, tally.ready, tally.strays)
    assert counts == (2, 1, 1, 1)
    assert [p.metadata.name for p in index.kept("rs-uid", tally)] == ["a", "b"]
    gone = owned("a", {"app": "web", "v": "1"}, ready)
    gone = attrs.evolve(gone, metadata=attrs.evolve(gone.metadata, deletion_timestamp=5.0))
    index.put(gone)
    index.discard(owned("c", {"app": "db"}))
    assert (tally.kept, tally.fully_labeled, tally.ready, tally.strays) == (1, 0, 0, 0)
    rebuilt = index.tally("rs-uid", selector, {"app": "web"})
    assert rebuilt is not tally and (rebuilt.kept, rebuilt.fully_labeled) == (1, 1)
