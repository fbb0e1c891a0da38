"""Config objects are modelled objects (issue 13, point 6): ConfigMap, Secret, ServiceAccount and
PriorityClass are stored and served; they used to be skipped with a "not modelled" warning."""

from __future__ import annotations

import pytest

from kubechaos.api import errors
from kubechaos.api.fieldreader import ManifestError
from kubechaos.api.manifest import read_manifest
from kubechaos.api.objects import ConfigMap, ObjectMeta, PriorityClass, Secret, ServiceAccount
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.observe.metrics.collector import ClusterCollector

from .harness import running


async def started():
    _, ctx = new_control_plane(seed=1)
    await bootstrap(ctx)
    return ctx


async def test_config_objects_are_served_and_listed() -> None:
    """Upstream serves configmaps, secrets, serviceaccounts (core/v1) and priorityclasses
    (scheduling.k8s.io/v1, cluster-scoped); kubechaos answered 404 for all four."""
    ctx = await started()
    await ctx.api.create(ConfigMap(ObjectMeta(name="cfg", namespace="default"), {"a.b": "1"}))
    await ctx.api.create(Secret(ObjectMeta(name="s", namespace="default"), {"k": "dmFsdWU="}))
    await ctx.api.create(ServiceAccount(ObjectMeta(name="sa", namespace="default")))
    await ctx.api.create(PriorityClass(ObjectMeta(name="high"), 1000))
    got = await ctx.api.get("configmaps", "default", "cfg")
    assert got.data == {"a.b": "1"}
    assert [s.metadata.name for s in (await ctx.api.list("secrets"))[0]] == ["s"]
    assert [s.metadata.name for s in (await ctx.api.list("serviceaccounts"))[0]] == ["sa"]
    pc = await ctx.api.get("priorityclasses", "", "high")
    assert pc.value == 1000 and pc.metadata.namespace == ""


async def test_builtin_priority_classes_exist_in_every_cluster() -> None:
    """Upstream's post-start hook scheduling/bootstrap-system-priority-classes
    (pkg/registry/scheduling/rest/storage_scheduling.go) creates system-cluster-critical
    (2000000000) and system-node-critical (2000001000); kubechaos had no PriorityClass."""
    ctx = await started()
    classes = {p.metadata.name: p.value for p in (await ctx.api.list("priorityclasses"))[0]}
    assert classes == {"system-cluster-critical": 2000000000, "system-node-critical": 2000001000}


@pytest.mark.parametrize(
    ("obj", "needle"),
    [
        (ConfigMap(ObjectMeta(name="c", namespace="default"), {"bad key": "x"}), "config key"),
        (Secret(ObjectMeta(name="s", namespace="default"), {"k": "not base64!"}), "base64"),
        (PriorityClass(ObjectMeta(name="huge"), 2_000_000_000), "maximum allowed value"),
        (PriorityClass(ObjectMeta(name="system-mine"), 5), "reserved"),
        (PriorityClass(ObjectMeta(name="p"), 5, preemption_policy="Sometimes"), "Unsupported"),
    ],
)
async def test_validation_as_upstream(obj, needle) -> None:
    """pkg/apis/core/validation ValidateConfigMap/ValidateSecret (keys match [-._a-zA-Z0-9]+,
    data is base64) and pkg/apis/scheduling/validation ValidatePriorityClass."""
    ctx = await started()
    with pytest.raises(errors.Invalid) as exc:
        await ctx.api.create(obj)
    assert exc.value.code == 422 and needle in str(exc.value)


async def test_immutable_configmap_refuses_data_changes() -> None:
    """ValidateConfigMapUpdate: an immutable ConfigMap's data never changes."""
    ctx = await started()
    created = await ctx.api.create(
        ConfigMap(ObjectMeta(name="c", namespace="default"), {"a": "1"}, immutable=True)
    )
    with pytest.raises(errors.Invalid, match="immutable"):
        await ctx.api.update(ConfigMap(created.metadata, {"a": "2"}, immutable=True))


