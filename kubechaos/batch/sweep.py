"""A seed sweep: one scenario under many seeds (or one shard of them), and merging the shards.

``run_sweep`` runs the seeds of a spec (this shard of them) through the worker pool
(``pool.py``) and hands the results to ``report/sweep.py``'s :func:`sweep_of`, which summarises
them in seed order. ``merge`` puts the JSON of a sweep's shards (run on other machines, say a CI
matrix or a Kubernetes Indexed Job) back together into the sweep one machine would have run,
refusing shards that do not fit: of another scenario file, seed spec or kubechaos, interrupted,
given twice, missing, or not holding exactly their shard's seeds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from kubechaos.batch.pool import OnResult, run_jobs
from kubechaos.report.sweep import SCHEMA_ID, SweepError, scenario_info, sweep_of
from kubechaos.scenario.loader import Scenario
from kubechaos.scenario.seeds import Shard, format_seeds, parse_seeds


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
