"""Running an A/B comparison: both variants of a scenario under the same seeds, in one pool.

The runs of A and of B go through one worker pool (``pool.py``) together, so a comparison takes
no longer than a sweep of twice the seeds; each variant's results become a sweep
(``report/sweep.py``) and the two sweeps become the paired comparison
(``report/compare.py``). A comparison needs every seed of both variants, so Ctrl-C yields none.
"""

from __future__ import annotations

import time
from typing import Any

from kubechaos.batch.pool import OnResult, run_jobs
from kubechaos.report.compare import compare
from kubechaos.report.compare_stats import DEFAULT_ALPHA
from kubechaos.report.sweep import scenario_info, sweep_of
from kubechaos.scenario.loader import Scenario
from kubechaos.scenario.seeds import parse_seeds


def run_compare(
    a: Scenario,
    b: Scenario,
    seeds: str,
    workers: int | None = None,
    on_result: OnResult | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> dict[str, Any]:
    """Run both variants under the seeds of spec ``seeds`` (in one pool of workers); the
    comparison, with each variant's sweep summary, its differences tested at level ``alpha``."""
    every = parse_seeds(seeds)
    scenarios = {a.source: a, b.source: b}
    jobs = [(a.source, s) for s in every] + [(b.source, s) for s in every]
    started = time.perf_counter()
    results, interrupted = run_jobs(scenarios, jobs, workers, on_result)
    if interrupted:
        raise KeyboardInterrupt
    wall = time.perf_counter() - started
    done = [r for r in results if r is not None]
    a_sweep = sweep_of(scenario_info(a), seeds, None, done[: len(every)], None)
    b_sweep = sweep_of(scenario_info(b), seeds, None, done[len(every) :], None)
    return compare(a_sweep, b_sweep, wall_seconds=wall, alpha=alpha)
