"""The front door's write path, in-process through ASGI on virtual time.

Upstream is staging/src/k8s.io/apiserver/pkg/endpoints/handlers/{create,update,patch,delete}.go
(fieldValidation, dryRun, DeleteOptions, 422 details.causes), apimachinery/pkg/util/
strategicpatch (patch strategies and directives) and the generic store's preconditions
(apiserver/pkg/registry/generic/registry/store.go).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import trio
import yaml

from kubechaos.api.manifest import read_manifest
from kubechaos.frontdoor import patches, protobuf
from kubechaos.frontdoor.app import FrontDoor
from tests.harness import running, wait_until
from tests.test_frontdoor_app import ANCHOR, Exchange, front_door, receiver, request, scope

JSON = {"content-type": "application/json"}
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
MANIFESTS = Path(__file__).resolve().parent.parent / "scenarios" / "manifests"


def deployment(name: str, replicas: int = 1, **container: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": "example.com/a:1", **container}]},
            },
        },
    }


class Warned(Exchange):
    """An exchange that keeps every ``Warning`` header (there is one per warning)."""

    warnings: list[str]

    async def send(self, message: dict[str, Any]) -> None:
        await super().send(message)
        if message["type"] == "http.response.start":
            self.warnings = [v.decode() for k, v in message["headers"] if k == b"warning"]


def body(doc: Any) -> bytes:
    return json.dumps(doc).encode()


async def test_create_is_the_scenario_reader_and_warns_unmodelled_fields() -> None:
    """A manifest POSTed becomes the object the scenario reader makes of it; an unmodelled field
    is a ``Warning: 299`` header, an unknown one too under the default fieldValidation=Warn."""
    doc = yaml.safe_load((MANIFESTS / "web.yaml").read_text().split("---")[0])
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        created = await request(app, DEPLOYMENTS, body=body(doc), method="POST", headers=JSON)
        assert created.status == 201
        stored = cluster.api.cache("deployments").get("/registry/deployments/default/web")
        assert stored.spec == read_manifest(doc).spec
        odd = deployment("odd", foo=1, stdin=True)
        odd["spec"]["template"]["spec"]["shareProcessNamespace"] = True
        warned = Warned()
        await app(scope(DEPLOYMENTS, method="POST", headers=JSON), receiver(body(odd)), warned.send)
        assert warned.status == 201
        assert warned.warnings == [
            '299 - "unknown field \\"spec.template.spec.containers[0].foo\\""',
            '299 - "spec.template.spec.shareProcessNamespace: not modelled (ignored); '
            'recovery times may differ from a real cluster"',
        ]
        strict = await request(
            app,
            DEPLOYMENTS,
            "fieldValidation=Strict",
            body(deployment("s", foo=1)),
            method="POST",
            headers=JSON,
        )
        assert strict.status == 400
        assert strict.json()["message"] == (
            'Deployment in version "v1" cannot be handled as a Deployment: strict decoding '
            'error: unknown field "spec.template.spec.containers[0].foo"'
        )
        dup = b'{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":1,"replicas":2}}'
        duplicate = await request(
            app, DEPLOYMENTS, "fieldValidation=Strict", dup, method="POST", headers=JSON
        )
        assert 'duplicate field "spec.replicas"' in duplicate.json()["message"]
        yaml_dup = b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: y}\nspec: {replicas: 1, replicas: 2}\n"
        twice = await request(
            app,
            DEPLOYMENTS,
            "fieldValidation=Strict",
            yaml_dup,
            method="POST",
            headers={"content-type": "application/yaml"},
        )
        assert twice.status == 400 and 'duplicate field "spec.replicas"' in twice.json()["message"]
        ignore = await request(
            app,
            DEPLOYMENTS,
            "fieldValidation=Ignore",
            body(deployment("i", foo=1)),
            method="POST",
            headers=JSON,
        )
        assert ignore.status == 201 and "warning" not in ignore.headers
        unmodelled = deployment("j", foo=1)
        unmodelled["spec"]["template"]["spec"]["shareProcessNamespace"] = True
        still = await request(
            app,
            DEPLOYMENTS,
            "fieldValidation=Ignore",
            body(unmodelled),
            method="POST",
            headers=JSON,
        )  # a field the model does not model is warned about whatever fieldValidation says
        assert still.headers["warning"] == (
            '299 - "spec.template.spec.shareProcessNamespace: not modelled (ignored); '
            'recovery times may differ from a real cluster"'
        )


async def test_invalid_malformed_and_unsupported_bodies() -> None:
    """422 Invalid with ``details.causes`` (field, reason, message); 400 for a body that is not
    JSON; 415 for a media type upstream does not decode; 409 AlreadyExists."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        bad = await request(
            app, DEPLOYMENTS, body=body(deployment("bad", replicas=-1)), method="POST", headers=JSON
        )
        assert bad.status == 422
        status = bad.json()
        assert status["reason"] == "Invalid"
        assert status["message"].startswith('Deployment.apps "bad" is invalid: spec.replicas:')
        (cause,) = status["details"]["causes"]
        assert cause["field"] == "spec.replicas" and cause["reason"] == "FieldValueInvalid"
        assert status["details"]["group"] == "apps"
        garbled = await request(app, DEPLOYMENTS, body=b"{nope", method="POST", headers=JSON)
        assert garbled.status == 400
        xml = await request(
            app, DEPLOYMENTS, body=b"<x/>", method="POST", headers={"content-type": "text/xml"}
        )
        assert xml.status == 415
        ok = await request(
            app, DEPLOYMENTS, body=body(deployment("a")), method="POST", headers=JSON
        )
        again = await request(
            app, DEPLOYMENTS, body=body(deployment("a")), method="POST", headers=JSON
        )
        assert (ok.status, again.status, again.json()["reason"]) == (201, 409, "AlreadyExists")
        named = {
            "metadata": {"generateName": "gen-"},
            **{k: v for k, v in deployment("g").items() if k != "metadata"},
        }
        generated = await request(app, DEPLOYMENTS, body=body(named), method="POST", headers=JSON)
        assert generated.json()["metadata"]["name"].startswith("gen-")


