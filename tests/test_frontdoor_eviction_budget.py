"""A budget-blocked eviction answered as upstream's, and ``kubectl drain`` retrying it.

Upstream: pkg/registry/core/pod/storage/eviction.go (v1.32) refuses an eviction a
PodDisruptionBudget forbids with ``errors.NewTooManyRequests("Cannot evict pod as it would
violate the pod's disruption budget.", 0)`` plus one ``DisruptionBudget`` cause naming the
budget's numbers; a budget the disruption controller has not yet processed
(``observedGeneration < generation``) with ``createTooManyRequestsError``: the same message,
a retry suggestion of 10 s and a cause saying so. ``NewTooManyRequests``
(apimachinery/pkg/api/errors/errors.go) puts only ``retryAfterSeconds`` (when above 0) and the
causes in ``details``; responsewriters/writers.go ``ErrorNegotiated`` sets ``Retry-After`` only
when ``details.retryAfterSeconds > 0``. kubectl drain (kubectl/pkg/drain/drain.go evictPods)
retries a 429 every 5 s until its timeout.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import yaml

from kubechaos.api import errors
from kubechaos.api.manifest import read_manifest
from kubechaos.control.registry import eviction
from kubechaos.frontdoor.response import Response
from tests.frontdoor import Served, kubectl_binary, scenario_file, served
from tests.test_frontdoor_writes_kubectl import app_manifest, pods_of, running_pods, until

SPEED = 4
VIOLATES = "Cannot evict pod as it would violate the pod's disruption budget."


class _Sent:
    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        else:
            self.body += message.get("body", b"")


def _answer(exc: errors.APIError) -> _Sent:
    sent = _Sent()
    trio.run(Response(sent.send).api_error, exc, None)
    return sent


def _budget(generation: int, observed: int) -> Any:
    doc = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "guard", "namespace": "default"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "g"}}},
    }
    budget = read_manifest(doc)
    meta = attrs.evolve(budget.metadata, generation=generation)
    status = attrs.evolve(
        budget.status, observed_generation=observed, desired_healthy=2, current_healthy=1
    )
    return attrs.evolve(budget, metadata=meta, status=status)


def _pod() -> Any:
    doc = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "g-1", "namespace": "default", "labels": {"app": "g"}},
        "spec": {"containers": [{"name": "g", "image": "example.com/g:1"}]},
    }
    return read_manifest(doc)


def test_a_budget_allowing_no_disruption_answers_429_without_retry_after() -> None:
    """eviction.go checkAndDecrement, ``DisruptionsAllowed == 0``: 429 TooManyRequests, the
    message kubectl prints, ``details`` holding only the ``DisruptionBudget`` cause (no name,
    no kind, no retryAfterSeconds) and no ``Retry-After`` header (retry suggestion 0)."""
    with pytest.raises(errors.TooManyRequests) as refused:
        eviction.decide(_pod(), _budget(1, 1))
    sent = _answer(refused.value)
    assert sent.status == 429
    assert "retry-after" not in sent.headers
    assert json.loads(sent.body) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": VIOLATES,
        "reason": "TooManyRequests",
        "details": {
            "causes": [
                {
                    "reason": "DisruptionBudget",
                    "message": "The disruption budget guard needs 2 healthy pods and has 1 "
                    "currently",
                }
            ]
        },
        "code": 429,
    }


def test_a_budget_not_yet_processed_suggests_a_retry_after_10s() -> None:
    """eviction.go createTooManyRequestsError (``observedGeneration < generation``):
    ``NewTooManyRequests(..., 10)``, so ``details.retryAfterSeconds: 10`` and ``Retry-After:
    10``, with the cause "The disruption budget guard is still being processed by the
    server."."""
    with pytest.raises(errors.TooManyRequests) as refused:
        eviction.decide(_pod(), _budget(2, 1))
    sent = _answer(refused.value)
    assert sent.status == 429 and sent.headers["retry-after"] == "10"
    details = json.loads(sent.body)["details"]
    assert details == {
        "retryAfterSeconds": 10,
        "causes": [
            {
                "reason": "DisruptionBudget",
                "message": "The disruption budget guard is still being processed by the server.",
            }
        ],
    }


