"""Running an exploration: many drawn fault schedules in worker processes, and a shrink's runs.

Run ``index`` of an exploration with base seed ``S`` draws its schedule from the scenario's
``spec.explore`` with seed ``S + index`` and runs with that seed too (``scenario/explore.py``'s
:func:`explored`), so every run is independent and replays exactly; where it runs cannot change
its outcome. :func:`explore_all` runs them in spawned worker processes (see ``pool.py`` for why
spawned), each sending back an :class:`ExploreOutcome` small enough to pickle cheaply, in run
order. :func:`shrink_failure` gives ``scenario/explore.py``'s :func:`shrink` its check: run the
candidate with the failing seed and say how it failed.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import attrs

from kubechaos.scenario.explore import (
    ShrinkResult,
    Signature,
    describe,
    explored,
    shrink,
    signature_of,
)
from kubechaos.scenario.loader import Scenario, load_scenario
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
    scenario = explored(load_scenario(path), seed)
    signature, error = failure_signature(scenario, seed)
    drawn = tuple(describe(s) for s in scenario.faults if "#" in s.fault.name)
    return ExploreOutcome(index, seed, signature, drawn, error)


def explore_all(path: str, runs: int, seed: int, workers: int) -> list[ExploreOutcome]:
    """Runs ``0 .. runs - 1`` of an exploration from base ``seed``, on up to ``workers``
    processes (in this one when there is one worker or one run); outcomes in run order."""
    if workers <= 1 or runs == 1:
        return [explore_one(path, i, seed) for i in range(runs)]
    with ProcessPoolExecutor(
        max_workers=min(workers, runs), mp_context=get_context("spawn")
    ) as pool:
        futures = [pool.submit(explore_one, path, i, seed) for i in range(runs)]
        return [f.result() for f in futures]  # in run order, whatever order they finished in


def shrink_failure(scenario_file: Path, failing: ExploreOutcome, max_runs: int) -> ShrinkResult:
    """Shrink the failing run ``failing`` of an exploration of ``scenario_file``: its drawn
    schedule made fixed, then made smaller while it fails the same way under its seed."""
    fixed = attrs.evolve(explored(load_scenario(scenario_file), failing.seed), explore=None)

    def check(candidate: Scenario) -> Signature:
        return failure_signature(candidate, failing.seed)[0]

    return shrink(fixed, failing.signature, check, max_runs=max_runs)
