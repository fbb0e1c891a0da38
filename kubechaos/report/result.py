"""The result of one run as plain data: what JSON, JUnit, HTML, sweeps and comparisons read.

:func:`result_of` turns a finished (or interrupted) :class:`~kubechaos.scenario.runner.Run` into
a dict that follows ``result-schema.json`` (``"schema": "kubechaos/result/v1"``), typed as
:class:`~kubechaos.report.types.RunResult`. The schema is versioned: fields are only ever added
within v1; a change in meaning gets a new version. Each section of the result is built by its
own function below, in the order the result lists them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, overload

from kubechaos.api.objects import key_of
from kubechaos.defaults import TARGET_RELEASE
from kubechaos.faults.chaos import Injection
from kubechaos.observe.slo import SLOResult
from kubechaos.observe.steady import CLUSTER_WIDE, PER_OBJECT, FaultRecovery
from kubechaos.report.files import write_text
from kubechaos.report.types import (
    Attribution,
    AutoscalerRecord,
    CustomObjectRecord,
    DeploymentRecord,
    FailedInjectionRecord,
    FaultRecord,
    JobRecord,
    ProcessRecord,
    RecoveryRecord,
    RecoveryStatus,
    ReplicaRow,
    RunOutcome,
    RunResult,
    ScenarioRecord,
    SloRecord,
    StatefulSetRecord,
    SteadyRow,
    TrafficRecord,
    Verdict,
)
from kubechaos.scenario.procspec import ProcessOutcome
from kubechaos.scenario.runner import Run
from kubechaos.scenario.sources import source_digests
from kubechaos.traffic import SUCCESS
from kubechaos.version import __version__

SCHEMA_ID = "kubechaos/result/v1"

# verdicts, and the exit code each gives `kubechaos run`
PASSED: Verdict = "passed"
FAILED: Verdict = "failed"
ERROR: Verdict = "error"
INTERRUPTED: Verdict = "interrupted"
EXIT_CODES = {PASSED: 0, FAILED: 1, ERROR: 3, INTERRUPTED: 130}


def schema() -> dict[str, Any]:
    """The JSON Schema of a result (draft 2020-12)."""
    text = resources.files("kubechaos.report").joinpath("result-schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def replay_command(source: str, seed: int) -> str:
    return f"kubechaos run {shlex.quote(source)} --seed {seed}"


# rounded for the JSON; the overloads tell mypy a time stays a float and a missing one None
@overload
def _round(x: float, digits: int = 6) -> float: ...
@overload
def _round(x: float | None, digits: int = 6) -> float | None: ...
def _round(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else round(x, digits)


def result_of(
    run: Run,
    *,
    interrupted: bool = False,
    error: str | None = None,
    wall_seconds: float | None = None,
) -> RunResult:
    """The whole result of ``run`` (finished, failed or interrupted)."""
    scenario = run.scenario
    complete = run.finished_at is not None and not interrupted and error is None
    reached = run.finished_at if run.finished_at is not None else run.collector.last_time
    if run.steady.times:
        reached = max(reached, run.steady.times[-1])
    slo_results = run.results if complete else run.slo.results(final=False)
    verdict = _verdict(slo_results, bool(run.failed_injections), interrupted, error)
    result: RunResult = {
        "schema": SCHEMA_ID,
        "kubechaosVersion": __version__,
        "kubernetesVersion": TARGET_RELEASE,
        "scenario": _scenario(run),
        "seed": run.seed,
        "verdict": verdict,
        "exitCode": EXIT_CODES[verdict],
        "complete": complete,
        "error": error,
        "virtualSeconds": _round(reached, 3),
        "wallSeconds": _round(wall_seconds, 3),
        "replay": replay_command(scenario.source, run.seed),
        "faults": _faults(run),
        "failedInjections": _failed_injections(run),
        "slos": [_slo(r) for r in slo_results],
        "traffic": _traffic(run),
        "deployments": _deployments(run),
        "steadyState": _steady_state(run),
        "events": len(run.events),
    }
    daemonsets = _daemonsets(run)
    if daemonsets:  # only in runs that had one: other results are as before the kind existed
        result["daemonsets"] = daemonsets
    autoscalers = _autoscalers(run)
    if autoscalers:  # only runs with an HPA have the key: other results stay as they were
        result["autoscalers"] = autoscalers
    statefulsets = _statefulsets(run)
    if statefulsets:  # likewise
        result["statefulsets"] = statefulsets
    jobs = _jobs(run)
    if jobs:  # likewise
        result["jobs"] = jobs
    custom = custom_objects(run)
    if custom:  # likewise: custom objects steady state judged
        result["customObjects"] = custom
    if run.served_api is not None:  # external clients made the run: replay refuses it
        result["externalClients"] = {"api": run.served_api}
    if run.processes:  # and so did external processes (run --exec): wall-clock paced
        result["externalClients"]["processes"] = [p.name for p in run.processes]
        result["processes"] = [process_record(p) for p in run.processes]
    return result


def process_record(outcome: ProcessOutcome) -> ProcessRecord:
    return {
        "name": outcome.name,
        "command": list(outcome.command),
        "exitCode": outcome.exit_code,
        "restarts": outcome.restarts,
        "output": outcome.output,
        "outputTruncated": outcome.truncated,
    }


def _scenario(run: Run) -> ScenarioRecord:
    """Who ran; with the SHA-256 of the scenario file and of each manifest file it reads
    (``replay`` refuses files that changed), when it was read from a file."""
    scenario = run.scenario
    record: ScenarioRecord = {
        "name": scenario.name,
        "description": scenario.description,
        "file": scenario.source,
        "duration": scenario.duration,
    }
    # built in code (no file), or gone since: nothing to record
    with contextlib.suppress(OSError, ValueError):
        record["sha256"], record["manifests"] = source_digests(Path(scenario.source))
    return record


def _verdict(
    slo_results: list[SLOResult], failed_injection: bool, interrupted: bool, error: str | None
) -> Verdict:
    if error is not None:
        return ERROR
    if interrupted:
        return INTERRUPTED
    return PASSED if all(r.ok for r in slo_results) and not failed_injection else FAILED


def _faults(run: Run) -> list[FaultRecord]:
    """One record per injection, in the order the steady-state monitor saw them."""
    injections = {(i.fault.name, round(i.injected_at, 9)): i for i in run.chaos.injections}
    return [
        _fault(rec, injections.get((rec.fault, round(rec.injected_at, 9))))
        for rec in run.steady.recoveries
    ]


def _fault(rec: FaultRecovery, injection: Injection | None) -> FaultRecord:
    return {
        "name": rec.fault,
        "type": rec.type,
        "injectedAt": _round(rec.injected_at),
        "revertedAt": _round(rec.reverted_at),
        "lasting": injection.fault.held() if injection else True,
        "targets": list(injection.targets) if injection else [],
        "params": injection.fault.describe_params() if injection else "",
        "overlaps": [{"name": o.fault, "injectedAt": _round(o.injected_at)} for o in rec.overlaps],
        "recovery": _recovery(rec),
    }


def _recovery(rec: FaultRecovery) -> RecoveryRecord:
    status: RecoveryStatus
    if rec.known and rec.seconds is not None:
        status = "recovered"
    elif rec.known:
        status = "not-recovered" if rec.observable else "not-observable"
    else:
        status = "pending"
    attribution: Attribution | None = None
    if rec.attribution == PER_OBJECT:
        attribution = "per-object"
    elif rec.attribution == CLUSTER_WIDE:
        attribution = "cluster-wide"
    per_object = attribution == "per-object" and rec.scope is not None
    return {
        "status": status,
        "seconds": _round(rec.seconds) if status == "recovered" else None,
        "disturbedAt": _round(rec.disturbed_at),
        "recoveredAt": _round(rec.recovered_at),
        "attribution": attribution,
        "objects": rec.scope.objects() if per_object and rec.scope is not None else [],
        "measuredOn": rec.measured_on,
    }


def _failed_injections(run: Run) -> list[FailedInjectionRecord]:
    return [
        {"name": e.object, "type": (e.fields or {}).get("type", ""), "at": _round(e.time),
         "message": e.message}
        for e in run.events.find(reason="FaultFailed")
    ]  # fmt: skip


def _slo(r: SLOResult) -> SloRecord:
    return {
        "name": r.slo.name,
        "kind": r.slo.kind,
        "ok": r.ok,
        "measured": r.measured,
        "threshold": r.threshold,
        "detail": r.detail,
    }


def _traffic(run: Run) -> list[TrafficRecord]:
    """One record per Service that was sent requests, sorted by namespace and name."""
    services: dict[tuple[str, str], dict[str, int]] = {}
    for (ns, svc, _src, outcome), n in run.traffic.stats.requests.items():
        outcomes = services.setdefault((ns, svc), {})
        outcomes[outcome] = outcomes.get(outcome, 0) + n
    return [_service(run, ns, svc, outcomes) for (ns, svc), outcomes in sorted(services.items())]


def _service(run: Run, ns: str, svc: str, outcomes: Mapping[str, int]) -> TrafficRecord:
    stats = run.traffic.stats
    total = sum(outcomes.values())
    return {
        "namespace": ns,
        "service": svc,
        "requests": total,
        "outcomes": dict(sorted(outcomes.items())),
        "successRate": round(outcomes.get(SUCCESS, 0) / total, 6) if total else None,
        "unsent": stats.count_unsent(ns, svc),
        "perSecond": [list(p) for p in stats.timeline(ns, svc)],
        "latency": [
            [_round(t, 3), *(_round(q) for q in qs)]
            for t, *qs in run.history.latency.get(f"{ns}/{svc}", [])
        ],
    }


def _history_rows(
    history: Mapping[str, list[tuple[float, float, float]]], obj: Any
) -> list[ReplicaRow]:
    """``[time, a, b]`` rows of one object's kept series (``namespace/name`` in ``history``)."""
    key = f"{obj.metadata.namespace}/{obj.metadata.name}"
    return [[_round(t, 3), int(a), int(b)] for t, a, b in history.get(key, [])]


