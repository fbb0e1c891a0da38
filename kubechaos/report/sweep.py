"""The sweep as a document: many seeds' results summarised as distributions, and its JSON.

One run answers "did it survive with seed 42?"; a sweep answers "how often does it survive, and
how long does recovery take at the 99th percentile?". This module turns the per-seed results of
a sweep into that answer (:func:`summarise`: pass rates, recovery-time distributions, failing
seeds with their replay commands) and into the sweep JSON (:func:`sweep_of`), and reads such
JSON back (:func:`read_sweep`). Running the seeds, sharding them and merging shards is
``kubechaos/batch/``'s; it hands this module the results, in any order.

Results are put in seed order, whatever order they finished in, so the JSON of a sweep is the
same whether it ran serially, on eight workers, or as four shards merged afterwards (wall-clock
times aside). Each seed keeps a compact result (:func:`compact`: the run's result without its
per-second series), which is also what a worker process sends back.

The sweep JSON (``"schema": "kubechaos/sweep/v1"``, see ``sweep-schema.json``) holds the scenario
(with the SHA-256 of its file, so shards of different files never merge), the seed spec, the
shard, a summary and every per-seed result.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, cast

from kubechaos.defaults import TARGET_RELEASE
from kubechaos.report.result import (
    ERROR,
    EXIT_CODES,
    FAILED,
    INTERRUPTED,
    PASSED,
    replay_command,
)
from kubechaos.report.result import (
    SCHEMA_ID as RESULT_SCHEMA_ID,
)
from kubechaos.report.types import RunOutcome
from kubechaos.scenario.loader import Scenario
from kubechaos.scenario.seeds import Shard, format_seeds, parse_seeds
from kubechaos.version import __version__

SCHEMA_ID = "kubechaos/sweep/v1"
PERCENTILES = (50, 95, 99)

# exit codes of `kubechaos sweep` (the same meaning as for `kubechaos run`)
EXIT_OK, EXIT_SLO_VIOLATED, EXIT_RUN_FAILED, EXIT_INTERRUPTED = 0, 1, 3, 130


class SweepError(ValueError):
    """Sweep results that cannot be merged or read; the message says which and why."""


# --- one seed's entry -----------------------------------------------------------------------


def scenario_info(scenario: Scenario) -> dict[str, Any]:
    """Who the sweep ran, as the JSON names it: the result's scenario block plus the file's
    digest, so shards of edited files refuse to merge."""
    digest = hashlib.sha256(Path(scenario.source).read_bytes()).hexdigest()
    return {
        "name": scenario.name,
        "description": scenario.description,
        "file": scenario.source,
        "duration": scenario.duration,
        "sha256": digest,
    }


def compact(result: Mapping[str, Any]) -> dict[str, Any]:
    """A run result without its per-second series (traffic per second and latency, replica
    history): what a sweep keeps per seed. Everything a summary or JUnit reads stays."""
    slim = dict(result)
    slim["traffic"] = [
        {k: v for k, v in t.items() if k not in ("perSecond", "latency")} for t in result["traffic"]
    ]
    slim["deployments"] = [
        {k: v for k, v in d.items() if k != "history"} for d in result["deployments"]
    ]
    if "daemonsets" in result:
        slim["daemonsets"] = [
            {k: v for k, v in d.items() if k != "history"} for d in result["daemonsets"]
        ]
    if "jobs" in result:
        slim["jobs"] = [{k: v for k, v in j.items() if k != "history"} for j in result["jobs"]]
    return slim


def error_result(scenario: Mapping[str, Any], seed: int, error: str) -> dict[str, Any]:
    """The compact result of a run that never produced one (its worker died, or the scenario
    could not be loaded there): a run that failed internally, with nothing measured."""
    return {
        "schema": RESULT_SCHEMA_ID,
        "kubechaosVersion": __version__,
        "kubernetesVersion": TARGET_RELEASE,
        "scenario": {k: scenario[k] for k in ("name", "description", "file", "duration")},
        "seed": seed,
        "verdict": ERROR,
        "exitCode": EXIT_CODES[ERROR],
        "complete": False,
        "error": error,
        "virtualSeconds": None,
        "wallSeconds": None,
        "replay": replay_command(scenario["file"], seed),
        "faults": [],
        "failedInjections": [],
        "slos": [],
        "traffic": [],
        "deployments": [],
        "steadyState": [],
        "events": 0,
    }


def not_run_result(
    scenario: Mapping[str, Any], seed: int, slos: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The stand-in for a seed an interrupted sweep never ran (or whose run it cut short): an
    interrupted run that reached no virtual time, with the sweep's SLOs unmeasured, so its
    JUnit test cases read as skipped rather than missing."""
    result = error_result(scenario, seed, "")
    result.update(
        verdict=INTERRUPTED,
        exitCode=EXIT_CODES[INTERRUPTED],
        error=None,
        slos=[
            {"name": s["name"], "kind": s["kind"], "ok": False, "measured": "",
             "threshold": s["threshold"], "detail": ""}
            for s in slos
        ],
    )  # fmt: skip
    return result


