"""Explore a fault space, and shrink a failure to its smallest cause.

A scenario's ``spec.explore`` declares a *space* of fault schedules: fault templates (a type, a
target, and for each param or the duration either a value, a list to choose from or a
``{min, max}`` range), how many faults a schedule holds, and the window their injections fall in.
:func:`draw_schedule` draws one schedule from a seed; run ``index`` of an exploration with base
seed ``S`` uses seed ``S + index`` both for drawing and for the run, so every run is independent
and replays exactly.

Drawn faults are named ``<template>#<k>``; an SLO ``recoveryWithin: {fault: <template>}`` judges
every fault drawn from that template.

:func:`shrink` takes a failing scenario and makes it smaller while it keeps failing *the same
way* (the same SLOs violated, or the same invariant broken): it removes faults, shortens
durations, narrows targets to one victim, moves injections later, and lowers traffic, keeping
each change only if the failure stays the same. It is deterministic (the same seed throughout)
and bounded in runs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from kubechaos.faults import ScheduledFault, Target
from kubechaos.faults.base import Fault
from kubechaos.sim.failures import describe_failure, innermost

if TYPE_CHECKING:
    from kubechaos.scenario.loader import Scenario


@attrs.frozen
class Choice:
    values: tuple[Any, ...]

    def draw(self, rng: random.Random) -> Any:
        return self.values[rng.randrange(len(self.values))]


@attrs.frozen
class Range:
    low: float
    high: float
    whole: bool = False  # draw whole numbers (counts)

    def draw(self, rng: random.Random) -> Any:
        if self.whole:
            return rng.randint(int(self.low), int(self.high))
        return round(rng.uniform(self.low, self.high), 3)


Space = Choice | Range


def draw(value: Any, rng: random.Random) -> Any:
    return value.draw(rng) if isinstance(value, Choice | Range) else value


@attrs.frozen
class FaultTemplate:
    name: str
    cls: type[Fault]
    target: Target
    params: dict[str, Any]  # field -> value, Choice or Range
    duration: Any = None  # seconds, Choice, Range or None


@attrs.frozen
class ExploreSpec:
    templates: tuple[FaultTemplate, ...]
    count: Any  # int or Range(whole=True)
    window: tuple[float, float]


def draw_schedule(spec: ExploreSpec, seed: int) -> list[ScheduledFault]:
    """One schedule from the space, a function of ``seed`` alone."""
    rng = random.Random(f"kubechaos-explore:{seed}")
    count = int(draw(spec.count, rng))
    start, end = spec.window
    schedule = []
    for k in range(count):
        template = spec.templates[rng.randrange(len(spec.templates))]
        params = {name: draw(value, rng) for name, value in template.params.items()}
        at = round(rng.uniform(start, end), 3)
        duration = draw(template.duration, rng) if template.cls.lasting else None
        fault = template.cls(name=f"{template.name}#{k + 1}", target=template.target, **params)
        schedule.append(ScheduledFault(fault, at, duration or None))
    schedule.sort(key=lambda s: (s.at, s.fault.name))
    return schedule


def explored(scenario: Scenario, seed: int) -> Scenario:
    """``scenario`` with its fixed faults plus a schedule drawn for ``seed``."""
    assert scenario.explore is not None
    drawn = draw_schedule(scenario.explore, seed)
    return attrs.evolve(scenario, faults=(*scenario.faults, *drawn), seed=seed)


# ---------------------------------------------------------------------- shrinking
Signature = tuple[str, ...]
"""How a run failed: the sorted names of the violated SLOs, or ``("invariant:<name>",)``."""

Check = Callable[["Scenario"], Signature]
"""Runs a scenario and returns its failure signature (empty when it passes)."""


@attrs.define
class ShrinkResult:
    scenario: Scenario
    signature: Signature
    runs: int
    steps: list[str] = attrs.field(factory=list)


def shrink(
    scenario: Scenario, signature: Signature, check: Check, max_runs: int = 200
) -> ShrinkResult:
    """Make ``scenario`` smaller while ``check`` keeps returning ``signature``."""
    assert signature, "only a failing scenario can be shrunk"
    result = ShrinkResult(scenario, signature, 0)

    def attempt(candidate: Scenario, step: str) -> bool:
        if result.runs >= max_runs:
            return False
        result.runs += 1
        if check(candidate) == signature:
            result.scenario = candidate
            result.steps.append(step)
            return True
        return False

    progress = True
    while progress and result.runs < max_runs:
        progress = False
        # 1. remove faults, one at a time (latest first: later faults are more often noise)
        for fault in reversed(result.scenario.faults):
            remaining = tuple(f for f in result.scenario.faults if f is not fault)
            if attempt(
                attrs.evolve(result.scenario, faults=remaining), f"removed {fault.fault.name}"
            ):
                progress = True
        # 2. shorten durations (halving, down to a second)
        for i in range(len(result.scenario.faults)):
            while True:
                current = result.scenario.faults[i]
                if current.duration is None or current.duration <= 1:
                    break
                shorter = attrs.evolve(current, duration=max(1.0, math.floor(current.duration / 2)))
                if not attempt(
                    _replace(result.scenario, i, shorter),
                    f"shortened {current.fault.name} to {shorter.duration:g}s",
                ):
                    break
                progress = True
        # 3. narrow targets to a single victim
        for i in range(len(result.scenario.faults)):
            current = result.scenario.faults[i]
            target = current.fault.target
            if current.fault.target_kind == "none" or target.mode == "one":
                continue
            narrow = attrs.evolve(
                current,
                fault=attrs.evolve(current.fault, target=attrs.evolve(target, mode="one", value=0)),
            )
            if attempt(
                _replace(result.scenario, i, narrow), f"narrowed {current.fault.name} to one target"
            ):
                progress = True
        # 4. move injections later (halfway to the latest time the fault still fits)
        for i in range(len(result.scenario.faults)):
            for _ in range(3):
                current = result.scenario.faults[i]
                latest = result.scenario.duration - (current.duration or 0) - 1
                later_at = round(current.at + (latest - current.at) / 2)
                if later_at <= current.at + 1:
                    break
                if not attempt(
                    _replace(result.scenario, i, attrs.evolve(current, at=float(later_at))),
                    f"moved {current.fault.name} to {later_at}s",
                ):
                    break
                progress = True
        # 5. lower traffic (halving rates, down to 1 request/s)
        for i, spec in enumerate(result.scenario.traffic):
            if spec.rate <= 1:
                continue
            lower = attrs.evolve(spec, rate=max(1.0, math.floor(spec.rate / 2)))
            traffic = (*result.scenario.traffic[:i], lower, *result.scenario.traffic[i + 1 :])
            if attempt(
                attrs.evolve(result.scenario, traffic=traffic),
                f"lowered traffic to {spec.service} to {lower.rate:g}/s",
            ):
                progress = True
    return result


def _replace(scenario: Scenario, index: int, fault: ScheduledFault) -> Scenario:
    faults = list(scenario.faults)
    faults[index] = fault
    return attrs.evolve(scenario, faults=tuple(faults))


def signature_of(violated_slos: Sequence[str], invariant: str | None) -> Signature:
    if invariant is not None:
        return (f"invariant:{invariant}",)
    return tuple(sorted(violated_slos))


# ---------------------------------------------------------------------- running
@attrs.frozen
class ExploreOutcome:
    """One exploration run, small enough to send back from a worker process."""

    index: int
    seed: int
    signature: Signature
    schedule: tuple[str, ...]  # one line per drawn fault
    error: str | None = None


def describe(scheduled: ScheduledFault) -> str:
    fault = scheduled.fault
    span = f" for {scheduled.duration:g}s" if scheduled.duration else ""
    params = fault.describe_params()
    return f"{fault.name} {fault.type} at {scheduled.at:g}s{span}" + (
        f" {params}" if params else ""
    )


def failure_signature(scenario: Scenario, seed: int) -> tuple[Signature, str | None]:
    """Run ``scenario`` with ``seed``: how it failed (empty if it passed), and any error."""
    from kubechaos.scenario.runner import Run
    from kubechaos.sim.invariants import InvariantViolation

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
    from kubechaos.scenario.loader import load_scenario

    seed = base_seed + index
    scenario = explored(load_scenario(path), seed)
    signature, error = failure_signature(scenario, seed)
    drawn = tuple(describe(s) for s in scenario.faults if "#" in s.fault.name)
    return ExploreOutcome(index, seed, signature, drawn, error)
