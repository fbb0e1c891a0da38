"""CustomResourceDefinitions and custom objects: the model's API server and its front door.

Each test is one behaviour of upstream's apiextensions-apiserver (v1.32), driven in-process
through the ASGI app on virtual time (the HTTP tests) or the API server itself (the model tests).
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
import trio
import yaml

from kubechaos.api import errors
from kubechaos.api.customstate import number
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.control.registry.customrules import CustomInvalid
from kubechaos.observe.metrics.collector import ClusterCollector
from kubechaos.scenario.loader import ScenarioError, parse_scenario
from kubechaos.scenario.runner import run_scenario
from tests.harness import running
from tests.test_frontdoor_app import TABLE, front_door, request

DATA = Path(__file__).resolve().parent / "data" / "crd"
CRD = yaml.safe_load((DATA / "widgets-crd.yaml").read_text())
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"
JSON_TYPE = {"content-type": "application/json"}


def widget(name: str = "w1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"image": "nginx", **spec},
    }


async def send(app: Any, method: str, path: str, body: Any = None, query: str = "", **headers: str):
    data = b"" if body is None else json.dumps(body).encode()
    hdrs = {**JSON_TYPE, **{k.replace("_", "-"): v for k, v in headers.items()}}
    return await request(app, path, query, body=data, method=method, headers=hdrs)


async def with_crd(app: Any) -> dict[str, Any]:
    created = await send(app, "POST", CRDS, CRD)
    assert created.status == 201, created.json()
    return created.json()


# ---------------------------------------------------------------------------- definitions
async def test_a_definition_is_validated_as_apiextensions_validation_does() -> None:
    """staging/src/k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation/
    validation.go (ValidateCustomResourceDefinition): name = plural.group, the group a domain
    with a dot, scope Namespaced|Cluster, exactly one storage version, a v1 schema per version:
    422 Invalid with every cause, worded as upstream."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        bad = copy.deepcopy(CRD)
        bad["metadata"]["name"] = "gadgets.example.com"
        bad["spec"]["group"] = "example"
        bad["spec"]["scope"] = "Zoned"
        bad["spec"]["versions"].append({"name": "v2", "served": True, "storage": True})
        answer = await send(app, "POST", CRDS, bad)
        assert answer.status == 422, answer.json()
        body = answer.json()
        assert body["reason"] == "Invalid"
        assert body["message"].startswith(
            'CustomResourceDefinition.apiextensions.k8s.io "gadgets.example.com" is invalid: ['
        )
        fields = {c["field"] for c in body["details"]["causes"]}
        assert {
            "metadata.name",
            "spec.group",
            "spec.scope",
            "spec.versions",
            "spec.versions[1].schema.openAPIV3Schema",
        } <= fields
        assert "should be a domain with at least one dot" in body["message"]
        assert "must have exactly one version marked as storage version" in body["message"]
        assert (
            'Unsupported value: "Zoned": supported values: "Cluster", "Namespaced"'
            in (body["message"])
        )


async def test_a_new_definition_gets_names_accepted_and_established() -> None:
    """The naming controller (pkg/controller/status/naming_controller.go) sets NamesAccepted
    (NoConflicts, "no conflicts found"), acceptedNames and Established False (Installing); the
    establishing controller (pkg/controller/establish) then Established True
    (InitialNamesAccepted), at once on a single API server (customresource_handler.go queues it
    with no delay unless masterCount > 1); defaults.go fills listKind and singular;
    storedVersions holds the storage version. A watcher sees the two status writes."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        start = (await send(app, "GET", CRDS)).json()["metadata"]["resourceVersion"]
        seen: list[Any] = []

        async def watch() -> None:
            query = f"watch=1&resourceVersion={start}&timeoutSeconds=5"
            seen.append(await send(app, "GET", CRDS, query=query))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            await trio.sleep(0.5)
            await with_crd(app)
        events = [
            (
                e["type"],
                {
                    c["type"]: c["reason"]
                    for c in e["object"].get("status", {}).get("conditions", [])
                },
            )
            for e in seen[0].lines()
        ]
        assert events == [
            ("ADDED", {}),
            ("MODIFIED", {"NamesAccepted": "NoConflicts", "Established": "Installing"}),
            ("MODIFIED", {"NamesAccepted": "NoConflicts", "Established": "InitialNamesAccepted"}),
        ]
        got = (await send(app, "GET", f"{CRDS}/widgets.example.com")).json()
        conditions = {c["type"]: c for c in got["status"]["conditions"]}
        assert conditions["NamesAccepted"]["status"] == "True"
        assert conditions["NamesAccepted"]["reason"] == "NoConflicts"
        assert conditions["Established"]["status"] == "True"
        assert conditions["Established"]["reason"] == "InitialNamesAccepted"
        assert conditions["Established"]["lastTransitionTime"].endswith("Z")
        assert got["status"]["acceptedNames"]["listKind"] == "WidgetList"
        assert got["status"]["storedVersions"] == ["v1"]
        assert got["metadata"]["creationTimestamp"].endswith("Z")


async def test_a_definition_whose_names_are_taken_is_not_established() -> None:
    """naming_controller.go (and naming_controller_test.go): a kind already used in the group
    is a KindConflict (``"Widget" is already in use``; plural, singular, short names and
    listKind likewise); the definition is not Established (NotAccepted) and its resource is not
    served (404)."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        other = copy.deepcopy(CRD)
        other["metadata"]["name"] = "gizmos.example.com"
        other["spec"]["names"] = {"plural": "gizmos", "kind": "Widget", "listKind": "GizmoList"}
        created = await send(app, "POST", CRDS, other)
        conditions = {c["type"]: c for c in created.json()["status"]["conditions"]}
        assert conditions["NamesAccepted"]["status"] == "False"
        assert conditions["NamesAccepted"]["reason"] == "KindConflict"
        assert conditions["NamesAccepted"]["message"] == '"Widget" is already in use'
        assert conditions["Established"]["reason"] == "NotAccepted"
        assert conditions["Established"]["status"] == "False"
        missing = await send(app, "GET", "/apis/example.com/v1/namespaces/default/gizmos")
        assert missing.status == 404


