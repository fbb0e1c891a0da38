"""The official Python client (``kubernetes`` package) writing to a running model.

create (POST, 201), replace (PUT: a stale ``resourceVersion`` is 409 Conflict with upstream's
message, staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go via
apimachinery/pkg/api/errors NewConflict), patch (the client sends a strategic merge patch for a
dict body: kubernetes/client/api_client.py select_header_content_type), delete (200) and 404
afterwards; the model's ReplicaSet controller acts on each write.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.frontdoor import scenario_file, served


def _deployment(name: str, replicas: int) -> dict[str, object]:
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
                "spec": {"containers": [{"name": name, "image": "example.com/c:1"}]},
            },
        },
    }


def _wait_pods(core: client.CoreV1Api, app: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        pods = core.list_namespaced_pod("default", label_selector=f"app={app}").items
        live = [p for p in pods if p.metadata.deletion_timestamp is None]
        if len(live) == count:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(live)} {app} pods, not {count}")
        time.sleep(0.3)


def test_create_replace_patch_conflict_and_delete(tmp_path: Path) -> None:
    with served(tmp_path, scenario_file(tmp_path), 4) as run:
        api_client = config.new_client_from_config(config_file=str(run.kubeconfig))
        apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
        made = apps.create_namespaced_deployment("default", _deployment("pyapp", 2))
        assert made.metadata.uid and made.metadata.resource_version
        _wait_pods(core, "pyapp", 2)
        with pytest.raises(ApiException) as exists:
            apps.create_namespaced_deployment("default", _deployment("pyapp", 2))
        assert exists.value.status == 409
        current, replaced = None, None
        for _ in range(20):  # the controllers write status too: retry on conflict, as clients do
            current = apps.read_namespaced_deployment("pyapp", "default")
            current.spec.replicas = 3
            try:
                replaced = apps.replace_namespaced_deployment("pyapp", "default", current)
                break
            except ApiException as exc:
                assert exc.status == 409
        assert replaced is not None and current is not None and replaced.spec.replicas == 3
        _wait_pods(core, "pyapp", 3)
        current.spec.replicas = 1  # still carries the resourceVersion the replace made stale
        with pytest.raises(ApiException) as stale:
            apps.replace_namespaced_deployment("pyapp", "default", current)
        assert stale.value.status == 409
        assert "the object has been modified; please apply your changes to the latest version" in (
            stale.value.body
        )
        patched = apps.patch_namespaced_deployment("pyapp", "default", {"spec": {"replicas": 1}})
        assert patched.spec.replicas == 1
        _wait_pods(core, "pyapp", 1)
        apps.delete_namespaced_deployment("pyapp", "default")
        with pytest.raises(ApiException) as gone:
            apps.read_namespaced_deployment("pyapp", "default")
        assert gone.value.status == 404
        _wait_pods(core, "pyapp", 0)