def _deployments(run: Run) -> list[DeploymentRecord]:
    return [
        {
            "namespace": d.metadata.namespace,
            "name": d.metadata.name,
            "desired": d.spec.replicas,
            "available": d.status.available_replicas,
            "updated": d.status.updated_replicas,
            "history": _history_rows(run.history.replicas, d),
        }
        for d in run.cluster.api.cache("deployments").list()
    ]


def _statefulsets(run: Run) -> list[StatefulSetRecord]:
    """Each StatefulSet's desired, ready, available and updated replicas and their history."""
    return [
        {
            "namespace": s.metadata.namespace,
            "name": s.metadata.name,
            "desired": s.spec.replicas,
            "ready": s.status.ready_replicas,
            "available": s.status.available_replicas,
            "updated": s.status.updated_replicas,
            "history": _history_rows(run.history.statefulsets, s),
        }
        for s in run.cluster.api.cache("statefulsets").list()
    ]


def _daemonsets(run: Run) -> list[DeploymentRecord]:
    """Each DaemonSet's desired and available nodes, updated pods and their history."""
    return [
        {
            "namespace": ds.metadata.namespace,
            "name": ds.metadata.name,
            "desired": ds.status.desired_number_scheduled,
            "available": ds.status.number_available,
            "updated": ds.status.updated_number_scheduled,
            "history": _history_rows(run.history.daemonsets, ds),
        }
        for ds in run.cluster.api.cache("daemonsets").list()
    ]