# ---------------------------------------------------------------------------- custom objects
async def test_a_custom_object_is_created_with_server_metadata_and_defaults() -> None:
    """generic registry store.go Create + customresource strategy.go PrepareForCreate: uid,
    creationTimestamp, resourceVersion, generation 1, status dropped when the status
    subresource is enabled; schema defaults applied (apiserver/schema/defaulting)."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        sent = {**widget(), "status": {"replicas": 7}}
        created = await send(app, "POST", WIDGETS, sent)
        assert created.status == 201, created.json()
        body = created.json()
        meta = body["metadata"]
        assert meta["uid"] and meta["resourceVersion"] and meta["generation"] == 1
        assert meta["namespace"] == "default" and meta["creationTimestamp"].endswith("Z")
        assert body["spec"] == {"image": "nginx", "replicas": 1, "mode": "safe"}
        assert "status" not in body
        again = await send(app, "POST", WIDGETS, widget())
        assert again.status == 409 and again.json()["reason"] == "AlreadyExists"


async def test_unknown_fields_are_pruned_with_a_warning_or_refused_when_strict() -> None:
    """apiserver/schema/pruning: fields the structural schema does not specify are dropped
    (x-kubernetes-preserve-unknown-fields keeps them); the client gets a Warning header
    ``unknown field "spec.colour"``, or with fieldValidation=Strict a 400 "strict decoding
    error" (KEP-2885, handlers/create.go)."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        sent = widget(colour="red", extra={"anything": {"goes": 1}})
        created = await send(app, "POST", WIDGETS, sent)
        assert created.status == 201
        assert "colour" not in created.json()["spec"]
        assert created.json()["spec"]["extra"] == {"anything": {"goes": 1}}
        assert created.headers["warning"] == '299 - "unknown field \\"spec.colour\\""'
        strict = await send(
            app, "POST", WIDGETS, widget("w2", colour="red"), query="fieldValidation=Strict"
        )
        assert strict.status == 400
        assert strict.json()["message"] == 'strict decoding error: unknown field "spec.colour"'


async def test_an_object_failing_its_schema_is_refused_with_upstreams_words() -> None:
    """apiextensions-apiserver pkg/apiserver/validation (kube-openapi validate): 422 with
    ``Widget.example.com "w1" is invalid: [...]`` and one cause per failure: type, required,
    enum, maximum, pattern."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        bad = widget(replicas="three", mode="turbo")
        bad["spec"]["image"] = "UPPER CASE"
        answer = await send(app, "POST", WIDGETS, bad)
        assert answer.status == 422
        message = answer.json()["message"]
        assert message.startswith('Widget.example.com "w1" is invalid: [')
        assert (
            'spec.replicas: Invalid value: "string": spec.replicas in body must be of type '
            'integer: "string"' in message
        )
        assert 'spec.mode: Unsupported value: "turbo": supported values: "fast", "safe"' in message
        assert "spec.image in body should match '^[a-z0-9./:-]+$'" in message
        causes = answer.json()["details"]["causes"]
        assert {"reason": "FieldValueNotSupported", "field": "spec.mode"}.items() <= next(
            c for c in causes if c["field"] == "spec.mode"
        ).items()
        big = await send(app, "POST", WIDGETS, widget(replicas=11))
        assert "spec.replicas in body should be less than or equal to 10" in big.json()["message"]
        missing = widget()
        del missing["spec"]["image"]
        answer = await send(app, "POST", WIDGETS, missing)
        assert answer.json()["message"] == (
            'Widget.example.com "w1" is invalid: spec.image: Required value'
        )


async def test_updates_need_the_current_resource_version_and_bump_generation() -> None:
    """customresource strategy.go: AllowUnconditionalUpdate is false (422 without
    metadata.resourceVersion), a stale one is 409 Conflict (store.go GuaranteedUpdate), and a
    spec change bumps metadata.generation while a metadata-only change does not."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        current = (await send(app, "POST", WIDGETS, widget())).json()
        unconditional = copy.deepcopy(current)
        del unconditional["metadata"]["resourceVersion"]
        answer = await send(app, "PUT", f"{WIDGETS}/w1", unconditional)
        assert answer.status == 422
        assert (
            "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
            in (answer.json()["message"])
        )
        changed = copy.deepcopy(current)
        changed["spec"]["replicas"] = 3
        updated = (await send(app, "PUT", f"{WIDGETS}/w1", changed)).json()
        assert updated["metadata"]["generation"] == 2
        stale = await send(app, "PUT", f"{WIDGETS}/w1", changed)
        assert stale.status == 409 and stale.json()["reason"] == "Conflict"
        relabelled = copy.deepcopy(updated)
        relabelled["metadata"]["labels"] = {"tier": "x"}
        after = (await send(app, "PUT", f"{WIDGETS}/w1", relabelled)).json()
        assert after["metadata"]["generation"] == 2 and after["metadata"]["labels"] == {"tier": "x"}