async def test_dry_run_admits_and_validates_but_stores_nothing() -> None:
    """``dryRun=All``: the answer is what would be stored; nothing is."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        dry = await request(
            app, DEPLOYMENTS, "dryRun=All", body(deployment("dry")), method="POST", headers=JSON
        )
        assert dry.status == 201 and dry.json()["metadata"]["uid"]
        assert cluster.api.cache("deployments").get("/registry/deployments/default/dry") is None
        await request(app, DEPLOYMENTS, body=body(deployment("real")), method="POST", headers=JSON)
        patched = await request(
            app,
            f"{DEPLOYMENTS}/real",
            "dryRun=All",
            body({"spec": {"replicas": 5}}),
            method="PATCH",
            headers={"content-type": patches.MERGE},
        )
        assert patched.json()["spec"]["replicas"] == 5
        await trio.sleep(1)
        real = cluster.api.cache("deployments").get("/registry/deployments/default/real")
        assert real.spec.replicas == 1
        deleted = await request(app, f"{DEPLOYMENTS}/real", "dryRun=All", method="DELETE")
        assert deleted.status == 200
        assert cluster.api.cache("deployments").get("/registry/deployments/default/real")


async def test_update_conflict_unconditional_and_delete_preconditions() -> None:
    """PUT with a stale resourceVersion: 409 with upstream's message; without one:
    unconditional. DELETE preconditions (uid, resourceVersion) are 409 when they differ;
    an unknown propagationPolicy is 400."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        made = (
            await request(app, DEPLOYMENTS, body=body(deployment("u")), method="POST", headers=JSON)
        ).json()
        made["spec"]["replicas"] = 2
        first = await request(app, f"{DEPLOYMENTS}/u", body=body(made), method="PUT", headers=JSON)
        assert first.status == 200
        stale = await request(app, f"{DEPLOYMENTS}/u", body=body(made), method="PUT", headers=JSON)
        assert stale.status == 409
        assert stale.json()["message"] == (
            'Operation cannot be fulfilled on deployments "u": the object has been modified; '
            "please apply your changes to the latest version and try again"
        )
        del made["metadata"]["resourceVersion"]
        made["spec"]["replicas"] = 3
        free = await request(app, f"{DEPLOYMENTS}/u", body=body(made), method="PUT", headers=JSON)
        assert free.status == 200 and free.json()["spec"]["replicas"] == 3
        wrong = {"preconditions": {"uid": "not-it"}}
        refused = await request(
            app, f"{DEPLOYMENTS}/u", body=body(wrong), method="DELETE", headers=JSON
        )
        assert (
            refused.status == 409
            and "Precondition failed: UID in precondition" in refused.json()["message"]
        )
        odd = await request(app, f"{DEPLOYMENTS}/u", "propagationPolicy=Sideways", method="DELETE")
        assert odd.status == 400 and "Unsupported value" in odd.json()["message"]
        gone = await request(
            app, f"{DEPLOYMENTS}/u", "propagationPolicy=Background", method="DELETE"
        )
        assert gone.status == 200 and gone.json()["status"] == "Success"


