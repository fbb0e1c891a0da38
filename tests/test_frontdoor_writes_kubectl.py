"""The real kubectl (v1.32) writing to a running model: each command, and what the model does.

kubectl is the client; the server's side of each command is upstream's REST handlers
(staging/src/k8s.io/apiserver/pkg/endpoints/handlers/{create,update,patch,delete}.go), the
subresources (pkg/registry/apps/deployment/storage ScaleREST, pkg/registry/core/pod/storage
eviction.go and BindingREST) and kubectl's own commands (staging/src/k8s.io/kubectl/pkg/cmd/...),
which pick the verbs and patch types. Each test checks an end-to-end observation: the model's
controllers, scheduler and kubelets act on what kubectl wrote.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.frontdoor import Served, kubectl_binary, scenario_file, served

SPEED = 4  # virtual seconds per real second


def app_manifest(
    name: str, replicas: int, image: str = "example.com/app:1", extra: str = ""
) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: {name}
          image: {image}
          resources: {{requests: {{cpu: 50m, memory: 32Mi}}}}{extra}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One run for the write tests: four nodes, the web Deployment, no faults."""
    directory = tmp_path_factory.mktemp("writes")
    with served(directory, scenario_file(directory, duration="2h", nodes=4), SPEED) as run:
        run.kubectl_ok("wait", "--for=condition=Available", "deployment/web", "--timeout=60s")
        yield run


def until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def pods_of(run: Served, app: str) -> list[dict[str, object]]:
    out = run.kubectl_ok("get", "pods", "-l", f"app={app}", "-o", "json")
    return [p for p in json.loads(out)["items"] if not p["metadata"].get("deletionTimestamp")]


def running_pods(run: Served, app: str) -> int:
    return sum(1 for p in pods_of(run, app) if p["status"].get("phase") == "Running")


def create_app(run: Served, directory: Path, name: str, replicas: int, image: str) -> None:
    """``kubectl create -f`` of a Deployment manifest (sent as JSON, as kubectl sends files)."""
    path = directory / f"{name}.yaml"
    path.write_text(app_manifest(name, replicas, image), encoding="utf-8")
    assert f"deployment.apps/{name} created" in run.kubectl_ok("create", "-f", str(path))


def apply_file(run: Served, tmp_path: Path, text: str, *extra: str) -> str:
    path = tmp_path / "manifest.yaml"
    path.write_text(text, encoding="utf-8")
    done = run.kubectl("apply", "-f", str(path), *extra)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_apply_creates_then_configures_and_warns_about_unmodelled_fields(
    cluster: Served, tmp_path: Path
) -> None:
    """``kubectl apply -f`` (client-side): a GET, then a POST (create) or a strategic merge
    PATCH carrying the last-applied annotation (kubectl/pkg/cmd/apply/patcher.go). The model's
    Deployment and ReplicaSet controllers make the pods; a field the model does not model
    comes back as a ``Warning: 299`` header kubectl prints."""
    out = apply_file(cluster, tmp_path, app_manifest("applied", 2))
    assert "deployment.apps/applied created" in out
    until(lambda: running_pods(cluster, "applied") == 2, "2 applied pods running")
    out = apply_file(cluster, tmp_path, app_manifest("applied", 3))
    assert "deployment.apps/applied configured" in out
    until(lambda: running_pods(cluster, "applied") == 3, "3 applied pods running")
    unmodelled = "\n          stdin: true\n      shareProcessNamespace: true"
    out = apply_file(cluster, tmp_path, app_manifest("applied", 3, extra=unmodelled))
    assert "Warning: spec.template.spec.shareProcessNamespace: not modelled (ignored)" in out


def test_apply_with_an_unknown_field_is_a_strict_decoding_error(
    cluster: Served, tmp_path: Path
) -> None:
    """kubectl asks for ``fieldValidation=Strict``: an unknown field is refused with upstream's
    ``strict decoding error: unknown field "..."`` (400), nothing is created."""
    path = tmp_path / "typo.yaml"
    path.write_text(app_manifest("typo", 1).replace("replicas: 1", "replcias: 1"), "utf-8")
    done = cluster.kubectl("apply", "-f", str(path))
    assert done.returncode != 0
    assert 'strict decoding error: unknown field "spec.replcias"' in done.stderr
    assert cluster.kubectl("get", "deployment", "typo").returncode != 0