async def test_the_status_subresource_splits_spec_and_status_writes() -> None:
    """customresource strategy.go / status_strategy.go: with the status subresource, a write of
    the main resource keeps the old status and one of /status changes nothing but status (and
    does not bump generation)."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        current = (await send(app, "POST", WIDGETS, widget())).json()
        wanted = copy.deepcopy(current)
        wanted["status"] = {"replicas": 2}
        wanted["spec"]["replicas"] = 5
        status = (await send(app, "PUT", f"{WIDGETS}/w1/status", wanted)).json()
        assert status["status"] == {"replicas": 2}
        assert status["spec"]["replicas"] == 1 and status["metadata"]["generation"] == 1
        main = copy.deepcopy(status)
        main["status"] = {"replicas": 9}
        written = (await send(app, "PUT", f"{WIDGETS}/w1", main)).json()
        assert written["status"] == {"replicas": 2}


async def test_merge_and_json_patches_apply_and_strategic_merge_is_refused() -> None:
    """handlers/patch.go: application/merge-patch+json (RFC 7386) and application/json-patch+json
    (RFC 6902) apply to custom objects; a strategic merge patch is 415 UnsupportedMediaType
    (custom kinds have no patch strategies)."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        await send(app, "POST", WIDGETS, widget())
        merged = await send(
            app,
            "PATCH",
            f"{WIDGETS}/w1",
            {"spec": {"replicas": 4, "mode": None}},
            content_type="application/merge-patch+json",
        )
        assert merged.status == 200
        assert merged.json()["spec"] == {"image": "nginx", "replicas": 4, "mode": "safe"}
        patched = await send(
            app,
            "PATCH",
            f"{WIDGETS}/w1",
            [
                {"op": "replace", "path": "/spec/image", "value": "busybox"},
                {"op": "add", "path": "/metadata/labels/tier", "value": "web"},
            ],
            content_type="application/json-patch+json",
        )
        assert patched.json()["spec"]["image"] == "busybox"
        assert patched.json()["metadata"]["labels"] == {"app": "w1", "tier": "web"}
        strategic = await send(
            app,
            "PATCH",
            f"{WIDGETS}/w1",
            {"spec": {"replicas": 2}},
            content_type="application/strategic-merge-patch+json",
        )
        assert strategic.status == 415
        assert strategic.json()["reason"] == "UnsupportedMediaType"


