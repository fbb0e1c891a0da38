"""Every object the front door serves has only fields upstream's schema has.

Upstream: each kind's JSON is its Go type's json tags (staging/src/k8s.io/api/{core,apps,batch,
policy,discovery,autoscaling,coordination,scheduling}/v1*/types.go), which the API server's
OpenAPI describes; the front door serves that OpenAPI (upstream's v1.32 definitions,
kubechaos/frontdoor/openapi.py). Every scenario manifest in scenarios/manifests is applied to
a running model, every served resource is listed through the front door as JSON, and every
field path of every object is looked up in the schema of its kind: a field the model names its
own way (a Service's ``routing``, a StatefulSet's ``ordinalsStart``) or a value of the wrong
JSON type fails here, so no such field can be served again.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import trio
import yaml

from kubechaos.api.discovery import API_RESOURCES
from kubechaos.api.errors import APIError
from kubechaos.api.fieldreader import ManifestError
from kubechaos.api.manifest import UnsupportedKind, read_manifest
from kubechaos.frontdoor import openapi
from kubechaos.frontdoor.fieldsets import SchemaWalker
from tests.harness import running
from tests.test_frontdoor_app import front_door, request

MANIFESTS = Path(__file__).resolve().parent.parent / "scenarios" / "manifests"
_JSON_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
}


def outside_schema(value: Any, node: Mapping[str, Any] | None, path: str) -> list[str]:
    """The paths of ``value`` its schema ``node`` does not have, or has with another type."""
    walker = SchemaWalker(openapi.definitions())
    node = walker.resolve(node)
    if node is None or node.get("x-kubernetes-preserve-unknown-fields"):
        return []
    if node.get("x-kubernetes-int-or-string"):
        ok = isinstance(value, int | str) and not isinstance(value, bool)
        return [] if ok else [f"{path}: {value!r} is not an int or a string"]
    kind = node.get("type")
    wanted = _JSON_TYPES.get(kind) if isinstance(kind, str) else None
    if wanted is not None and (
        not isinstance(value, wanted) or (kind != "boolean" and isinstance(value, bool))
    ):
        return [f"{path}: {type(value).__name__} where the schema has {kind}"]
    out: list[str] = []
    if isinstance(value, dict):
        properties = node.get("properties") or {}
        extra = node.get("additionalProperties")
        for key, child in value.items():
            if key in properties:
                out += outside_schema(child, properties[key], f"{path}.{key}")
            elif isinstance(extra, Mapping):
                out += outside_schema(child, extra, f"{path}.{key}")
            elif extra is not True:
                out.append(f"{path}.{key}: not in upstream's schema")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += outside_schema(child, node.get("items"), f"{path}[{index}]")
    return out


def test_the_checker_finds_a_field_upstream_does_not_have() -> None:
    """The check itself: a model-named field and a wrong type are found, upstream's pass."""
    root = openapi.root_definition("v1", "Service")
    good = {"spec": {"ports": [{"port": 80, "targetPort": 8080}], "sessionAffinity": "None"}}
    assert outside_schema(good, root, "Service") == []
    bad = {"spec": {"routing": {}, "ports": [{"port": "80"}]}}
    assert outside_schema(bad, root, "Service") == [
        "Service.spec.routing: not in upstream's schema",
        "Service.spec.ports[0].port: str where the schema has integer",
    ]


async def test_every_served_field_of_every_scenario_object_is_upstreams() -> None:
    """Every scenario manifest applied, every resource listed as JSON through the front door
    after a minute of the model running them (pods scheduled and running, endpoints,
    budgets, autoscalers with status): no field outside upstream's OpenAPI for the kind."""
    async with running(nodes=3) as cluster:
        applied = 0
        for path in sorted(MANIFESTS.glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if not doc:
                    continue
                try:
                    obj = read_manifest(doc)
                except (ManifestError, UnsupportedKind):
                    continue  # a kind the model does not model (a custom resource)
                try:
                    await cluster.apply([obj])
                    applied += 1
                except APIError:
                    continue  # another manifest's object of the same name
        assert applied > 40
        await trio.sleep(60)
        app = front_door(cluster)
        found: list[str] = []
        kinds = set()
        for name, resource in API_RESOURCES.items():
            version = resource.group_version
            prefix = f"/api/{version}" if "/" not in version else f"/apis/{version}"
            listed = await request(app, f"{prefix}/{name}")
            assert listed.status == 200, (name, listed.json())
            root = openapi.root_definition(version, resource.kind)
            assert root is not None, resource.kind
            for item in listed.json()["items"]:
                kinds.add(resource.kind)
                found += outside_schema(item, root, f"{resource.kind} {item['metadata']['name']}")
        assert {"StatefulSet", "DaemonSet", "Service", "EndpointSlice", "Pod"} <= kinds
        assert found == []


SHAPED = """apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  selector: {app: sticky}
  sessionAffinity: ClientIP
  ports: [{name: http, port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: ledger}
spec:
  serviceName: ledger
  replicas: 1
  ordinals: {start: 5}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1}}
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete, whenScaled: Retain}
  selector: {matchLabels: {app: ledger}}
  template:
    metadata: {labels: {app: ledger}}
    spec:
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 10
              podAffinityTerm:
                topologyKey: kubernetes.io/hostname
                labelSelector: {matchLabels: {app: ledger}}
      containers:
        - name: ledger
          image: example.com/ledger:1
          lifecycle: {preStop: {sleep: {seconds: 3}}}
"""


async def test_fields_the_model_keeps_its_own_way_are_served_where_upstream_has_them() -> None:
    """A Service's targetPort defaults to its port and ClientIP affinity to a 10800 s timeout
    (pkg/apis/core/v1/defaults.go SetDefaults_Service); a StatefulSet's ``ordinals.start``,
    ``updateStrategy.rollingUpdate.partition`` and ``persistentVolumeClaimRetentionPolicy``
    (apps/v1 types.go), pod anti-affinity under ``affinity`` with ``podAffinityTerm`` and a
    ``sleep`` preStop hook (core/v1 types.go) come back as they were written."""
    async with running(nodes=1) as cluster:
        await cluster.apply([read_manifest(d) for d in yaml.safe_load_all(SHAPED)])
        app = front_door(cluster)
        service = (await request(app, "/api/v1/namespaces/default/services/sticky")).json()
        assert service["spec"]["ports"] == [
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80}
        ]
        assert service["spec"]["sessionAffinity"] == "ClientIP"
        assert service["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
        assert service["spec"]["internalTrafficPolicy"] == "Cluster"
        path = "/apis/apps/v1/namespaces/default/statefulsets/ledger"
        spec = (await request(app, path)).json()["spec"]
        assert spec["ordinals"] == {"start": 5}
        assert spec["updateStrategy"] == {
            "type": "RollingUpdate",
            "rollingUpdate": {"partition": 1},
        }
        assert spec["persistentVolumeClaimRetentionPolicy"] == {
            "whenDeleted": "Delete",
            "whenScaled": "Retain",
        }
        pod = spec["template"]["spec"]
        assert pod["affinity"]["podAntiAffinity"] == {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 10,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {"app": "ledger"}},
                    },
                }
            ]
        }
        assert pod["containers"][0]["lifecycle"] == {"preStop": {"sleep": {"seconds": 3}}}
