"""Init and sidecar containers, end to end on one kubelet in virtual time.

Upstream sources: the "Init Containers" and "Sidecar Containers" docs; the v1.32 kubelet's
``computeInitContainerActions`` (pkg/kubelet/kuberuntime/kuberuntime_container.go),
``computePodActions`` / ``killContainersWithSyncResult`` (kuberuntime_manager.go), ``getPhase``
(pkg/kubelet/kubelet_pods.go) and ``GeneratePodInitializedCondition`` /
``GeneratePodReadyToStartContainersCondition`` (pkg/kubelet/status/generate.go); kubectl's
``printPod`` (pkg/printers/internalversion/printers.go) for the STATUS column.
"""

from __future__ import annotations

import copy
import itertools
from pathlib import Path

import attrs
import pytest
import trio

from kubechaos.api.fieldreader import ManifestError
from kubechaos.api.manifest import read_manifest
from kubechaos.api.modelled import unmodelled_fields
from kubechaos.api.objects import (
    Container,
    ContainerStatus,
    Job,
    JobSpec,
    ObjectMeta,
    Pod,
    PodSpec,
    Probe,
    Resources,
)
from kubechaos.api.podprint import pod_display_status
from kubechaos.control.scheduler.framework import pod_requests
from kubechaos.defaults import BEHAVIOUR_ANNOTATION
from kubechaos.node.behaviour import BehaviourError, parse_behaviour
from kubechaos.node.kubelet.config import NodeConfig
from kubechaos.node.runtime import ContainerRuntime
from kubechaos.observe.metrics.kubestate import pod_samples
from kubechaos.sim.clock import now
from tests.golden import run_of

from .factories import pod_spec, template
from .harness import running, wait_until
from .test_kubelet import WAIT_STEP, WAIT_TIMEOUT, must, plane, ready, start, stored, times

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def init_pod(
    name: str,
    inits: tuple[Container, ...],
    behaviours: dict[str, str] | None = None,
    app_readiness: Probe | None = None,
    **kwargs: object,
) -> Pod:
    """A pod on n1 with ``inits`` before its one app container ``app``; ``behaviours`` maps a
    container name to its ``kubechaos.io/behaviour.<name>`` text."""
    annotations = {f"{BEHAVIOUR_ANNOTATION}.{c}": b for c, b in (behaviours or {}).items()}
    spec = pod_spec(readiness=app_readiness, node_name="n1", **kwargs)
    return Pod(
        ObjectMeta(name=name, namespace="default", annotations=annotations),
        PodSpec(**{**_fields(spec), "init_containers": inits}),  # type: ignore[arg-type]
    )


def _fields(spec: PodSpec) -> dict[str, object]:
    return {f: getattr(spec, f) for f in spec.__slots__ if not f.startswith("__")}


def init(name: str, sidecar: bool = False, **kwargs: object) -> Container:
    return Container(
        name,
        f"registry.local/{name}:1",
        restart_policy="Always" if sidecar else "",
        **kwargs,  # type: ignore[arg-type]
    )


def started(ctx: object, pod: str, container: str) -> list[float]:
    return times(ctx, "Started", pod, f"Started container {container}")  # type: ignore[arg-type]


def statuses(p: Pod) -> dict[str, tuple[str, str]]:
    return {
        cs.name: (cs.state, cs.reason)
        for cs in (*p.status.init_container_statuses, *p.status.container_statuses)
    }


def condition(p: Pod, type_: str) -> str | None:
    cond = p.status.condition(type_)
    return None if cond is None else cond.status


# ---------------------------------------------------------------------------- init containers