async def test_finalizers_hold_a_deleted_object_until_they_are_removed() -> None:
    """store.go Delete / BeforeDelete: an object with finalizers gets deletionTimestamp (and
    generation + 1) and stays; the update removing the last finalizer removes it (what kopf
    and controller-runtime operators rely on)."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        sent = widget()
        sent["metadata"]["finalizers"] = ["example.com/cleanup"]
        await send(app, "POST", WIDGETS, sent)
        marked = await send(app, "DELETE", f"{WIDGETS}/w1")
        assert marked.status == 200
        assert marked.json()["metadata"]["deletionTimestamp"].endswith("Z")
        assert marked.json()["metadata"]["generation"] == 2
        still = await send(app, "GET", f"{WIDGETS}/w1")
        assert still.status == 200
        released = await send(
            app,
            "PATCH",
            f"{WIDGETS}/w1",
            {"metadata": {"finalizers": None}},
            content_type="application/merge-patch+json",
        )
        assert released.status == 200
        gone = await send(app, "GET", f"{WIDGETS}/w1")
        assert gone.status == 404
        assert gone.json()["message"] == 'widgets.example.com "w1" not found'


async def test_lists_filter_by_labels_and_the_two_metadata_field_selectors() -> None:
    """customresource strategy.go GetAttrs: label selectors, and field selectors on
    metadata.name and metadata.namespace only (any other field: 400); limit/continue paging
    (storage/cacher) as for the typed kinds."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        for name in ("a", "b", "c"):
            await send(app, "POST", WIDGETS, widget(name))
        listed = (await send(app, "GET", WIDGETS, query="labelSelector=app%20in%20(a,b)")).json()
        assert listed["kind"] == "WidgetList" and listed["apiVersion"] == "example.com/v1"
        assert [i["metadata"]["name"] for i in listed["items"]] == ["a", "b"]
        named = (
            await send(
                app, "GET", "/apis/example.com/v1/widgets", query="fieldSelector=metadata.name%3Dc"
            )
        ).json()
        assert [i["metadata"]["name"] for i in named["items"]] == ["c"]
        bad = await send(app, "GET", WIDGETS, query="fieldSelector=spec.image%3Dnginx")
        assert bad.status == 400
        first = (await send(app, "GET", WIDGETS, query="limit=2")).json()
        token = first["metadata"]["continue"]
        rest = (await send(app, "GET", WIDGETS, query=f"limit=2&continue={token}")).json()
        names = [i["metadata"]["name"] for i in first["items"] + rest["items"]]
        assert names == ["a", "b", "c"] and "continue" not in rest["metadata"]


async def test_a_watch_from_a_version_streams_what_followed_it() -> None:
    """The watch cache serves custom kinds as the typed ones (storage/cacher): a watch from a
    resourceVersion sees the later ADDED, MODIFIED and DELETED events, with bookmarks."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        first = (await send(app, "POST", WIDGETS, widget("a"))).json()
        exchange_holder: list[Any] = []

        async def watch() -> None:
            exchange_holder.append(
                await send(
                    app,
                    "GET",
                    WIDGETS,
                    query=(
                        f"watch=1&resourceVersion={first['metadata']['resourceVersion']}"
                        "&allowWatchBookmarks=true&timeoutSeconds=120"
                    ),
                )
            )

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            await trio.sleep(1)
            await send(app, "POST", WIDGETS, widget("b"))
            await send(
                app,
                "PATCH",
                f"{WIDGETS}/b",
                {"spec": {"replicas": 2}},
                content_type="application/merge-patch+json",
            )
            await send(app, "DELETE", f"{WIDGETS}/b")
        lines = exchange_holder[0].lines()
        kinds = [(line["type"], line["object"]["metadata"].get("name")) for line in lines]
        assert kinds[:3] == [("ADDED", "b"), ("MODIFIED", "b"), ("DELETED", "b")]
        assert ("BOOKMARK", None) in kinds


async def test_the_scale_subresource_reads_and_writes_the_declared_paths() -> None:
    """customresource/scale: GET /scale is an autoscaling/v1 Scale from specReplicasPath and
    statusReplicasPath; PUT /scale writes specReplicasPath."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        await send(app, "POST", WIDGETS, widget(replicas=2))
        scale = (await send(app, "GET", f"{WIDGETS}/w1/scale")).json()
        assert scale["kind"] == "Scale" and scale["spec"] == {"replicas": 2}
        scale["spec"]["replicas"] = 6
        written = (await send(app, "PUT", f"{WIDGETS}/w1/scale", scale)).json()
        assert written["spec"] == {"replicas": 6}
        got = (await send(app, "GET", f"{WIDGETS}/w1")).json()
        assert got["spec"]["replicas"] == 6


