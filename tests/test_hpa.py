"""HorizontalPodAutoscalers and the load model, end to end against upstream v1.32:
pkg/controller/podautoscaler/horizontal.go (sync, normalization, behaviors, status),
replica_calculator.go (desired replicas, tolerance, pods without metrics), metrics-server
(resolution 15 s) and kube-state-metrics internal/store/hpa.go. The "Horizontal Pod Autoscaling"
docs page states the defaults tested here."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import attrs
import pytest
import trio

from kubechaos.api.fieldreader import ManifestError
from kubechaos.api.manifest import read_manifest
from kubechaos.api.objects import (
    CrossVersionObjectReference,
    HorizontalPodAutoscaler,
    HorizontalPodAutoscalerBehavior,
    HorizontalPodAutoscalerSpec,
    HPAScalingPolicy,
    HPAScalingRules,
    MetricSpec,
    MetricTarget,
    ObjectMeta,
    Pod,
    PodCondition,
    PodStatus,
    Probe,
)
from kubechaos.api.objects.autoscaling import default_scale_down, default_scale_up
from kubechaos.client.metrics import PodMetrics
from kubechaos.cluster import Cluster
from kubechaos.control.controllers.podautoscaler.replicas import Timing, resource_replicas
from kubechaos.observe.metrics.collector import ClusterCollector
from kubechaos.observe.steady import SteadyStateMonitor
from kubechaos.sim.events import Event
from kubechaos.traffic import TrafficGenerator, TrafficSpec

from .factories import deployment, pod_spec, service
from .harness import deployment_of, ready_pods, running, wait_until

READINESS = Probe(period_seconds=1, failure_threshold=1)


def cpu_utilization(target: int) -> MetricSpec:
    return MetricSpec("Resource", "cpu", MetricTarget("Utilization", target))


def autoscaler(
    min_replicas: int = 1,
    max_replicas: int = 10,
    metrics: tuple[MetricSpec, ...] = (cpu_utilization(50),),
    behavior: HorizontalPodAutoscalerBehavior | None = None,
) -> HorizontalPodAutoscaler:
    return HorizontalPodAutoscaler(
        ObjectMeta(name="web", namespace="default"),
        HorizontalPodAutoscalerSpec(
            CrossVersionObjectReference("Deployment", "web", "apps/v1"),
            max_replicas,
            min_replicas,
            metrics,
            behavior,
        ),
    )


def get_hpa(cluster: Cluster) -> HorizontalPodAutoscaler:
    return cluster.api.cache("horizontalpodautoscalers").get(
        "/registry/horizontalpodautoscalers/default/web"
    )


def replicas(cluster: Cluster) -> int:
    return deployment_of(cluster).spec.replicas


def rescales(cluster: Cluster) -> list[Event]:
    return [e for e in cluster.events if e.reason == "SuccessfulRescale"]


def condition(cluster: Cluster, type_: str) -> tuple[str, str]:
    cond = get_hpa(cluster).status.condition(type_)
    assert cond is not None, type_
    return cond.status, cond.reason


class Load:
    """Service traffic to ``web`` that a test can start, change and stop."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._scope: trio.CancelScope | None = None

    def set(self, rate: float, source: str | None = None) -> None:
        """Send ``rate`` requests per second from now on (from ``source`` only, if given)."""
        self.stop()
        if rate <= 0:
            return
        generator = TrafficGenerator(
            self.cluster.ctx,
            self.cluster.proxies,
            self.cluster.network,
            [TrafficSpec("web", rate=rate, source_nodes=(source,) if source else ())],
        )
        scope = self._scope = trio.CancelScope()

        async def run() -> None:
            with scope:
                await generator.run()

        self.cluster.nursery.start_soon(run)

    def stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
            self._scope = None


@contextmanager
def load(cluster: Cluster) -> Iterator[Load]:
    traffic = Load(cluster)
    try:
        yield traffic
    finally:
        traffic.stop()


