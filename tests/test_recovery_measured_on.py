"""A verdict never passes on nothing: each fault's recovery says what it was measured on
(kubechaos/observe/measuredon.py), and a ``recoveryWithin`` on a fault measured on nothing at
all (no workload, no custom object with a status convention, no Service with traffic was
watched) fails as *not measured* instead of reading 0 s."""

from __future__ import annotations

import sys
from pathlib import Path

import jsonschema

from kubechaos.report.html.page import render_html
from kubechaos.report.result import result_of, schema
from tests.steadyruns import ROOT, run_with, scenario
from tests.test_processes import STUBBORN, _process, _run, _script

WEB = ROOT / "scenarios" / "manifests" / "web.yaml"

POKE = """\
  faults:
    - name: poke
      type: apiserver-throttle
      at: 30s
      duration: 5s
      params: {fraction: "50%", clients: [someone]}
  slo:
    - recoveryWithin: {fault: poke, within: 1m}
"""


def test_a_recovery_measured_on_nothing_fails_not_measured() -> None:
    """No workload at all: steady state holds vacuously, so the fault "recovered in 0 s" on
    nothing. The report says so (``measuredOn: nothing``) and the SLO fails as not measured."""
    run = run_with(scenario("  duration: 2m\n" + POKE), [])
    (rec,) = run.steady.recoveries
    assert rec.measured_on == "nothing"
    (slo,) = run.results
    assert (slo.ok, slo.measured) == (False, "not measured")
    assert "measured on nothing" in slo.detail
    result = result_of(run)
    jsonschema.validate(result, schema())
    assert result["faults"][0]["recovery"]["measuredOn"] == "nothing"


def test_a_cluster_wide_recovery_names_what_it_covered() -> None:
    """With a Deployment the same fault reads 0 s, measured on "cluster-wide steady state:
    1 Deployment", which the report's fault story shows."""
    run = run_with(scenario(f"  duration: 2m\n  workloads: [{{path: {WEB}}}]\n" + POKE), [])
    (rec,) = run.steady.recoveries
    assert rec.measured_on == "cluster-wide steady state: 1 Deployment"
    (slo,) = run.results
    assert slo.ok, slo
    page = render_html(result_of(run), run.events)
    assert "recovery measured on cluster-wide steady state: 1 Deployment" in page


def _process_scenario(directory: Path, workloads: str) -> Path:
    path = directory / "kill.yaml"
    path.write_text(
        f"""apiVersion: kubechaos/v1
kind: Scenario
metadata: {{name: kill}}
spec:
  seed: 3
  duration: 30s
  cluster:
    nodeGroups: [{{name: worker, count: 2}}]
    settings: {{processTerminationGrace: 1s}}  # the stubborn process ignores SIGTERM
  workloads: {workloads}
  faults:
    - {{type: process-kill, name: kill-op, at: 4s, params: {{process: operator, restartAfter: 5s}}}}
  slo:
    - recoveryWithin: {{fault: kill-op, within: 20s}}
""",
        encoding="utf-8",
    )
    return path


def test_a_process_kill_says_it_was_measured_on_what_the_run_watches(tmp_path: Path) -> None:
    """Killing a process that controls nothing the run watches: the report used to read a
    recovery of 0 s (cluster-wide, as if the process had been measured). Now the result says it
    was measured on the cluster's steady state (1 Deployment) — not on the process — and with
    no workload at all the recoveryWithin SLO fails as not measured (exit 1). The restart 5 s
    after the kill is recorded as the fault's revert."""
    stubborn = _script(tmp_path, "stubborn", STUBBORN)
    exec_ = f"operator={sys.executable} {stubborn}"
    done, result = _run(_process_scenario(tmp_path, f"[{{path: {WEB}}}]"), "--exec", exec_,
                        speed="20")  # fmt: skip
    assert result is not None, done.stdout + done.stderr
    (kill,) = result["faults"]
    assert kill["recovery"]["measuredOn"] == "cluster-wide steady state: 1 Deployment"
    operator = _process(result, "operator")
    assert operator["restarts"] == 1
    # the restart is on the record as the fault's revert (from: revert measures from it)
    assert kill["revertedAt"] == 9.0
    done, result = _run(_process_scenario(tmp_path, "[]"), "--exec", exec_, speed="20")
    assert result is not None, done.stdout + done.stderr
    assert done.returncode == 1
    (kill,) = result["faults"]
    assert kill["recovery"]["measuredOn"] == "nothing"
    (slo,) = result["slos"]
    assert (slo["ok"], slo["measured"]) == (False, "not measured")
