"""DELETE of custom objects and of CustomResourceDefinitions, as upstream serves them.

Upstream: the generic store's Delete (staging/src/k8s.io/apiserver/pkg/registry/generic/registry/
store.go: preconditions, ``deletionFinalizersForGarbageCollection``,
``updateForGracefulDeletionAndFinalizers``; the custom kinds' strategy has no graceful deletion,
so ``deletionGracePeriodSeconds`` is 0 and background is the default policy), DeleteCollection,
handlers/delete.go (DeleteOptions from the body and the query, ``dryRun``), the CRD registry's
Delete (apiextensions-apiserver pkg/registry/customresourcedefinition/etcd.go) and the CRD
finalizer (apiextensions-apiserver pkg/controller/finalizer/crd_finalizer.go).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import trio
import yaml
from kubernetes import client, config

from tests.frontdoor import kubectl_binary, scenario_file, served
from tests.harness import running, wait_until
from tests.test_crd import CRDS, WIDGETS, send, widget, with_crd
from tests.test_frontdoor_app import front_door

MERGE = "application/merge-patch+json"
CRD_FILE = Path(__file__).resolve().parent / "data" / "crd" / "widgets-crd.yaml"
WIDGET = f"{WIDGETS}/w1"


async def created(app: Any, name: str = "w1", **meta: Any) -> dict[str, Any]:
    body = widget(name)
    body["metadata"].update(meta)
    answer = await send(app, "POST", WIDGETS, body)
    assert answer.status == 201, answer.json()
    return answer.json()


def conditions(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in crd["status"]["conditions"]}


# ---------------------------------------------------------------------------- custom objects
async def test_foreground_and_orphan_leave_the_collectors_finalizer_on_a_custom_object() -> None:
    """deletionFinalizersForGarbageCollection: ``Foreground`` (body) leaves
    ``foregroundDeletion``, ``Orphan`` (query, or ``orphanDependents=true``) leaves ``orphan``,
    with deletionTimestamp and deletionGracePeriodSeconds 0; the garbage collector, finding no
    dependent, removes its finalizer and the object goes."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        await created(app, "w1")
        await created(app, "w2")
        fore = await send(app, "DELETE", WIDGET, {"propagationPolicy": "Foreground"})
        assert fore.status == 200
        meta = fore.json()["metadata"]
        assert meta["finalizers"] == ["foregroundDeletion"]
        assert meta["deletionGracePeriodSeconds"] == 0 and "deletionTimestamp" in meta
        orphan = await send(app, "DELETE", f"{WIDGETS}/w2", query="orphanDependents=true")
        assert orphan.json()["metadata"]["finalizers"] == ["orphan"]
        await trio.sleep(2)
        assert (await send(app, "GET", WIDGET)).status == 404
        assert (await send(app, "GET", f"{WIDGETS}/w2")).status == 404


async def test_a_finalizer_holds_the_object_which_stays_updatable_until_a_patch_removes_it() -> (
    None
):
    """updateForGracefulDeletionAndFinalizers: an object with a finalizer is only marked; it
    can still be patched (an operator records its cleanup); the patch removing the last
    finalizer removes it. A second DELETE changes nothing."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        await created(app, finalizers=["example.com/cleanup"])
        marked = (await send(app, "DELETE", WIDGET)).json()
        assert marked["metadata"]["deletionGracePeriodSeconds"] == 0
        again = (await send(app, "DELETE", WIDGET)).json()
        assert again["metadata"]["resourceVersion"] == marked["metadata"]["resourceVersion"]
        await trio.sleep(10)
        patched = await send(app, "PATCH", WIDGET, {"spec": {"replicas": 3}}, content_type=MERGE)
        assert patched.status == 200 and patched.json()["spec"]["replicas"] == 3
        assert patched.json()["metadata"]["deletionTimestamp"]
        released = await send(
            app, "PATCH", WIDGET, {"metadata": {"finalizers": None}}, content_type=MERGE
        )
        assert released.status == 200
        assert (await send(app, "GET", WIDGET)).status == 404


async def test_dry_run_and_preconditions() -> None:
    """``dryRun=All`` checks and writes nothing; a uid or resourceVersion precondition that
    does not hold is 409 with upstream's words; an unknown policy is 400."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        obj = await created(app)
        dry = await send(app, "DELETE", WIDGET, query="dryRun=All")
        assert dry.status == 200
        assert (await send(app, "GET", WIDGET)).status == 200
        wrong_uid = await send(app, "DELETE", WIDGET, {"preconditions": {"uid": "nope"}})
        assert wrong_uid.status == 409
        assert wrong_uid.json()["message"].startswith("Precondition failed: UID in precondition")
        stale = await send(app, "DELETE", WIDGET, {"preconditions": {"resourceVersion": "1"}})
        assert stale.status == 409
        assert "ResourceVersion in precondition: 1" in stale.json()["message"]
        bad = await send(app, "DELETE", WIDGET, {"propagationPolicy": "Sideways"})
        assert bad.status == 400
        rv = obj["metadata"]["resourceVersion"]
        uid = obj["metadata"]["uid"]
        done = await send(
            app, "DELETE", WIDGET, {"preconditions": {"uid": uid, "resourceVersion": rv}}
        )
        assert done.status == 200 and done.json()["status"] == "Success"