async def test_a_30s_init_step_holds_the_app_container_back_for_30s() -> None:
    """The measured case: an init container running 30 s (``exit-after=30s``) must complete
    (exit 0) before the app container starts ("Init Containers" docs: each init container must
    complete successfully before the next one, and the app containers, start). Meanwhile the
    pod is Pending, ``Initialized`` False, STATUS ``Init:0/1``, the app container waits with
    reason PodInitializing; afterwards the init status is terminated/Completed and ready."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        await ctx.api.create(init_pod("web", (init("migrate"),), {"migrate": "exit-after=30s"}))
        await wait_until(lambda: started(ctx, "web", "migrate"), WAIT_TIMEOUT, "init", WAIT_STEP)
        await trio.sleep(10)
        p = must(ctx, "web")
        assert p.status.phase == "Pending"
        assert condition(p, "Initialized") == "False"
        assert condition(p, "PodReadyToStartContainers") == "True"
        assert statuses(p) == {"migrate": ("running", ""), "app": ("waiting", "PodInitializing")}
        assert pod_display_status(p) == "Init:0/1"
        await wait_until(lambda: ready(ctx, "web"), WAIT_TIMEOUT, "web ready", WAIT_STEP)
        (init_start,) = started(ctx, "web", "migrate")
        (app_start,) = started(ctx, "web", "app")
        assert app_start - init_start >= 30.0
        p = must(ctx, "web")
        assert p.status.phase == "Running" and condition(p, "Initialized") == "True"
        (ics,) = p.status.init_container_statuses
        assert (ics.state, ics.reason, ics.exit_code, ics.ready) == (
            "terminated",
            "Completed",
            0,
            True,
        )
        assert pod_display_status(p) == "Running"
        nursery.cancel_scope.cancel()


async def test_init_containers_run_one_after_another_in_order() -> None:
    """Init containers run sequentially, in spec order: the next starts only after the previous
    one exited 0 ("Init Containers" docs); STATUS ``Init:N/M`` counts the completed ones, then
    ``PodInitializing`` while the app container is being created (kubectl printPod)."""
    ctx, net = await plane()
    seen: list[str] = []
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        behaviours = {"first": "exit-after=5s", "second": "exit-after=5s"}
        await ctx.api.create(init_pod("web", (init("first"), init("second")), behaviours))

        def record() -> bool:
            p = stored(ctx, "web")
            if p is not None and (not seen or seen[-1] != pod_display_status(p)):
                seen.append(pod_display_status(p))
            return p is not None and p.is_ready()

        await wait_until(record, WAIT_TIMEOUT, "web ready", 0.01)
        (first,), (second,) = started(ctx, "web", "first"), started(ctx, "web", "second")
        (app,) = started(ctx, "web", "app")
        assert first + 5 <= second and second + 5 <= app
        for status in ("Init:0/2", "Init:1/2", "PodInitializing", "Running"):
            assert status in seen, seen
        assert seen.index("Init:0/2") < seen.index("Init:1/2") < seen.index("Running")
        nursery.cancel_scope.cancel()


async def test_a_failed_init_container_fails_a_never_pod() -> None:
    """restartPolicy Never: a failing init container is not restarted and the pod is Failed
    (getPhase: failedInitialization with RestartPolicyNever); the app container never starts;
    STATUS ``Init:Error``."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        pod = init_pod("job", (init("fetch"),), {"fetch": "crash-after=2s"}, restart_policy="Never")
        await ctx.api.create(pod)
        await wait_until(
            lambda: must(ctx, "job").status.phase == "Failed", WAIT_TIMEOUT, "failed", WAIT_STEP
        )
        p = must(ctx, "job")
        assert statuses(p)["fetch"] == ("terminated", "Error")
        assert pod_display_status(p) == "Init:Error"
        assert started(ctx, "job", "app") == [] and len(started(ctx, "job", "fetch")) == 1
        assert condition(p, "Initialized") == "False"
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("policy", ["OnFailure", "Always"])
async def test_a_failed_init_container_is_restarted_with_crash_loop_backoff(policy: str) -> None:
    """restartPolicy OnFailure or Always: a failing init container is restarted with the
    CrashLoopBackOff (at once, then 10 s, then 20 s, as for app containers: kubelet defaults)
    until it succeeds; the pod stays
    Pending with STATUS ``Init:CrashLoopBackOff`` meanwhile, then the app starts."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        behaviours = {"wait-db": "crash-after=1s,crash-times=3"}
        await ctx.api.create(init_pod("web", (init("wait-db"),), behaviours, restart_policy=policy))
        await wait_until(
            lambda: pod_display_status(must(ctx, "web")) == "Init:CrashLoopBackOff",
            WAIT_TIMEOUT,
            "back-off",
            WAIT_STEP,
        )
        assert must(ctx, "web").status.phase == "Pending"
        await wait_until(lambda: ready(ctx, "web"), WAIT_TIMEOUT, "web ready", WAIT_STEP)
        runs = started(ctx, "web", "wait-db")
        assert len(runs) == 4
        # exit 1 s after each start, seen at PLEG's next relist (within 1 s); the back-off
        # counts from the exit (0, 10 s, then 20 s) and a restart lands on the pod workers'
        # first re-sync after it expired (every 10-15 s: pod_workers.go, kubernetes#123602)
        gaps = [b - (a + 1) for a, b in itertools.pairwise(runs)]
        assert 0 <= gaps[0] <= 1.01
        for gap, backoff in zip(gaps[1:], (10, 20), strict=True):
            assert backoff <= gap <= backoff + 15 + 1.01, gaps
        (ics,) = must(ctx, "web").status.init_container_statuses
        assert ics.restart_count == 3 and ics.state == "terminated" and ics.exit_code == 0
        assert started(ctx, "web", "app")[0] > runs[3] + 1
        nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------------- sidecars

STARTUP = Probe(period_seconds=1, failure_threshold=60)


async def test_the_next_init_container_waits_for_a_sidecar_to_be_started() -> None:
    """A sidecar (``restartPolicy: Always``) starts in the init sequence; the next init
    container starts once it is started, which with a startupProbe means once that probe
    succeeded ("Sidecar Containers" docs; computeInitContainerActions). It then keeps running
    beside the app container: the pod is Running with both."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        inits = (init("proxy", sidecar=True, startup_probe=STARTUP), init("setup"))
        behaviours = {"proxy": "startup=8s", "setup": "exit-after=1s"}
        await ctx.api.create(init_pod("web", inits, behaviours))
        await wait_until(lambda: ready(ctx, "web"), WAIT_TIMEOUT, "web ready", WAIT_STEP)
        (proxy,), (setup,) = started(ctx, "web", "proxy"), started(ctx, "web", "setup")
        (app,) = started(ctx, "web", "app")
        assert setup >= proxy + 8 and app >= setup + 1
        p = must(ctx, "web")
        assert statuses(p)["proxy"] == ("running", "") and statuses(p)["app"] == ("running", "")
        assert p.status.phase == "Running" and pod_display_status(p) == "Running"
        nursery.cancel_scope.cancel()