def _cached(cluster: Any, resource: str) -> list[Any]:
    return list(cluster.api.cache(resource).list("default"))


async def test_orphan_and_foreground_deletion() -> None:
    """``propagationPolicy=Orphan``: the Deployment goes, its ReplicaSet and pods stay, the
    ReplicaSet without its owner reference (garbagecollector.go orphanDependents).
    ``Foreground``: the Deployment stays, ``deletionTimestamp`` set and the
    ``foregroundDeletion`` finalizer on, until its ReplicaSet and pods are gone, then goes
    (store.go deletionFinalizersForGarbageCollection, attemptToDeleteItem)."""
    async with running(nodes=2) as cluster:
        app = front_door(cluster)
        for name in ("orph", "fore"):
            doc = deployment(name, 2)  # its pods take 10 s to stop: the foreground wait shows
            doc["spec"]["template"]["metadata"]["annotations"] = {
                "kubechaos.io/behaviour": "shutdown=10s"
            }
            await request(app, DEPLOYMENTS, body=body(doc), method="POST", headers=JSON)
        await wait_until(
            lambda: sum(p.status.phase == "Running" for p in _cached(cluster, "pods")) == 4,
            60,
            "four pods running",
        )
        orphaned = await request(
            app, f"{DEPLOYMENTS}/orph", "propagationPolicy=Orphan", method="DELETE"
        )
        assert orphaned.status == 200
        await wait_until(
            lambda: "orph" not in {d.metadata.name for d in _cached(cluster, "deployments")},
            30,
            "the orphaning deployment gone",
        )
        await trio.sleep(30)
        (rs,) = [r for r in _cached(cluster, "replicasets") if r.metadata.name.startswith("orph-")]
        assert rs.metadata.owner_references == () and rs.metadata.deletion_timestamp is None
        assert sum(p.metadata.name.startswith("orph-") for p in _cached(cluster, "pods")) == 2
        fore = await request(
            app, f"{DEPLOYMENTS}/fore", "propagationPolicy=Foreground", method="DELETE"
        )
        assert fore.status == 200 and fore.json()["metadata"]["deletionTimestamp"]
        assert "foregroundDeletion" in fore.json()["metadata"]["finalizers"]
        await trio.sleep(5)  # the pods are stopping (10 s): the Deployment waits for them
        assert "fore" in {d.metadata.name for d in _cached(cluster, "deployments")}
        stopping = [p for p in _cached(cluster, "pods") if p.metadata.name.startswith("fore-")]
        assert len(stopping) == 2 and all(p.metadata.deletion_timestamp for p in stopping)
        await wait_until(
            lambda: "fore" not in {d.metadata.name for d in _cached(cluster, "deployments")},
            60,
            "the deployment gone after its dependents",
            step=0.01,
        )
        assert not any(p.metadata.name.startswith("fore-") for p in _cached(cluster, "pods"))
        assert not any(r.metadata.name.startswith("fore-") for r in _cached(cluster, "replicasets"))