async def test_deletecollection_deletes_what_the_selector_matches() -> None:
    """DeleteCollection: each listed object deleted with the request's options; the answer is
    the list of what was deleted."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        for name in ("a", "b", "c"):
            await created(app, name)
        answer = await send(app, "DELETE", WIDGETS, query="labelSelector=app%20in%20(a,b)")
        assert answer.status == 200
        assert answer.json()["kind"] == "WidgetList"
        assert sorted(i["metadata"]["name"] for i in answer.json()["items"]) == ["a", "b"]
        left = (await send(app, "GET", WIDGETS)).json()["items"]
        assert [i["metadata"]["name"] for i in left] == ["c"]


async def test_a_clients_owner_references_are_kept_on_create_without_a_warning() -> None:
    """A typed object created through the front door keeps its ``ownerReferences`` (apiVersion,
    controller, blockOwnerDeletion as sent: ObjectMeta is stored whole upstream), and no
    "not modelled" warning is sent for them since the garbage collector acts on them."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        owner = await created(app)
        answer = await send(
            app,
            "POST",
            "/apis/apps/v1/namespaces/default/deployments",
            _owned_deployment(owner, "d1"),
        )
        assert answer.status == 201
        assert "warning" not in answer.headers
        refs = answer.json()["metadata"]["ownerReferences"]
        assert refs == _owned_deployment(owner, "d1")["metadata"]["ownerReferences"]