async def test_a_sidecar_is_restarted_whatever_the_pods_restart_policy() -> None:
    """A sidecar that exits is restarted even in a ``restartPolicy: Never`` pod (sidecars are
    always restarted, "Sidecar Containers" docs); the app container is not touched and the pod
    stays Running."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        pod = init_pod(
            "web",
            (init("log-shipper", sidecar=True),),
            {"log-shipper": "crash-after=5s"},
            restart_policy="Never",
        )
        await ctx.api.create(pod)
        await wait_until(
            lambda: len(started(ctx, "web", "log-shipper")) >= 3, WAIT_TIMEOUT, "3", WAIT_STEP
        )
        p = must(ctx, "web")
        assert p.status.phase == "Running"
        assert len(started(ctx, "web", "app")) == 1
        (cs,) = p.status.init_container_statuses
        assert cs.restart_count >= 2
        nursery.cancel_scope.cancel()


async def test_a_sidecars_readiness_counts_towards_the_pods_ready() -> None:
    """The pod is Ready only while its sidecars are ready too (GenerateContainersReadyCondition
    counts restartable init containers): a sidecar's failing readiness probe takes the pod out
    of Ready, and back when it passes again."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        probe = Probe(period_seconds=1, failure_threshold=1)
        pod = init_pod(
            "web",
            (init("proxy", sidecar=True, readiness_probe=probe),),
            {"proxy": "readiness-fail-after=20s,readiness-fail-for=20s"},
        )
        await ctx.api.create(pod)
        await wait_until(lambda: ready(ctx, "web"), WAIT_TIMEOUT, "web ready", WAIT_STEP)
        await wait_until(lambda: not ready(ctx, "web"), WAIT_TIMEOUT, "unready", WAIT_STEP)
        assert must(ctx, "web").status.phase == "Running"
        await wait_until(lambda: ready(ctx, "web"), WAIT_TIMEOUT, "ready again", WAIT_STEP)
        nursery.cancel_scope.cancel()