async def web(
    cluster: Cluster, count: int, annotations: dict[str, str] | None = None, cpu: int = 100
) -> None:
    await cluster.apply(
        [
            deployment("web", count, readiness=READINESS, annotations=annotations, cpu=cpu),
            service("web"),
        ]
    )
    await wait_until(lambda: len(ready_pods(cluster)) == count, 60, f"{count} ready pods")
    await trio.sleep(3)  # kube-proxy has the endpoints


def usage(cluster: Cluster) -> dict[str, float]:
    """Each pod's CPU (millicores) as the metrics API serves it."""
    return {name: m.cpu_millis for name, m in cluster.ctx.metrics.pod_metrics("default").items()}


# ---------------------------------------------------------------------------- the load model
async def test_utilization_follows_the_traffic_each_pod_serves() -> None:
    """The load model: a served request costs its pod ``kubechaos.io/cpu-per-request`` of CPU
    (10m by default), a running container idles at 1m; metrics-server averages over its 15 s
    window. 20 requests/s over 2 pods at 10 ms each is 200m in all; doubled by the annotation;
    a pod no traffic reaches shows only its baseline."""
    async with running(nodes=3) as cluster:
        await web(cluster, 2)
        await cluster.apply([autoscaler(min_replicas=2, max_replicas=2)])
        await trio.sleep(31)  # two scrapes: every pod has a window, idle
        assert all(v == pytest.approx(1.0) for v in usage(cluster).values())
        with load(cluster) as traffic:
            traffic.set(20)
            await trio.sleep(31)
            per_pod = usage(cluster)
            assert sum(per_pod.values()) == pytest.approx(200 + 2, rel=0.02)
            assert all(60 < v < 140 for v in per_pod.values()), "kube-proxy spreads the load"
            hpa = get_hpa(cluster)
            (metric,) = hpa.status.current_metrics
            assert metric.average_utilization == pytest.approx(101, abs=2)  # of 100m each
    async with running(nodes=3) as cluster:
        await web(cluster, 2, annotations={"kubechaos.io/cpu-per-request": "20m"})
        await cluster.apply([autoscaler(min_replicas=2, max_replicas=2)])
        with load(cluster) as traffic:
            traffic.set(20)
            await trio.sleep(31)
            assert sum(usage(cluster).values()) == pytest.approx(400 + 2, rel=0.02)


async def test_metrics_resolution_hides_a_change_until_the_next_scrape() -> None:
    """metrics-server --metric-resolution 15 s: the HPA reads the last scrape, so a load change
    is invisible until the next one, and then shows averaged over the window it falls in."""
    async with running(nodes=3) as cluster:
        await web(cluster, 2)
        await cluster.apply([autoscaler(min_replicas=2, max_replicas=2)])
        await trio.sleep(31)
        metrics = cluster.ctx.metrics
        last = metrics.last_scrape
        assert last is not None
        await trio.sleep_until(last + 5)
        with load(cluster) as traffic:
            traffic.set(30)
            await trio.sleep_until(last + 14.9)
            assert metrics.last_scrape == last and sum(usage(cluster).values()) < 3
            await trio.sleep_until(last + 15.1)
            assert metrics.last_scrape == pytest.approx(last + 15)
            # 30 req/s x 10 ms for the 10 s of the 15 s window that had traffic: 200m
            assert sum(usage(cluster).values()) == pytest.approx(200 + 2, rel=0.05)
            (m, *_) = metrics.pod_metrics("default").values()
            assert m.window == pytest.approx(15)