# ---------------------------------------------------------------------------- definitions
async def test_deleting_a_definition_runs_the_crd_finalizer() -> None:
    """etcd.go Delete: the cleanup finalizer and Terminating/InstanceDeletionPending; create
    refused (405, customresource_handler.go's message); crd_finalizer.go: InstanceDeletionInProgress,
    the instances deleted (one held by its own finalizer), a 5 s poll for up to a minute, then
    InstanceDeletionCheck and a retry; once the last instance is gone the finalizer goes and so
    does the definition, and its resource from discovery."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_crd(app)
        await created(app, "held", finalizers=["example.com/hold"])
        await created(app, "free")
        deleting = await send(app, "DELETE", f"{CRDS}/widgets.example.com")
        assert deleting.status == 200
        crd = deleting.json()
        assert "customresourcecleanup.apiextensions.k8s.io" in crd["metadata"]["finalizers"]
        assert conditions(crd)["Terminating"]["reason"] == "InstanceDeletionPending"
        refused = await send(app, "POST", WIDGETS, widget("new"))
        assert refused.status == 405
        assert refused.json()["message"] == (
            "create not allowed while custom resource definition is terminating"
        )
        await trio.sleep(1)
        crd = (await send(app, "GET", f"{CRDS}/widgets.example.com")).json()
        assert conditions(crd)["Terminating"]["reason"] == "InstanceDeletionInProgress"
        assert (await send(app, "GET", f"{WIDGETS}/free")).status == 404
        held = (await send(app, "GET", f"{WIDGETS}/held")).json()
        assert held["metadata"]["deletionTimestamp"]
        await trio.sleep(61)
        crd = (await send(app, "GET", f"{CRDS}/widgets.example.com")).json()
        assert conditions(crd)["Terminating"]["reason"] in (
            "InstanceDeletionCheck",
            "InstanceDeletionInProgress",  # the retry began
        )
        await send(
            app, "PATCH", f"{WIDGETS}/held", {"metadata": {"finalizers": None}}, content_type=MERGE
        )
        definitions = cluster.api.custom.definitions
        await wait_until(lambda: "widgets.example.com" not in definitions, 10, "the CRD gone")
        assert (await send(app, "GET", f"{CRDS}/widgets.example.com")).status == 404
        assert (await send(app, "GET", "/apis/example.com/v1")).status == 404


# ---------------------------------------------------------------------------- real clients
def _owned_deployment(owner: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "ownerReferences": [
                {
                    "apiVersion": "example.com/v1",
                    "kind": "Widget",
                    "name": owner["metadata"]["name"],
                    "uid": owner["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }


def _until(check: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


def test_the_python_client_deletes_an_operators_object_with_each_policy(tmp_path: Path) -> None:
    """The operator case with the official client: a Deployment whose ownerReference names a
    Widget (what kopf.adopt and controller-runtime write) goes with it (background), is
    deleted first while the Widget waits (Foreground), or stays without the reference
    (Orphan)."""
    scenario = scenario_file(tmp_path, nodes=1)
    with served(tmp_path, scenario, 5) as run:
        api_client = config.new_client_from_config(config_file=str(run.kubeconfig))
        client.ApiextensionsV1Api(api_client).create_custom_resource_definition(
            yaml.safe_load(CRD_FILE.read_text())
        )
        objects = client.CustomObjectsApi(api_client)
        apps = client.AppsV1Api(api_client)
        args = ("example.com", "v1", "default", "widgets")

        def deployments() -> set[str]:
            return {d.metadata.name for d in apps.list_namespaced_deployment("default").items}

        def widgets() -> set[str]:
            listed = objects.list_namespaced_custom_object(*args)
            return {i["metadata"]["name"] for i in listed["items"]}

        for policy in ("Background", "Foreground", "Orphan"):
            name = policy.lower()
            owner = objects.create_namespaced_custom_object(*args, widget(name))
            apps.create_namespaced_deployment("default", _owned_deployment(owner, f"{name}-app"))
            _until(lambda n=name: f"{n}-app" in deployments())
            answer = objects.delete_namespaced_custom_object(
                *args, name, body=client.V1DeleteOptions(propagation_policy=policy)
            )
            if policy == "Foreground":
                assert answer["metadata"]["finalizers"] == ["foregroundDeletion"]
            _until(lambda n=name: n not in widgets())
            if policy == "Orphan":
                time.sleep(2)
                kept = apps.read_namespaced_deployment(f"{name}-app", "default")
                assert not kept.metadata.owner_references
            else:
                _until(lambda n=name: f"{n}-app" not in deployments())


def test_kubectl_delete_cascade_foreground_and_orphan_on_a_custom_object(tmp_path: Path) -> None:
    """``kubectl delete --cascade=foreground|orphan`` sends propagationPolicy (kubectl/pkg/cmd/
    delete): foreground waits for the Deployment the Widget owns; orphan keeps it."""
    kubectl_binary()
    scenario = scenario_file(tmp_path, nodes=1)
    with served(tmp_path, scenario, 5) as run:
        run.kubectl_ok("apply", "-f", str(CRD_FILE))
        run.kubectl_ok("wait", "--for=condition=Established", "crd/widgets.example.com")
        api_client = config.new_client_from_config(config_file=str(run.kubeconfig))
        objects = client.CustomObjectsApi(api_client)
        apps = client.AppsV1Api(api_client)
        args = ("example.com", "v1", "default", "widgets")
        for name in ("fg", "or"):
            owner = objects.create_namespaced_custom_object(*args, widget(name))
            apps.create_namespaced_deployment("default", _owned_deployment(owner, f"{name}-app"))
        out = run.kubectl_ok("delete", "widget", "fg", "--cascade=foreground", timeout=120)
        assert 'widget.example.com "fg" deleted' in out
        gone = run.kubectl("get", "deployment", "fg-app")
        assert gone.returncode != 0 and "NotFound" in gone.stderr  # deleted before its owner
        out = run.kubectl_ok("delete", "widget", "or", "--cascade=orphan")
        assert 'widget.example.com "or" deleted' in out
        time.sleep(2)
        kept = yaml.safe_load(run.kubectl_ok("get", "deployment", "or-app", "-o", "yaml"))
        assert "ownerReferences" not in kept["metadata"]