async def test_sidecars_stop_after_the_app_containers_in_reverse_order() -> None:
    """On deletion the app containers get SIGTERM first; the sidecars are stopped once they
    have exited, one at a time, last one first (killContainersWithSyncResult with
    SidecarContainers; "Sidecar Containers" docs)."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        inits = (init("first", sidecar=True), init("second", sidecar=True))
        shutdown = {"app": "shutdown=5s", "first": "shutdown=1s", "second": "shutdown=2s"}
        await ctx.api.create(init_pod("web", inits, shutdown))
        await wait_until(lambda: ready(ctx, "web"), WAIT_TIMEOUT, "web ready", WAIT_STEP)
        deleted = now()
        await ctx.api.delete("pods", "default", "web")
        await wait_until(lambda: stored(ctx, "web") is None, WAIT_TIMEOUT, "gone", WAIT_STEP)
        killing = {
            name: times(ctx, "Killing", "web", f"Stopping container {name}")
            for name in ("app", "first", "second")
        }
        (app,), (second,), (first,) = killing["app"], killing["second"], killing["first"]
        assert app == pytest.approx(deleted, abs=0.5)
        assert second == pytest.approx(app + 5, abs=0.01)
        assert first == pytest.approx(second + 2, abs=0.01)
        nursery.cancel_scope.cancel()


async def test_a_sidecar_does_not_keep_a_job_pod_from_completing() -> None:
    """A ``restartPolicy: Never`` pod whose app container exits 0 is Succeeded although its
    sidecar would run for ever: the kubelet stops the sidecar once the app containers are done
    (computePodActions), and a terminated sidecar does not count in getPhase."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        pod = init_pod(
            "job",
            (init("proxy", sidecar=True),),
            {"app": "exit-after=5s"},
            restart_policy="Never",
        )
        await ctx.api.create(pod)
        await wait_until(
            lambda: must(ctx, "job").status.phase == "Succeeded", WAIT_TIMEOUT, "done", WAIT_STEP
        )
        p = must(ctx, "job")
        assert statuses(p) == {
            "proxy": ("terminated", "Completed"),
            "app": ("terminated", "Completed"),
        }
        assert len(started(ctx, "job", "proxy")) == 1
        assert pod_display_status(p) == "Completed"
        assert condition(p, "PodReadyToStartContainers") == "False"
        nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------------- restarts


def _watch_condition(ctx: object, name: str, type_: str, seen: list[str | None]) -> bool:
    p = stored(ctx, name)  # type: ignore[arg-type]
    value = None if p is None else condition(p, type_)
    if not seen or seen[-1] != value:
        seen.append(value)
    return False


async def test_init_containers_run_again_after_a_node_reboot_but_not_after_a_kubelet_restart() -> (
    None
):
    """A kubelet restart leaves the sandbox running: a completed init container is not run
    again and the app keeps running (computePodActions: the sandbox did not change). A node
    reboot loses the sandbox: PodReadyToStartContainers is False until a new one is up
    (GeneratePodReadyToStartContainersCondition), and the init sequence runs again before the
    app container (a new sandbox starts from the first init container)."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        runtime = ContainerRuntime(ctx.settings, ctx.stream("runtime"), "n1")
        _, scope = start(nursery, ctx, net, runtime=runtime)
        await ctx.api.create(init_pod("web", (init("migrate"),), {"migrate": "exit-after=10s"}))
        await wait_until(lambda: ready(ctx, "web"), WAIT_TIMEOUT, "web ready", WAIT_STEP)
        assert condition(must(ctx, "web"), "PodReadyToStartContainers") == "True"
        # a kubelet restart: same runtime, containers kept running
        scope.cancel()
        await trio.sleep(5)
        _, scope = start(nursery, ctx, net, runtime=runtime)
        await trio.sleep(30)
        assert ready(ctx, "web") and len(started(ctx, "web", "migrate")) == 1
        assert len(started(ctx, "web", "app")) == 1
        assert condition(must(ctx, "web"), "Initialized") == "True"
        # a reboot: the runtime (sandbox and containers) is gone
        scope.cancel()
        net.set_node_up("n1", False)
        await trio.sleep(30)
        reboot = now()
        seen: list[str | None] = []
        start(nursery, ctx, net, runtime=ContainerRuntime(ctx.settings, ctx.stream("r2"), "n1"))
        with trio.move_on_after(8):
            await wait_until(
                lambda: _watch_condition(ctx, "web", "PodReadyToStartContainers", seen),
                WAIT_TIMEOUT,
                "never",
                0.01,
            )
        assert seen[-2:] == ["False", "True"]
        await wait_until(lambda: ready(ctx, "web"), WAIT_TIMEOUT, "web ready again", WAIT_STEP)
        migrate, app = started(ctx, "web", "migrate"), started(ctx, "web", "app")
        assert len(migrate) == 2 and migrate[1] > reboot and app[1] >= migrate[1] + 10
        (ics,) = must(ctx, "web").status.init_container_statuses
        assert ics.restart_count == 1 and ics.state == "terminated" and ics.exit_code == 0
        nursery.cancel_scope.cancel()


async def test_a_sidecar_running_at_a_kubelet_restart_is_adopted_not_restarted() -> None:
    """After a kubelet restart a running sidecar is adopted as any running container: not
    started again, its probes carried on; the pod stays Ready."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        runtime = ContainerRuntime(ctx.settings, ctx.stream("runtime"), "n1")
        _, scope = start(nursery, ctx, net, runtime=runtime)
        await ctx.api.create(init_pod("web", (init("proxy", sidecar=True),)))
        await wait_until(lambda: ready(ctx, "web"), WAIT_TIMEOUT, "web ready", WAIT_STEP)
        scope.cancel()
        await trio.sleep(5)
        start(nursery, ctx, net, runtime=runtime)
        await trio.sleep(30)
        assert ready(ctx, "web")
        assert len(started(ctx, "web", "proxy")) == 1 and len(started(ctx, "web", "app")) == 1
        nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------------- resources