def test_create_and_already_exists(cluster: Served, tmp_path: Path) -> None:
    """``kubectl create -f`` POSTs a Deployment; a second create is 409 AlreadyExists
    (``Error from server (AlreadyExists): ... already exists``)."""
    create_app(cluster, tmp_path, "made", 2, "example.com/made:1")
    until(lambda: running_pods(cluster, "made") == 2, "2 created pods running")
    again = cluster.kubectl("create", "-f", str(tmp_path / "made.yaml"))
    assert again.returncode != 0
    assert "(AlreadyExists)" in again.stderr and "already exists" in again.stderr


def test_scale_changes_the_replicaset_and_the_pods(cluster: Served, tmp_path: Path) -> None:
    """``kubectl scale`` PATCHes the ``scale`` subresource (autoscaling/v1 Scale); the model's
    Deployment controller resizes the ReplicaSet, which makes the pods."""
    create_app(cluster, tmp_path, "scaled", 1, "example.com/s:1")
    until(lambda: running_pods(cluster, "scaled") == 1, "1 pod")
    assert "scaled" in cluster.kubectl_ok("scale", "deployment/scaled", "--replicas=4")
    until(lambda: running_pods(cluster, "scaled") == 4, "4 pods after scale")
    scale = json.loads(
        cluster.kubectl_ok(
            "get", "--raw", "/apis/apps/v1/namespaces/default/deployments/scaled/scale"
        )
    )
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 4
    assert scale["status"]["selector"] == "app=scaled"


def test_set_image_rollout_status_undo_and_restart(cluster: Served, tmp_path: Path) -> None:
    """``kubectl set image`` (strategic merge patch of the container), ``rollout status``
    (reads), ``rollout undo`` (the previous ReplicaSet's template patched back) and
    ``rollout restart`` (the ``kubectl.kubernetes.io/restartedAt`` template annotation): each
    is a new rollout of the model's Deployment controller."""
    create_app(cluster, tmp_path, "roll", 2, "example.com/roll:1")
    until(lambda: running_pods(cluster, "roll") == 2, "roll pods")
    cluster.kubectl_ok("set", "image", "deployment/roll", "roll=example.com/roll:2")
    cluster.kubectl_ok("rollout", "status", "deployment/roll", "--timeout=60s", timeout=90)
    images = {p["spec"]["containers"][0]["image"] for p in pods_of(cluster, "roll")}
    assert images == {"example.com/roll:2"}
    cluster.kubectl_ok("rollout", "undo", "deployment/roll")
    cluster.kubectl_ok("rollout", "status", "deployment/roll", "--timeout=60s", timeout=90)
    until(
        lambda: (
            {p["spec"]["containers"][0]["image"] for p in pods_of(cluster, "roll")}
            == {"example.com/roll:1"}
        ),
        "pods back on roll:1",
    )
    before = {p["metadata"]["name"] for p in pods_of(cluster, "roll")}
    cluster.kubectl_ok("rollout", "restart", "deployment/roll")
    cluster.kubectl_ok("rollout", "status", "deployment/roll", "--timeout=60s", timeout=90)
    until(
        lambda: not before & {p["metadata"]["name"] for p in pods_of(cluster, "roll")}, "new pods"
    )