# ---------------------------------------------------------------------------- discovery
async def test_discovery_and_openapi_follow_the_definition() -> None:
    """apiextensions-apiserver discovery controller and OpenAPI builder
    (pkg/controller/openapi/builder): once Established the group, version and resource (with
    status and scale subresources, short names) are in /apis, /apis/<group>/<version>, the
    aggregated list and /openapi/v3; deleting the definition removes them and its objects."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        await send(app, "POST", WIDGETS, widget())
        groups = (await send(app, "GET", "/apis")).json()["groups"]
        assert {
            "name": "example.com",
            "versions": [{"groupVersion": "example.com/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": "example.com/v1", "version": "v1"},
        } in groups
        resources = (await send(app, "GET", "/apis/example.com/v1")).json()["resources"]
        names = {r["name"]: r for r in resources}
        assert names["widgets"]["shortNames"] == ["wd"] and names["widgets"]["namespaced"]
        assert {"widgets/status", "widgets/scale"} <= set(names)
        aggregated = await send(
            app,
            "GET",
            "/apis",
            accept="application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
        )
        assert "example.com" in [i["metadata"]["name"] for i in aggregated.json()["items"]]
        index = (await send(app, "GET", "/openapi/v3")).json()["paths"]
        assert "apis/example.com/v1" in index and "apis/apiextensions.k8s.io/v1" in index
        doc = (await send(app, "GET", "/openapi/v3/apis/example.com/v1")).json()
        schema = doc["components"]["schemas"]["com.example.v1.Widget"]
        assert schema["properties"]["spec"]["properties"]["replicas"]["maximum"] == 10
        assert schema["x-kubernetes-group-version-kind"] == [
            {"group": "example.com", "version": "v1", "kind": "Widget"}
        ]
        deleted = await send(app, "DELETE", f"{CRDS}/widgets.example.com")
        assert deleted.status == 200, deleted.json()["message"]
        await trio.sleep(1)  # the CRD finalizer deletes the objects, then the definition
        assert (await send(app, "GET", "/apis/example.com/v1")).status == 404
        assert "example.com" not in [
            g["name"] for g in (await send(app, "GET", "/apis")).json()["groups"]
        ]
        assert not cluster.etcd.store.range("/registry/example.com/")


async def test_a_definition_with_finalized_objects_waits_for_them() -> None:
    """pkg/controller/finalizer (customresourcecleanup.apiextensions.k8s.io): deleting a
    definition marks it Terminating and deletes its objects; it is removed only once the last
    one is gone, and no new object may be created meanwhile (405)."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        held = widget()
        held["metadata"]["finalizers"] = ["example.com/hold"]
        await send(app, "POST", WIDGETS, held)
        deleting = (await send(app, "DELETE", f"{CRDS}/widgets.example.com")).json()
        terminating = {c["type"]: c for c in deleting["status"]["conditions"]}["Terminating"]
        assert terminating["status"] == "True"
        refused = await send(app, "POST", WIDGETS, widget("w2"))
        assert refused.status == 405
        await send(
            app,
            "PATCH",
            f"{WIDGETS}/w1",
            {"metadata": {"finalizers": []}},
            content_type="application/merge-patch+json",
        )
        await trio.sleep(6)  # the CRD finalizer's next poll (every 5 s) finds none left
        assert (await send(app, "GET", f"{CRDS}/widgets.example.com")).status == 404


