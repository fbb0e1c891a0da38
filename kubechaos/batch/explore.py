"""Running an exploration: many drawn fault schedules in worker processes, and a shrink's runs.

Run ``index`` of an exploration with base seed ``S`` draws its schedule from the scenario's
``spec.explore`` with seed ``S + index`` and runs with that seed too (``scenario/explore.py``'s
:func:`explored`), so every run is independent and replays exactly; where it runs cannot change
its outcome. :func:`explore_all` runs them in spawned worker processes (see ``pool.py`` for why
spawned), each sending back an :class:`ExploreOutcome` small enough to pickle cheaply, in run
order. :func:`shrink_failure` gives ``scenario/explore.py``'s :func:`shrink` its check: run the
candidate with the failing seed and say how it failed; :func:`reproduces` checks that a written
scenario file loads and fails the same way on its own.

Ctrl-C (and SIGTERM or SIGHUP, which ``kubechaos explore`` turns into it) stops the exploration
at once: the workers are ended rather than waited for (``pool.py``'s :func:`end_workers`, which a
second signal cannot cut short), and :func:`explore_all` returns the runs that finished (a
caller that must keep them even when a second signal interrupts it there collects them through
``on_outcome``). Workers ignore Ctrl-C, SIGTERM and SIGHUP (the parent handles them) and die with
their parent however it ends: on Linux the kernel kills them when it exits
(``PR_SET_PDEATHSIG``), elsewhere a thread in each watches for the parent to go.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import attrs

from kubechaos.batch.pool import end_workers, worker_init
from kubechaos.scenario.explore import (
    ShrinkResult,
    Signature,
    describe,
    explored,
    shrink,
    signature_of,
)
from kubechaos.scenario.loader import Scenario, ScenarioError, load_scenario
from kubechaos.scenario.runner import Run
from kubechaos.sim.failures import describe_failure, innermost
from kubechaos.sim.invariants import InvariantViolation


@attrs.frozen
class ExploreOutcome:
    """One exploration run, small enough to send back from a worker process."""

    index: int
    seed: int
    signature: Signature
    schedule: tuple[str, ...]  # one line per drawn fault
    error: str | None = None
    # recoveryWithin SLOs left out of this run: nothing they judge was drawn
    not_drawn: tuple[str, ...] = ()


def failure_signature(scenario: Scenario, seed: int) -> tuple[Signature, str | None]:
    """Run ``scenario`` with ``seed``: how it failed (empty if it passed), and any error."""
    run = Run(scenario, seed)
    try:
        run.run()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # an invariant (or the model) broke: exit 3 territory
        if run.invariants.violations:
            return signature_of((), run.invariants.violations[0].invariant), None
        cause = innermost(exc)
        if isinstance(cause, InvariantViolation):
            return signature_of((), cause.invariant), None
        return ("error",), describe_failure(cause)
    return signature_of([r.slo.name for r in run.results if not r.ok], None), None


def explore_one(path: str, index: int, base_seed: int) -> ExploreOutcome:
    """Run ``index`` of an exploration of the scenario file at ``path`` (worker-safe)."""
    seed = base_seed + index
    whole = load_scenario(path)
    scenario = explored(whole, seed)
    signature, error = failure_signature(scenario, seed)
    drawn = tuple(describe(s) for s in scenario.faults if "#" in s.fault.name)
    left_out = tuple(s.name for s in whole.slos if s not in scenario.slos)
    return ExploreOutcome(index, seed, signature, drawn, error, left_out)


def explore_all(
    path: str,
    runs: int,
    seed: int,
    workers: int,
    on_outcome: Callable[[ExploreOutcome], None] | None = None,
) -> tuple[list[ExploreOutcome], bool]:
    """Runs ``0 .. runs - 1`` of an exploration from base ``seed``, on up to ``workers``
    processes (in this one when there is one worker or one run): the outcomes in run order, and
    whether Ctrl-C cut it short (then only the runs that finished are there). ``on_outcome``
    sees each outcome as it arrives."""
    done: dict[int, ExploreOutcome] = {}
    interrupted = False
    if workers <= 1 or runs == 1:
        try:
            for i in range(runs):
                done[i] = explore_one(path, i, seed)
                if on_outcome is not None:
                    on_outcome(done[i])
        except KeyboardInterrupt:
            interrupted = True
        return [done[i] for i in sorted(done)], interrupted
    pool = ProcessPoolExecutor(
        max_workers=min(workers, runs),
        mp_context=get_context("spawn"),
        initializer=worker_init,
        initargs=(os.getpid(),),
    )
    finished = False
    try:
        futures: dict[Future[ExploreOutcome], int] = {
            pool.submit(explore_one, path, i, seed): i for i in range(runs)
        }
        for future in as_completed(futures):
            i = futures[future]
            try:
                done[i] = future.result()
            except Exception as exc:  # a worker died, or could not load the scenario
                done[i] = ExploreOutcome(i, seed + i, ("error",), (), describe_failure(exc))
            if on_outcome is not None:
                on_outcome(done[i])
        finished = True
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if not finished:  # a run can be long: end the workers rather than wait for them
            end_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)
    return [done[i] for i in sorted(done)], interrupted


def failing_scenario(scenario_file: Path, failing: ExploreOutcome) -> Scenario:
    """The failing run ``failing`` of an exploration of ``scenario_file`` as a fixed
    scenario: its drawn schedule, no ``spec.explore``."""
    return attrs.evolve(explored(load_scenario(scenario_file), failing.seed), explore=None)


def shrink_failure(scenario_file: Path, failing: ExploreOutcome, max_runs: int) -> ShrinkResult:
    """Shrink the failing run ``failing`` of an exploration of ``scenario_file``: its drawn
    schedule made fixed, then made smaller while it fails the same way under its seed."""

    def check(candidate: Scenario) -> Signature:
        return failure_signature(candidate, failing.seed)[0]

    fixed = failing_scenario(scenario_file, failing)
    return shrink(fixed, failing.signature, check, max_runs=max_runs)


def reproduces(written: Path, signature: Signature) -> str | None:
    """Whether the scenario file ``written`` loads and, run with its own seed, fails with
    ``signature``: None if so, else what went wrong (one line)."""
    try:
        scenario = load_scenario(written)
    except ScenarioError as exc:
        return f"it does not load: {exc.errors[0]}" if exc.errors else "it does not load"
    got, error = failure_signature(scenario, scenario.seed or 0)
    if got != signature:
        shown = ", ".join(got) or "nothing (it passes)"
        return f"it fails with {shown}" + (f" ({error})" if error else "")
    return None