def _requests_pod(inits: tuple[Container, ...], app_cpu: int) -> Pod:
    return init_pod("p", inits, cpu=app_cpu, memory=0)


def _cpu(name: str, cpu: int, sidecar: bool = False) -> Container:
    return init(name, sidecar=sidecar, requests=Resources(cpu, 0))


def test_effective_requests_follow_upstream_pod_requests() -> None:
    """component-helpers ``resource.PodRequests`` (the "Resource sharing within containers"
    rule of the Init Containers and Sidecar Containers docs): max(sum of app containers + all
    sidecars, the highest init container plus the sidecars started before it). The scheduler's
    scoring form fills a missing request with 100m / 200Mi per container, init ones too."""
    # a big init step: 700m > 100m + 50m, and it runs beside the 50m sidecar before it
    pod = _requests_pod((_cpu("proxy", 50, sidecar=True), _cpu("migrate", 700)), 100)
    assert pod_requests(pod)[0] == 750
    assert pod.spec.requests().cpu_millis == 750 and pod.spec.requests().pods == 1
    # a small init step: the app and sidecars running together weigh more
    pod = _requests_pod((_cpu("migrate", 100), _cpu("proxy", 300, sidecar=True)), 500)
    assert pod_requests(pod)[0] == 800
    # a sidecar after the init container does not run beside it
    pod = _requests_pod((_cpu("migrate", 600), _cpu("proxy", 300, sidecar=True)), 100)
    assert pod_requests(pod)[0] == 600
    # scoring defaults: no request = 100m per container, init ones included
    pod = _requests_pod((_cpu("migrate", 0),), 0)
    assert pod_requests(pod)[2] == 100


async def test_the_kubelet_admits_by_the_init_peak() -> None:
    """The kubelet's admission (``Insufficient cpu`` / ``OutOfcpu``) counts the same effective
    requests: a pod whose init step needs more CPU than the node has is rejected though its app
    container alone would fit."""
    ctx, net = await plane()
    config = NodeConfig(
        name="n1",
        capacity=Resources(1000, 64 * 2**30, 110),
        labels={},
        pod_cidr="10.128.3.0/24",
        address="172.16.0.5",
    )
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net, config=config)
        await ctx.api.create(init_pod("big", (_cpu("migrate", 1500),), cpu=100))
        await ctx.api.create(init_pod("fits", (_cpu("migrate", 800),), cpu=100))
        await wait_until(
            lambda: must(ctx, "big").status.phase == "Failed" and ready(ctx, "fits"),
            WAIT_TIMEOUT,
            "big rejected, fits ready",
            WAIT_STEP,
        )
        assert must(ctx, "big").status.reason == "OutOfcpu"
        nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------------- manifests

INIT_MANIFEST = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web"},
    "spec": {
        "initContainers": [
            {
                "name": "proxy",
                "image": "envoy:1.31",
                "restartPolicy": "Always",
                "readinessProbe": {"tcpSocket": {"port": 9901}},
                "resources": {"requests": {"cpu": "50m"}},
            },
            {"name": "migrate", "image": "migrate:1", "imagePullPolicy": "Always"},
        ],
        "containers": [{"name": "web", "image": "nginx:1.27"}],
    },
}


