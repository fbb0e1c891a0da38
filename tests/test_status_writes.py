"""A client's writes to the ``/status`` subresource, in-process through the front door.

Upstream: each kind's status strategy (pkg/registry/<group>/<kind>/strategy.go
``<kind>StatusStrategy.PrepareForUpdate`` / ``ValidateUpdate``), the generic store's update with a
``resourceVersion`` precondition (staging/src/k8s.io/apiserver/pkg/registry/generic/registry/
store.go) and the kubelet's status setters (pkg/kubelet/nodestatus/setters.go,
pkg/kubelet/status/status_manager.go).
"""

from __future__ import annotations

import json
from typing import Any

import trio

from kubechaos.frontdoor import patches
from tests.harness import running, wait_until
from tests.test_frontdoor_app import front_door, request, with_web

JSON = {"content-type": "application/json"}
MERGE = {"content-type": patches.MERGE}
DEPLOY = "/apis/apps/v1/namespaces/default/deployments/web"
NODE = "/api/v1/nodes/worker-0"
PROBLEM = {
    "type": "KernelDeadlock",
    "status": "False",
    "reason": "KernelHasNoDeadlock",
    "message": "kernel has no deadlock",
    "lastHeartbeatTime": "2026-06-01T00:00:00Z",
    "lastTransitionTime": "2026-06-01T00:00:00Z",
}


def body(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def _deployment(cluster: Any) -> Any:
    return cluster.api.cache("deployments").get("/registry/deployments/default/web")


def _node(cluster: Any) -> Any:
    return cluster.api.cache("nodes").get("/registry/nodes/worker-0")


async def test_node_condition_written_by_a_client_survives_the_kubelets_heartbeats() -> None:
    """node-problem-detector PATCHes a condition of its own type into ``nodes/status``
    (nodeStatusStrategy.PrepareForUpdate keeps only the spec of the old node). The kubelet's
    setters (pkg/kubelet/nodestatus/setters.go) update only the types they own, so the
    condition is still there, unchanged, after several heartbeats (nodeStatusReportFrequency
    5 min), while the kubelet's own Ready keeps being renewed."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await wait_until(lambda: _node(cluster) is not None, 60, "the node registered")
        patch = {"status": {"conditions": [PROBLEM]}}
        out = await request(
            app,
            f"{NODE}/status",
            body=body(patch),
            method="PATCH",
            headers={"content-type": patches.STRATEGIC},
        )
        assert out.status == 200, out.json()
        types = [c["type"] for c in out.json()["status"]["conditions"]]
        assert "KernelDeadlock" in types and "Ready" in types
        written = _node(cluster).status.condition("KernelDeadlock")
        beat = _node(cluster).status.condition("Ready").last_heartbeat_time
        await trio.sleep(12 * 60)  # two status reports at least
        node = _node(cluster)
        assert node.status.condition("Ready").last_heartbeat_time > beat
        assert node.status.condition("KernelDeadlock") == written
        assert written.reason == "KernelHasNoDeadlock"


async def test_deployment_status_written_by_a_client_is_overwritten_at_the_next_sync() -> None:
    """A PUT of ``deployments/status`` is stored (deploymentStatusStrategy: spec and labels kept,
    status from the request); the deployment controller owns that status and writes its own
    at its next sync of the Deployment, which the write's own watch event causes
    (pkg/controller/deployment/deployment_controller.go updateDeployment enqueues it)."""
    async with running(nodes=2) as cluster:
        app = front_door(cluster)
        await with_web(cluster, replicas=2)
        await wait_until(
            lambda: _deployment(cluster).status.available_replicas == 2, 60, "web available"
        )
        current = (await request(app, DEPLOY)).json()
        current["status"]["availableReplicas"] = 0
        current["status"]["readyReplicas"] = 0
        out = await request(app, f"{DEPLOY}/status", body=body(current), method="PUT", headers=JSON)
        assert out.status == 200, out.json()
        assert out.json()["status"]["availableReplicas"] == 0
        written_rv = int(out.json()["metadata"]["resourceVersion"])
        await wait_until(
            lambda: (
                int(_deployment(cluster).metadata.resource_version) > written_rv
                and _deployment(cluster).status.available_replicas == 2
            ),
            30,
            "the controller's status back",
        )


async def test_spec_in_a_status_write_and_status_in_a_spec_write_are_dropped() -> None:
    """Each strategy's PrepareForUpdate: the status strategy keeps the old spec (and, for a
    Deployment, the old labels, resetFields ``metadata.labels``) while annotations are taken;
    the main strategy (deploymentStrategy.PrepareForUpdate) keeps the old status. Neither
    bumps ``generation`` for what it dropped."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_web(cluster, replicas=1)
        before = _deployment(cluster)
        generation = before.metadata.generation
        patch = {
            "metadata": {"labels": {"x": "y"}, "annotations": {"note": "from-status"}},
            "spec": {"replicas": 5},
            "status": {"observedGeneration": 99},
        }
        out = await request(
            app, f"{DEPLOY}/status", body=body(patch), method="PATCH", headers=MERGE
        )
        assert out.status == 200, out.json()
        stored = _deployment(cluster)
        assert stored.spec.replicas == 1
        assert "x" not in stored.metadata.labels
        assert stored.metadata.annotations.get("note") == "from-status"
        assert stored.status.observed_generation == 99
        assert stored.metadata.generation == generation
        main = {"status": {"observedGeneration": 7, "replicas": 40}}
        out = await request(app, DEPLOY, body=body(main), method="PATCH", headers=MERGE)
        assert out.status == 200
        assert out.json()["status"]["replicas"] != 40
        assert _deployment(cluster).status.replicas != 40