async def test_deletecollection_with_a_label_selector() -> None:
    """DELETE on a collection deletes what the selectors match, and only that."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        for name in ("one", "two", "keep"):
            doc = deployment(name)
            doc["metadata"]["labels"] = {"tier": "x" if name != "keep" else "y"}
            await request(app, DEPLOYMENTS, body=body(doc), method="POST", headers=JSON)
        out = await request(app, DEPLOYMENTS, "labelSelector=tier%3Dx", method="DELETE")
        assert out.status == 200 and len(out.json()["items"]) == 2
        names = {d.metadata.name for d in cluster.api.cache("deployments").list("default")}
        assert names == {"keep"}


async def test_binding_places_a_pod_of_another_scheduler() -> None:
    """A pod naming another ``schedulerName`` stays Pending for the model's scheduler; POSTing a
    Binding (BindingREST) places it. (Status writes: tests/test_status_writes.py.)"""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "mine"},
        "spec": {"schedulerName": "my-scheduler", "containers": [{"name": "c", "image": "i"}]},
    }
    pods = "/api/v1/namespaces/default/pods"
    async with running(nodes=2) as cluster:
        app = front_door(cluster)
        assert (await request(app, pods, body=body(pod), method="POST", headers=JSON)).status == 201
        await trio.sleep(10)
        assert not cluster.api.cache("pods").get("/registry/pods/default/mine").spec.node_name
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": "mine"},
            "target": {"kind": "Node", "name": "worker-1"},
        }
        bound = await request(
            app, f"{pods}/mine/binding", body=body(binding), method="POST", headers=JSON
        )
        assert bound.status == 201
        await wait_until(
            lambda: (
                cluster.api.cache("pods").get("/registry/pods/default/mine").status.phase
                == "Running"
            ),
            60,
            "the bound pod running",
        )


def test_strategic_merge_patch_directives() -> None:
    """Containers merge by ``name`` (x-kubernetes-patch-merge-key), finalizers as a set,
    ``$patch: delete`` removes an item, ``$patch: replace`` a whole list,
    ``$setElementOrder`` orders it, ``$deleteFromPrimitiveList`` removes scalars,
    ``$retainKeys`` drops the other keys of a map (strategicpatch/patch.go)."""
    original = {
        "metadata": {"finalizers": ["a", "b"]},
        "spec": {
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {
                "spec": {"containers": [{"name": "x", "image": "1"}, {"name": "y", "image": "2"}]}
            },
        },
    }
    out = patches.apply_patch(
        patches.STRATEGIC,
        original,
        {
            "metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["a"]},
            "spec": {
                "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                "template": {
                    "spec": {
                        "$setElementOrder/containers": [{"name": "z"}, {"name": "x"}],
                        "containers": [
                            {"name": "x", "image": "9"},
                            {"name": "y", "$patch": "delete"},
                            {"name": "z", "image": "3"},
                        ],
                    }
                },
            },
        },
        "Deployment",
        "apps/v1",
    )
    assert out["metadata"]["finalizers"] == ["b", "c"]
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    assert out["spec"]["template"]["spec"]["containers"] == [
        {"name": "z", "image": "3"},
        {"name": "x", "image": "9"},
    ]
    replaced = patches.apply_patch(
        patches.STRATEGIC,
        original,
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "w", "image": "0"}, {"$patch": "replace"}]}
                }
            }
        },
        "Deployment",
        "apps/v1",
    )
    assert replaced["spec"]["template"]["spec"]["containers"] == [{"name": "w", "image": "0"}]
    assert original["metadata"]["finalizers"] == ["a", "b"]  # the original is not changed


def test_json_patch_failures_are_422_and_merge_patch_nulls_delete() -> None:
    """RFC 6902: a failed ``test`` op is 422; RFC 7386: ``null`` deletes a key."""
    doc = {"spec": {"replicas": 1}, "metadata": {"labels": {"a": "b"}}}
    try:
        patches.apply_patch(
            patches.JSON_PATCH,
            doc,
            [{"op": "test", "path": "/spec/replicas", "value": 2}],
            "Deployment",
            "apps/v1",
        )
    except patches.PatchFailed as exc:
        assert exc.code == 422
    else:
        raise AssertionError("a failed test op must fail the patch")
    merged = patches.apply_patch(
        patches.MERGE, doc, {"metadata": {"labels": None}}, "Deployment", "apps/v1"
    )
    assert merged["metadata"] == {}


def test_protobuf_eviction_as_kubectl_drain_sends_it() -> None:
    """The k8s protobuf envelope (runtime.Unknown) around a policy/v1 Eviction whose
    deleteOptions carry gracePeriodSeconds (generated.proto field numbers)."""

    def field(number: int, payload: bytes) -> bytes:
        return bytes([number << 3 | 2, len(payload)]) + payload

    meta = field(1, b"web-0") + field(3, b"default")
    options = bytes([1 << 3, 30])
    eviction = field(1, meta) + field(2, options)
    type_meta = field(1, b"policy/v1") + field(2, b"Eviction")
    wire = protobuf.MAGIC + field(1, type_meta) + field(2, eviction)
    assert protobuf.decode(wire) == {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "web-0", "namespace": "default"},
        "deleteOptions": {"gracePeriodSeconds": 30},
    }


_FUZZ_VALUES: list[Any] = [
    None, 0, -1, 1.5, "", "x", True, [], {}, [1], {"a": 1}, "100Mi",
    {"$patch": "delete"}, {"$patch": "bogus"}, [{"name": 1}], [{"op": "add"}],
]  # fmt: skip
_FUZZ_PATHS = [
    DEPLOYMENTS,
    f"{DEPLOYMENTS}/f",
    f"{DEPLOYMENTS}/f/scale",
    f"{DEPLOYMENTS}/f/status",
    "/api/v1/nodes/worker-0",
    "/api/v1/namespaces/default/pods/p/eviction",
    "/api/v1/namespaces/default/pods/p/binding",
    "/api/v1/namespaces/default/services",
    "/api/v1/namespaces/default/pods/p",
]
_FUZZ_TYPES = [
    "application/json",
    patches.MERGE,
    patches.JSON_PATCH,
    patches.STRATEGIC,
    "application/yaml",
    protobuf.MEDIA_TYPE,
    "text/plain",
    "",
]


def _garble(rng: random.Random, doc: Any) -> Any:
    if isinstance(doc, dict) and doc and rng.random() < 0.7:
        key = rng.choice(list(doc))
        doc[key] = _garble(rng, doc[key]) if rng.random() < 0.6 else rng.choice(_FUZZ_VALUES)
        if rng.random() < 0.2:
            extra = rng.choice(["foo", "$retainKeys", "$setElementOrder/containers", "spec"])
            doc[extra] = rng.choice(_FUZZ_VALUES)
        return doc
    if isinstance(doc, list) and doc and rng.random() < 0.7:
        i = rng.randrange(len(doc))
        doc[i] = _garble(rng, doc[i])
        return doc
    return rng.choice(_FUZZ_VALUES) if rng.random() < 0.5 else doc


async def test_fuzzed_writes_are_answered_never_a_500() -> None:
    """Random writes (garbled objects, patches, options, media types, subresources): every one
    is answered with a Status or an object, none is a 500 (a bug in the front door)."""
    rng = random.Random(18)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }
    seeds: list[Any] = [
        deployment("f"),
        pod,
        {"spec": {"replicas": 2}},
        [{"op": "replace", "path": "/spec/replicas", "value": 3}],
        {"metadata": {"labels": {"a": "b"}, "finalizers": ["x"]}, "spec": {"taints": []}},
        {"deleteOptions": {"gracePeriodSeconds": 1}, "metadata": {"name": "p"}},
        {"preconditions": {"uid": "x"}, "gracePeriodSeconds": 2},
    ]
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await request(app, DEPLOYMENTS, body=body(deployment("f")), method="POST", headers=JSON)
        await request(app, _FUZZ_PATHS[8][:-2], body=body(pod), method="POST", headers=JSON)
        for _ in range(600):
            doc = _garble(rng, json.loads(json.dumps(rng.choice(seeds))))
            raw = body(doc) if rng.random() < 0.9 else rng.randbytes(20)
            query = rng.choice(["", "dryRun=All", "fieldValidation=Strict", "dryRun=x"])
            answer = await request(
                app,
                rng.choice(_FUZZ_PATHS),
                query,
                raw,
                method=rng.choice(["POST", "PUT", "PATCH", "DELETE"]),
                headers={"content-type": rng.choice(_FUZZ_TYPES)},
            )
            assert answer.status < 500, answer.json()
        assert app.failures == 0


APPLY = {"content-type": patches.APPLY}


async def test_server_side_apply_owns_fields_and_drops_what_it_no_longer_applies() -> None:
    """Server-side apply (fieldmanager, structured-merge-diff): ``fieldManager`` is required
    (422); an apply to an absent object creates it (201); a field a manager applied and no
    longer applies is removed; two appliers setting one field differently conflict (409 with
    ``FieldManagerConflict`` causes) unless ``force=true``."""
    path = f"{DEPLOYMENTS}/sa"
    doc = deployment("sa", 2)
    doc["metadata"]["labels"] = {"team": "a", "tier": "web"}
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        nameless = await request(app, path, body=body(doc), method="PATCH", headers=APPLY)
        assert nameless.status == 422 and "fieldManager" in nameless.json()["message"]
        made = await request(app, path, "fieldManager=ci", body(doc), method="PATCH", headers=APPLY)
        assert made.status == 201
        del doc["metadata"]["labels"]["tier"]
        again = await request(
            app, path, "fieldManager=ci", body(doc), method="PATCH", headers=APPLY
        )
        assert again.status == 200 and again.json()["metadata"]["labels"] == {"team": "a"}
        other = deployment("sa", 5)
        clash = await request(
            app, path, "fieldManager=ops", body(other), method="PATCH", headers=APPLY
        )
        assert clash.status == 409
        assert clash.json()["message"] == (
            'Apply failed with 1 conflict: conflict with "ci": .spec.replicas'
        )
        (cause,) = clash.json()["details"]["causes"]
        assert cause == {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "ci"',
            "field": ".spec.replicas",
        }
        forced = await request(
            app, path, "fieldManager=ops&force=true", body(other), method="PATCH", headers=APPLY
        )
        assert forced.status == 200 and forced.json()["spec"]["replicas"] == 5


async def test_a_served_object_replaced_as_served_is_not_refused() -> None:
    """``kubectl get -o yaml | kubectl replace -f -`` (fieldValidation=Strict): what the server
    serves it accepts back; a field it does not serve is still a strict decoding error."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "svc"},
            "spec": {"selector": {"app": "a"}, "ports": [{"port": 80}]},
        }
        path = "/api/v1/namespaces/default/services"
        await request(app, path, body=body(service), method="POST", headers=JSON)
        served = (await request(app, f"{path}/svc")).json()
        again = await request(
            app, f"{path}/svc", "fieldValidation=Strict", body(served), method="PUT", headers=JSON
        )
        assert again.status == 200, again.json()
        served["spec"]["bogus"] = 1
        del served["metadata"]["resourceVersion"]
        bogus = await request(
            app, f"{path}/svc", "fieldValidation=Strict", body(served), method="PUT", headers=JSON
        )
        assert bogus.status == 400 and 'unknown field "spec.bogus"' in bogus.json()["message"]