def test_init_containers_are_read_from_a_manifest() -> None:
    """``initContainers`` are read with every container field the app containers have, plus
    ``restartPolicy``; no warning is given for them any more."""
    pod = read_manifest(INIT_MANIFEST)
    assert isinstance(pod, Pod)
    proxy, migrate = pod.spec.init_containers
    assert proxy.restart_policy == "Always" and proxy.readiness_probe is not None
    assert proxy.requests.cpu_millis == 50
    assert migrate.restart_policy == "" and migrate.image_pull_policy == "Always"
    assert unmodelled_fields(INIT_MANIFEST) == []


def _spec_with(**changes: object) -> dict[str, object]:
    spec = copy.deepcopy(INIT_MANIFEST["spec"])
    assert isinstance(spec, dict)
    spec.update(changes)
    return {**INIT_MANIFEST, "spec": spec}


@pytest.mark.parametrize(
    ("init_containers", "containers", "error"),
    [
        # names are unique across init and app containers
        (
            [{"name": "web", "image": "x"}],
            None,
            ("spec.initContainers[0].name", "Duplicate value: 'web'"),
        ),
        # restartPolicy on an init container: Always only
        (
            [{"name": "a", "image": "x", "restartPolicy": "OnFailure"}],
            None,
            ("spec.initContainers[0].restartPolicy", "Unsupported value: 'OnFailure'"),
        ),
        # restartPolicy on an app container: forbidden
        (
            [],
            [{"name": "web", "image": "x", "restartPolicy": "Always"}],
            ("spec.containers[0].restartPolicy", "Forbidden: may not be set for non-init"),
        ),
        # probes on a regular init container: forbidden
        (
            [{"name": "a", "image": "x", "livenessProbe": {"exec": {"command": ["true"]}}}],
            None,
            ("spec.initContainers[0].livenessProbe", "Forbidden: may not be set for init"),
        ),
        # the checks of any container apply
        (
            [{"name": "Bad_Name", "image": "x"}],
            None,
            ("spec.initContainers[0].name", "must be a DNS-1123 label"),
        ),
    ],
)
def test_init_containers_are_validated_as_upstream(
    init_containers: list[dict[str, object]],
    containers: list[dict[str, object]] | None,
    error: tuple[str, str],
) -> None:
    """pkg/apis/core/validation/validation.go (validateInitContainers, validateContainers,
    validateInitContainerRestartPolicy), each a one-line located error."""
    changes: dict[str, object] = {"initContainers": init_containers}
    if containers is not None:
        changes["containers"] = containers
    with pytest.raises(ManifestError) as exc:
        read_manifest(_spec_with(**changes))
    found = {e.dotted(): e.message for e in exc.value.errors}
    field, message = error
    assert field in found and message in found[field], found


def test_crash_times_parses_and_counts_runs() -> None:
    """``crash-times=N``: only the first N runs crash; it needs crash-after."""
    behaviour = parse_behaviour("crash-after=5s,crash-times=2")
    assert [behaviour.exits(n) for n in range(3)] == [(5.0, 1), (5.0, 1), (5.0, 0)]
    assert parse_behaviour("serve").init_exits() == (0.0, 0)
    assert parse_behaviour("startup=3s").init_exits() == (3.0, 0)
    with pytest.raises(BehaviourError, match="needs crash-after"):
        parse_behaviour("crash-times=2")
    with pytest.raises(BehaviourError, match="integer"):
        parse_behaviour("crash-after=1s,crash-times=x")


# ---------------------------------------------------------------------------- the measured case


def test_pod_kill_recovery_includes_the_init_step() -> None:
    """The measured case, end to end: with a 30 s init container, pod-kill recovery takes at
    least 30 s plus the server's start-up (2 s), where the same Deployment without init
    containers recovers in a few seconds (scenarios/slow-init-recovery.yaml against
    scenarios/pod-kill.yaml)."""
    slow = run_of("slow-init-recovery")
    plain = run_of("pod-kill")
    slow_seconds = [r.seconds for r in slow.steady.recoveries]
    plain_seconds = [r.seconds for r in plain.steady.recoveries]
    assert slow_seconds and all(s is not None and s >= 32 for s in slow_seconds)
    assert all(s is not None and s < 15 for s in plain_seconds)