# ---------------------------------------------------------------------------- the replica count
async def test_desired_replicas_follow_the_formula_outside_the_tolerance() -> None:
    """replica_calculator.go GetResourceReplicas: desired = ceil(ready pods x utilization /
    target), unless |ratio - 1| <= 0.1 (--horizontal-pod-autoscaler-tolerance): 54% of a 50%
    target keeps 2 replicas; 70% asks for ceil(2 x 70 / 50) = 3."""
    async with running(nodes=3) as cluster:
        await web(cluster, 2)
        with load(cluster) as traffic:
            traffic.set(10.6)  # 106m over 2 x 100m: 53-54%
            await cluster.apply([autoscaler(min_replicas=1)])
            await trio.sleep(120)
            assert rescales(cluster) == [] and replicas(cluster) == 2
            (metric,) = get_hpa(cluster).status.current_metrics
            assert 52 <= (metric.average_utilization or 0) <= 55
            assert condition(cluster, "ScalingActive") == ("True", "ValidMetricFound")
            traffic.set(13.8)  # 138m + 2m idle over 200m: 70%
            await wait_until(lambda: bool(rescales(cluster)), 60, "a rescale")
            (event,) = rescales(cluster)
            assert event.message == (
                "New size: 3; reason: cpu resource utilization (percentage of request) above target"
            )
            assert replicas(cluster) == 3
            status = get_hpa(cluster).status
            assert (status.current_replicas, status.desired_replicas) == (2, 3)
            assert status.last_scale_time == pytest.approx(event.time, abs=0.1)
            assert condition(cluster, "AbleToScale") == ("True", "SucceededRescale")


async def test_hpa_syncs_every_15_seconds() -> None:
    """--horizontal-pod-autoscaler-sync-period 15 s: each HPA is reconciled 15 s after it is
    created and every 15 s after (the queue's fixed-interval rate limiter)."""
    async with running(nodes=3) as cluster:
        await web(cluster, 2)
        with load(cluster) as traffic:
            traffic.set(60)  # 300% of request: scales at every sync
            created = trio.current_time()
            await cluster.apply([autoscaler(max_replicas=50)])
            await wait_until(lambda: len(rescales(cluster)) >= 3, 120, "three rescales")
            times = [e.time - created for e in rescales(cluster)]
            # the first sync has no metrics yet (the pods' first window ends at the 2nd scrape)
            assert all(t % 15 == pytest.approx(0, abs=0.2) for t in times), times
            assert all(b - a == pytest.approx(15, abs=0.2) for a, b in itertools.pairwise(times))


async def test_scale_up_is_limited_to_double_or_four_pods_per_sync() -> None:
    """horizontal.go: without a behavior, scale-up is capped at max(2 x current, 4) replicas
    (calculateScaleUpLimit): 1 -> 4 -> 8 -> 16; ScalingLimited True, ScaleUpLimit. With a
    behavior, the defaults (GenerateHPAScaleUpRules: 4 pods or 100% per 15 s, the larger) add
    max(4, current) per period: 1 -> 5 -> 10 -> 20."""
    for behavior, steps in ((None, [4, 8, 16]), (HorizontalPodAutoscalerBehavior(), [5, 10, 20])):
        async with running(nodes=3) as cluster:
            await web(cluster, 1)
            with load(cluster) as traffic:
                traffic.set(200)  # 2000m: 20 pods' worth at 100%
                await cluster.apply([autoscaler(max_replicas=40, behavior=behavior)])
                await wait_until(lambda: len(rescales(cluster)) >= 3, 120, "three rescales")
                sizes = [int(e.message.split(";")[0].split()[-1]) for e in rescales(cluster)]
                assert sizes[:3] == steps, behavior
                assert condition(cluster, "ScalingLimited") == ("True", "ScaleUpLimit")


async def test_scale_down_waits_for_the_300_second_stabilization_window() -> None:
    """--horizontal-pod-autoscaler-downscale-stabilization 300 s (and the default scaleDown
    rules of a behavior): the highest recommendation of the last 5 minutes wins, so the scale
    comes down only 300 s after the load did; AbleToScale says ScaleDownStabilized meanwhile."""
    async with running(nodes=3) as cluster:
        await web(cluster, 4)
        with load(cluster) as traffic:
            traffic.set(20)  # 200m over 4 x 100m = 50%: at target
            await cluster.apply([autoscaler(min_replicas=1)])
            await trio.sleep(60)
            assert replicas(cluster) == 4
            dropped = trio.current_time()
            traffic.set(2)  # 20m: 5%, the HPA would go to 1
            await wait_until(lambda: bool(rescales(cluster)), 400, "the scale-down")
            (event,) = rescales(cluster)
            assert event.message == "New size: 1; reason: All metrics below target"
            assert dropped + 300 < event.time < dropped + 300 + 15 + 16 + 1
            await trio.sleep(1)