async def test_eviction_respects_the_disruption_budget() -> None:
    """POST pods/{name}/eviction (policy/v1 Eviction): refused with 429 and upstream's
    "Cannot evict pod as it would violate the pod's disruption budget." while the budget
    allows no disruption (pkg/registry/core/pod/storage/eviction.go); allowed (201, the pod
    deleted gracefully) once it does."""
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "guard"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "guarded"}}},
    }
    async with running(nodes=2) as cluster:
        # as a served run's is: a client's first budget starts the disruption controller
        app = FrontDoor(
            cluster.api, cluster.ctx.events, ANCHOR, "127.0.0.1:6443", None, 1.0, cluster.use_kind
        )
        await request(
            app, DEPLOYMENTS, body=body(deployment("guarded", 2)), method="POST", headers=JSON
        )
        budgets = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"
        assert (
            await request(app, budgets, body=body(pdb), method="POST", headers=JSON)
        ).status == 201
        await wait_until(
            lambda: sum(p.is_ready() for p in _cached(cluster, "pods")) == 2, 60, "ready"
        )
        await trio.sleep(5)  # the disruption controller computes the budget
        victim = _cached(cluster, "pods")[0].metadata.name
        eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": victim}}
        path = f"/api/v1/namespaces/default/pods/{victim}/eviction"
        refused = await request(app, path, body=body(eviction), method="POST", headers=JSON)
        assert refused.status == 429
        assert refused.json()["message"] == (
            "Cannot evict pod as it would violate the pod's disruption budget."
        )
        patch = {"spec": {"minAvailable": 1}}
        relaxed = await request(
            app,
            f"{budgets}/guard",
            body=body(patch),
            method="PATCH",
            headers={"content-type": patches.MERGE},
        )
        assert relaxed.status == 200, relaxed.json()
        await trio.sleep(5)
        allowed = await request(app, path, body=body(eviction), method="POST", headers=JSON)
        assert allowed.status == 201 and allowed.json()["status"] == "Success"
        pod = cluster.api.cache("pods").get(f"/registry/pods/default/{victim}")
        assert pod is None or pod.metadata.deletion_timestamp is not None
