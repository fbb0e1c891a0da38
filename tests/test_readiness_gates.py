"""Pod readiness gates (``spec.readinessGates``), set by a client through ``pods/status``.

Upstream: pkg/kubelet/status/generate.go ``GeneratePodReadyCondition`` (Ready waits for every
gate's condition to be True once the containers are ready; reason ``ReadinessGatesNotReady``
and its two messages), the "Pod readiness gate" section of the Pod Lifecycle concept page
(https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-readiness-gate), and
the endpoint controllers, which publish a pod as ready by its Ready condition
(staging/src/k8s.io/endpointslice/utils.go podToEndpoint, pkg/controller/endpoint).
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import trio

from kubechaos.api.manifest import read_manifest
from kubechaos.api.modelled import unmodelled_fields
from kubechaos.api.objects import ObjectMeta, Pod, PodCondition, PodStatus
from kubechaos.frontdoor import patches
from kubechaos.node.readinessgates import gated_ready
from tests.factories import pod_spec
from tests.harness import running, wait_until
from tests.test_frontdoor_app import front_door, request

GATE = "example.com/lb-registered"
JSON = {"content-type": "application/json"}


def gated_deployment(replicas: int = 1) -> dict[str, Any]:
    labels = {"app": "gated"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "gated", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "readinessGates": [{"conditionType": GATE}],
                    "containers": [{"name": "c", "image": "example.com/a:1"}],
                },
            },
        },
    }


SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "gated", "namespace": "default"},
    "spec": {"selector": {"app": "gated"}, "ports": [{"port": 80}]},
}


def slice_ready(cluster: Any, ip: str) -> bool | None:
    """The ``ready`` condition of ``ip``'s endpoint in the gated Service's EndpointSlices."""
    for item in cluster.api.cache("endpointslices").list("default"):
        if item.service_name == "gated":
            for endpoint in item.endpoints:
                if ip in endpoint.addresses:
                    return bool(endpoint.conditions.ready)
    return None


def test_readiness_gates_are_read_and_not_warned() -> None:
    """``spec.readinessGates[].conditionType`` is read into the pod template (core/v1
    PodReadinessGate), so it is no longer an unmodelled field."""
    doc = gated_deployment()
    deployment = read_manifest(doc)
    assert deployment.spec.template.spec.readiness_gates == (GATE,)
    assert not [p for p in unmodelled_fields(doc) if "readinessGates" in p]


def test_ready_messages_name_each_unmet_gate() -> None:
    """GeneratePodReadyCondition: a missing gate condition is "corresponding condition of pod
    readiness gate %q does not exist.", a False one "the status of pod readiness gate %q is
    not \\"True\\", but False", joined by ", "; all True makes Ready True."""
    spec = attrs.evolve(pod_spec(), readiness_gates=("a.io/one", "a.io/two"))
    pod = Pod(
        ObjectMeta(name="p", namespace="default"),
        spec,
        PodStatus(conditions=(PodCondition("a.io/two", "False"),)),
    )
    ready = gated_ready(pod, 5.0)
    assert (ready.status, ready.reason) == ("False", "ReadinessGatesNotReady")
    assert ready.message == (
        'corresponding condition of pod readiness gate "a.io/one" does not exist., '
        'the status of pod readiness gate "a.io/two" is not "True", but False'
    )
    both = attrs.evolve(
        pod,
        status=PodStatus(
            conditions=(PodCondition("a.io/one", "True"), PodCondition("a.io/two", "True"))
        ),
    )
    assert gated_ready(both, 7.0) == PodCondition("Ready", "True", 7.0)


async def test_gate_holds_a_pod_out_of_endpoints_until_a_client_sets_it() -> None:
    """A running pod whose containers are ready stays Ready=False (ReadinessGatesNotReady)
    while its gate's condition does not exist: the Service's Endpoints list it as not ready,
    its EndpointSlice as not ready, the Deployment has no available replica. A client's
    strategic merge patch of ``pods/status`` (conditions merge by ``type``) sets the gate True;
    the kubelet's next status sync makes the pod Ready, and the endpoints and the Deployment
    follow."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        for path, doc in (
            ("/apis/apps/v1/namespaces/default/deployments", gated_deployment()),
            ("/api/v1/namespaces/default/services", SERVICE),
        ):
            out = await request(
                app, path, body=json.dumps(doc).encode(), method="POST", headers=JSON
            )
            assert out.status == 201, out.json()
        pods = cluster.api.cache("pods")
        await wait_until(
            lambda: any(
                p.status.condition("ContainersReady") is not None
                and p.status.condition("ContainersReady").status == "True"
                for p in pods.list("default")
            ),
            90,
            "containers ready",
        )
        await trio.sleep(5)
        (pod,) = pods.list("default")
        ready = pod.status.condition("Ready")
        assert (ready.status, ready.reason) == ("False", "ReadinessGatesNotReady")
        assert (
            ready.message
            == f'corresponding condition of pod readiness gate "{GATE}" does not exist.'
        )
        endpoints = cluster.api.cache("endpoints").get("/registry/endpoints/default/gated")
        assert not endpoints.ready_addresses()
        assert [a.ip for s in endpoints.subsets for a in s.not_ready_addresses] == [
            pod.status.pod_ip
        ]
        assert slice_ready(cluster, pod.status.pod_ip) is False
        deployment = cluster.api.cache("deployments").get("/registry/deployments/default/gated")
        assert deployment.status.available_replicas == 0

        name = pod.metadata.name
        patch = {"status": {"conditions": [{"type": GATE, "status": "True"}]}}
        out = await request(
            app,
            f"/api/v1/namespaces/default/pods/{name}/status",
            body=json.dumps(patch).encode(),
            method="PATCH",
            headers={"content-type": patches.STRATEGIC},
        )
        assert out.status == 200, out.json()
        at = trio.current_time()
        took = (
            await wait_until(
                lambda: pods.get(f"/registry/pods/default/{name}").is_ready(), 30, "Ready"
            )
            - at
        )
        assert took < 5  # the update event syncs the pod at once, no reconcile period
        await wait_until(
            lambda: (
                [
                    a.ip
                    for a in cluster.api.cache("endpoints")
                    .get("/registry/endpoints/default/gated")
                    .ready_addresses()
                ]
                == [pod.status.pod_ip]
            ),
            30,
            "the pod in the Service's endpoints",
        )
        await wait_until(
            lambda: (
                cluster.api.cache("deployments")
                .get("/registry/deployments/default/gated")
                .status.available_replicas
                == 1
            ),
            30,
            "the Deployment available",
        )
        await wait_until(
            lambda: slice_ready(cluster, pod.status.pod_ip) is True, 30, "the slice ready"
        )
        stored = pods.get(f"/registry/pods/default/{name}")
        assert stored.status.condition(GATE).status == "True"
        assert stored.status.condition("ContainersReady").status == "True"