async def test_stabilized_scale_down_reports_its_condition() -> None:
    """normalizeDesiredReplicas: while a higher recent recommendation holds the scale,
    AbleToScale is True with ScaleDownStabilized."""
    async with running(nodes=3) as cluster:
        await web(cluster, 4)
        with load(cluster) as traffic:
            traffic.set(20)
            await cluster.apply([autoscaler(min_replicas=1)])
            await trio.sleep(60)
            traffic.set(2)
            await trio.sleep(60)
            assert replicas(cluster) == 4
            assert condition(cluster, "AbleToScale") == ("True", "ScaleDownStabilized")


async def test_min_and_max_replicas_clamp_with_scaling_limited() -> None:
    """convertDesiredReplicasWithRules: above maxReplicas the HPA stops at it (ScalingLimited
    True, TooManyReplicas); below minReplicas at it (TooFewReplicas); a target outside the
    bounds goes straight to the bound ("Current number of replicas above Spec.MaxReplicas")."""
    async with running(nodes=3) as cluster:
        await web(cluster, 2)
        with load(cluster) as traffic:
            traffic.set(100)
            await cluster.apply([autoscaler(max_replicas=3)])
            await wait_until(lambda: replicas(cluster) == 3, 60, "max replicas")
            await trio.sleep(15)
            assert condition(cluster, "ScalingLimited") == ("True", "TooManyReplicas")
            assert get_hpa(cluster).status.desired_replicas == 3
    async with running(nodes=3) as cluster:
        await web(cluster, 2)
        await cluster.apply([autoscaler(min_replicas=2)])  # no load: 1% wants 1
        await trio.sleep(60)
        assert replicas(cluster) == 2 and rescales(cluster) == []
        assert condition(cluster, "ScalingLimited") == ("True", "TooFewReplicas")
    async with running(nodes=3) as cluster:
        await web(cluster, 4)
        await cluster.apply([autoscaler(min_replicas=1, max_replicas=2)])
        await wait_until(lambda: bool(rescales(cluster)), 30, "the clamp")
        (event,) = rescales(cluster)
        assert event.message == "New size: 2; reason: Current number of replicas above " + (
            "Spec.MaxReplicas"
        )


async def test_custom_behavior_policies() -> None:
    """calculateScaleUpLimitWithScalingRules: each policy allows a change from the replicas at
    the start of its period; selectPolicy Min takes the least change (1 pod per 60 s beats 100%
    per 15 s); a scaleDown with selectPolicy Disabled never scales down; a scaleUp window holds
    the lowest recent recommendation (stabilizeRecommendationWithBehaviors)."""
    behavior = HorizontalPodAutoscalerBehavior(
        HPAScalingRules(
            0,
            "Min",
            (HPAScalingPolicy("Pods", 1, 60), HPAScalingPolicy("Percent", 100, 15)),
        ),
        HPAScalingRules(0, "Disabled", default_scale_down().policies),
    )
    async with running(nodes=3) as cluster:
        await web(cluster, 2)
        with load(cluster) as traffic:
            traffic.set(100)  # 1000m: 10 pods' worth
            await cluster.apply([autoscaler(behavior=behavior)])
            await wait_until(lambda: len(rescales(cluster)) >= 3, 240, "three rescales")
            times = [e.time for e in rescales(cluster)]
            sizes = [int(e.message.split(";")[0].split()[-1]) for e in rescales(cluster)]
            assert sizes[:3] == [3, 4, 5]
            assert all(b - a == pytest.approx(60, abs=0.5) for a, b in itertools.pairwise(times))
            assert condition(cluster, "ScalingLimited") == ("True", "ScaleUpLimit")
            traffic.set(0)
            at = replicas(cluster)
            await trio.sleep(120)
            assert replicas(cluster) == at, "scale-down disabled"
    windowed = HorizontalPodAutoscalerBehavior(
        HPAScalingRules(60, "Max", default_scale_up().policies), default_scale_down()
    )
    async with running(nodes=3) as cluster:
        await web(cluster, 2)
        await cluster.apply([autoscaler(min_replicas=2, behavior=windowed)])
        await trio.sleep(60)  # idle recommendations (1, clamped to 2)
        with load(cluster) as traffic:
            traffic.set(40)
            loaded = trio.current_time()
            await wait_until(lambda: bool(rescales(cluster)), 120, "a rescale")
            assert rescales(cluster)[0].time > loaded + 59, "the scale-up window held it"


