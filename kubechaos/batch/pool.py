"""The pool that runs ``(scenario, seed)`` jobs: in spawned worker processes, or in this one.

Runs happen in worker processes started with the ``spawn`` method: a forked copy of a process
that has run Trio (or holds threads) is not safe to use, and a spawned one behaves the same on
every platform. Each worker loads the scenario file itself (once per process) and sends back a
compact result (the run's result without its per-second series, see ``report/sweep.py``) so the
traffic between processes stays small. Results come back in job order, whatever order they
finished in; Ctrl-C (or SIGTERM, SIGHUP: the CLI makes them one) ends the workers rather than
waiting hours of virtual time for them, and a worker dies with its parent however that ends,
so no run outlives its sweep.

Sweeps (``sweep.py``) and comparisons (``compare.py``) both run their seeds through this pool.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any

from kubechaos.report.result import result_of
from kubechaos.report.sweep import compact, error_result, scenario_info
from kubechaos.scenario.loader import Scenario, load_scenario
from kubechaos.scenario.runner import Run
from kubechaos.sim.failures import describe_failure

OnResult = Callable[[dict[str, Any]], None]


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


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def worker_init(parent: int) -> None:
    """Set up a worker process of the parent ``parent`` (a pool's ``initializer``).

    Stopping is the parent's to decide: Ctrl-C, a closed terminal or a ``kill`` of the process
    group reaches the workers too, and a worker dying by itself would read as a failed run, so
    they ignore SIGINT, SIGHUP and SIGTERM and the parent ends them (SIGKILL) when it stops.
    And they die with their parent: on Linux the kernel sends SIGKILL to a worker when its
    parent exits, however it exits (``prctl(PR_SET_PDEATHSIG)``); a worker whose parent is
    already gone by then exits at once.
    """
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


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
        initializer=worker_init,
        initargs=(os.getpid(),),
    )
    interrupted = finished = False
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
        finished = True
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if not finished:  # interrupted, or anything else went wrong: no waiting for runs
            end_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)
    return results, interrupted


def end_workers(pool: ProcessPoolExecutor) -> None:
    """End the pool's workers now and drop its queued jobs (the workers ignore the stop
    signals, see :func:`worker_init`).

    The executor has no public way to stop a run in progress; a run can be hours of virtual
    time, so end the workers rather than wait for them. This runs while the command stops, so
    a second Ctrl-C (a ``KeyboardInterrupt`` anywhere in here) must not cut it short: a worker
    left running, or the queued jobs left queued, would be waited for when Python exits (the
    executor's thread runs every queued job first). So each step is retried until done, and no
    worker is waited for in this thread: the executor's thread reaps them. (A
    ``Process.join`` here, interrupted between reaping a worker and noting it, left the worker
    looking alive for ever, and that thread spinning: the exit hung.)
    """
    workers: list[Any] | None = None
    while True:
        try:
            if workers is None:  # before shutdown(), which forgets them
                workers = list((pool._processes or {}).values())
            while workers:
                with contextlib.suppress(OSError, ValueError):
                    workers[-1].kill()
                workers.pop()
            pool.shutdown(wait=False, cancel_futures=True)
            return
        except KeyboardInterrupt:  # already stopping: a second signal changes nothing
            continue