def test_a_throttled_request_keeps_its_retry_after() -> None:
    """The ``apiserver-throttle`` fault's 429 (API Priority and Fairness, filters/
    maxinflight.go tooManyRequests: ``Retry-After: 1``) keeps its header and suggestion."""
    sent = _answer(errors.TooManyRequests("Too many requests, please try again later.", 1))
    assert sent.status == 429 and sent.headers["retry-after"] == "1"
    assert json.loads(sent.body)["details"] == {"retryAfterSeconds": 1}


PDB = """apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: guard}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: guarded}}
"""


def _post_eviction(run: Served, pod: str) -> tuple[int, dict[str, str], Any]:
    """A raw ``POST .../pods/NAME/eviction`` to the run's API (loopback: plain HTTP)."""
    config = yaml.safe_load(run.kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]["server"]
    doc = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod}}
    request = urllib.request.Request(
        f"{server}/api/v1/namespaces/default/pods/{pod}/eviction",
        data=json.dumps(doc).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, json.loads(exc.read())


def test_kubectl_drain_retries_a_budget_blocked_eviction(tmp_path: Path) -> None:
    """Over HTTP, a budget-blocked eviction is 429 without ``Retry-After`` and with the
    ``DisruptionBudget`` cause (eviction.go); the real ``kubectl drain`` prints "error when
    evicting pods/... (will retry after 5s): Cannot evict pod as it would violate the pod's
    disruption budget." and retries (drain.go evictPods) until the budget is relaxed, then
    drains the node."""
    kubectl_binary()
    with served(tmp_path, scenario_file(tmp_path, duration="2h", nodes=3), SPEED) as run:
        app, budget = tmp_path / "guarded.yaml", tmp_path / "pdb.yaml"
        app.write_text(app_manifest("guarded", 2), encoding="utf-8")
        budget.write_text(PDB, encoding="utf-8")
        run.kubectl_ok("apply", "-f", str(app))
        run.kubectl_ok("apply", "-f", str(budget))
        until(lambda: running_pods(run, "guarded") == 2, "guarded pods running")
        until(
            lambda: (
                json.loads(run.kubectl_ok("get", "pdb", "guard", "-o", "json"))["status"].get(
                    "currentHealthy"
                )
                == 2
            ),
            "the budget computed",
        )
        victim = pods_of(run, "guarded")[0]
        code, headers, status = _post_eviction(run, str(victim["metadata"]["name"]))
        assert code == 429 and "retry-after" not in headers
        assert status["message"] == VIOLATES and status["reason"] == "TooManyRequests"
        assert status["details"]["causes"][0]["reason"] == "DisruptionBudget"
        node = str(victim["spec"]["nodeName"])
        drain = subprocess.Popen(
            [kubectl_binary(), "drain", node, "--ignore-daemonsets", "--timeout=90s"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=run.env(),
        )
        try:
            assert drain.stderr is not None
            seen = ""
            deadline = time.monotonic() + 60
            while seen.count("will retry after 5s") < 2 and time.monotonic() < deadline:
                seen += drain.stderr.readline()
            assert seen.count("will retry after 5s") >= 2, seen
            assert VIOLATES in seen
            run.kubectl_ok(
                "patch", "pdb", "guard", "--type=merge", "-p", '{"spec":{"minAvailable":1}}'
            )
            out, err = drain.communicate(timeout=90)
            assert drain.returncode == 0, err
            assert f"node/{node} drained" in out
        finally:
            if drain.poll() is None:
                drain.kill()
                drain.wait()
            run.kubectl("uncordon", node)