# ---------------------------------------------------------------------------- pods and metrics
async def test_node_loss_the_dead_pods_count_as_zero_until_a_surge() -> None:
    """replica_calculator.go: a pod without metrics (the dead node's, still in the API) counts
    as 0% of its request on a scale-up, and the result may only damp the change: the
    survivors' load rises to 90% of their request but the HPA holds; once the whole load is
    over target (more traffic), it scales out."""
    async with running(nodes=3) as cluster:
        await web(cluster, 3)
        with load(cluster) as traffic:
            traffic.set(18, "worker-0")  # 180m over 3 x 100m: 60%; the clients survive
            await cluster.apply([autoscaler(min_replicas=3, metrics=(cpu_utilization(60),))])
            await trio.sleep(60)
            victim = next(p for p in ready_pods(cluster) if p.spec.node_name != "worker-0")
            cluster.nodes[victim.spec.node_name].crash()
            await trio.sleep(120)  # NotReady after 50 s, two scrapes since
            survivors = usage(cluster)
            assert victim.metadata.name not in survivors
            assert all(v > 75 for v in survivors.values()), survivors  # ~90m of 100m each
            assert rescales(cluster) == [] and replicas(cluster) == 3
            traffic.set(27, "worker-0")  # 270m over 300m requested: 90%
            await wait_until(lambda: bool(rescales(cluster)), 60, "a scale-out")
            assert replicas(cluster) > 3


async def test_pods_without_a_cpu_request_make_the_metric_fail() -> None:
    """calculatePodRequests: a container without a cpu request makes a Utilization target
    uncomputable: ScalingActive False, FailedGetResourceMetric, and the HPA does not scale."""
    async with running(nodes=3) as cluster:
        await web(cluster, 2, cpu=0)
        await cluster.apply([autoscaler()])
        await trio.sleep(45)
        status, reason = condition(cluster, "ScalingActive")
        assert (status, reason) == ("False", "FailedGetResourceMetric")
        cond = get_hpa(cluster).status.condition("ScalingActive")
        assert cond is not None and "missing request for cpu in container app" in cond.message
        assert rescales(cluster) == []


async def test_a_memory_metric_is_reported_and_blocks_scale_down() -> None:
    """Only cpu Resource metrics are modelled: another counts as a metric the HPA cannot get,
    as a failing metric upstream (computeReplicasForMetrics): alone, ScalingActive False; beside
    cpu, the HPA scales up on cpu but never down."""
    memory = MetricSpec("Resource", "memory", MetricTarget("Utilization", 80))
    async with running(nodes=3) as cluster:
        await web(cluster, 3)
        await cluster.apply([autoscaler(metrics=(cpu_utilization(50), memory))])
        await trio.sleep(120)
        assert replicas(cluster) == 3, "idle, yet no scale-down"
        assert condition(cluster, "ScalingActive") == ("False", "FailedGetResourceMetric")
        assert any(e.reason == "FailedGetResourceMetric" for e in cluster.events)