def test_label_annotate_and_the_three_patch_types(cluster: Served, tmp_path: Path) -> None:
    """``kubectl label``/``annotate`` (merge patches of metadata) and ``kubectl patch`` with
    ``--type=strategic|merge|json`` (patch.go's three PatchTypes)."""
    pod = pods_of(cluster, "web")[0]["metadata"]["name"]
    cluster.kubectl_ok("label", "pod", pod, "team=sre")
    cluster.kubectl_ok("annotate", "deployment", "web", "note=checked")
    assert cluster.kubectl_ok("get", "pods", "-l", "team=sre", "-o", "name").strip() == f"pod/{pod}"
    web = json.loads(cluster.kubectl_ok("get", "deployment", "web", "-o", "json"))
    assert web["metadata"]["annotations"]["note"] == "checked"
    create_app(cluster, tmp_path, "patched", 1, "example.com/p:1")
    cluster.kubectl_ok("patch", "deployment", "patched", "-p", '{"spec":{"replicas":2}}')
    cluster.kubectl_ok(
        "patch", "deployment", "patched", "--type=merge", "-p", '{"metadata":{"labels":{"x":"y"}}}'
    )
    cluster.kubectl_ok(
        "patch",
        "deployment",
        "patched",
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"example.com/p:2"}]',
    )
    until(lambda: running_pods(cluster, "patched") == 2, "2 patched pods")
    until(
        lambda: (
            {p["spec"]["containers"][0]["image"] for p in pods_of(cluster, "patched")}
            == {"example.com/p:2"}
        ),
        "patched image rolled out",
    )
    failed = cluster.kubectl(
        "patch",
        "deployment",
        "patched",
        "--type=json",
        "-p",
        '[{"op":"test","path":"/spec/replicas","value":9}]',
    )
    assert failed.returncode != 0


def test_cordon_keeps_new_pods_off_and_uncordon_lets_them_back(
    cluster: Served, tmp_path: Path
) -> None:
    """``kubectl cordon`` patches ``spec.unschedulable`` (kubectl/pkg/drain/cordon.go); the
    model's scheduler then places no new pod there (NodeUnschedulable filter)."""
    nodes = ["worker-0", "worker-1", "worker-2"]
    for node in nodes:
        cluster.kubectl_ok("cordon", node)
    try:
        node = json.loads(cluster.kubectl_ok("get", "node", "worker-0", "-o", "json"))
        assert node["spec"]["unschedulable"] is True
        assert "SchedulingDisabled" in cluster.kubectl_ok("get", "node", "worker-0")
        create_app(cluster, tmp_path, "fenced", 3, "example.com/f:1")
        until(lambda: running_pods(cluster, "fenced") == 3, "fenced pods running")
        assert {p["spec"]["nodeName"] for p in pods_of(cluster, "fenced")} == {"worker-3"}
    finally:
        for node in nodes:
            cluster.kubectl_ok("uncordon", node)
    assert "SchedulingDisabled" not in cluster.kubectl_ok("get", "node", "worker-0")


def test_taint_repels_new_pods(cluster: Served, tmp_path: Path) -> None:
    """``kubectl taint`` patches ``spec.taints``; a NoSchedule taint the pods do not tolerate
    keeps the model's scheduler off the node (TaintToleration filter)."""
    for node in ("worker-0", "worker-1", "worker-3"):
        cluster.kubectl_ok("taint", "nodes", node, "dedicated=gpu:NoSchedule")
    try:
        create_app(cluster, tmp_path, "tainted", 2, "example.com/t:1")
        until(lambda: running_pods(cluster, "tainted") == 2, "tainted pods running")
        assert {p["spec"]["nodeName"] for p in pods_of(cluster, "tainted")} == {"worker-2"}
    finally:
        for node in ("worker-0", "worker-1", "worker-3"):
            cluster.kubectl_ok("taint", "nodes", node, "dedicated=gpu:NoSchedule-")
    taints = json.loads(cluster.kubectl_ok("get", "node", "worker-0", "-o", "json"))["spec"]
    assert not taints.get("taints")


def test_drain_evicts_through_the_eviction_api(cluster: Served, tmp_path: Path) -> None:
    """``kubectl drain --ignore-daemonsets --delete-emptydir-data``: cordon, then POST a
    policy/v1 Eviction per pod (kubectl/pkg/drain/drain.go); the evicted pods are replaced
    on other nodes by their ReplicaSet."""
    create_app(cluster, tmp_path, "drained", 4, "example.com/d:1")
    until(lambda: running_pods(cluster, "drained") == 4, "drained pods running")
    node = str(pods_of(cluster, "drained")[0]["spec"]["nodeName"])
    try:
        out = cluster.kubectl_ok(
            "drain",
            node,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=60s",
            timeout=90,
        )
        assert f"node/{node} drained" in out and "evicting pod" in out
        until(lambda: running_pods(cluster, "drained") == 4, "replacements running")
        assert node not in {p["spec"]["nodeName"] for p in pods_of(cluster, "drained")}
    finally:
        cluster.kubectl_ok("uncordon", node)


