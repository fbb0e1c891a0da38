"""The real kubectl (v1.32) against a running model: ``kubechaos run --api``.

Each test runs kubectl commands a user types on a cluster in trouble and checks what they print,
against what a v1.32 API server makes kubectl print (server-side printing:
``pkg/printers/internalversion/printers.go``; discovery and REST semantics:
``staging/src/k8s.io/apiserver/pkg/endpoints``).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.frontdoor import Served, read_lines_until, scenario_file, served

GRACEFUL_KILL = """
    - name: kill-one
      type: pod-kill
      at: 40s
      target: {namespace: default, labelSelector: {app: web}, mode: one}
      params: {gracePeriod: 10s}"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One run for the read-only tests: three nodes, the web Deployment, no faults, real time."""
    directory = tmp_path_factory.mktemp("served")
    with served(directory, scenario_file(directory), 2) as run:
        run.kubectl_ok("wait", "--for=condition=Available", "deployment/web", "--timeout=60s")
        yield run


def test_version_and_cluster_info(cluster: Served) -> None:
    """``kubectl version`` reads /version: the server says v1.32."""
    out = cluster.kubectl_ok("version")
    assert "Server Version: v1.32.0" in out
    assert "Kubernetes control plane is running at http://127.0.0.1:" in cluster.kubectl_ok(
        "cluster-info"
    )


def test_api_resources_lists_every_served_kind_with_short_names(cluster: Served) -> None:
    """Discovery (/api, /apis, each group-version's APIResourceList) as kubectl reads it."""
    out = cluster.kubectl_ok("api-resources")
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    for resource in ("pods", "nodes", "deployments", "replicasets", "services", "events"):
        assert resource in rows
    assert " po " in rows["pods"] and " deploy " in rows["deployments"]
    assert "apps/v1" in rows["deployments"]


def test_get_pods_prints_upstream_columns(cluster: Served) -> None:
    """``kubectl get pods``: NAME READY STATUS RESTARTS AGE; ``-o wide`` adds IP and NODE."""
    out = cluster.kubectl_ok("get", "pods")
    header, *rows = out.splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert len(rows) == 3
    assert all(row.split()[1:4] == ["1/1", "Running", "0"] for row in rows)
    wide = cluster.kubectl_ok("get", "pods", "-o", "wide").splitlines()
    assert wide[0].split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert all(row.split()[6].startswith("worker-") for row in wide[1:])