def test_manifests_read_with_one_line_errors_for_bad_keys() -> None:
    """A ConfigMap manifest used to be skipped; now it is read, and a bad data key is an
    error naming the field."""
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    assert read_manifest(doc).data == {"a": "1"}
    with pytest.raises(ManifestError, match=r"data\[\"bad key\"\]"):
        read_manifest({**doc, "data": {"bad key": "1"}})
    pc = read_manifest(
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "high"},
            "value": 1000,
            "globalDefault": False,
        }
    )
    assert isinstance(pc, PriorityClass) and pc.metadata.namespace == ""


def test_pod_references_are_read() -> None:
    """env valueFrom / envFrom / configMap and secret volumes are read into the pod spec."""
    doc = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "i",
                    "env": [
                        {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}
                    ],
                    "envFrom": [{"secretRef": {"name": "s", "optional": True}}],
                }
            ],
            "volumes": [{"name": "v", "configMap": {"name": "cm2"}}],
        },
    }
    pod = read_manifest(doc)
    refs = pod.spec.containers[0].config_refs
    assert [(r.kind, r.name, r.key, r.optional) for r in refs] == [
        ("ConfigMap", "cm", "k", False),
        ("Secret", "s", "", True),
    ]
    assert [(r.kind, r.name, r.volume) for r in pod.spec.volume_refs] == [("ConfigMap", "cm2", "v")]


async def test_only_one_priority_class_may_be_the_global_default() -> None:
    """The Priority admission plugin (plugin/pkg/admission/priority/admission.go,
    validatePriorityClass): while a class is marked globalDefault, creating another default, or
    marking another class default, is forbidden (403) with "PriorityClass <name> is already
    marked as default. Only one default can exist"; the default itself may be updated. kubechaos
    used to accept any number of defaults."""
    ctx = await started()
    low = await ctx.api.create(PriorityClass(ObjectMeta(name="low"), 100, global_default=True))
    with pytest.raises(errors.Forbidden) as exc:
        await ctx.api.create(PriorityClass(ObjectMeta(name="high"), 1000, global_default=True))
    assert exc.value.code == 403
    assert str(exc.value.message) == (
        'priorityclasses.scheduling.k8s.io "high" is forbidden: PriorityClass low is already '
        "marked as default. Only one default can exist"
    )
    high = await ctx.api.create(PriorityClass(ObjectMeta(name="high"), 1000))
    with pytest.raises(errors.Forbidden, match="PriorityClass low is already marked"):
        await ctx.api.update(PriorityClass(high.metadata, 1000, global_default=True))
    updated = await ctx.api.update(
        PriorityClass(low.metadata, 100, global_default=True, description="the floor")
    )
    assert updated.description == "the floor" and updated.global_default
    # once the default steps down, another class may take its place
    await ctx.api.update(PriorityClass(updated.metadata, 100, global_default=False))
    await ctx.api.update(PriorityClass(high.metadata, 1000, global_default=True))


async def test_config_objects_have_their_kube_state_metrics_families() -> None:
    """kube-state-metrics internal/store/configmap.go and secret.go: kube_configmap_info and
    kube_configmap_created with labels namespace and configmap; kube_secret_info,
    kube_secret_type (label type) and kube_secret_created with labels namespace and secret. As
    for every optional kind, the families are absent while the cluster has no such object."""
    async with running(nodes=1) as cluster:
        collector = ClusterCollector(cluster)
        names = {m.name for m in collector.optional_families()}
        assert not names & {"kube_configmap_info", "kube_secret_info"}
        await cluster.apply(
            [
                ConfigMap(ObjectMeta(name="cfg", namespace="default"), {"a": "1"}),
                Secret(ObjectMeta(name="tls", namespace="default"), type="kubernetes.io/tls"),
            ]
        )
        got = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for m in collector.optional_families()
            for s in m.samples
        }
    cm = (("configmap", "cfg"), ("namespace", "default"))
    secret = (("namespace", "default"), ("secret", "tls"))
    assert got[("kube_configmap_info", cm)] == 1
    assert got[("kube_secret_info", secret)] == 1
    assert got[("kube_secret_type", (*secret, ("type", "kubernetes.io/tls")))] == 1
    assert got[("kube_configmap_created", cm)] >= 0
    assert got[("kube_secret_created", secret)] >= 0