async def test_pod_status_write_keeps_owner_references_and_takes_labels() -> None:
    """podStatusStrategy.PrepareForUpdate: spec and ``ownerReferences`` from the old pod
    ("old kubelets corrupt them"), labels from the request."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_web(cluster, replicas=1)
        (pod,) = cluster.api.cache("pods").list("default")
        path = f"/api/v1/namespaces/default/pods/{pod.metadata.name}/status"
        patch = {
            "metadata": {"labels": {"seen": "yes"}, "ownerReferences": None},
            "spec": {"nodeName": "elsewhere"},
        }
        out = await request(app, path, body=body(patch), method="PATCH", headers=MERGE)
        assert out.status == 200, out.json()
        stored = cluster.api.cache("pods").get(f"/registry/pods/default/{pod.metadata.name}")
        assert stored.metadata.labels["seen"] == "yes"
        assert stored.metadata.owner_references == pod.metadata.owner_references
        assert stored.spec == pod.spec


async def test_stale_resource_version_is_409_and_dry_run_stores_nothing() -> None:
    """A ``resourceVersion`` in the body is a precondition: stale, 409 Conflict with upstream's
    message (store.go GuaranteedUpdate); ``dryRun=All`` answers what would be stored and
    stores nothing (handlers/update.go)."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_web(cluster, replicas=1)
        doc = (await request(app, DEPLOY)).json()
        stale = dict(doc, metadata=dict(doc["metadata"], resourceVersion="1"))
        out = await request(app, f"{DEPLOY}/status", body=body(stale), method="PUT", headers=JSON)
        assert out.status == 409 and out.json()["reason"] == "Conflict"
        assert "the object has been modified" in out.json()["message"]
        rv = _deployment(cluster).metadata.resource_version
        dry = dict(doc, status=dict(doc["status"], observedGeneration=42))
        out = await request(
            app, f"{DEPLOY}/status", "dryRun=All", body=body(dry), method="PUT", headers=JSON
        )
        assert out.status == 200 and out.json()["status"]["observedGeneration"] == 42
        assert _deployment(cluster).metadata.resource_version == rv
        assert _deployment(cluster).status.observed_generation != 42


async def test_status_validation_refuses_negative_and_inconsistent_counts() -> None:
    """ValidateDeploymentStatusUpdate: counts are non-negative (ValidateNonnegativeField) and
    availableReplicas may not exceed replicas: 422 Invalid with the field's cause."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_web(cluster, replicas=1)
        patch = {"status": {"replicas": -1}}
        out = await request(
            app, f"{DEPLOY}/status", body=body(patch), method="PATCH", headers=MERGE
        )
        assert out.status == 422
        causes = {c["field"]: c["message"] for c in out.json()["details"]["causes"]}
        assert "must be greater than or equal to 0" in causes["status.replicas"]
        patch = {"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 3}}
        out = await request(
            app, f"{DEPLOY}/status", body=body(patch), method="PATCH", headers=MERGE
        )
        assert out.status == 422
        assert "cannot be greater than status.replicas" in out.json()["message"]


async def test_derived_status_fields_are_warned_not_taken() -> None:
    """What the model derives from its own truth (a pod's ``podIP``, its container statuses) is
    not taken from a client: answered with a Warning (loud, never silent); the pod's
    ``message``, which the kubelet owns, is stored and then re-asserted by the kubelet's status
    manager at its next reconcile (status_manager.go syncBatch, every 10 s)."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_web(cluster, replicas=1)
        (pod,) = cluster.api.cache("pods").list("default")
        name = pod.metadata.name
        path = f"/api/v1/namespaces/default/pods/{name}/status"
        patch = {"status": {"podIP": "10.9.9.9", "message": "set by a client"}}
        out = await request(app, path, body=body(patch), method="PATCH", headers=MERGE)
        assert out.status == 200
        assert "status.podIP: not modelled" in out.headers["warning"]
        assert out.json()["status"]["message"] == "set by a client"
        assert out.json()["status"]["podIP"] == pod.status.pod_ip
        await wait_until(
            lambda: (
                cluster.api.cache("pods").get(f"/registry/pods/default/{name}").status.phase
                == "Running"
            ),
            30,
            "the kubelet's phase back",
        )
