"""The real kubectl (v1.32) meeting the HPA as a field manager.

Upstream: the HPA scales through the ``scale`` subresource as ``kube-controller-manager``
(handlers/rest.go prefixFromUserAgent); the ScaleHandler keeps that on the Deployment as an
``Update`` entry with ``subresource: scale`` owning ``spec.replicas``
(staging/src/k8s.io/apimachinery/pkg/util/managedfields/scalehandler.go), so ``kubectl apply
--server-side`` of a manifest with other replicas fails with conflict.go's message and
kubectl's advice (staging/src/k8s.io/kubectl/pkg/cmd/apply/apply.go), and
``--force-conflicts`` takes the field.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.frontdoor import kubectl_binary, scenario_file, served
from tests.test_frontdoor_writes_kubectl import app_manifest, until

HPA = """apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: scaled}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: scaled}
  minReplicas: 3
  maxReplicas: 5
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}
"""


def test_server_side_apply_conflicts_with_the_hpas_replicas(tmp_path: Path) -> None:
    """An HPA (minReplicas 3) scales the applied Deployment (replicas 1): ``get
    --show-managed-fields`` shows kube-controller-manager's ``scale`` entry, re-applying
    ``replicas: 1`` is refused with ``conflict with "kube-controller-manager" with subresource
    "scale" using apps/v1: .spec.replicas``, ``--force-conflicts`` applies it."""
    kubectl_binary()
    with served(tmp_path, scenario_file(tmp_path, duration="2h", nodes=2), 4) as run:
        manifest, hpa = tmp_path / "scaled.yaml", tmp_path / "hpa.yaml"
        manifest.write_text(app_manifest("scaled", 1), encoding="utf-8")
        hpa.write_text(HPA, encoding="utf-8")
        run.kubectl_ok("apply", "--server-side", "-f", str(manifest))
        run.kubectl_ok("apply", "-f", str(hpa))

        def replicas() -> int:
            shown = run.kubectl_ok("get", "deployment", "scaled", "-o", "json")
            return int(json.loads(shown)["spec"]["replicas"])

        until(lambda: replicas() == 3, "the HPA scaled to 3")
        shown = json.loads(
            run.kubectl_ok("get", "deployment", "scaled", "-o", "json", "--show-managed-fields")
        )
        entries = {
            (e["manager"], e["operation"], e.get("subresource", ""))
            for e in shown["metadata"]["managedFields"]
        }
        assert ("kube-controller-manager", "Update", "scale") in entries
        refused = run.kubectl("apply", "--server-side", "-f", str(manifest))
        assert refused.returncode != 0
        assert (
            'conflict with "kube-controller-manager" with subresource "scale" using apps/v1: '
            ".spec.replicas" in refused.stderr
        ), refused.stderr
        assert "--force-conflicts" in refused.stderr
        run.kubectl_ok("apply", "--server-side", "--force-conflicts", "-f", str(manifest))
        shown = json.loads(
            run.kubectl_ok("get", "deployment", "scaled", "-o", "json", "--show-managed-fields")
        )
        kubectl = [e for e in shown["metadata"]["managedFields"] if e["manager"] == "kubectl"]
        assert "f:replicas" in kubectl[0]["fieldsV1"]["f:spec"]
