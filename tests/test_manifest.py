from __future__ import annotations

import pytest

from kubechaos.api.fieldreader import ManifestError
from kubechaos.api.manifest import UnsupportedKind, read_manifest
from kubechaos.api.objects import Deployment, Pod, Service

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "replicas": 4,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "50%"},
        },
        "template": {
            "metadata": {
                "labels": {"app": "web"},
                "annotations": {"kubechaos.io/behaviour": "serve"},
            },
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "nginx",
                        "resources": {
                            "requests": {"cpu": "250m", "memory": "64Mi"},
                            "limits": {"memory": "1Gi"},
                        },
                        "readinessProbe": {
                            "httpGet": {"path": "/", "port": 80},
                            "periodSeconds": 5,
                        },
                        "livenessProbe": {"tcpSocket": {"port": 80}, "failureThreshold": 5},
                    }
                ],
                "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
                "nodeSelector": {"disk": "ssd"},
                "terminationGracePeriodSeconds": 10,
            },
        },
    },
}


def test_reads_a_real_deployment() -> None:
    obj = read_manifest(DEPLOYMENT)
    assert isinstance(obj, Deployment)
    assert obj.metadata.namespace == "default" and obj.spec.replicas == 4
    assert obj.spec.strategy.max_surge == 1 and obj.spec.strategy.max_unavailable == "50%"
    spec = obj.spec.template.spec
    container = spec.containers[0]
    assert container.requests.cpu_millis == 250 and container.limits.memory_bytes == 2**30
    assert container.readiness_probe is not None and container.readiness_probe.period_seconds == 5
    assert container.liveness_probe is not None and container.liveness_probe.handler == "tcpSocket"
    assert (
        container.liveness_probe.failure_threshold == 5
        and container.liveness_probe.period_seconds == 10
    )
    assert spec.tolerations[0].operator == "Exists" and spec.node_selector == {"disk": "ssd"}
    assert spec.termination_grace_period_seconds == 10


def test_reports_every_problem_with_its_path() -> None:
    bad = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": "three",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{"name": "web", "resources": {"requests": {"memory": "lots"}}}]
                },
            },
        },
    }
    with pytest.raises(ManifestError) as exc:
        read_manifest(bad)
    paths = {e.dotted(): e.message for e in exc.value.errors}
    assert paths["spec.replicas"] == "expected an integer, got a string"
    assert paths["spec.template.spec.containers[0].image"] == "Required value"
    assert (
        "is not a quantity" in paths["spec.template.spec.containers[0].resources.requests.memory"]
    )


def test_api_server_validation_applies() -> None:
    bad = dict(DEPLOYMENT, metadata={"name": "Web_1"})
    with pytest.raises(ManifestError) as exc:
        read_manifest(bad)
    assert [e.dotted() for e in exc.value.errors] == ["metadata.name"]
    mismatched = {
        **DEPLOYMENT,
        "spec": {**DEPLOYMENT["spec"], "selector": {"matchLabels": {"app": "other"}}},  # type: ignore[dict-item]
    }
    with pytest.raises(ManifestError, match="selector does not match template labels"):
        read_manifest(mismatched)


def test_wrong_api_version_and_unsupported_kind() -> None:
    with pytest.raises(ManifestError, match="served as 'apps/v1'"):
        read_manifest(dict(DEPLOYMENT, apiVersion="extensions/v1beta1"))
    # ConfigMap was the example of an unserved kind until issue 13 point 6 modelled it
    with pytest.raises(UnsupportedKind):
        read_manifest(
            {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "x"}}
        )


def test_service_and_pod() -> None:
    svc = read_manifest(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
        }
    )
    assert (
        isinstance(svc, Service)
        and svc.metadata.namespace == "shop"
        and svc.spec.ports[0].target_port == "http"
    )
    pod = read_manifest(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"generateName": "job-"},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]},
        }
    )
    assert (
        isinstance(pod, Pod)
        and pod.metadata.generate_name == "job-"
        and pod.spec.restart_policy == "Never"
    )