async def test_init_container_restarts_count_against_a_jobs_backoff_limit() -> None:
    """pastBackoffLimitOnFailure (pkg/controller/job/job_controller.go) sums the restart counts
    of a running or pending pod's init containers and app containers: a Job whose init step
    keeps failing under restartPolicy OnFailure fails with BackoffLimitExceeded."""
    async with running(nodes=1) as cluster:
        tmpl = template(
            {"app": "batch"},
            {f"{BEHAVIOUR_ANNOTATION}.fetch": "crash-after=1s"},
            restart_policy="OnFailure",
            init_containers=(init("fetch"),),
        )
        batch = Job(ObjectMeta(name="batch", namespace="default"), JobSpec(tmpl, backoff_limit=2))
        await cluster.apply([batch])

        def failed() -> bool:
            j = cluster.api.cache("jobs").get("/registry/jobs/default/batch")
            return j is not None and j.status.finished() == "Failed"

        await wait_until(failed, 120, "job failed")
        starts = [e for e in cluster.events if e.reason == "Started" and "fetch" in e.message]
        assert len(starts) == 3  # the first run and two restarts in place reach the limit


async def test_a_crash_looping_sidecar_is_not_restarted_once_the_pod_is_done() -> None:
    """When the app containers of a ``restartPolicy: Never`` pod are done, a sidecar waiting
    out its CrashLoopBackOff is not started again: the pod is Succeeded and nothing more
    starts (computePodActions: a pod whose regular containers are done is killed)."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, net)
        pod = init_pod(
            "job",
            (init("flaky", sidecar=True),),
            {"flaky": "crash-after=2s", "app": "exit-after=25s"},
            restart_policy="Never",
        )
        await ctx.api.create(pod)
        await wait_until(
            lambda: must(ctx, "job").status.phase == "Succeeded", WAIT_TIMEOUT, "done", WAIT_STEP
        )
        starts = len(started(ctx, "job", "flaky"))
        await trio.sleep(120)
        assert len(started(ctx, "job", "flaky")) == starts
        assert must(ctx, "job").status.phase == "Succeeded"
        nursery.cancel_scope.cancel()


async def test_an_init_container_running_at_a_kubelet_restart_runs_on_to_completion() -> None:
    """A kubelet restart in the middle of an init step: the runtime kept the init container
    running, the new kubelet adopts it (not started again) and its completion at 30 s still
    lets the app container start; the app container is not started early."""
    ctx, net = await plane()
    async with trio.open_nursery() as nursery:
        runtime = ContainerRuntime(ctx.settings, ctx.stream("runtime"), "n1")
        _, scope = start(nursery, ctx, net, runtime=runtime)
        await ctx.api.create(init_pod("web", (init("migrate"),), {"migrate": "exit-after=30s"}))
        await wait_until(lambda: started(ctx, "web", "migrate"), WAIT_TIMEOUT, "init", WAIT_STEP)
        await trio.sleep(10)
        scope.cancel()
        await trio.sleep(5)
        start(nursery, ctx, net, runtime=runtime)
        await wait_until(lambda: ready(ctx, "web"), WAIT_TIMEOUT, "web ready", WAIT_STEP)
        (migrate,), (app,) = started(ctx, "web", "migrate"), started(ctx, "web", "app")
        assert app >= migrate + 30
        (ics,) = must(ctx, "web").status.init_container_statuses
        assert ics.restart_count == 0 and ics.state == "terminated" and ics.exit_code == 0
        nursery.cancel_scope.cancel()


def test_kube_state_metrics_report_init_containers() -> None:
    """kube-state-metrics internal/store/pod.go: ``kube_pod_init_container_status_restarts_total``
    and ``kube_pod_init_container_status_waiting_reason`` per init container, as for app
    containers (alerts on an init container in CrashLoopBackOff read the latter)."""
    pod = init_pod("web", (init("migrate"),))
    status = attrs.evolve(
        pod.status,
        init_container_statuses=(
            ContainerStatus("migrate", "waiting", "CrashLoopBackOff", restart_count=3),
        ),
    )
    samples = {name: s for name, s in pod_samples(attrs.evolve(pod, status=status))}
    restarts = samples["kube_pod_init_container_status_restarts"]
    assert restarts.name == "kube_pod_init_container_status_restarts_total"
    assert restarts.value == 3 and restarts.labels["container"] == "migrate"
    waiting = samples["kube_pod_init_container_status_waiting_reason"]
    assert waiting.labels["reason"] == "CrashLoopBackOff" and waiting.value == 1.0
