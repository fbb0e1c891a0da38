"""Seed sweeps: one scenario under many seeds, in parallel, summarised as distributions.

One run answers "did it survive with seed 42?"; a sweep answers "how often does it survive, and
how long does recovery take at the 99th percentile?". Each run depends only on the scenario file
and its seed, so where a run happens (this process, a worker process, another machine's shard)
cannot change its result. A sweep therefore collects its results in seed order, whatever order
they finished in, and the JSON of a sweep is the same whether it ran serially, on eight workers,
or as four shards merged afterwards (wall-clock times aside).

Seeds are written as a spec: ``"1-200"``, ``"1,5,9"``, ``"1-10,20-30"``. ``--shard K/N`` takes
every N-th seed of the sorted list starting at the K-th (``seeds[i]`` for ``i % N == K - 1``),
so the N shards partition the seeds and each gets a fair mix of them.

Runs happen in worker processes started with the ``spawn`` method: a forked copy of a process
that has run Trio (or holds threads) is not safe to use, and a spawned one behaves the same on
every platform. Each worker loads the scenario file itself and sends back a compact result (the
run's result without its per-second series) so the traffic between processes stays small.

The sweep JSON (``"schema": "kubechaos/sweep/v1"``, see ``sweep-schema.json``) holds the scenario
(with the SHA-256 of its file, so shards of different files never merge), the seed spec, the
shard, a summary and every per-seed result.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from kubechaos import __version__
from kubechaos.defaults import TARGET_RELEASE
from kubechaos.report.result import (
    ERROR,
    EXIT_CODES,
    FAILED,
    INTERRUPTED,
    PASSED,
    replay_command,
    result_of,
)
from kubechaos.report.result import (
    SCHEMA_ID as RESULT_SCHEMA_ID,
)
from kubechaos.scenario.loader import Scenario, load_scenario
from kubechaos.scenario.runner import Run
from kubechaos.sim.failures import describe_failure

SCHEMA_ID = "kubechaos/sweep/v1"
MAX_SEEDS = 1_000_000  # a typo such as "1-10000000" should fail at once, not fill the memory
PERCENTILES = (50, 95, 99)

# exit codes of `kubechaos sweep` (the same meaning as for `kubechaos run`)
EXIT_OK, EXIT_SLO_VIOLATED, EXIT_RUN_FAILED, EXIT_INTERRUPTED = 0, 1, 3, 130

OnResult = Callable[[dict[str, Any]], None]


class SweepError(ValueError):
    """Sweep results that cannot be merged or read; the message says which and why."""


# --- seeds and shards -----------------------------------------------------------------------


def parse_seeds(spec: str) -> list[int]:
    """The sorted seeds of a spec such as ``"1-10,20-30"``; ValueError says what is wrong.

    A seed listed twice is an error rather than silently run once: overlapping ranges are
    usually a typo, and the shard arithmetic needs one unambiguous list.
    """
    text = spec.strip()
    if not text:
        raise ValueError('empty seed spec; expected e.g. "1-200", "1,5,9" or "1-10,20-30"')
    seen: dict[int, str] = {}
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            raise ValueError(f"empty item in seed spec {spec!r} (two commas in a row?)")
        first, dash, last = part.partition("-")
        first, last = first.strip(), last.strip()
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ValueError(
                f"{part!r} in seed spec {spec!r} is not a seed or a range; "
                'expected whole numbers >= 0 like "7" or "1-200"'
            )
        low = int(first)
        high = int(last) if dash else low
        if high < low:
            raise ValueError(f"range {part!r} in seed spec {spec!r} runs backwards")
        if len(seen) + (high - low + 1) > MAX_SEEDS:
            raise ValueError(f"seed spec {spec!r} has more than {MAX_SEEDS:,} seeds")
        for seed in range(low, high + 1):
            if seed in seen:
                raise ValueError(
                    f"seed {seed} is listed twice in seed spec {spec!r} "
                    f"(in {seen[seed]!r} and {part!r})"
                )
            seen[seed] = part
    return sorted(seen)


def format_seeds(seeds: Iterable[int]) -> str:
    """The canonical spec of a set of seeds: sorted, consecutive seeds folded into ranges."""
    ordered = sorted(seeds)
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


@attrs.frozen
class Shard:
    """Shard ``index`` of ``count`` (1-based, as CI matrices and people count)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def select(self, seeds: Sequence[int]) -> list[int]:
        """Every ``count``-th seed starting at position ``index - 1``: the shards partition the
        list, their sizes differ by at most one, and each gets early and late seeds alike."""
        return [seed for i, seed in enumerate(seeds) if i % self.count == self.index - 1]

    def as_json(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}


