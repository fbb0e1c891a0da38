"""Server-side apply through the front door (PATCH, ``application/apply-patch+yaml``), in-process.

Upstream: the patch handler's apply patcher (``staging/src/k8s.io/apiserver/pkg/endpoints/
handlers/patch.go``: creates on NotFound, 409 Conflict from the field manager,
``PatchOptions`` validation requiring ``fieldManager`` for apply), the field manager
(``staging/src/k8s.io/apimachinery/pkg/util/managedfields/internal/``) and the default manager
of a non-apply write, the User-Agent's prefix (``handlers/rest.go``). The field-ownership rules
themselves are specified in tests/test_server_side_apply.py; kubectl's view in
tests/test_frontdoor_apply_kubectl.py.
"""

from __future__ import annotations

import json
from typing import Any

from kubechaos.cluster import Cluster
from kubechaos.frontdoor.app import FrontDoor
from tests.harness import running, wait_until
from tests.test_frontdoor_app import Exchange, front_door, request

PATH = "/apis/apps/v1/namespaces/default/deployments/api"
APPLY = {"content-type": "application/apply-patch+yaml", "user-agent": "kubectl/v1.32.0"}


def config(replicas: int = 2, labels: str = "app: api") -> bytes:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels: {{{labels}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      containers:
        - name: api
          image: example.com/api:1
          resources: {{requests: {{cpu: 50m, memory: 32Mi}}}}
""".encode()


async def apply(app: FrontDoor, body: bytes, query: str = "fieldManager=kubectl") -> Exchange:
    return await request(app, PATH, query, body, method="PATCH", headers=APPLY)


def managers(obj: dict[str, Any]) -> dict[str, str]:
    """Who manages the object's main resource (its status writers left out)."""
    entries = obj["metadata"].get("managedFields", [])
    return {e["manager"]: e["operation"] for e in entries if e.get("subresource") != "status"}


def ready_pods(cluster: Cluster) -> int:
    return sum(
        p.is_ready() and p.metadata.labels.get("app") == "api"
        for p in cluster.api.cache("pods").list("default")
    )


async def test_an_apply_creates_the_object_then_configures_it_and_the_model_acts() -> None:
    """The apply patcher creates a missing object (201) and updates an existing one (200);
    the Deployment controller and the kubelets act on what was applied; the answer carries
    ``managedFields`` with the applier's ``Apply`` entry, and so does a GET."""
    async with running(nodes=2) as cluster:
        app = front_door(cluster)
        created = await apply(app, config(replicas=2))
        assert created.status == 201, created.json()
        assert managers(created.json()) == {"kubectl": "Apply"}
        await wait_until(lambda: ready_pods(cluster) == 2, 120, "two api pods")
        scaled = await apply(app, config(replicas=3))
        assert scaled.status == 200 and scaled.json()["spec"]["replicas"] == 3
        await wait_until(lambda: ready_pods(cluster) == 3, 120, "three api pods")
        got = await request(app, PATH)
        assert managers(got.json()) == {"kubectl": "Apply"}
        status = [e for e in got.json()["metadata"]["managedFields"] if e.get("subresource")]
        assert [(e["manager"], e["subresource"]) for e in status] == [
            ("kube-controller-manager", "status")
        ]


async def test_a_conflict_is_409_with_a_cause_per_field_and_force_takes_the_field() -> None:
    """``conflict.go``: 409 Conflict, message ``Apply failed with 1 conflict: conflict with
    "ops" using apps/v1: .spec.replicas``, one ``FieldManagerConflict`` cause per field; with
    ``force=true`` the applier takes the field."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        assert (await apply(app, config(replicas=1))).status == 201
        patched = await request(
            app,
            PATH,
            "fieldManager=ops",
            json.dumps({"spec": {"replicas": 2}}).encode(),
            method="PATCH",
            headers={"content-type": "application/merge-patch+json"},
        )
        assert patched.status == 200, patched.json()
        assert managers(patched.json()) == {"kubectl": "Apply", "ops": "Update"}
        refused = await apply(app, config(replicas=1))
        assert refused.status == 409
        status = refused.json()
        assert status["reason"] == "Conflict"
        assert status["message"] == (
            'Apply failed with 1 conflict: conflict with "ops" using apps/v1: .spec.replicas'
        )
        assert status["details"]["causes"] == [
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "ops" using apps/v1',
                "field": ".spec.replicas",
            }
        ]
        forced = await apply(app, config(replicas=1), "fieldManager=kubectl&force=true")
        assert forced.status == 200 and forced.json()["spec"]["replicas"] == 1
        assert managers(forced.json()) == {"kubectl": "Apply"}


async def test_a_label_dropped_from_the_configuration_is_removed() -> None:
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        assert (await apply(app, config(labels="app: api, tier: front"))).status == 201
        again = await apply(app, config(labels="app: api"))
        assert again.json()["metadata"]["labels"] == {"app": "api"}
        stored = cluster.api.cached("deployments", "default", "api")
        assert stored.metadata.labels == {"app": "api"}


async def test_an_object_the_model_made_is_first_owned_by_before_first_apply() -> None:
    """``skipnonapplied.go``: the model's own objects carry no managed fields; the first apply
    records their fields under ``before-first-apply``, so changing one conflicts."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        assert (await apply(app, config(replicas=1), "fieldManager=setup")).status == 201
        # forget the tracking, as for an object the model's own components created
        uid = cluster.api.cached("deployments", "default", "api").metadata.uid
        app.writes.managers.forget(uid)
        refused = await apply(app, config(replicas=2))
        assert refused.status == 409
        assert '"before-first-apply" using apps/v1' in refused.json()["message"]


async def test_apply_requests_are_validated_as_upstream() -> None:
    """``fieldManager`` is required for apply (422 on PatchOptions); ``managedFields`` in the
    applied configuration is refused (400); ``force`` only takes a boolean; dryRun stores
    nothing."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        missing = await apply(app, config(), "")
        assert missing.status == 422
        assert (
            "fieldManager: Required value: is required for apply patch"
            in (missing.json()["message"])
        )
        with_managed = config().replace(
            b"  name: api\n", b"  name: api\n  managedFields: [{manager: x}]\n"
        )
        assert (await apply(app, with_managed)).status == 400
        assert (await apply(app, config(), "fieldManager=k&force=maybe")).status == 400
        dry = await apply(app, config(), "fieldManager=k&dryRun=All")
        assert dry.status == 201
        assert cluster.api.cached("deployments", "default", "api") is None


async def test_writes_of_a_tracked_object_record_their_manager_from_the_user_agent() -> None:
    """A non-apply write's manager is ``fieldManager`` or the User-Agent up to its first
    ``/`` (``prefixFromUserAgent``); created objects are tracked from creation."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        body = json.dumps(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "settings"},
                "data": {"mode": "fast"},
            }
        ).encode()
        created = await request(
            app,
            "/api/v1/namespaces/default/configmaps",
            "",
            body,
            method="POST",
            headers={"content-type": "application/json", "user-agent": "my-operator/0.1 (linux)"},
        )
        assert created.status == 201, created.json()
        [entry] = created.json()["metadata"]["managedFields"]
        assert (entry["manager"], entry["operation"]) == ("my-operator", "Update")
        assert entry["fieldsV1"] == {"f:data": {".": {}, "f:mode": {}}}