# ---------------------------------------------------------------------------- observation
async def test_kube_state_metrics_families() -> None:
    """kube-state-metrics internal/store/hpa.go: names, labels and values."""
    async with running(nodes=3) as cluster:
        await web(cluster, 2)
        await cluster.apply([autoscaler(min_replicas=2, max_replicas=5)])
        await trio.sleep(45)
        families = {m.name: m for m in ClusterCollector(cluster).families()}
        base = {"namespace": "default", "horizontalpodautoscaler": "web"}

        def value(name: str, **labels: str) -> float:
            (sample,) = [s for s in families[name].samples if s.labels == {**base, **labels}]
            return sample.value

        assert value("kube_horizontalpodautoscaler_spec_max_replicas") == 5
        assert value("kube_horizontalpodautoscaler_spec_min_replicas") == 2
        assert value("kube_horizontalpodautoscaler_metadata_generation") == 1
        assert value("kube_horizontalpodautoscaler_status_current_replicas") == 2
        assert value("kube_horizontalpodautoscaler_status_desired_replicas") == 2
        assert (
            value(
                "kube_horizontalpodautoscaler_spec_target_metric",
                metric_name="cpu",
                metric_target_type="utilization",
            )
            == 50
        )
        assert value(
            "kube_horizontalpodautoscaler_info",
            scaletargetref_api_version="apps/v1",
            scaletargetref_kind="Deployment",
            scaletargetref_name="web",
        )
        assert (
            value(
                "kube_horizontalpodautoscaler_status_condition",
                condition="ScalingActive",
                status="true",
            )
            == 1
        )
    async with running(nodes=1) as cluster:
        names = {m.name for m in ClusterCollector(cluster).families()}
        assert not any(n.startswith("kube_horizontalpodautoscaler") for n in names)


def test_a_manifest_is_read_with_upstream_defaults_and_checked() -> None:
    """SetDefaults_HorizontalPodAutoscaler: minReplicas 1, cpu at 80% when no metric is given,
    a given behavior's missing rules filled; validation.go: maxReplicas >= minReplicas."""
    doc = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 5,
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}},
        },
    }
    hpa = read_manifest(doc)
    assert isinstance(hpa, HorizontalPodAutoscaler)
    assert hpa.spec.min_replicas == 1
    (metric,) = hpa.spec.metrics
    assert metric.target == MetricTarget("Utilization", 80)
    assert hpa.spec.behavior is not None
    assert hpa.spec.behavior.scale_up == default_scale_up()
    assert hpa.spec.behavior.scale_down.stabilization_window_seconds == 60
    bad = {**doc, "spec": {**doc["spec"], "minReplicas": 6}}
    with pytest.raises(ManifestError) as caught:
        read_manifest(bad)
    (error,) = caught.value.errors
    assert error.dotted() == "spec.maxReplicas"
    assert "must be greater than or equal to `minReplicas`" in error.message


async def test_hpa_driven_scale_out_returns_to_steady_state() -> None:
    """Steady state (observe/steady.py) holds the Deployment to the replicas the HPA last set:
    a scale-out is unsteady only until the new pods are available."""
    async with running(nodes=3) as cluster:
        await web(cluster, 2)
        collector = ClusterCollector(cluster)
        with load(cluster) as traffic:
            traffic.set(13.8)  # 70% of 2 x 100m: 3 replicas
            await cluster.apply([autoscaler()])
            await wait_until(lambda: replicas(cluster) == 3, 60, "the scale-out")
            await wait_until(
                lambda: len(ready_pods(cluster)) == 3, 30, "the new pod ready", step=0.1
            )
            await trio.sleep(1)
            monitor = SteadyStateMonitor(collector, cluster.events, "t")
            assert monitor.is_steady_now()