def parse_shard(text: str) -> Shard:
    """``"K/N"`` with 1 <= K <= N."""
    index, slash, count = text.strip().partition("/")
    if not slash or not index.strip().isdigit() or not count.strip().isdigit():
        raise ValueError(f'expected K/N such as "2/4", got {text!r}')
    shard = Shard(int(index), int(count))
    if shard.count < 1:
        raise ValueError(f"the shard count must be at least 1, got {text!r}")
    if not 1 <= shard.index <= shard.count:
        raise ValueError(f"the shard number must be between 1 and {shard.count}, got {text!r}")
    return shard


# --- running --------------------------------------------------------------------------------


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


def run_one(scenario: Scenario, seed: int) -> dict[str, Any]:
    """Run ``scenario`` under ``seed``; the compact result, with an internal failure recorded
    as the result's error (Ctrl-C propagates: the sweep decides what to keep)."""
    started = time.perf_counter()
    the_run = Run(scenario, seed)
    error: str | None = None
    try:
        the_run.run()
    except Exception as exc:  # the run failed: say so in its result, keep the sweep going
        error = describe_failure(exc)
    return compact(result_of(the_run, error=error, wall_seconds=time.perf_counter() - started))


_worker_scenarios: dict[str, Scenario] = {}


def _worker_run(source: str, seed: int) -> dict[str, Any]:
    """A worker process's task: load the scenario once per process, run one seed."""
    scenario = _worker_scenarios.get(source)
    if scenario is None:
        scenario = _worker_scenarios[source] = load_scenario(source)
    return run_one(scenario, seed)


