"""The official Python client (``kubernetes`` package) lists and watches a running model.

The client's generated models check required fields as they decode (a container status without
``image`` is an error), so decoding every object is itself a check that the model serializes as
upstream does. The scenario crashes a node: the client sees it go Ready=Unknown after the
node-monitor grace period (50 s) and, after the 300 s unreachable toleration, its pod deleted
and replaced (pkg/controller/nodelifecycle, pkg/controller/tainteviction).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from tests.frontdoor import scenario_file, served

NODE_CRASH = """
    - name: crash-worker-1
      type: node-crash
      at: 20s
      target: {nodes: [worker-1]}"""


def test_list_and_watch_pods_across_a_node_crash(tmp_path: Path) -> None:
    scenario = scenario_file(tmp_path, faults=NODE_CRASH)
    with served(tmp_path, scenario, 40) as run:
        api = client.CoreV1Api(config.new_client_from_config(config_file=str(run.kubeconfig)))
        pods = _first_pods(api)
        assert {p.metadata.labels["app"] for p in pods.items} == {"web"}
        on_crashed = {p.metadata.name for p in pods.items if p.spec.node_name == "worker-1"}
        seen: list[tuple[str, str, bool]] = []
        replacement_ready = False
        stream = watch.Watch()
        for event in stream.stream(
            api.list_namespaced_pod,
            "default",
            resource_version=pods.metadata.resource_version,
            timeout_seconds=120,
        ):
            pod = event["object"]
            seen.append(
                (event["type"], pod.metadata.name, pod.metadata.deletion_timestamp is not None)
            )
            ready = any(
                c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or [])
            )
            if (
                pod.metadata.name not in on_crashed
                and pod.spec.node_name != "worker-1"
                and (event["type"] == "MODIFIED" and ready and _new(pod.metadata.name, pods))
            ):
                replacement_ready = True
                stream.stop()
        node = api.read_node("worker-1")
    terminating = {name for _, name, deleting in seen if deleting}
    assert terminating == on_crashed, f"not the crashed node's pod marked for deletion: {seen}"
    assert replacement_ready, f"no replacement became ready: {seen}"
    ready = next(c for c in node.status.conditions if c.type == "Ready")
    assert ready.status == "Unknown" and ready.reason == "NodeStatusUnknown"


def _first_pods(api: client.CoreV1Api) -> client.V1PodList:
    """The first list that has the Deployment's pods: the API answers from virtual time 0,
    before the controllers have created them (a busy machine can ask that early)."""
    deadline = time.monotonic() + 30
    while True:
        pods = api.list_namespaced_pod("default")
        if pods.items or time.monotonic() > deadline:
            return pods
        time.sleep(0.05)


def _new(name: str, listed: client.V1PodList) -> bool:
    return name not in {p.metadata.name for p in listed.items}


UNAVAILABLE_TO_PYTHON = """
    - name: python-client-refused
      type: apiserver-unavailable
      at: 0s
      params: {clients: [python-client]}"""


def test_request_faults_pick_external_clients_by_user_agent(tmp_path: Path) -> None:
    """An ``apiserver-unavailable`` fault with ``clients: [python-client]`` answers the Python
    client 503 ServiceUnavailable (a Status with Retry-After) while kubectl is served."""
    scenario = scenario_file(tmp_path, faults=UNAVAILABLE_TO_PYTHON)
    with served(tmp_path, scenario, 1) as run:
        api = client.CoreV1Api(config.new_client_from_config(config_file=str(run.kubeconfig)))
        refused = _first_refusal(api)
        assert refused.status == 503
        assert refused.headers["Retry-After"] == "1"
        assert json.loads(refused.body)["reason"] == "ServiceUnavailable"
        assert "NAME" in run.kubectl_ok("get", "nodes")


def _first_refusal(api: client.CoreV1Api, within: float = 30) -> ApiException:
    """The fault is injected once the workloads are applied, a moment after the API starts
    answering: list until it refuses."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            api.list_namespaced_pod("default")
        except ApiException as exc:
            return exc
        time.sleep(0.2)
    raise AssertionError("the fault never reached the Python client")


DROP_PYTHON_WATCHES = """
    - name: python-watches-dropped
      type: watch-drop
      at: 0s
      params: {component: python-client, probability: 1}
    - name: kill-one
      type: pod-kill
      at: 90s
      target: {namespace: default, labelSelector: {app: web}, mode: one}
      params: {gracePeriod: 0s}"""


def test_watch_faults_reach_external_watchers(tmp_path: Path) -> None:
    """``watch-drop`` on ``python-client``: its watch of pods misses the pod kill and the
    replacement (a stale view, as an informer with dropped events has), while a fresh list,
    and kubectl, see the new pod."""
    scenario = scenario_file(tmp_path, faults=DROP_PYTHON_WATCHES)
    with served(tmp_path, scenario, 10) as run:
        api = client.CoreV1Api(config.new_client_from_config(config_file=str(run.kubeconfig)))
        _first_ready_list(api)
        listed = api.list_namespaced_pod("default")
        before = {p.metadata.name for p in listed.items}
        seen = [
            event["object"].metadata.name
            for event in watch.Watch().stream(
                api.list_namespaced_pod,
                "default",
                resource_version=listed.metadata.resource_version,
                timeout_seconds=15,
            )
        ]
        after = {p.metadata.name for p in api.list_namespaced_pod("default").items}
        from_kubectl = set(run.kubectl_ok("get", "pods", "-o", "name").replace("pod/", "").split())
    assert seen == []
    assert after != before and after == from_kubectl


def _first_ready_list(api: client.CoreV1Api, within: float = 60) -> None:
    """Wait (wall time) until the three web pods are listed Ready."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        pods = api.list_namespaced_pod("default").items
        ready = [
            p
            for p in pods
            if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        ]
        if len(ready) == 3:
            return
        time.sleep(0.2)
    raise AssertionError("the web pods never became ready")
