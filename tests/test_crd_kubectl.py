"""CustomResourceDefinitions and custom objects with the real clients: kubectl v1.32 and the
official Python client's ``CustomObjectsApi``, against a run serving its API.

kubectl is a real binary: without it these tests skip with how to get it, except under
``CI=true`` where its absence fails them (tests/frontdoor.py ``kubectl_binary``).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from tests.frontdoor import kubectl_binary, scenario_file, served

DATA = Path(__file__).resolve().parent / "data" / "crd"
CRD_FILE = DATA / "widgets-crd.yaml"
WIDGET_FILE = DATA / "widget-w1.yaml"


def test_kubectl_applies_a_definition_then_gets_explains_scales_and_deletes_its_objects(
    tmp_path: Path,
) -> None:
    """kubectl apply of a CRD then of an object of its kind (kubectl.kubernetes.io/
    last-applied-configuration; a second apply with a change is a merge patch, as kubectl
    patches kinds it has no Go type for: kubectl/pkg/cmd/apply/patcher.go); get by plural and
    short name with the printer columns; api-resources and explain from discovery and OpenAPI
    v3 (cli-runtime query_param_verifier_v3.go finds fieldValidation on PATCH); scale through
    the scale subresource; delete of the definition removes the kind from discovery."""
    kubectl_binary()
    scenario = scenario_file(tmp_path)
    with served(tmp_path, scenario, 1) as run:
        created = run.kubectl_ok("apply", "-f", str(CRD_FILE))
        assert (
            "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created" in created
        )
        assert "widgets.example.com" in run.kubectl_ok("get", "crd")
        run.kubectl_ok("wait", "--for=condition=Established", "crd/widgets.example.com")
        assert "widget.example.com/w1 created" in run.kubectl_ok("apply", "-f", str(WIDGET_FILE))
        table = run.kubectl_ok("get", "widgets").splitlines()
        assert table[0].split() == ["NAME", "REPLICAS", "AGE"]
        assert table[1].split()[:2] == ["w1", "2"]
        assert "w1" in run.kubectl_ok("get", "wd")
        resources = run.kubectl_ok("api-resources", "--api-group=example.com")
        assert resources.splitlines()[1].split() == [
            "widgets",
            "wd",
            "example.com/v1",
            "true",
            "Widget",
        ]
        assert "Allowed values are `Cluster` and `Namespaced`" in run.kubectl_ok(
            "explain", "crd.spec.scope"
        )
        everything = run.kubectl_ok("api-resources")
        assert "customresourcedefinitions" in everything and "widgets" in everything
        explained = run.kubectl_ok("explain", "widget.spec")
        assert "What the widget should be." in explained and "enum: fast, safe" in explained
        changed = tmp_path / "w1.yaml"
        doc = yaml.safe_load(WIDGET_FILE.read_text())
        doc["spec"]["replicas"] = 4
        changed.write_text(yaml.safe_dump(doc))
        assert "widget.example.com/w1 configured" in run.kubectl_ok("apply", "-f", str(changed))
        assert run.kubectl_ok("get", "wd", "w1", "-o", "jsonpath={.spec.replicas}") == "4"
        run.kubectl_ok("scale", "widget/w1", "--replicas=3")
        got = yaml.safe_load(run.kubectl_ok("get", "wd", "w1", "-o", "yaml"))
        assert got["spec"] == {"image": "nginx", "replicas": 3, "mode": "safe"}
        assert got["metadata"]["generation"] == 3
        crd = yaml.safe_load(CRD_FILE.read_text())
        crd["spec"]["names"]["shortNames"] = ["wd", "wdg"]
        changed_crd = tmp_path / "crd.yaml"
        changed_crd.write_text(yaml.safe_dump(crd))
        configured = run.kubectl_ok("apply", "-f", str(changed_crd))
        assert "widgets.example.com configured" in configured
        assert "w1" in run.kubectl_ok("get", "wdg")
        assert 'widget.example.com "w1" deleted' in run.kubectl_ok("delete", "widget", "w1")
        run.kubectl_ok("delete", "-f", str(CRD_FILE))
        after = run.kubectl_ok("api-resources", "--api-group=example.com")
        assert "widgets" not in after


def test_kubectl_apply_is_refused_by_the_schema_with_the_api_servers_words(
    tmp_path: Path,
) -> None:
    """A manifest that fails the definition's schema: kubectl shows the 422 as upstream's
    "The Widget "w1" is invalid" message (apiextensions validation); an unknown field with
    kubectl's default fieldValidation=Strict is refused (strict decoding error)."""
    kubectl_binary()
    scenario = scenario_file(tmp_path)
    with served(tmp_path, scenario, 1) as run:
        run.kubectl_ok("apply", "-f", str(CRD_FILE))
        doc = yaml.safe_load(WIDGET_FILE.read_text())
        doc["spec"]["replicas"] = 50
        bad = tmp_path / "bad.yaml"
        bad.write_text(yaml.safe_dump(doc))
        refused = run.kubectl("apply", "-f", str(bad))
        assert refused.returncode != 0
        assert "spec.replicas in body should be less than or equal to 10" in refused.stderr
        doc["spec"] = {"image": "nginx", "colour": "red"}
        bad.write_text(yaml.safe_dump(doc))
        strict = run.kubectl("create", "-f", str(bad))
        assert strict.returncode != 0
        assert 'unknown field "spec.colour"' in strict.stderr