def _worker_init() -> None:
    # Ctrl-C is the parent's to handle: it stops the workers itself, so they print nothing.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def default_workers() -> int:
    """One worker per CPU this process may run on (its affinity mask where the platform has
    one: a container pinned to 2 of a node's 64 cores gets 2, not 64)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def run_jobs(
    scenarios: Mapping[str, Scenario],
    jobs: Sequence[tuple[str, int]],
    workers: int | None = None,
    on_result: OnResult | None = None,
) -> tuple[list[dict[str, Any] | None], bool]:
    """Run each ``(scenario source, seed)`` job; results in job order and whether Ctrl-C cut
    the runs short (then jobs that did not finish have ``None``).

    With one worker (or one job) the runs happen in this process, one after another; otherwise
    in ``workers`` spawned processes. ``on_result`` sees each result as it arrives, in
    completion order (for a progress bar).
    """
    workers = min(workers or default_workers(), len(jobs))
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    if workers <= 1:
        try:
            for i, (source, seed) in enumerate(jobs):
                result = results[i] = run_one(scenarios[source], seed)
                if on_result is not None:
                    on_result(result)
        except KeyboardInterrupt:
            return results, True
        return results, False
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_init,
    )
    interrupted = False
    try:
        futures: dict[Future[dict[str, Any]], int] = {
            pool.submit(_worker_run, source, seed): i for i, (source, seed) in enumerate(jobs)
        }
        for future in as_completed(futures):
            i = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # a worker died or could not load the scenario
                source, seed = jobs[i]
                result = error_result(scenario_info(scenarios[source]), seed, describe_failure(exc))
            results[i] = result
            if on_result is not None:
                on_result(result)
    except KeyboardInterrupt:
        interrupted = True
        # The executor has no public way to stop a run in progress; a run can be hours of
        # virtual time, so end the workers rather than wait for them.
        workers_running = list((pool._processes or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in workers_running:
            process.terminate()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results, interrupted


def run_sweep(
    scenario: Scenario,
    seeds: str,
    shard: Shard | None = None,
    workers: int | None = None,
    on_result: OnResult | None = None,
) -> dict[str, Any]:
    """Run ``scenario`` under the seeds of spec ``seeds`` (this ``shard`` of them); the sweep."""
    every = parse_seeds(seeds)
    chosen = shard.select(every) if shard is not None else every
    started = time.perf_counter()
    results, interrupted = run_jobs(
        {scenario.source: scenario}, [(scenario.source, s) for s in chosen], workers, on_result
    )
    return sweep_of(
        scenario_info(scenario),
        seeds,
        shard,
        [r for r in results if r is not None],
        wall_seconds=time.perf_counter() - started,
        complete=not interrupted,
    )


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
    faults: dict[str, dict[str, Any]] = {}
    recovery_times: dict[str, list[float]] = {}
    slos: dict[str, dict[str, Any]] = {}
    services: dict[str, dict[str, Any]] = {}
    rates: dict[str, list[float]] = {}
    failing = []
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
            else:
                entry["pending"] += 1
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
        for t in result["traffic"]:
            key = f"{t['namespace']}/{t['service']}"
            entry = services.setdefault(
                key, {"namespace": t["namespace"], "service": t["service"], "requests": 0}
            )
            entry["requests"] += t["requests"]
            if t["successRate"] is not None:
                rates.setdefault(key, []).append(t["successRate"])
        if result["verdict"] != PASSED:
            failing.append(
                {
                    "seed": result["seed"],
                    "verdict": result["verdict"],
                    "violated": [s["name"] for s in result["slos"] if not s["ok"]],
                    "error": result["error"],
                    "replay": result["replay"],
                }
            )
    for name, entry in faults.items():
        entry["recoverySeconds"] = distribution(recovery_times.get(name, ()))
    for entry in slos.values():
        entry["passRate"] = _rate(entry["passed"], entry["runs"])
    for key, entry in services.items():
        entry["successRate"] = distribution(rates.get(key, ()))
    return {
        "runs": len(results),
        "passed": verdicts[PASSED],
        "failed": verdicts[FAILED],
        "errors": verdicts[ERROR],
        "interrupted": sum(1 for r in results if r["verdict"] == INTERRUPTED),
        "passRate": _rate(verdicts[PASSED], len(results)),
        "faults": list(faults.values()),
        "slos": list(slos.values()),
        "traffic": list(services.values()),
        "failing": failing,
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


# --- merging shards -------------------------------------------------------------------------


def merge(
    sweeps: Sequence[Mapping[str, Any]], names: Sequence[str] | None = None
) -> dict[str, Any]:
    """One sweep from the JSON of its shards (any order); SweepError if they do not fit.

    They fit when they are all complete ``kubechaos/sweep/v1`` sweeps by the same kubechaos of
    the same scenario file and seed spec, split into the same number of shards, with each
    shard present exactly once and holding exactly its seeds. The merged wall time is the
    longest shard's: shards usually run side by side.
    """
    if not sweeps:
        raise SweepError("nothing to merge")
    labels = list(names) if names is not None else [f"input {i + 1}" for i in range(len(sweeps))]
    first, first_label = sweeps[0], labels[0]
    for sweep, label in zip(sweeps, labels, strict=True):
        if sweep.get("schema") != SCHEMA_ID:
            raise SweepError(
                f"{label}: not a sweep result (schema {sweep.get('schema')!r}, "
                f"expected {SCHEMA_ID!r})"
            )
        for key, what in (
            ("kubechaosVersion", "kubechaos version"),
            ("scenario", "scenario"),
            ("seeds", "seed spec"),
        ):
            if sweep[key] != first[key]:
                shown = (
                    f"{sweep[key]['file']} ({sweep[key]['sha256'][:12]})"
                    if key == "scenario"
                    else sweep[key]
                )
                expected = (
                    f"{first[key]['file']} ({first[key]['sha256'][:12]})"
                    if key == "scenario"
                    else first[key]
                )
                raise SweepError(
                    f"{label}: a different {what} ({shown}) than {first_label} ({expected})"
                )
        if not sweep["complete"]:
            raise SweepError(f"{label}: the sweep was interrupted; rerun that shard")
    counts = {(s["shard"] or {"count": 1})["count"] for s in sweeps}
    if len(counts) > 1:
        raise SweepError(
            "the inputs split the seeds into different numbers of shards: "
            + ", ".join(f"{lb}: {_shard_label(s)}" for s, lb in zip(sweeps, labels, strict=True))
        )
    count = counts.pop()
    every = parse_seeds(first["seeds"])
    by_index: dict[int, str] = {}
    results: list[dict[str, Any]] = []
    for sweep, label in zip(sweeps, labels, strict=True):
        shard = Shard(**sweep["shard"]) if sweep["shard"] is not None else Shard(1, 1)
        if shard.index in by_index:
            raise SweepError(
                f"{label}: shard {shard} is also in {by_index[shard.index]}; "
                "each shard must be given once"
            )
        by_index[shard.index] = label
        expected = shard.select(every)
        got = [r["seed"] for r in sweep["results"]]
        if got != expected:
            raise SweepError(
                f"{label}: shard {shard} should hold seeds {format_seeds(expected) or 'none'} "
                f"but holds {format_seeds(got) or 'none'}"
            )
        results.extend(sweep["results"])
    missing = [f"{i}/{count}" for i in range(1, count + 1) if i not in by_index]
    if missing:
        raise SweepError(f"missing shard{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    walls = [s["wallSeconds"] for s in sweeps if s["wallSeconds"] is not None]
    return sweep_of(
        first["scenario"], first["seeds"], None, results, wall_seconds=max(walls, default=None)
    )


def _shard_label(sweep: Mapping[str, Any]) -> str:
    shard = sweep["shard"]
    return "unsharded" if shard is None else f"shard {shard['index']}/{shard['count']}"


# --- files ----------------------------------------------------------------------------------


def schema() -> dict[str, Any]:
    """The JSON Schema of a sweep (draft 2020-12)."""
    text = resources.files("kubechaos.report").joinpath("sweep-schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def write_json(data: Mapping[str, Any], path: Path) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


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
