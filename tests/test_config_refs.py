"""End to end: the kubelet resolves a pod's ConfigMap/Secret references before starting it.

Upstream: ``kuberuntime_container.go`` ``startContainer`` → ``generateContainerConfig`` →
``kubelet_pods.go`` ``makeEnvironmentVariables`` (CreateContainerConfigError and a ``Failed``
event), the volume manager's ``WaitForAttachAndMount`` (``FailedMount``), and
``pod_workers.go``'s back-off before the next sync. Before this, the references were read from
manifests and silently ignored: the pods started as if every reference resolved.
"""

from __future__ import annotations

import attrs

from kubechaos.api.objects import ConfigMap, ConfigRef, ObjectMeta, Pod, Secret
from kubechaos.observe.metrics import ClusterCollector, new_registry, samples

from .factories import deployment
from .harness import running, wait_until


def _with_refs(env: tuple[ConfigRef, ...] = (), volumes: tuple[ConfigRef, ...] = ()):
    d = deployment("web", 1)
    tpl = d.spec.template
    container = attrs.evolve(tpl.spec.containers[0], config_refs=env)
    spec = attrs.evolve(tpl.spec, containers=(container,), volume_refs=volumes)
    return attrs.evolve(d, spec=attrs.evolve(d.spec, template=attrs.evolve(tpl, spec=spec)))


def _pods(cluster) -> list[Pod]:
    return [
        p
        for p in cluster.api.cache("pods").list("default")
        if p.metadata.labels.get("app") == "web"
    ]


def _ready(cluster) -> bool:
    return any(p.is_ready() for p in _pods(cluster))


def _waiting(cluster, reason: str) -> bool:
    return any(
        cs.state == "waiting" and cs.reason == reason
        for p in _pods(cluster)
        for cs in p.status.container_statuses
    )


async def test_missing_configmap_key_waits_then_starts_once_applied() -> None:
    ref = ConfigRef("ConfigMap", "app-config", key="mode")
    async with running() as cluster:
        await cluster.apply([_with_refs(env=(ref,))])
        await wait_until(
            lambda: _waiting(cluster, "CreateContainerConfigError"), 60, "config error"
        )
        cs = _pods(cluster)[0].status.container_statuses[0]
        assert cs.message == 'configmap "app-config" not found'
        # kube-state-metrics shows the waiting reason, as dashboards and alerts read it
        registry = new_registry(ClusterCollector(cluster))
        waiting = samples(
            registry,
            "kube_pod_container_status_waiting_reason",
            reason="CreateContainerConfigError",
        )
        assert [value for _, value in waiting] == [1.0]
        assert any(
            e.message == 'Error: configmap "app-config" not found'
            for e in cluster.events.find(reason="Failed")
        )
        # the key is still missing: a different message
        await cluster.apply([ConfigMap(ObjectMeta("app-config", "default"), {"other": "1"})])
        await wait_until(
            lambda: (
                _pods(cluster)[0].status.container_statuses[0].message
                == "couldn't find key mode in ConfigMap default/app-config"
            ),
            60,
            "missing key",
        )
        assert not _ready(cluster)
        await cluster.apply([ConfigMap(ObjectMeta("app-config", "default"), {"mode": "a"})])
        await wait_until(lambda: _ready(cluster), 60, "ready once the key exists")


async def test_optional_reference_does_not_block() -> None:
    ref = ConfigRef("Secret", "nothing", key="k", optional=True)
    async with running() as cluster:
        await cluster.apply([_with_refs(env=(ref,))])
        await wait_until(lambda: _ready(cluster), 60, "ready")
        assert not cluster.events.find(reason="Failed")


async def test_missing_secret_volume_keeps_pod_creating_until_it_exists() -> None:
    ref = ConfigRef("Secret", "tls", volume="certs")
    async with running() as cluster:
        await cluster.apply([_with_refs(volumes=(ref,))])
        msg = 'MountVolume.SetUp failed for volume "certs" : secret "tls" not found'
        await wait_until(
            lambda: any(e.message == msg for e in cluster.events.find(reason="FailedMount")),
            60,
            "FailedMount",
        )
        assert _waiting(cluster, "ContainerCreating") and not _ready(cluster)
        assert not any(p.status.pod_ip for p in _pods(cluster))
        await cluster.apply([Secret(ObjectMeta("tls", "default"), {"tls.crt": "eA=="})])
        await wait_until(lambda: _ready(cluster), 60, "ready once the secret exists")
