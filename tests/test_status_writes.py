"""A client's writes to the ``/status`` subresource, in-process through the front door.

Upstream: each kind's status strategy (pkg/registry/<group>/<kind>/strategy.go
``<kind>StatusStrategy.PrepareForUpdate`` / ``ValidateUpdate``), the generic store's update with a
``resourceVersion`` precondition (staging/src/k8s.io/apiserver/pkg/registry/generic/registry/
store.go) and the kubelet's status setters (pkg/kubelet/nodestatus/setters.go,
pkg/kubelet/status/status_manager.go).
"""

from __future__ import annotations

import json
import random
from typing import Any

import attrs
import trio

from kubechaos.api.objects import ObjectMeta, Pod, PodCondition, PodStatus
from kubechaos.control.registry.ipallocator import ClusterIPAllocator
from kubechaos.control.registry.pod import PODS
from kubechaos.control.registry.strategy import StrategyOptions
from kubechaos.defaults import Settings
from kubechaos.frontdoor import patches
from tests.factories import pod_spec
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


async def patch_pod_status(app: Any, name: str, patch: Any) -> Any:
    """A strategic-merge PATCH of ``default/<name>``'s status through the front door."""
    return await request(
        app,
        f"/api/v1/namespaces/default/pods/{name}/status",
        body=body(patch),
        method="PATCH",
        headers={"content-type": patches.STRATEGIC},
    )


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
    stores nothing (handlers/update.go). Server-side apply of ``/status`` is not modelled: a
    415 that says so, never a silent no-op."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_web(cluster, replicas=1)
        doc = (await request(app, DEPLOY)).json()
        stale = dict(doc, metadata=dict(doc["metadata"], resourceVersion="1"))
        out = await request(app, f"{DEPLOY}/status", body=body(stale), method="PUT", headers=JSON)
        assert out.status == 409 and out.json()["reason"] == "Conflict"
        applied = await request(
            app,
            f"{DEPLOY}/status",
            "fieldManager=me",
            body=body({"status": {}}),
            method="PATCH",
            headers={"content-type": patches.APPLY},
        )
        assert applied.status == 415 and "not modelled" in applied.json()["message"]
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


KINDS = [
    (
        "/apis/apps/v1/namespaces/default/statefulsets",
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "s"},
            "spec": {
                "serviceName": "s",
                "replicas": 0,
                "selector": {"matchLabels": {"app": "s"}},
                "template": {
                    "metadata": {"labels": {"app": "s"}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]},
                },
            },
        },
        {"currentRevision": "by-a-client"},
        lambda o: o.status.current_revision == "by-a-client",
    ),
    (
        "/apis/apps/v1/namespaces/default/daemonsets",
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "d"},
            "spec": {
                "selector": {"matchLabels": {"app": "d"}},
                "template": {
                    "metadata": {"labels": {"app": "d"}},
                    "spec": {
                        "nodeSelector": {"none": "x"},
                        "containers": [{"name": "c", "image": "i"}],
                    },
                },
            },
        },
        {"numberMisscheduled": 3},
        lambda o: o.status.number_misscheduled == 3,
    ),
    (
        "/apis/batch/v1/namespaces/default/jobs",
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "j"},
            "spec": {
                "suspend": True,
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}
                },
            },
        },
        {"conditions": [{"type": "Custom", "status": "True", "reason": "Client"}]},
        lambda o: (
            o.status.condition("Custom") is not None
            and o.status.condition("Custom").reason == "Client"
        ),
    ),
    (
        "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers",
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "h"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "none"},
                "minReplicas": 1,
                "maxReplicas": 3,
            },
        },
        {"desiredReplicas": 2, "lastScaleTime": "2026-06-01T00:00:10Z"},
        lambda o: o.status.desired_replicas == 2 and o.status.last_scale_time is not None,
    ),
    (
        "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "b"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "none"}}},
        },
        {"expectedPods": 4},
        lambda o: o.status.expected_pods == 4,
    ),
]