async def test_an_average_value_target() -> None:
    """computeStatusForResourceMetricGeneric with an AverageValue target
    (GetRawResourceReplicas): desired = ceil(pods x average usage / target), the metric named
    "cpu resource"; ~146m per pod against 100m asks for ceil(2 x 1.46) = 3 (off the knife edge
    of exactly 1.5, where the split of the traffic between the two pods decides)."""
    average = MetricSpec("Resource", "cpu", MetricTarget("AverageValue", average_value=100))
    async with running(nodes=3) as cluster:
        await web(cluster, 2, cpu=500)
        with load(cluster) as traffic:
            traffic.set(29.0)  # 290m + 2m idle: 146m per pod
            await cluster.apply([autoscaler(metrics=(average,))])
            await wait_until(lambda: bool(rescales(cluster)), 60, "a rescale")
            (event,) = rescales(cluster)
            assert event.message == "New size: 3; reason: cpu resource above target"
            (metric,) = get_hpa(cluster).status.current_metrics
            assert metric.average_utilization is None
            assert metric.average_value == pytest.approx(146, abs=5)


async def test_a_missing_target_fails_get_scale() -> None:
    """reconcileAutoscaler: a scale target that cannot be read sets AbleToScale False with
    FailedGetScale (and a FailedGetScale event); nothing else happens."""
    async with running(nodes=1) as cluster:
        await cluster.apply([autoscaler()])
        await trio.sleep(16)
        assert condition(cluster, "AbleToScale") == ("False", "FailedGetScale")
        assert any(e.reason == "FailedGetScale" for e in cluster.events)


def _pod(name: str, phase: str, ready: str | None, start: float, ready_since: float) -> Pod:
    conditions = () if ready is None else (PodCondition("Ready", ready, ready_since),)
    return Pod(
        ObjectMeta(name=name, namespace="default"),
        pod_spec(cpu=100),
        PodStatus(phase=phase, conditions=conditions, start_time=start),
    )


def _metrics(values: dict[str, float], at: float) -> dict[str, PodMetrics]:
    return {n: PodMetrics("default", n, at, 15.0, {"app": v}) for n, v in values.items()}


TIMING = Timing(0.1, 300.0, 30.0)


def test_the_replica_calculator_groups_pods_as_upstream() -> None:
    """replica_calculator.go groupPods and GetResourceReplicas, case by case (target 50%):
    a Pending pod is unready and counts 0% on a scale-up; a pod within the 5 min cpu
    initialization period whose metrics window began before it turned Ready is unready; after
    the period, a not-Ready pod that was never Ready within the 30 s readiness delay is unready,
    one that was Ready and failed later counts; a pod without metrics counts 100% of its request
    on a scale-down, 0% on a scale-up; a deleted pod is ignored; a change of direction after
    the adjustment keeps the current scale."""
    t = 1000.0
    ready = [_pod(f"r{i}", "Running", "True", 0.0, 1.0) for i in range(2)]
    pending = _pod("p", "Pending", None, t - 5, 0.0)
    hot = _metrics({"r0": 100, "r1": 100}, t)  # 100% each: ratio 2
    # a scale-up with an unready (Pending) pod: 2 x 100 + 0 over 3 x 100 = 67%: ceil(1.33 x 3)
    p = resource_replicas(3, [*ready, pending], hot, 50, None, TIMING, t)
    assert p.replicas == 4 and p.utilization == 100
    # a fresh pod Ready at t - 10, its metrics window began at t - 15: unready, counts 0
    fresh = _pod("f", "Running", "True", t - 60, t - 10)
    metrics = {**hot, **_metrics({"f": 100}, t)}
    assert resource_replicas(3, [*ready, fresh], metrics, 50, None, TIMING, t).replicas == 4
    # after the initialization period, never Ready within 30 s of start: unready
    never = _pod("n", "Running", "False", t - 400, t - 400 + 10)
    metrics = {**hot, **_metrics({"n": 100}, t)}
    assert resource_replicas(3, [*ready, never], metrics, 50, None, TIMING, t).replicas == 4
    # ... but Ready once, failing later (its last transition after the delay): it counts
    failed_later = _pod("n", "Running", "False", t - 400, t - 100)
    assert resource_replicas(3, [*ready, failed_later], metrics, 50, None, TIMING, t).replicas == 6
    # a scale-down with a pod missing metrics: it counts as using its whole request (100%),
    # 2 x 10 + 100 over 300 = 40%: ratio 0.8, ceil(0.8 x 3) = 3, no change
    cold = _metrics({"r0": 10, "r1": 10}, t)
    missing = _pod("m", "Running", "True", 0.0, 1.0)
    assert resource_replicas(3, [*ready, missing], cold, 50, None, TIMING, t).replicas == 3
    # without the missing pod the same two would go to ceil(0.2 x 2) = 1
    assert resource_replicas(2, ready, cold, 50, None, TIMING, t).replicas == 1
    # a deleted pod is ignored altogether
    gone = attrs.evolve(missing, metadata=attrs.evolve(missing.metadata, deletion_timestamp=t))
    assert resource_replicas(2, [*ready, gone], cold, 50, None, TIMING, t).replicas == 1
    # a scale-up whose adjustment would reverse direction keeps the current scale: 60% of 50%
    # is 1.2, but with two unready pods at 0% it is 30%: below 1, so stay
    warm = _metrics({"r0": 60, "r1": 60}, t)
    two_pending = [pending, attrs.evolve(pending, metadata=ObjectMeta(name="q"))]
    assert resource_replicas(4, [*ready, *two_pending], warm, 50, None, TIMING, t).replicas == 4