def test_delete_graceful_and_forced(cluster: Served, tmp_path: Path) -> None:
    """``kubectl delete pod`` is a graceful deletion the kubelet completes; with
    ``--grace-period=0 --force`` the pod is removed at once (gracePeriodSeconds=0)."""
    create_app(cluster, tmp_path, "doomed", 2, "example.com/x:1")
    until(lambda: running_pods(cluster, "doomed") == 2, "doomed pods")
    first, second = [p["metadata"]["name"] for p in pods_of(cluster, "doomed")]
    out = cluster.kubectl_ok("delete", "pod", first, "--grace-period=0", "--force")
    assert f'pod "{first}" force deleted' in out
    assert cluster.kubectl("get", "pod", first).returncode != 0
    cluster.kubectl_ok("delete", "pod", second, "--wait=false")
    cluster.kubectl_ok("delete", "deployment", "doomed")
    until(lambda: not pods_of(cluster, "doomed"), "the garbage collector takes the pods")


def test_edit_with_a_non_interactive_editor(cluster: Served, tmp_path: Path) -> None:
    """``kubectl edit`` GETs, runs $EDITOR, then sends the difference as a strategic merge
    patch (kubectl/pkg/cmd/util/editor)."""
    create_app(cluster, tmp_path, "edited", 1, "example.com/e:1")
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/replicas: 1/replicas: 3/' \"$1\"\n", "utf-8")
    editor.chmod(0o755)
    env = {**cluster.env(), "KUBE_EDITOR": str(editor), "EDITOR": str(editor)}
    done = subprocess.run(
        [kubectl_binary(), "edit", "deployment", "edited"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "deployment.apps/edited edited" in done.stdout
    until(lambda: running_pods(cluster, "edited") == 3, "3 edited pods")


def test_a_throttled_kubectl_write_gets_429(tmp_path: Path) -> None:
    """Request faults apply to front-door writes by client name: ``apiserver-throttle`` with
    ``clients: [kubectl]`` and ``verbs: [create]`` answers 429 (API Priority and Fairness's
    TooManyRequests); kubectl retries (client-go honours Retry-After) then gives up."""
    faults = """
    - name: throttle-kubectl
      type: apiserver-throttle
      at: 0s
      params: {fraction: 1.0, clients: [kubectl], verbs: [create]}"""
    with served(tmp_path, scenario_file(tmp_path, faults=faults), SPEED) as run:
        path = tmp_path / "slow.yaml"
        path.write_text(app_manifest("slow", 1), encoding="utf-8")
        done = run.kubectl("create", "-f", str(path), timeout=120)
        assert done.returncode != 0
        assert "TooManyRequests" in done.stderr or "Too many requests" in done.stderr
        assert run.kubectl("get", "deployment", "slow").returncode != 0


def test_generators_send_protobuf_and_the_model_runs_what_they_make(cluster: Served) -> None:
    """``kubectl create deployment|service|configmap|secret|namespace|job|serviceaccount|
    priorityclass|pdb``, ``kubectl run`` and
    ``kubectl expose`` use typed clients that POST ``application/vnd.kubernetes.protobuf``
    (apimachinery/pkg/runtime/serializer/protobuf, k8s.io/api generated.proto): decoded, the
    objects are made, and the model runs their pods."""
    cluster.kubectl_ok("create", "deployment", "gen", "--image=example.com/g:1", "--replicas=2")
    cluster.kubectl_ok("run", "gen-solo", "--image=example.com/s:1", "--labels=app=gen-solo")
    cluster.kubectl_ok("create", "job", "gen-job", "--image=example.com/j:1")
    cluster.kubectl_ok("expose", "deployment", "gen", "--port=80", "--target-port=8080")
    cluster.kubectl_ok("create", "configmap", "gen-cfg", "--from-literal=a=b")
    cluster.kubectl_ok("create", "secret", "generic", "gen-secret", "--from-literal=a=b")
    cluster.kubectl_ok("create", "namespace", "gen-team")
    cluster.kubectl_ok("create", "serviceaccount", "gen-robot")
    cluster.kubectl_ok("create", "priorityclass", "gen-zero", "--value=0")
    cluster.kubectl_ok("create", "pdb", "gen", "--selector=app=gen", "--min-available=1")
    until(lambda: running_pods(cluster, "gen") == 2, "the generated deployment's pods")
    until(lambda: running_pods(cluster, "gen-solo") == 1, "kubectl run's pod")
    service = json.loads(cluster.kubectl_ok("get", "service", "gen", "-o", "json"))
    assert service["spec"]["selector"] == {"app": "gen"}
    assert service["spec"]["ports"][0]["targetPort"] == 8080
    config = json.loads(cluster.kubectl_ok("get", "configmap", "gen-cfg", "-o", "json"))
    assert config["data"] == {"a": "b"}
    zero = json.loads(cluster.kubectl_ok("get", "priorityclass", "gen-zero", "-o", "json"))
    assert zero["value"] == 0
    pdb = json.loads(cluster.kubectl_ok("get", "pdb", "gen", "-o", "json"))
    assert pdb["spec"]["minAvailable"] == 1
    # the client's first Job started the model's Job controller, which makes its pod
    until(
        lambda: bool(cluster.kubectl_ok("get", "pods", "-l", "job-name=gen-job", "-o", "name")),
        "the job's pod",
    )


def test_delete_cascade_orphan_keeps_the_replicaset(cluster: Served, tmp_path: Path) -> None:
    """``kubectl delete --cascade=orphan`` sends propagationPolicy=Orphan: the garbage
    collector removes the ReplicaSet's owner reference (garbagecollector.go orphanDependents)
    and the Deployment goes; its ReplicaSet and pods stay."""
    create_app(cluster, tmp_path, "orphaned", 2, "example.com/o:1")
    until(lambda: running_pods(cluster, "orphaned") == 2, "orphaned pods")
    cluster.kubectl_ok("delete", "deployment", "orphaned", "--cascade=orphan")
    until(
        lambda: cluster.kubectl("get", "deployment", "orphaned").returncode != 0,
        "the deployment gone",
    )
    (rs,) = json.loads(cluster.kubectl_ok("get", "rs", "-l", "app=orphaned", "-o", "json"))["items"]
    assert not rs["metadata"].get("ownerReferences")
    time.sleep(2)
    assert running_pods(cluster, "orphaned") == 2


def test_server_side_apply_conflicts_and_force(cluster: Served, tmp_path: Path) -> None:
    """``kubectl apply --server-side`` (PATCH application/apply-patch+yaml, fieldManager
    ``kubectl``): created, then after ``kubectl scale`` (an Update of spec.replicas through
    the scale subresource) a re-apply of the old count is a conflict with upstream's message
    (fieldmanager conflicts.go); ``--force-conflicts`` takes the field back and the
    ReplicaSet follows."""
    path = tmp_path / "ssa.yaml"
    path.write_text(app_manifest("ssa", 2), encoding="utf-8")
    out = cluster.kubectl_ok("apply", "--server-side", "-f", str(path))
    assert "deployment.apps/ssa serverside-applied" in out
    until(lambda: running_pods(cluster, "ssa") == 2, "2 applied pods")
    cluster.kubectl_ok("scale", "deployment/ssa", "--replicas=3")
    refused = cluster.kubectl("apply", "--server-side", "-f", str(path))
    assert refused.returncode != 0
    assert (
        'Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" '
        "using apps/v1: .spec.replicas"
    ) in refused.stderr
    cluster.kubectl_ok("apply", "--server-side", "--force-conflicts", "-f", str(path))
    until(lambda: running_pods(cluster, "ssa") == 2, "back to 2 pods")
