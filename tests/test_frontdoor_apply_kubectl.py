"""``kubectl apply --server-side`` (v1.32) against a running model.

kubectl sends the manifest as ``PATCH`` with ``application/apply-patch+yaml`` and
``fieldManager=kubectl`` (``staging/src/k8s.io/kubectl/pkg/cmd/apply/apply.go``), prints
``serverside-applied``, and on a 409 prints the conflicts with its advice to use
``--force-conflicts``; the server side is the field manager
(``staging/src/k8s.io/apimachinery/pkg/util/managedfields/internal/``). Each test ends with what
the model does with the result.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.frontdoor import Served, scenario_file, served
from tests.test_frontdoor_writes_kubectl import app_manifest, running_pods, until

SPEED = 4


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("ssa")
    with served(directory, scenario_file(directory, duration="2h", nodes=3), SPEED) as run:
        run.kubectl_ok("wait", "--for=condition=Available", "deployment/web", "--timeout=60s")
        yield run


def write(directory: Path, name: str, replicas: int, image: str = "example.com/app:1") -> str:
    path = directory / f"{name}-{replicas}-{image.rsplit(':', 1)[1]}.yaml"
    path.write_text(app_manifest(name, replicas, image), encoding="utf-8")
    return str(path)


def test_server_side_apply_creates_configures_and_shows_managed_fields(
    cluster: Served, tmp_path: Path
) -> None:
    """First apply creates, the second configures; ``get --show-managed-fields`` shows the
    ``kubectl`` manager's ``Apply`` entry; the model runs what was applied."""
    out = cluster.kubectl_ok("apply", "--server-side", "-f", write(tmp_path, "ssa", 2))
    assert "deployment.apps/ssa serverside-applied" in out
    until(lambda: running_pods(cluster, "ssa") == 2, "two ssa pods")
    cluster.kubectl_ok("apply", "--server-side", "-f", write(tmp_path, "ssa", 3))
    until(lambda: running_pods(cluster, "ssa") == 3, "three ssa pods")
    shown = json.loads(
        cluster.kubectl_ok("get", "deployment", "ssa", "-o", "json", "--show-managed-fields")
    )
    entries = {(e["manager"], e["operation"]) for e in shown["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in entries


def test_a_conflict_is_reported_by_kubectl_and_force_conflicts_takes_the_field(
    cluster: Served, tmp_path: Path
) -> None:
    """Another manager changed ``.spec.replicas`` (``kubectl scale``... here a merge patch
    with ``--field-manager=ops``): re-applying the old value fails with upstream's conflict
    message; ``--force-conflicts`` takes the field and the model scales back."""
    cluster.kubectl_ok("apply", "--server-side", "-f", write(tmp_path, "owned", 1))
    until(lambda: running_pods(cluster, "owned") == 1, "one owned pod")
    cluster.kubectl_ok(
        "patch",
        "deployment",
        "owned",
        "--type=merge",
        "-p",
        '{"spec":{"replicas":3}}',
        "--field-manager=ops",
    )
    until(lambda: running_pods(cluster, "owned") == 3, "three owned pods")
    refused = cluster.kubectl("apply", "--server-side", "-f", write(tmp_path, "owned", 1))
    assert refused.returncode != 0
    assert 'conflict with "ops" using apps/v1: .spec.replicas' in refused.stderr
    assert "--force-conflicts" in refused.stderr
    cluster.kubectl_ok(
        "apply", "--server-side", "--force-conflicts", "-f", write(tmp_path, "owned", 1)
    )
    until(lambda: running_pods(cluster, "owned") == 1, "back to one owned pod")


def test_server_side_dry_run_changes_nothing(cluster: Served, tmp_path: Path) -> None:
    out = cluster.kubectl_ok(
        "apply", "--server-side", "--dry-run=server", "-f", write(tmp_path, "dry", 1)
    )
    assert "serverside-applied (server dry run)" in out
    missing = cluster.kubectl("get", "deployment", "dry")
    assert missing.returncode != 0 and "NotFound" in missing.stderr


def test_delete_cascade_orphan_and_foreground(cluster: Served, tmp_path: Path) -> None:
    """``kubectl delete --cascade=orphan|foreground`` sends ``propagationPolicy``
    (staging/src/k8s.io/kubectl/pkg/cmd/delete/delete.go): orphaned, the ReplicaSet and its
    pods stay with no owner; in the foreground, the Deployment is gone only after its pods
    (``kubectl delete`` waits for it by default)."""
    cluster.kubectl_ok("apply", "--server-side", "-f", write(tmp_path, "orph", 2))
    until(lambda: running_pods(cluster, "orph") == 2, "two orph pods")
    cluster.kubectl_ok("delete", "deployment", "orph", "--cascade=orphan")
    rs = json.loads(cluster.kubectl_ok("get", "rs", "-l", "app=orph", "-o", "json"))["items"]
    assert len(rs) == 1 and not rs[0]["metadata"].get("ownerReferences")
    assert running_pods(cluster, "orph") == 2

    cluster.kubectl_ok("apply", "--server-side", "-f", write(tmp_path, "fore", 2))
    until(lambda: running_pods(cluster, "fore") == 2, "two fore pods")
    cluster.kubectl_ok("delete", "deployment", "fore", "--cascade=foreground", timeout=120)
    assert not json.loads(cluster.kubectl_ok("get", "pods", "-l", "app=fore", "-o", "json"))[
        "items"
    ]