def junit_results(sweep: Mapping[str, Any]) -> list[RunOutcome]:
    """The results a sweep's JUnit shows, in seed order: every seed's, and for an interrupted
    sweep a :func:`not_run_result` for each seed of its shard that did not finish, so an
    interrupted sweep reads as incomplete (skipped cases), never as a smaller green one."""
    results: list[dict[str, Any]] = list(sweep["results"])
    if not sweep["complete"]:
        results += _not_run(sweep, results)
    return cast(list[RunOutcome], sorted(results, key=lambda r: r["seed"]))


def _not_run(sweep: Mapping[str, Any], results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    every = parse_seeds(sweep["seeds"])
    chosen = Shard(**sweep["shard"]).select(every) if sweep["shard"] is not None else every
    ran = {r["seed"] for r in results}
    slos: list[dict[str, Any]] = next((r["slos"] for r in results if r["slos"]), [])
    return [not_run_result(sweep["scenario"], s, slos) for s in chosen if s not in ran]


# --- the sweep as data ----------------------------------------------------------------------


def sweep_of(
    scenario: Mapping[str, Any],
    seeds: str,
    shard: Shard | None,
    results: Sequence[dict[str, Any]],
    wall_seconds: float | None,
    complete: bool = True,
) -> dict[str, Any]:
    """The sweep JSON for ``results`` (each seed's compact result, in seed order)."""
    every = parse_seeds(seeds)
    ordered = sorted(results, key=lambda r: r["seed"])
    summary = summarise(ordered)
    return {
        "schema": SCHEMA_ID,
        "kubechaosVersion": __version__,
        "kubernetesVersion": TARGET_RELEASE,
        "scenario": dict(scenario),
        "seeds": format_seeds(every),
        "seedCount": len(every),
        "shard": shard.as_json() if shard is not None else None,
        "complete": complete,
        "exitCode": exit_code(summary, complete),
        "wallSeconds": None if wall_seconds is None else round(wall_seconds, 3),
        "summary": summary,
        "results": ordered,
    }


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: always one of the measured values, never an interpolation."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def distribution(values: Iterable[float]) -> dict[str, float] | None:
    """min, p50, p95, p99, max and mean of ``values``; None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    dist = {"min": ordered[0]}
    for p in PERCENTILES:
        dist[f"p{p}"] = percentile(ordered, p)
    dist["max"] = ordered[-1]
    dist["mean"] = round(math.fsum(ordered) / len(ordered), 6)
    return dist


def _rate(passed: int, runs: int) -> float | None:
    return round(passed / runs, 6) if runs else None


def summarise(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What a person reads first: pass rates, recovery-time distributions, failing seeds.

    Recovery times are over recovered injections only; injections that never recovered are
    counted apart (a "not recovered" has no time to put in a percentile). Faults, SLOs and
    services are listed in the order they first appear in seed order.
    """
    verdicts = {v: sum(1 for r in results if r["verdict"] == v) for v in (PASSED, FAILED, ERROR)}
    return {
        "runs": len(results),
        "passed": verdicts[PASSED],
        "failed": verdicts[FAILED],
        "errors": verdicts[ERROR],
        "interrupted": sum(1 for r in results if r["verdict"] == INTERRUPTED),
        "passRate": _rate(verdicts[PASSED], len(results)),
        "faults": _fault_summaries(results),
        "slos": _slo_summaries(results),
        "traffic": _service_summaries(results),
        "failing": [_failing(r) for r in results if r["verdict"] != PASSED],
    }


def _fault_summaries(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per fault name: injections by recovery status, and the recovered ones' times."""
    faults: dict[str, dict[str, Any]] = {}
    recovery_times: dict[str, list[float]] = {}
    for result in results:
        for fault in result["faults"]:
            entry = faults.setdefault(
                fault["name"],
                {
                    "name": fault["name"],
                    "type": fault["type"],
                    "injections": 0,
                    "recovered": 0,
                    "notRecovered": 0,
                    "notObservable": 0,
                    "pending": 0,
                },
            )
            entry["injections"] += 1
            status = fault["recovery"]["status"]
            if status == "recovered":
                entry["recovered"] += 1
                recovery_times.setdefault(fault["name"], []).append(fault["recovery"]["seconds"])
            elif status == "not-recovered":
                entry["notRecovered"] += 1
            elif status == "not-observable":  # too close to the end to see: no measurement
                entry["notObservable"] += 1
            else:
                entry["pending"] += 1
    for name, entry in faults.items():
        entry["recoverySeconds"] = distribution(recovery_times.get(name, ()))
    return list(faults.values())


def _slo_summaries(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per SLO: on how many runs it held, and the seeds where it did not."""
    slos: dict[str, dict[str, Any]] = {}
    for result in results:
        for slo in result["slos"]:
            entry = slos.setdefault(
                slo["name"],
                {"name": slo["name"], "kind": slo["kind"], "runs": 0, "passed": 0,
                 "failingSeeds": []},
            )  # fmt: skip
            entry["runs"] += 1
            if slo["ok"]:
                entry["passed"] += 1
            else:
                entry["failingSeeds"].append(result["seed"])
    for entry in slos.values():
        entry["passRate"] = _rate(entry["passed"], entry["runs"])
    return list(slos.values())


def _service_summaries(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per service: requests over all runs, and the distribution of each run's success rate."""
    services: dict[str, dict[str, Any]] = {}
    rates: dict[str, list[float]] = {}
    for result in results:
        for t in result["traffic"]:
            key = f"{t['namespace']}/{t['service']}"
            entry = services.setdefault(
                key, {"namespace": t["namespace"], "service": t["service"], "requests": 0}
            )
            entry["requests"] += t["requests"]
            if t["successRate"] is not None:
                rates.setdefault(key, []).append(t["successRate"])
    for key, entry in services.items():
        entry["successRate"] = distribution(rates.get(key, ()))
    return list(services.values())


def _failing(result: Mapping[str, Any]) -> dict[str, Any]:
    """A seed that did not pass: why, and the command that replays it."""
    return {
        "seed": result["seed"],
        "verdict": result["verdict"],
        "violated": [s["name"] for s in result["slos"] if not s["ok"]],
        "error": result["error"],
        "replay": result["replay"],
    }


def exit_code(summary: Mapping[str, Any], complete: bool = True) -> int:
    """130 if cut short, else 3 if any run failed internally, 1 if any violated an SLO, 0."""
    if not complete or summary["interrupted"]:
        return EXIT_INTERRUPTED
    if summary["errors"]:
        return EXIT_RUN_FAILED
    return EXIT_SLO_VIOLATED if summary["failed"] else EXIT_OK


def normalised(sweep: Mapping[str, Any]) -> dict[str, Any]:
    """``sweep`` with every wall-clock time blanked: the part that depends only on the scenario
    and the seeds, so two sweeps compare equal however (and wherever) they ran."""
    out = dict(sweep)
    out["wallSeconds"] = None
    out["results"] = [dict(r, wallSeconds=None) for r in sweep["results"]]
    return out


# --- files ----------------------------------------------------------------------------------


def schema() -> dict[str, Any]:
    """The JSON Schema of a sweep (draft 2020-12)."""
    text = resources.files("kubechaos.report").joinpath("sweep-schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def read_sweep(path: Path) -> dict[str, Any]:
    """A sweep JSON file; SweepError (naming the file) if it is unreadable or not a sweep."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SweepError(f"cannot read {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise SweepError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_ID:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise SweepError(f"{path}: not a sweep result (schema {found!r}, expected {SCHEMA_ID!r})")
    missing = [key for key in schema()["required"] if key not in data]
    if missing:
        raise SweepError(f"{path}: not a whole sweep result (missing {', '.join(missing)})")
    return data
