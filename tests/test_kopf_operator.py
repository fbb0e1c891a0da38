"""Proof with a real controller: the example kopf operator (``scenarios/operators/
webapp_operator.py``) run by ``scenarios/own-controller.yaml`` as an external process, killed,
throttled, blinded and with a node crashed under its Deployment, converges after each fault,
and the report has its recovery times.

kopf is in the ``test`` extra; without it the test skips with how to get it, except under
``CI=true``, where its absence fails it. The operator needs the front door's write path and
CustomResourceDefinitions (it installs its CRD, creates a Deployment, patches its WebApp's
status).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests import early

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "own-controller.yaml"
# The run's pace: its 7 virtual minutes in 84 wall seconds, on the early lane beside the rest of
# the suite (tests/early.py), so they cost the suite nothing. The operator's own timings (resync,
# retries, kopf's backoffs) are seconds of the run (KUBECHAOS_SPEED); the processes' start-up is
# wall-clock time, which a faster pace would stretch into the run's timeline.
SPEED = 5

# Watches the WebApp's status as a user would (`kubectl get webapp shop -o yaml --watch`),
# printing each change of its Ready condition; the watch is opened again when it ends or fails
# (before the operator has installed the CRD, while the API is down).
STATUS_WATCHER = """
import time, kubernetes
kubernetes.config.load_kube_config()
custom = kubernetes.client.CustomObjectsApi()
seen = None
while True:
    try:
        for event in kubernetes.watch.Watch().stream(
                custom.list_namespaced_custom_object, "example.kubechaos.io", "v1", "default",
                "webapps", timeout_seconds=60):
            app = event["object"]
            if app["metadata"]["name"] != "shop":
                continue
            ready = [c for c in app.get("status", {}).get("conditions", [])
                     if c["type"] == "Ready"]
            now = (ready[0]["status"], ready[0]["message"]) if ready else None
            if now != seen:
                print("Ready", now, flush=True)
                seen = now
    except Exception as exc:
        print("watch ended", type(exc).__name__, flush=True)
        time.sleep(0.2)