def test_get_nodes_deployments_replicasets_services_endpoints(cluster: Served) -> None:
    nodes = cluster.kubectl_ok("get", "nodes").splitlines()
    assert nodes[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert all(line.split()[1] == "Ready" for line in nodes[1:])
    deploy = cluster.kubectl_ok("get", "deployment", "web").splitlines()
    assert deploy[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert deploy[1].split()[:4] == ["web", "3/3", "3", "3"]
    rs = cluster.kubectl_ok("get", "rs").splitlines()
    assert rs[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    svc = cluster.kubectl_ok("get", "svc", "web").splitlines()
    assert svc[0].split()[:4] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP"]
    endpoints = cluster.kubectl_ok("get", "endpoints", "web").splitlines()[1]
    assert endpoints.count(":8080") == 3


def test_all_namespaces_and_output_formats(cluster: Served) -> None:
    """``-A`` adds NAMESPACE; ``-o json|yaml|jsonpath`` show the objects as upstream
    serializes them (camelCase, RFC 3339 times)."""
    every = cluster.kubectl_ok("get", "pods", "-A").splitlines()
    assert every[0].split()[0] == "NAMESPACE"
    listed = json.loads(cluster.kubectl_ok("get", "pods", "-o", "json"))
    assert listed["kind"] == "List" or listed["kind"] == "PodList"
    pod = listed["items"][0]
    assert pod["status"]["phase"] == "Running"
    assert pod["metadata"]["creationTimestamp"].endswith("Z")
    assert pod["status"]["podIP"].startswith("10.")
    deployment = yaml.safe_load(cluster.kubectl_ok("get", "deploy", "web", "-o", "yaml"))
    assert deployment["spec"]["replicas"] == 3
    assert deployment["status"]["availableReplicas"] == 3
    ips = cluster.kubectl_ok("get", "pods", "-o", "jsonpath={.items[*].status.podIP}")
    assert len(ips.split()) == 3


def test_selectors_and_events(cluster: Served) -> None:
    """``-l`` and ``--field-selector`` (``status.phase``, events' ``involvedObject.*`` and
    ``reason``), and ``kubectl get events``: LAST SEEN TYPE REASON OBJECT MESSAGE."""
    assert len(cluster.kubectl_ok("get", "pods", "-l", "app=web", "--no-headers").splitlines()) == 3
    assert cluster.kubectl_ok("get", "pods", "-l", "app=nope").strip() == ""
    running = cluster.kubectl_ok(
        "get", "pods", "--field-selector=status.phase=Running", "-o", "name"
    )
    assert len(running.split()) == 3
    events = cluster.kubectl_ok("get", "events", "--field-selector", "reason=Scheduled")
    header, *rows = events.splitlines()
    assert header.split()[:5] == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT"]
    assert len(rows) == 3 and all("Scheduled" in r and "pod/web-" in r for r in rows)
    bad = cluster.kubectl("get", "pods", "--field-selector=spec.nope=x")
    assert bad.returncode != 0 and "field label not supported: spec.nope" in bad.stderr


def test_describe_pod_node_deployment_with_events(cluster: Served) -> None:
    """``kubectl describe`` reads the object and its events (selected by involvedObject uid)."""
    pod = cluster.kubectl_ok("get", "pods", "-o", "name").split()[0]
    described = cluster.kubectl_ok("describe", pod)
    assert "Controlled By:  ReplicaSet/web-" in described
    assert "Successfully assigned default/" in described and "Started container web" in described
    node = cluster.kubectl_ok("describe", "node", "worker-0")
    assert "Starting kubelet." in node and "Allocated resources:" in node
    deploy = cluster.kubectl_ok("describe", "deployment", "web")
    assert "ScalingReplicaSet" in deploy and "Scaled up replica set web-" in deploy


def test_rollout_status_and_wait(cluster: Served) -> None:
    assert 'deployment "web" successfully rolled out' in cluster.kubectl_ok(
        "rollout", "status", "deployment/web", "--timeout=30s"
    )
    waited = cluster.kubectl_ok("wait", "--for=condition=Ready", "pod", "--all", "--timeout=30s")
    assert waited.count("condition met") == 3


def test_explain_reads_upstream_schemas_from_openapi_v3(cluster: Served) -> None:
    """``kubectl explain`` reads /openapi/v3 and the group-version's document: upstream's
    v1.32 schemas (kubectl/pkg/explain/v2 finds the kind from the path's operation)."""
    probe = cluster.kubectl_ok("explain", "pods.spec.containers.readinessProbe")
    assert "KIND:       Pod" in probe and "FIELD: readinessProbe <Probe>" in probe
    assert "periodSeconds\t<integer>" in probe
    strategy = cluster.kubectl_ok("explain", "deployment.spec.strategy")
    assert "GROUP:      apps" in strategy and "rollingUpdate\t<RollingUpdateDeployment>" in strategy
    missing = cluster.kubectl("explain", "pods.spec.nope")
    assert missing.returncode != 0 and 'field "nope" does not exist' in missing.stderr


def test_logs_and_exec_explain_that_the_model_runs_no_processes(cluster: Served) -> None:
    pod = cluster.kubectl_ok("get", "pods", "-o", "name").split()[0]
    for command in (["logs", pod], ["exec", pod, "--", "ls"]):
        done = cluster.kubectl(*command)  # exec: a refused WebSocket, then SPDY over a POST
        assert done.returncode != 0, command
        assert "kubechaos models containers without running processes" in done.stderr


def test_unknown_paths_and_bad_queries_get_a_status(cluster: Served) -> None:
    missing = cluster.kubectl("get", "--raw", "/apis/nope/v1/things")
    assert missing.returncode != 0 and "NotFound" in missing.stderr
    bad = cluster.kubectl("get", "--raw", "/api/v1/pods?limit=-1")
    assert bad.returncode != 0 and "BadRequest" in bad.stderr
    assert cluster.kubectl_ok("get", "--raw", "/readyz") == "ok"


def test_get_pods_watch_follows_a_pod_kill(tmp_path: Path) -> None:
    """``kubectl get pods -w`` during a pod-kill fault (grace period 10 s): the killed pod
    goes Terminating, then is DELETED once its containers stopped, and its replacement comes
    up Running 1/1 (watch events as a v1.32 API server streams them, with Table rows)."""
    scenario = scenario_file(tmp_path, faults=GRACEFUL_KILL)
    with served(tmp_path, scenario, 10) as run:
        watcher = run.watch("get", "pods", "-w", "--output-watch-events")
        try:
            lines = read_lines_until(
                watcher,
                lambda seen: (
                    any(line.startswith("DELETED") for line in seen) and _replacement_running(seen)
                ),
                timeout=90,
            )
        finally:
            watcher.kill()
            watcher.wait()
    assert lines[0].split() == ["EVENT", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    terminating = [line for line in lines if "Terminating" in line]
    assert terminating, "the killed pod never showed as Terminating"
    killed = terminating[0].split()[1]
    deleted = [line for line in lines if line.startswith("DELETED")]
    assert deleted[0].split()[1] == killed


def _replacement_running(lines: list[str]) -> bool:
    """A pod first seen after the initial ADDED rows reached 1/1 Running."""
    initial = {line.split()[1] for line in lines[1:4]}
    return any(
        line.split()[1] not in initial and line.split()[2:4] == ["1/1", "Running"]
        for line in lines[4:]
        if len(line.split()) > 3
    )


def test_tls_with_a_self_signed_pair_and_a_bearer_token(tmp_path: Path) -> None:
    """``--tls-self-signed``: HTTPS with a generated pair the kubeconfig trusts, and a bearer
    token the kubeconfig carries; a request without the token gets 401 Unauthorized."""
    with served(tmp_path, scenario_file(tmp_path), 2, "--tls-self-signed") as run:
        assert "https://127.0.0.1:" in run.header[-1]
        assert "Ready" in run.kubectl_ok("get", "nodes")
        config = yaml.safe_load(run.kubeconfig.read_text())
        server = config["clusters"][0]["cluster"]["server"]
        assert config["users"][0]["user"]["token"]
        anonymous = run.kubectl(
            "get", "--raw", "/api/v1/nodes", "--server", server, "--token", "wrong"
        )
        assert anonymous.returncode != 0 and "Unauthorized" in anonymous.stderr


def test_serving_beyond_loopback_needs_tls(tmp_path: Path) -> None:
    """Any address other than loopback needs TLS and a token: a one-line error, exit 2."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubechaos.cli",
            "run",
            str(scenario_file(tmp_path)),
            "--api",
            "0.0.0.0:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "(not loopback) needs TLS and a token: give --tls-cert and --tls-key (or --tls-self-signed)"
        )
    )
    assert "Traceback" not in done.stderr


def test_a_served_run_says_so_and_replay_refuses_it(tmp_path: Path) -> None:
    """External clients make a run unreplayable: its result records where the API was served,
    and ``kubechaos replay`` refuses it with one line (exit 2)."""
    result = tmp_path / "result.json"
    scenario = scenario_file(tmp_path, duration="20s")
    with served(tmp_path, scenario, 5, "--json", str(result)) as run:
        run.kubectl_ok("get", "nodes")
        run.proc.wait(timeout=120)
    recorded = json.loads(result.read_text())
    assert recorded["externalClients"]["api"].startswith("http://127.0.0.1:")
    replayed = subprocess.run(
        [sys.executable, "-m", "kubechaos.cli", "replay", str(result)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert replayed.returncode == 2
    assert "served its API to external clients" in replayed.stderr


def test_linger_serves_the_final_state_until_ctrl_c(tmp_path: Path) -> None:
    """``--linger``: after the scenario's end the API keeps serving the run's final state (the
    model stopped, its clock going on) until Ctrl-C, which ends the process cleanly."""
    scenario = scenario_file(tmp_path, duration="15s")
    with served(tmp_path, scenario, 5, "--linger") as run:
        read_lines_until(run.proc, lambda seen: "still serving" in seen[-1], timeout=120)
        pods = run.kubectl_ok("get", "pods", "--no-headers").splitlines()
        assert len(pods) == 3 and all("Running" in line for line in pods)
        run.proc.send_signal(signal.SIGINT)
        _, err = run.proc.communicate(timeout=30)
    assert "Traceback" not in err
