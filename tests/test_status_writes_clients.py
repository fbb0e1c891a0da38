"""Status writes and readiness gates from real clients: kubectl v1.32 (``kubectl patch
--subresource=status``, staging/src/k8s.io/kubectl/pkg/cmd/patch/patch.go) and the official
Python client (``kubernetes`` package: ``patch_node_status``, ``replace_namespaced_deployment_status``)
against a running model.

Server side: the status strategies (pkg/registry/core/node/strategy.go nodeStatusStrategy,
pkg/registry/apps/deployment/strategy.go deploymentStatusStrategy), the generic store's
resourceVersion precondition (409 Conflict), the kubelet's node status setters
(pkg/kubelet/nodestatus/setters.go) and GeneratePodReadyCondition
(pkg/kubelet/status/generate.go). Without kubectl these fail under ``CI=true`` (tests/frontdoor.py);
without the ``kubernetes`` package the module fails to import.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.frontdoor import Served, scenario_file, served

SPEED = 30  # virtual seconds per real second: a 5-minute node status report in 10 s
GATE = "example.com/lb-registered"
GATED = f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: gated}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: gated}}}}
  template:
    metadata: {{labels: {{app: gated}}}}
    spec:
      readinessGates: [{{conditionType: {GATE}}}]
      containers: [{{name: c, image: example.com/a:1}}]
---
apiVersion: v1
kind: Service
metadata: {{name: gated}}
spec:
  selector: {{app: gated}}
  ports: [{{port: 80}}]
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("statusw")
    with served(directory, scenario_file(directory, duration="6h", nodes=2), SPEED) as run:
        run.kubectl_ok("wait", "--for=condition=Available", "deployment/web", "--timeout=60s")
        yield run


def until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def _node(run: Served) -> dict[str, object]:
    return json.loads(run.kubectl_ok("get", "node", "worker-0", "-o", "json"))


def _condition(node: dict[str, object], type_: str) -> dict[str, str] | None:
    status = node["status"]
    assert isinstance(status, dict)
    return next((c for c in status["conditions"] if c["type"] == type_), None)


def test_kubectl_patch_node_status_condition_survives_kubelet_heartbeats(cluster: Served) -> None:
    """``kubectl patch node --subresource=status`` (a strategic merge patch: conditions merge by
    ``type``) adds a node-problem-detector condition; after more than one
    nodeStatusReportFrequency (5 min) of the kubelet's status posts it is still there, and
    ``kubectl get`` shows the kubelet's Ready renewed."""
    patch = {
        "status": {
            "conditions": [
                {
                    "type": "KernelDeadlock",
                    "status": "False",
                    "reason": "KernelHasNoDeadlock",
                    "message": "kernel has no deadlock",
                }
            ]
        }
    }
    cluster.kubectl_ok("patch", "node", "worker-0", "--subresource=status", "-p", json.dumps(patch))
    ready_before = _condition(_node(cluster), "Ready")
    assert ready_before is not None
    until(
        lambda: (
            (_condition(_node(cluster), "Ready") or {}).get("lastHeartbeatTime")
            != ready_before.get("lastHeartbeatTime")
        ),
        "the kubelet's next status report",
        40,
    )
    problem = _condition(_node(cluster), "KernelDeadlock")
    assert problem is not None and problem["reason"] == "KernelHasNoDeadlock"


def test_kubectl_sets_a_readiness_gate_and_the_pod_joins_its_service(
    cluster: Served, tmp_path: Path
) -> None:
    """A pod with a readiness gate is Running but not Ready (reason ReadinessGatesNotReady) and
    not among its Service's ready endpoints; ``kubectl patch pod --subresource=status`` sets the
    gate's condition True, ``kubectl wait --for=condition=Ready`` then succeeds and the pod's
    IP is among the Endpoints' ready addresses."""
    manifest = tmp_path / "gated.yaml"
    manifest.write_text(GATED, encoding="utf-8")
    cluster.kubectl_ok("apply", "-f", str(manifest))

    def pod() -> dict[str, Any]:
        items = json.loads(cluster.kubectl_ok("get", "pods", "-l", "app=gated", "-o", "json"))
        return items["items"][0] if items["items"] else {}

    until(
        lambda: any(
            c["type"] == "ContainersReady" and c["status"] == "True"
            for c in pod().get("status", {}).get("conditions", [])
        ),
        "the gated pod's containers ready",
    )
    time.sleep(1)
    current = pod()
    name = current["metadata"]["name"]
    ready = _condition(current, "Ready")
    assert ready is not None and ready["status"] == "False"
    assert ready["reason"] == "ReadinessGatesNotReady"
    endpoints = json.loads(cluster.kubectl_ok("get", "endpoints", "gated", "-o", "json"))
    assert not any(s.get("addresses") for s in endpoints.get("subsets") or [])
    patch = {"status": {"conditions": [{"type": GATE, "status": "True"}]}}
    cluster.kubectl_ok("patch", "pod", name, "--subresource=status", "-p", json.dumps(patch))
    cluster.kubectl_ok("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=30s")
    ip = pod()["status"]["podIP"]

    def ready_ips() -> list[str]:
        doc = json.loads(cluster.kubectl_ok("get", "endpoints", "gated", "-o", "json"))
        return [a["ip"] for s in doc.get("subsets") or [] for a in s.get("addresses") or []]

    until(lambda: ready_ips() == [ip], "the pod among the Service's ready endpoints")


def test_python_client_status_writes_conflict_and_overwrite(cluster: Served) -> None:
    """The official client: ``replace_namespaced_deployment_status`` with a stale
    resourceVersion is 409 Conflict; with the current one it is stored (the spec in the same
    body is dropped) and the deployment controller writes its own status back at its next
    sync; ``patch_node_status`` adds a condition as node-problem-detector does."""
    api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    current = apps.read_namespaced_deployment_status("web", "default")
    replicas = current.spec.replicas
    stale = apps.read_namespaced_deployment_status("web", "default")
    stale.metadata.resource_version = "1"
    with pytest.raises(ApiException) as conflict:
        apps.replace_namespaced_deployment_status("web", "default", stale)
    assert conflict.value.status == 409
    for _ in range(20):  # the controller writes this status too: retry on conflict
        current = apps.read_namespaced_deployment_status("web", "default")
        current.status.observed_generation = 1000
        current.spec.replicas = replicas + 5
        try:
            stored = apps.replace_namespaced_deployment_status("web", "default", current)
            break
        except ApiException as exc:
            assert exc.status == 409
    assert stored.status.observed_generation == 1000 and stored.spec.replicas == replicas
    until(
        lambda: (
            apps.read_namespaced_deployment("web", "default").status.observed_generation != 1000
        ),
        "the controller's status back",
    )
    body = {"status": {"conditions": [{"type": "FrequentKubeletRestart", "status": "False"}]}}
    node = core.patch_node_status("worker-1", body)
    assert "FrequentKubeletRestart" in [c.type for c in node.status.conditions]
    assert "Ready" in [c.type for c in node.status.conditions]