async def test_every_kind_with_a_status_subresource_takes_a_client_status() -> None:
    """StatefulSet, DaemonSet, Job, HorizontalPodAutoscaler, PodDisruptionBudget and
    ReplicaSet: a merge patch of ``/status`` stores the status (their status strategies keep
    only the spec: pkg/registry/{apps/statefulset,apps/daemonset,apps/replicaset,batch/job,
    autoscaling/horizontalpodautoscaler,policy/poddisruptionbudget}/strategy.go); a
    Namespace's status write is validated as ValidateNamespaceStatusUpdate ("may only be
    'Active' if `deletionTimestamp` is empty"). A kind without ``/status`` upstream (a
    ConfigMap) is 404."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        for path, doc, status, check in KINDS:
            made = await request(app, path, body=body(doc), method="POST", headers=JSON)
            assert made.status == 201, made.json()
            name = doc["metadata"]["name"]
            out = await request(
                app,
                f"{path}/{name}/status",
                body=body({"status": status, "spec": {"bogus": 1}}),
                method="PATCH",
                headers=MERGE,
            )
            assert out.status == 200, (path, out.json())
            resource = path.rsplit("/", 1)[1]
            stored = cluster.api.cache(resource).get(f"/registry/{resource}/default/{name}")
            assert check(stored), (path, stored.status)
        await with_web(cluster, replicas=1)
        (rs,) = cluster.api.cache("replicasets").list("default")
        path = f"/apis/apps/v1/namespaces/default/replicasets/{rs.metadata.name}/status"
        out = await request(
            app, path, body=body({"status": {"replicas": 9}}), method="PATCH", headers=MERGE
        )
        assert out.status == 200 and out.json()["status"]["replicas"] == 9
        ns = "/api/v1/namespaces/default/status"
        bad = await request(
            app, ns, body=body({"status": {"phase": "Terminating"}}), method="PATCH", headers=MERGE
        )
        assert bad.status == 422
        assert "may only be 'Active' if `deletionTimestamp` is empty" in bad.json()["message"]
        same = await request(
            app, ns, body=body({"status": {"phase": "Active"}}), method="PATCH", headers=MERGE
        )
        assert same.status == 200 and same.json()["status"]["phase"] == "Active"
        configmaps = "/api/v1/namespaces/default/configmaps"
        made = await request(
            app,
            configmaps,
            body=body({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
            method="POST",
            headers=JSON,
        )
        assert made.status == 201
        none = await request(
            app, f"{configmaps}/c/status", body=body({"status": {}}), method="PATCH", headers=MERGE
        )
        assert none.status == 404


async def test_a_clients_pod_condition_is_kept_and_not_reposted_by_the_kubelet() -> None:
    """A condition of a type the kubelet does not own (PodConditionByKubelet,
    pkg/kubelet/types/pod_status.go), written by a client, stays on the pod; the kubelet's
    status reconcile compares only what it owns (isPodStatusByKubeletEqual in
    status_manager.go needsReconcile), so it makes no status write for it, and its later posts
    (a container restart) keep it (mergePodStatus)."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_web(cluster, replicas=1)
        (pod,) = cluster.api.cache("pods").list("default")
        name = pod.metadata.name
        kubelet = cluster.nodes["worker-0"].kubelet
        assert kubelet is not None
        await trio.sleep(30)
        writes = kubelet.status_writes
        patch = {"status": {"conditions": [{"type": "example.com/Audited", "status": "True"}]}}
        out = await patch_pod_status(app, name, patch)
        assert out.status == 200, out.json()
        await trio.sleep(60)  # several status sync periods (10 s)
        assert kubelet.status_writes == writes
        stored = cluster.api.cache("pods").get(f"/registry/pods/default/{name}")
        assert stored.status.condition("example.com/Audited").status == "True"
        assert stored.is_ready()


def test_a_model_writers_pod_status_keeps_conditions_it_leaves_out() -> None:
    """The model's own pod status writers (kubelet, scheduler, disruption controllers) write
    as upstream's patches do (the kubelet's PatchPodStatus of mergePodStatus, status_manager.go;
    conditions merge by ``type``): a condition a client wrote after the writer last read the
    pod is kept, not overwritten by the writer's older view."""
    settings = Settings()
    strategy = PODS.strategy(PODS, StrategyOptions(settings, ClusterIPAllocator(random.Random(1))))
    meta = ObjectMeta(name="p", namespace="default")
    spec = pod_spec()
    mine = PodCondition("Ready", "True", 3.0)
    theirs = PodCondition("example.com/gate", "True", 4.0)
    old = Pod(meta, spec, PodStatus(phase="Running", conditions=(mine, theirs)))
    posted = Pod(
        meta, spec, PodStatus(phase="Running", conditions=(attrs.evolve(mine, status="False"),))
    )
    merged = strategy.update_status(old, posted)
    assert merged.status.conditions == (attrs.evolve(mine, status="False"), theirs)


async def test_a_client_setting_the_kubelets_own_node_condition_is_overwritten() -> None:
    """The kubelet owns a node's Ready: a client's ``Ready=False`` is stored, then the
    kubelet's next status update (tryUpdateNodeStatus every nodeStatusUpdateFrequency, 10 s)
    sees its own Ready differ and posts ``True`` again (pkg/kubelet/kubelet_node_status.go,
    setters.go ReadyCondition)."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await wait_until(lambda: _node(cluster) is not None, 60, "the node registered")
        await trio.sleep(30)
        patch = {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Me"}]}}
        out = await request(
            app,
            f"{NODE}/status",
            body=body(patch),
            method="PATCH",
            headers={"content-type": patches.STRATEGIC},
        )
        assert out.status == 200
        assert _node(cluster).status.condition("Ready").reason == "Me"
        at = trio.current_time()
        back = await wait_until(lambda: _node(cluster).is_ready(), 30, "the kubelet's Ready")
        assert back - at <= 11
        assert _node(cluster).status.condition("Ready").reason == "KubeletReady"