async def test_a_restarted_controller_manager_relists_and_keeps_autoscaling() -> None:
    """A controller manager that starts (or restarts) lists the HPAs that exist and syncs each
    after the resync period (horizontal.go Run + enqueueHPA); recommendations start afresh."""
    async with running(nodes=3) as cluster:
        await web(cluster, 2)
        await cluster.apply([autoscaler(min_replicas=2)])
        await trio.sleep(30)
        cluster.controller_manager.stop()
        with load(cluster) as traffic:
            traffic.set(13.8)  # 70%: 3 replicas
            await trio.sleep(30)
            assert rescales(cluster) == [], "no controller, no scaling"
            restarted = trio.current_time()
            cluster.controller_manager.start(cluster.nursery)
            await wait_until(lambda: bool(rescales(cluster)), 60, "a rescale")
            # it acts once it leads (its old Lease expired as it observed it), then resyncs
            leads = [e.time for e in cluster.events if "became leader" in e.message][-1]
            assert leads >= restarted + cluster.ctx.settings.leader_election_lease_duration
            assert rescales(cluster)[0].time == pytest.approx(leads + 15, abs=1)
            assert replicas(cluster) == 3


async def test_metrics_server_runs_only_with_an_hpa_and_reports_bad_annotations() -> None:
    """metrics-server starts with the first HorizontalPodAutoscaler (a run without one scrapes
    nothing); an unparsable load annotation is reported once and the default used."""
    async with running(nodes=2) as cluster:
        await web(cluster, 1, annotations={"kubechaos.io/cpu-per-request": "lots"})
        assert not cluster.addons["metrics-server"].running
        assert cluster.ctx.metrics.scrapes == 0
        await cluster.apply([autoscaler()])
        assert cluster.addons["metrics-server"].running
        await trio.sleep(31)
        assert cluster.ctx.metrics.scrapes == 3
        (warning,) = [e for e in cluster.events if e.reason == "InvalidLoadAnnotation"]
        assert "kubechaos.io/cpu-per-request: 'lots'" in warning.message


async def test_a_target_scaled_to_zero_disables_autoscaling() -> None:
    """reconcileAutoscaler: a target with 0 replicas (and minReplicas > 0) is not scaled:
    ScalingActive False, ScalingDisabled, desiredReplicas 0."""
    async with running(nodes=2) as cluster:
        await web(cluster, 0)
        await cluster.apply([autoscaler(min_replicas=2)])
        await trio.sleep(31)
        assert condition(cluster, "ScalingActive") == ("False", "ScalingDisabled")
        assert get_hpa(cluster).status.desired_replicas == 0 and replicas(cluster) == 0