def _autoscalers(run: Run) -> list[AutoscalerRecord]:
    return [
        {
            "namespace": h.metadata.namespace,
            "name": h.metadata.name,
            "targetKind": h.spec.scale_target_ref.kind,
            "targetName": h.spec.scale_target_ref.name,
            "minReplicas": h.spec.min_replicas,
            "maxReplicas": h.spec.max_replicas,
            "history": _history_rows(run.history.autoscalers, h),
        }
        for h in run.cluster.api.cache("horizontalpodautoscalers").list()
    ]


def _jobs(run: Run) -> list[JobRecord]:
    """The Jobs the run had (still existing, or sampled before a TTL deleted them)."""
    live = {key_of(j): j for j in run.cluster.api.cache("jobs").list()}
    records: list[JobRecord] = []
    for key in sorted(set(live) | set(run.history.jobs)):
        namespace, name = key.split("/", 1)
        history = run.history.jobs.get(key, [])
        job = live.get(key)
        last = history[-1] if history else (0.0, 0.0, 0.0, 0.0)
        st = job.status if job is not None else None
        records.append(
            {
                "namespace": namespace,
                "name": name,
                "status": (st.finished() or "Running") if st is not None else "Deleted",
                "active": st.active if st is not None else int(last[1]),
                "succeeded": st.succeeded if st is not None else int(last[2]),
                "failed": st.failed if st is not None else int(last[3]),
                "history": [[_round(t, 3), int(a), int(s), int(f)] for t, a, s, f in history],
            }
        )
    return records


def custom_objects(run: Run) -> list[CustomObjectRecord]:
    """Each custom object steady state judged, with its kstatus at every change."""
    return [
        {"kind": kind, "apiVersion": api_version, "namespace": namespace, "name": name,
         "status": history[-1][1],
         "history": [[_round(t, 3), status, message] for t, status, message in history]}
        for (kind, api_version, namespace, name), history in run.custom.history.objects.items()
    ]  # fmt: skip


def _steady_state(run: Run) -> list[SteadyRow]:
    """Steady state at every change: [time, 1] when it (re)gained, [time, 0] when lost."""
    changes: list[SteadyRow] = []
    for t, ok in zip(run.steady.times, run.steady.steady, strict=True):
        if not changes or changes[-1][1] != int(ok):
            changes.append([round(t, 3), int(ok)])
    return changes


def reached_seconds(result: RunOutcome) -> float:
    """The virtual time a result's run reached (the scenario's duration if it does not say)."""
    reached = result.get("virtualSeconds")
    return float(reached) if reached is not None else float(result["scenario"]["duration"])


def write_json(result: Mapping[str, Any], path: Path) -> None:
    """Replace ``path`` with a document as JSON, atomically (OutputError if it cannot); a run result's scenario file is written relative to the JSON
    file's directory (as a scenario names its manifests), so ``replay`` finds it from anywhere."""
    scenario = result.get("scenario")
    if result.get("schema") == SCHEMA_ID and isinstance(scenario, Mapping) and scenario["file"]:
        file = relative_to(scenario["file"], path.parent)
        result = {**result, "scenario": {**scenario, "file": file}}
    write_text(path, json.dumps(result, indent=2, sort_keys=False) + "\n")


def relative_to(file: str, directory: Path) -> str:
    """``file`` (relative to the current directory, or absolute) as ``directory`` reaches it;
    an absolute path stays absolute."""
    if os.path.isabs(file):
        return file
    return os.path.relpath(os.path.abspath(file), os.path.abspath(directory))