def test_the_python_clients_custom_objects_api_lists_gets_creates_patches_watches_deletes(
    tmp_path: Path,
) -> None:
    """kubernetes.client.CustomObjectsApi (and ApiextensionsV1Api for the definition): the
    calls operators written in Python (kopf, plain client scripts) make."""
    scenario = scenario_file(tmp_path)
    with served(tmp_path, scenario, 1) as run:
        api_client = config.new_client_from_config(config_file=str(run.kubeconfig))
        extensions = client.ApiextensionsV1Api(api_client)
        extensions.create_custom_resource_definition(yaml.safe_load(CRD_FILE.read_text()))
        crd = extensions.read_custom_resource_definition("widgets.example.com")
        assert {c.type for c in crd.status.conditions} >= {"NamesAccepted", "Established"}
        objects = client.CustomObjectsApi(api_client)
        args = ("example.com", "v1", "default", "widgets")
        created = objects.create_namespaced_custom_object(
            *args, yaml.safe_load(WIDGET_FILE.read_text())
        )
        assert created["metadata"]["generation"] == 1
        listed = objects.list_namespaced_custom_object(*args, label_selector="app=w1")
        assert [i["metadata"]["name"] for i in listed["items"]] == ["w1"]
        patched = objects.patch_namespaced_custom_object(*args, "w1", {"spec": {"replicas": 5}})
        assert patched["spec"]["replicas"] == 5 and patched["metadata"]["generation"] == 2
        status = objects.patch_namespaced_custom_object_status(
            *args, "w1", {"status": {"replicas": 5, "ready": 5}}
        )
        assert status["status"] == {"replicas": 5, "ready": 5}
        assert objects.get_namespaced_custom_object(*args, "w1")["spec"]["replicas"] == 5
        seen = []
        stream = watch.Watch()
        for event in stream.stream(
            objects.list_namespaced_custom_object,
            *args,
            resource_version=listed["metadata"]["resourceVersion"],
            timeout_seconds=20,
        ):
            seen.append((event["type"], event["object"]["spec"]["replicas"]))
            if len(seen) == 2:
                stream.stop()
        assert seen == [("MODIFIED", 5), ("MODIFIED", 5)]
        objects.delete_namespaced_custom_object(*args, "w1")
        try:
            objects.get_namespaced_custom_object(*args, "w1")
        except ApiException as exc:
            assert exc.status == 404
        else:
            raise AssertionError("w1 should be gone")