"""


def _need_kopf() -> None:
    if importlib.util.find_spec("kopf") is None:
        message = "kopf is needed (pip install kopf, or the test extra)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: real-controller tests must not skip)")
        pytest.skip(message)


def _process(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in result["processes"] if p["name"] == name)


def _own_controller_run(scratch: Path) -> list[str]:
    """``kubechaos run`` of the scenario with the status watcher beside the operator."""
    if importlib.util.find_spec("kopf") is None:
        raise OSError("kopf is not installed")  # the test says so (_need_kopf)
    watcher = scratch / "status.py"
    watcher.write_text(textwrap.dedent(STATUS_WATCHER), encoding="utf-8")
    return [sys.executable, "-m", "kubechaos.cli", "run", str(SCENARIO), "--speed", str(SPEED),
            "--json", str(scratch / "result.json"), "--no-progress",
            "--exec", f"status-watcher=python {watcher}", "--exec-exit", "ignore"]  # fmt: skip


# The paced run is 84 s of mostly waiting: it runs beside the rest of the suite (tests/early.py).
early.register("own-controller", early.Launch(_own_controller_run, ROOT, 600))


@pytest.mark.early("own-controller")
def test_the_kopf_operator_converges_after_each_fault() -> None:
    """The operator keeps Deployment ``shop`` at the WebApp's 4 replicas and reports
    ``Ready=True`` on the WebApp once they are available. ``process-kill`` SIGKILLs it; the
    WebApp scaled to 6 meanwhile is acted on only by the fresh one, which resumes (kopf's resume
    handlers, as after a pod restart) and reports 4 of 6, then 6 ready; the changes made while
    it is throttled (429s, as API Priority and Fairness rejects: staging/src/k8s.io/apiserver/
    pkg/server/filters/priority-and-fairness.go) or blind (its watches dropped) are only
    delayed (kopf retries failed handlers, and relists when its watch is back); the node crash is healed by the model's own controllers, the
    Deployment's pods replaced after the 30 s unreachable toleration (node lifecycle
    controller: pkg/controller/nodelifecycle). Every fault's recovery is measured, and the
    SLOs hold. The WebApp itself counts in steady state by kstatus (sigs.k8s.io/cli-utils/pkg/
    kstatus/status generic.go: observedGeneration behind generation is InProgress; status.go:
    Ready=False is InProgress), so the kill reads the operator's real downtime, and the
    condition SLO on the WebApp, a kind the operator installs at run time, is judged as
    kubectl wait would (a Ready written for an earlier generation is not met)."""
    _need_kopf()
    done, scratch = early.finished("own-controller")
    result_file = scratch / "result.json"
    assert result_file.exists(), done.stdout + done.stderr
    result = json.loads(result_file.read_text())
    operator = _process(result, "webapp-operator")
    assert done.returncode == 0, done.stdout[-4000:] + operator["output"][-4000:]
    assert result["verdict"] == "passed"
    assert operator["restarts"] >= 1  # killed at 60s, started again 15s later
    assert "created Deployment default/shop" in operator["output"]
    client = _process(result, "webapp-client")
    assert client["exitCode"] == 0 and "scaled WebApp default/shop to 6" in client["output"]
    shop = next(d for d in result["deployments"] if d["name"] == "shop")
    assert shop["available"] == 6
    statuses = _process(result, "status-watcher")["output"]
    # scaled while the operator was down: the fresh one reports 4 of 6, then 6 (whether the
    # watcher saw the first operator's 4/4 before the kill depends on how fast kopf started on
    # this machine's wall clock, so it is not asserted)
    behind = statuses.index("Ready ('False', '4/6 replicas available')")
    assert behind < statuses.index("Ready ('True', '6/6 replicas available')", behind), statuses
    recovered = {f["name"]: f["recovery"] for f in result["faults"]}
    assert set(recovered) == {
        "kill-operator",
        "throttle-operator",
        "blind-operator",
        "crash-worker-1",
    }
    crash = recovered["crash-worker-1"]
    assert crash is not None and crash["status"] == "recovered", crash
    # The WebApp is judged by kstatus (its operator reports observedGeneration and Ready):
    # scaled at 65 s while the operator is down, it is InProgress until the fresh operator has
    # acted and its replicas are up, so the kill reads at least the 15 s restart delay, on the
    # WebApp as well as the Deployment.
    kill = recovered["kill-operator"]
    assert kill["status"] == "recovered" and kill["seconds"] >= 15, kill
    assert "WebApp.example.kubechaos.io" in kill["measuredOn"], kill
    (webapp,) = result["customObjects"]
    assert webapp["name"] == "shop" and webapp["status"] == "Current", webapp
    assert any(row[1] == "InProgress" for row in webapp["history"]), webapp
    slos = {s["name"]: s for s in result["slos"]}
    assert slos["recovery-kill-operator"]["ok"], slos
    ready = slos["webapp-shop-ready-kill-operator"]
    assert ready["ok"] and ready["measured"].startswith("reached in "), ready
    # Ready for generation 2 only once the fresh operator reconciled: not at once
    assert float(ready["measured"].split()[2].rstrip("s")) > 0, ready
    # The client scales the WebApp to 5 during the throttle (155 s) and back to 6 during the
    # watch drop (210 s): each fault leaves the operator a change to catch up on, so each reads
    # a recovery measured on the WebApp (the new generation unobserved until the operator's
    # retries get through, or until its watches are back and it hears of the change), and its
    # recoveryWithin holds.
    assert "scaled WebApp default/shop to 5" in client["output"]
    for name in ("throttle-operator", "blind-operator"):
        impaired = recovered[name]
        assert impaired["status"] == "recovered" and impaired["seconds"] > 0, impaired
        assert "WebApp.example.kubechaos.io" in impaired["measuredOn"], impaired
        assert slos[f"recovery-{name}"]["ok"], slos
    print({n: (r["seconds"], r["measuredOn"]) for n, r in recovered.items()})