# ---------------------------------------------------------------------------- model level
async def test_the_api_server_holds_custom_objects_in_etcd_at_upstreams_keys() -> None:
    """Custom objects live at /registry/<group>/<plural>/<namespace>/<name> (apiextensions
    customresource etcd storage), their resourceVersion the key's mod revision."""
    etcd, ctx = new_control_plane(seed=1)
    await bootstrap(ctx)
    custom = ctx.api.custom
    crds = custom.resolve("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    await custom.create(crds, CRD, "")
    widgets = custom.resolve("example.com", "v1", "widgets")
    obj, _ = await custom.create(widgets, widget(), "default")
    kv = etcd.store.get("/registry/example.com/widgets/default/w1")
    assert kv is not None and str(kv.mod_revision) == obj.metadata.resource_version
    assert etcd.store.get(
        "/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com"
    )
    with pytest.raises(CustomInvalid):
        await custom.create(widgets, widget("w2", replicas=-1), "default")
    with pytest.raises(errors.NotFound):
        await custom.create(
            widgets, {**widget("w3"), "metadata": {"name": "w3", "namespace": "nope"}}, "nope"
        )


# ---------------------------------------------------------------------------- scenarios
SCENARIO = """apiVersion: kubechaos/v1
kind: Scenario
metadata: {{name: crd}}
spec:
  seed: 1
  duration: 1m
  cluster:
    nodeGroups:
      - name: worker
        count: 1
        capacity: {{cpu: "4", memory: 16Gi, pods: 110}}
  workloads:
    - path: {crd}
    - manifest:
        apiVersion: example.com/v1
        kind: Widget
        metadata: {{name: w1, namespace: shop}}
        spec: {spec}
  faults: []
"""


def scenario_text(spec: str = "{image: nginx, replicas: 2}") -> str:
    return SCENARIO.format(crd=DATA / "widgets-crd.yaml", spec=spec)


def test_a_scenario_checks_custom_objects_against_their_definition() -> None:
    """A scenario's workloads are applied as ``kubectl apply`` applies them: a custom object
    after its definition is checked against the definition's schema with fieldValidation=Strict
    (kubectl's default), each problem a located one-line error."""
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(scenario_text("{image: nginx, replicas: 20, colour: red}"), "s.yaml")
    shown = [str(e) for e in exc.value.errors]
    assert shown == [
        "s.yaml:18:30: spec.workloads[1].manifest.spec.replicas: Invalid value: 20: "
        "spec.replicas in body should be less than or equal to 10",
        's.yaml:18:44: spec.workloads[1].manifest.spec.colour: unknown field "colour"',
    ]


def test_a_custom_object_of_an_undeclared_kind_is_an_error_and_a_bad_definition_too() -> None:
    """kubectl refuses an object whose kind no definition serves ("no matches for kind ...
    ensure CRDs are installed first"); a definition failing apiextensions validation is
    refused with its causes located in the file."""
    orphan = scenario_text().replace(f"    - path: {DATA / 'widgets-crd.yaml'}\n", "")
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(orphan, "s.yaml")
    (error,) = exc.value.errors
    assert error.path == "spec.workloads[0].manifest.kind"
    assert 'no matches for kind "Widget" in version "example.com/v1"' in error.message
    inline_crd = copy.deepcopy(CRD)
    inline_crd["spec"]["scope"] = "Everywhere"
    text = scenario_text().replace(
        f"    - path: {DATA / 'widgets-crd.yaml'}\n",
        "    - manifest: " + json.dumps(inline_crd) + "\n",
    )
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(text, "s.yaml")
    assert [e.path for e in exc.value.errors] == ["spec.workloads[0].manifest.spec.scope"]


async def test_a_scenarios_definition_and_objects_are_served_by_the_run() -> None:
    """The definition is created (and established) before its objects, which land in their
    namespace with their schema defaults, as a kubectl apply of the files would leave them."""
    scenario = parse_scenario(scenario_text(), "s.yaml")
    async with running(nodes=1) as cluster:
        await cluster.apply(scenario.workloads)
        widgets = cluster.api.custom.resolve("example.com", "v1", "widgets")
        assert widgets is not None
        (obj,) = cluster.api.custom.cache(widgets).list("shop")
        assert obj.content["spec"] == {"image": "nginx", "replicas": 2, "mode": "safe"}
        assert obj.metadata.generation == 1
        await cluster.apply(scenario.workloads)  # applied again: configured, unchanged
        (again,) = cluster.api.custom.cache(widgets).list("shop")
        assert again.metadata.resource_version == obj.metadata.resource_version


# ---------------------------------------------------------------------------- kube-state-metrics
KSM_SCENARIO = """apiVersion: kubechaos/v1
kind: Scenario
metadata: {{name: ksm}}
spec:
  seed: 1
  duration: 1m
  cluster:
    nodeGroups:
      - name: worker
        count: 1
        capacity: {{cpu: "4", memory: 16Gi, pods: 110}}
  workloads:
    - path: {path}
  slo:
    - threshold:
        metric: kube_customresource_database_ready_replicas
        labels: {{name: orders}}
        atLeast: 2
        during: whole
  faults: []
"""


async def test_kube_state_metrics_custom_resource_state_series() -> None:
    """kube-state-metrics docs/metrics/extend/customresourcestate-metrics.md: a Gauge at a path
    is one series named kube_customresource_<name> with customresource_group/kind/version and
    the configured labelsFromPath; a path reaching a list (status.conditions) is one series per
    element, labelled from inside it, "True"/"False" read as 1/0."""
    scenario = parse_scenario(KSM_SCENARIO.format(path=DATA / "databases.yaml"), "s.yaml")
    async with running(nodes=1) as cluster:
        await cluster.apply(scenario.workloads)
        collector = ClusterCollector(cluster)
        (ready,) = collector.families_named("kube_customresource_database_ready_replicas")
        (sample,) = ready.samples
        assert sample.labels == {
            "customresource_group": "example.com",
            "customresource_kind": "Database",
            "customresource_version": "v1",
            "name": "orders",
            "namespace": "default",
        }
        assert sample.value == 3
        (conditions,) = collector.families_named("kube_customresource_database_status_condition")
        assert {s.labels["type"]: s.value for s in conditions.samples} == {
            "Ready": 1.0,
            "Degraded": 0.0,
        }
        assert "kube_customresource_database_ready_replicas" in {
            m.name for m in collector.families()
        }
        # values convert as kube-state-metrics converts them for a Gauge
        assert [number(v) for v in (True, "yes", "No", "2.5", "2026-01-01T00:00:00Z", None)] == [
            1.0,
            1.0,
            0.0,
            2.5,
            1767225600.0,
            None,
        ]


def test_a_threshold_slo_on_a_custom_resource_series_is_evaluated() -> None:
    """A threshold SLO reads kube_customresource_* series like any other family."""
    scenario = parse_scenario(KSM_SCENARIO.format(path=DATA / "databases.yaml"), "s.yaml")
    run = run_scenario(scenario)
    (result,) = run.results
    assert result.ok, result
    assert result.measured == "held (last 3)"


def test_a_bad_kube_state_metrics_config_is_a_located_error(tmp_path: Path) -> None:
    """Only Gauge metrics are modelled: a StateSet is refused where it is written."""
    text = (
        (DATA / "databases.yaml")
        .read_text()
        .replace(
            "type: Gauge\n            gauge: {path", "type: StateSet\n            gauge: {path"
        )
    )
    (tmp_path / "db.yaml").write_text(text)
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(KSM_SCENARIO.format(path=tmp_path / "db.yaml"), "s.yaml")
    (error,) = exc.value.errors
    assert error.path == "metadata.annotations.kubechaos.io/kube-state-metrics"
    assert "only Gauge is modelled, not 'StateSet'" in error.message


async def test_cel_validation_rules_are_reported_as_not_evaluated() -> None:
    """CEL rules (x-kubernetes-validations, apiextensions-apiserver pkg/apiserver/schema/cel)
    are not evaluated by the model: the client creating the definition is warned (a Warning
    header) and a scenario holding it gets a not-modelled warning at the rule's line."""
    with_rule = copy.deepcopy(CRD)
    spec_schema = with_rule["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    spec_schema["spec"]["x-kubernetes-validations"] = [{"rule": "self.replicas <= 5"}]
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        created = await send(app, "POST", CRDS, with_rule)
        assert created.status == 201
        assert "CEL validation rules are not evaluated by kubechaos" in created.headers["warning"]
        assert (
            "spec.versions[0].schema.openAPIV3Schema.properties.spec"
            in (created.headers["warning"])
        )
    text = scenario_text().replace(
        f"    - path: {DATA / 'widgets-crd.yaml'}\n",
        "    - manifest: " + json.dumps(with_rule) + "\n",
    )
    scenario = parse_scenario(text, "s.yaml")
    assert any(
        "x-kubernetes-validations: not modelled (ignored)" in w for w in scenario.warnings
    ), scenario.warnings


async def test_hostile_requests_get_statuses_never_a_server_error() -> None:
    """Whatever a client sends to the apiextensions endpoints (random JSON, wrong types, odd
    paths and patch bodies), the answer is a Status with a 4xx code, never a 500."""
    rng = random.Random(18)
    values: list[Any] = [None, 0, -1, 1.5, True, "", "x", "Widget", [], {}, [1], {"a": 1}]

    def junk(depth: int = 0) -> Any:
        if depth > 2 or rng.random() < 0.4:
            return rng.choice(values)
        if rng.random() < 0.5:
            return [junk(depth + 1) for _ in range(rng.randint(0, 3))]
        keys = [
            "apiVersion",
            "kind",
            "metadata",
            "spec",
            "status",
            "name",
            "names",
            "group",
            "versions",
            "scope",
            "labels",
            "finalizers",
            "image",
            "replicas",
            "op",
            "path",
        ]
        return {rng.choice(keys): junk(depth + 1) for _ in range(rng.randint(0, 4))}

    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        await send(app, "POST", WIDGETS, widget())
        paths = [
            CRDS,
            f"{CRDS}/widgets.example.com",
            f"{CRDS}/widgets.example.com/status",
            WIDGETS,
            f"{WIDGETS}/w1",
            f"{WIDGETS}/w1/status",
            f"{WIDGETS}/w1/scale",
            "/apis/example.com/v1/widgets/w1",
            "/apis/example.com/v2/widgets",
            "/apis/example.com/v1/namespaces/default/widgets/a/b/c",
        ]
        codes: set[int] = set()
        for _ in range(300):
            body = junk()
            if rng.random() < 0.5 and isinstance(body, dict):
                body = {**widget(), **body}
            method = rng.choice(["POST", "PUT", "PATCH", "DELETE", "GET"])
            ctype = rng.choice(
                [
                    "application/json",
                    "application/merge-patch+json",
                    "application/json-patch+json",
                    "text/plain",
                ]
            )
            answer = await send(app, method, rng.choice(paths), body, content_type=ctype)
            assert answer.status < 500, (method, body, answer.json())
            codes.add(answer.status)
        assert app.failures == 0
        assert {200, 400, 404, 415, 422} <= codes, codes


async def test_requests_are_counted_under_the_resources_plural() -> None:
    """apiserver_request_total labels a custom resource's requests with its plural and
    subresource (endpoints/metrics/metrics.go), as the typed kinds'."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        current = (await send(app, "POST", WIDGETS, widget())).json()
        await send(app, "PUT", f"{WIDGETS}/w1/status", {**current, "status": {"replicas": 1}})
        totals = cluster.api.stats.total
        assert totals[("create", "widgets", 201)] == 1
        assert totals[("update", "widgets/status", 200)] == 1
        assert totals[("create", "customresourcedefinitions", 201)] == 1


async def test_printer_columns_fill_the_table_kubectl_prints() -> None:
    """apiextensions-apiserver registry/customresource/tableconvertor: NAME, each
    additionalPrinterColumn from its JSONPath (a ``date`` column as an age), then AGE."""
    with_date = copy.deepcopy(CRD)
    with_date["spec"]["versions"][0]["additionalPrinterColumns"].append(
        {"name": "Made", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    )
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        assert (await send(app, "POST", CRDS, with_date)).status == 201
        await send(app, "POST", WIDGETS, widget(replicas=3))
        await trio.sleep(125)
        table = (await send(app, "GET", WIDGETS, accept=TABLE)).json()
        assert [c["name"] for c in table["columnDefinitions"]] == [
            "Name",
            "Replicas",
            "Made",
            "Age",
        ]
        assert table["rows"][0]["cells"] == ["w1", 3, "2m5s", "2m5s"]


async def test_every_served_version_reads_and_writes_the_stored_object() -> None:
    """Conversion strategy None (apiextensions-apiserver pkg/apiserver/conversion/
    nop_converter.go): an object is stored at the storage version and served at every served
    version with only its apiVersion changed; the preferred version in discovery is the
    kube-aware highest (GA before beta)."""
    two = copy.deepcopy(CRD)
    beta = copy.deepcopy(two["spec"]["versions"][0])
    beta.update(name="v1beta1", storage=False)
    two["spec"]["versions"].append(beta)
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        assert (await send(app, "POST", CRDS, two)).status == 201
        beta_path = "/apis/example.com/v1beta1/namespaces/default/widgets"
        created = await send(
            app, "POST", beta_path, {**widget(), "apiVersion": "example.com/v1beta1"}
        )
        assert created.json()["apiVersion"] == "example.com/v1beta1"
        kv = cluster.etcd.store.get("/registry/example.com/widgets/default/w1")
        assert kv is not None and kv.value.content["apiVersion"] == "example.com/v1"
        got = (await send(app, "GET", f"{WIDGETS}/w1")).json()
        assert got["apiVersion"] == "example.com/v1"
        group = (await send(app, "GET", "/apis/example.com")).json()
        assert group["preferredVersion"]["version"] == "v1"
        assert [v["version"] for v in group["versions"]] == ["v1", "v1beta1"]


async def test_a_definitions_identity_cannot_change() -> None:
    """ValidateCustomResourceDefinitionSpecUpdate: group and plural are immutable (they make the
    resource's name), scope and kind too once Established; duplicate version names are refused
    ("must contain unique version names")."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        current = await with_crd(app)
        changed = copy.deepcopy(current)
        changed["spec"]["scope"] = "Cluster"
        changed["spec"]["names"]["kind"] = "Gadget"
        answer = await send(app, "PUT", f"{CRDS}/widgets.example.com", changed)
        assert answer.status == 422
        fields = [c["field"] for c in answer.json()["details"]["causes"]]
        assert fields == ["spec.scope", "spec.names.kind"]
        assert (
            'spec.scope: Invalid value: "Cluster": field is immutable' in answer.json()["message"]
        )
        twice = copy.deepcopy(CRD)
        twice["spec"]["versions"].append({**twice["spec"]["versions"][0], "storage": False})
        refused = await send(
            app, "POST", CRDS, {**twice, "metadata": {"name": "widgets.example.com"}}
        )
        assert "must contain unique version names" in refused.json()["message"]


async def test_dry_run_checks_everything_and_writes_nothing() -> None:
    """?dryRun=All (handlers/create.go, patch.go, delete.go; ``kubectl diff`` and
    ``--dry-run=server``): the answer is what the write would give, validation included, and
    nothing is stored; any other value is 400."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        dry = await send(app, "POST", WIDGETS, widget(), query="dryRun=All")
        assert dry.status == 201 and dry.json()["spec"]["mode"] == "safe"
        assert (await send(app, "GET", f"{WIDGETS}/w1")).status == 404
        bad = await send(app, "POST", WIDGETS, widget(replicas=99), query="dryRun=All")
        assert bad.status == 422
        await send(app, "POST", WIDGETS, widget())
        patched = await send(
            app,
            "PATCH",
            f"{WIDGETS}/w1",
            {"spec": {"replicas": 7}},
            query="dryRun=All",
            content_type="application/merge-patch+json",
        )
        assert patched.json()["spec"]["replicas"] == 7
        assert (await send(app, "GET", f"{WIDGETS}/w1")).json()["spec"]["replicas"] == 1
        await send(app, "DELETE", f"{WIDGETS}/w1", query="dryRun=All")
        assert (await send(app, "GET", f"{WIDGETS}/w1")).status == 200
        assert (await send(app, "POST", WIDGETS, widget("x"), query="dryRun=Some")).status == 400


async def test_a_python_test_applies_a_definition_then_its_objects(kubechaos) -> None:
    """The pytest fixture's ``apply`` reads custom objects as a scenario does: of a definition
    applied in the same call or an earlier one (served by then, as kubectl finds it through
    discovery), checked against its schema; the kube-state-metrics series follow."""
    await kubechaos.boot(nodes=1)
    definition, database = yaml.safe_load_all((DATA / "databases.yaml").read_text())
    await kubechaos.apply(definition)
    await kubechaos.apply(database)
    ready = kubechaos.metric("kube_customresource_database_ready_replicas", namespace="default")
    assert ready == 3
