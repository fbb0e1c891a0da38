"""The model's own components as field managers, and the managed fields of deleted objects.

Upstream every write records its manager (``metadata.managedFields``,
staging/src/k8s.io/apimachinery/pkg/util/managedfields/internal/), named by the writer's
User-Agent prefix (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/rest.go
prefixFromUserAgent: ``kube-controller-manager``, ``kubelet``). The HPA writes the ``scale``
subresource, whose entry is kept on the parent by the ScaleHandler
(staging/src/k8s.io/apimachinery/pkg/util/managedfields/scalehandler.go ToParent: the parent's
apiVersion, ``subresource: scale``, owning ``spec.replicas``), so a server-side apply that
changes an autoscaled Deployment's ``spec.replicas`` conflicts with it (conflict.go prints
``conflict with "kube-controller-manager" with subresource "scale" using apps/v1``) unless
forced. Status writes are ``Update`` entries with ``subresource: status`` owning the status
fields (the workload strategies' GetResetFields).
"""

from __future__ import annotations

import json
from typing import Any

import trio

from kubechaos.cluster import Cluster
from kubechaos.control.registry.resources import RESOURCES
from kubechaos.frontdoor.app import FrontDoor
from tests.harness import running, wait_until
from tests.test_frontdoor_app import ANCHOR, front_door, request
from tests.test_frontdoor_apply import PATH, apply, config

HPA = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "api"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
        "minReplicas": 3,
        "maxReplicas": 5,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80},
                },
            }
        ],
    },
}
HPAS = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"
JSON = {"content-type": "application/json"}


def entries(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """managedFields by (manager, subresource)."""
    return {
        (e["manager"], e.get("subresource", "")): e
        for e in obj["metadata"].get("managedFields", [])
    }


def served_app(cluster: Cluster) -> FrontDoor:
    """A front door that starts a kind's controller on a client's first object of it."""
    return FrontDoor(
        cluster.api, cluster.ctx.events, ANCHOR, "127.0.0.1:6443", None, 1.0, cluster.use_kind
    )


async def test_an_apply_changing_an_autoscaled_replicas_conflicts_with_the_hpa() -> None:
    """The HPA scales the applied Deployment from 1 to its minReplicas 3 through ``scale``:
    the Deployment then shows kube-controller-manager's ``Update`` entry with ``subresource:
    scale``, apiVersion apps/v1, fieldsV1 ``{"f:spec":{"f:replicas":{}}}`` (scalehandler.go
    ToParent), and the applier no longer owns ``spec.replicas``; re-applying ``replicas: 1``
    is 409 ``Apply failed with 1 conflict: conflict with "kube-controller-manager" with
    subresource "scale" using apps/v1: .spec.replicas`` (conflict.go), and with
    ``force=true`` the applier takes the field back."""
    async with running(nodes=2) as cluster:
        app = served_app(cluster)
        assert (await apply(app, config(replicas=1))).status == 201
        hpa = await request(app, HPAS, body=json.dumps(HPA).encode(), method="POST", headers=JSON)
        assert hpa.status == 201, hpa.json()
        await wait_until(
            lambda: cluster.api.cached("deployments", "default", "api").spec.replicas == 3,
            120,
            "the HPA scaled to minReplicas",
        )
        got = (await request(app, PATH)).json()
        scale = entries(got)[("kube-controller-manager", "scale")]
        assert scale["operation"] == "Update" and scale["apiVersion"] == "apps/v1"
        assert scale["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
        applied = entries(got)[("kubectl", "")]["fieldsV1"]
        assert "f:replicas" not in applied["f:spec"]
        refused = await apply(app, config(replicas=1))
        assert refused.status == 409
        assert refused.json()["message"] == (
            'Apply failed with 1 conflict: conflict with "kube-controller-manager" with '
            'subresource "scale" using apps/v1: .spec.replicas'
        )
        assert refused.json()["details"]["causes"] == [
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "kube-controller-manager" with subresource "scale" '
                "using apps/v1",
                "field": ".spec.replicas",
            }
        ]
        same = await apply(app, config(replicas=3))  # not changing it: no conflict
        assert same.status == 200, same.json()
        forced = await apply(app, config(replicas=1), "fieldManager=kubectl&force=true")
        assert forced.status == 200 and forced.json()["spec"]["replicas"] == 1
        now = entries(forced.json())
        assert ("kube-controller-manager", "scale") not in now
        assert "f:replicas" in now[("kubectl", "")]["fieldsV1"]["f:spec"]


async def test_a_pods_status_is_the_kubelets_and_its_spec_the_controller_managers() -> None:
    """A pod the ReplicaSet controller created and a kubelet runs: kube-controller-manager's
    ``Update`` entry owns its spec and metadata (the create), the kubelet's ``Update`` entry
    with ``subresource: status`` owns its status (``f:status`` with ``f:phase``), as a real
    cluster shows them (``kubectl get pod -o yaml --show-managed-fields``)."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        assert (await apply(app, config(replicas=1))).status == 201
        await wait_until(
            lambda: any(p.is_ready() for p in cluster.api.cache("pods").list("default")),
            120,
            "a ready pod",
        )
        pods = (await request(app, "/api/v1/namespaces/default/pods")).json()["items"]
        pod = entries(pods[0])
        kubelet = pod[("kubelet", "status")]
        assert kubelet["operation"] == "Update" and kubelet["apiVersion"] == "v1"
        assert set(kubelet["fieldsV1"]) == {"f:status"}
        assert "f:phase" in kubelet["fieldsV1"]["f:status"]
        created = pod[("kube-controller-manager", "")]["fieldsV1"]
        assert "f:status" not in created and "f:containers" in created["f:spec"]
        assert "f:ownerReferences" in created["f:metadata"]


async def test_deleted_objects_leave_no_managed_fields_behind() -> None:
    """An object removed from storage has no fields left to own: the front door keeps
    entries only for objects that exist, whoever deleted them (here the garbage collector
    removes the ReplicaSet and pods of a Deployment deleted with propagationPolicy
    Foreground, and the Deployment once they are gone: the generic store's deletion, after
    which upstream has no object to carry managedFields)."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        managers = app.writes.managers
        assert (await apply(app, config(replicas=2))).status == 201
        await wait_until(
            lambda: sum(p.is_ready() for p in cluster.api.cache("pods").list("default")) == 2,
            120,
            "two ready pods",
        )
        assert managers.count() >= 4  # the Deployment, its ReplicaSet, two pods
        deleted = await request(
            app, PATH, "propagationPolicy=Foreground", method="DELETE", headers=JSON
        )
        assert deleted.status == 200, deleted.json()
        await wait_until(
            lambda: (
                cluster.api.cached("deployments", "default", "api") is None
                and not cluster.api.cache("pods").list("default")
            ),
            180,
            "everything deleted",
        )
        await trio.sleep(1)
        existing = {
            o.metadata.uid
            for resource in ("deployments", "replicasets", "pods")
            for o in cluster.api.cache(resource).list("default")
        }
        assert not existing
        assert managers.uids() <= _all_uids(cluster)


def _all_uids(cluster: Cluster) -> set[str]:
    """The uid of every object in storage."""
    return {o.metadata.uid for name in RESOURCES for o in cluster.api.cache(name).list(None)}
