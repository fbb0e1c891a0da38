"""The result of one run as plain data: what JSON, JUnit, HTML, sweeps and comparisons read.

:func:`result_of` turns a finished (or interrupted) :class:`~kubechaos.scenario.runner.Run` into
a dict that follows ``result-schema.json`` (``"schema": "kubechaos/result/v1"``). The schema is
versioned: fields are only ever added within v1; a change in meaning gets a new version.
"""

from __future__ import annotations

import json
import shlex
from importlib import resources
from pathlib import Path
from typing import Any

from kubechaos import __version__
from kubechaos.defaults import TARGET_RELEASE
from kubechaos.scenario.runner import Run
from kubechaos.traffic import SUCCESS

SCHEMA_ID = "kubechaos/result/v1"

# verdicts, and the exit code each gives `kubechaos run`
PASSED, FAILED, ERROR, INTERRUPTED = "passed", "failed", "error", "interrupted"
EXIT_CODES = {PASSED: 0, FAILED: 1, ERROR: 3, INTERRUPTED: 130}


def schema() -> dict[str, Any]:
    """The JSON Schema of a result (draft 2020-12)."""
    text = resources.files("kubechaos.report").joinpath("result-schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def replay_command(source: str, seed: int) -> str:
    return f"kubechaos run {shlex.quote(source)} --seed {seed}"


def _round(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else round(x, digits)


def result_of(
    run: Run,
    *,
    interrupted: bool = False,
    error: str | None = None,
    wall_seconds: float | None = None,
) -> dict[str, Any]:
    """The whole result of ``run`` (finished, failed or interrupted)."""
    scenario = run.scenario
    complete = run.finished_at is not None and not interrupted and error is None
    reached = run.finished_at if run.finished_at is not None else run.collector.last_time
    if run.steady.times:
        reached = max(reached, run.steady.times[-1])
    slo_results = run.results if complete else run.slo.results(final=False)
    if error is not None:
        verdict = ERROR
    elif interrupted:
        verdict = INTERRUPTED
    else:
        verdict = PASSED if all(r.ok for r in slo_results) else FAILED
    injections = {(i.fault.name, round(i.injected_at, 9)): i for i in run.chaos.injections}
    faults = []
    for rec in run.steady.recoveries:
        injection = injections.get((rec.fault, round(rec.injected_at, 9)))
        if rec.known and rec.seconds is not None:
            status = "recovered"
        elif rec.known:
            status = "not-recovered"
        else:
            status = "pending"
        faults.append(
            {
                "name": rec.fault,
                "type": rec.type,
                "injectedAt": _round(rec.injected_at),
                "revertedAt": _round(rec.reverted_at),
                "lasting": injection.fault.lasting if injection else True,
                "targets": list(injection.targets) if injection else [],
                "params": injection.fault.describe_params() if injection else "",
                "recovery": {
                    "status": status,
                    "seconds": _round(rec.seconds) if status == "recovered" else None,
                    "disturbedAt": _round(rec.disturbed_at),
                    "recoveredAt": _round(rec.recovered_at),
                },
            }
        )
    failed_injections = [
        {"name": e.object, "type": (e.fields or {}).get("type", ""), "at": _round(e.time),
         "message": e.message}
        for e in run.events.find(reason="FaultFailed")
    ]  # fmt: skip
    slos = [
        {
            "name": r.slo.name,
            "kind": r.slo.kind,
            "ok": r.ok,
            "measured": r.measured,
            "threshold": r.threshold,
            "detail": r.detail,
        }
        for r in slo_results
    ]
    stats = run.traffic.stats
    services: dict[tuple[str, str], dict[str, int]] = {}
    for (ns, svc, _src, outcome), n in stats.requests.items():
        outcomes = services.setdefault((ns, svc), {})
        outcomes[outcome] = outcomes.get(outcome, 0) + n
    traffic = []
    for (ns, svc), outcomes in sorted(services.items()):
        total = sum(outcomes.values())
        traffic.append(
            {
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
        )
    deployments = [
        {
            "namespace": d.metadata.namespace,
            "name": d.metadata.name,
            "desired": d.spec.replicas,
            "available": d.status.available_replicas,
            "updated": d.status.updated_replicas,
            "history": [
                [_round(t, 3), int(want), int(have)]
                for t, want, have in run.history.replicas.get(
                    f"{d.metadata.namespace}/{d.metadata.name}", []
                )
            ],
        }
        for d in run.cluster.api.cache("deployments").list()
    ]
    steady_changes: list[list[float | int]] = []
    for t, ok in zip(run.steady.times, run.steady.steady, strict=True):
        if not steady_changes or steady_changes[-1][1] != int(ok):
            steady_changes.append([round(t, 3), int(ok)])
    return {
        "schema": SCHEMA_ID,
        "kubechaosVersion": __version__,
        "kubernetesVersion": TARGET_RELEASE,
        "scenario": {
            "name": scenario.name,
            "description": scenario.description,
            "file": scenario.source,
            "duration": scenario.duration,
        },
        "seed": run.seed,
        "verdict": verdict,
        "exitCode": EXIT_CODES[verdict],
        "complete": complete,
        "error": error,
        "virtualSeconds": _round(reached, 3),
        "wallSeconds": _round(wall_seconds, 3),
        "replay": replay_command(scenario.source, run.seed),
        "faults": faults,
        "failedInjections": failed_injections,
        "slos": slos,
        "traffic": traffic,
        "deployments": deployments,
        "steadyState": steady_changes,
        "events": len(run.events),
    }


def write_json(result: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n", encoding="utf-8")
