"""What an exploration does to a scenario: draw a schedule into it, and shrink a failure.

:func:`explored` adds the schedule drawn for a seed from the scenario's ``spec.explore`` (see
``explorespec.py``) to its fixed faults. :func:`shrink` takes a failing scenario and makes it
smaller while it keeps failing *the same way* (the same SLOs violated, or the same invariant
broken): it removes faults, shortens durations, narrows targets to one victim, moves injections
later, and lowers traffic, keeping each change only if the failure stays the same. It is
deterministic (the same seed throughout) and bounded in runs; it runs nothing itself but asks a
``check`` (``kubechaos/batch/explore.py`` supplies one that runs the candidate).

A ``recoveryWithin`` SLO judges the faults it names (or that were drawn from the template it
names); a schedule with none of them has nothing for it to judge, so :func:`judged` leaves it out
of that run (it would otherwise fail as "never injected": a violation of nothing). Both a drawn
schedule and every shrink candidate go through it, so a shrink cannot "keep" a failure by
removing the faults an SLO was about, and the written file never names a fault it lacks.

A fault is never moved so late that its recovery could not be seen before the end: it keeps at
least its SLO's ``within`` (the stability window when no SLO judges it) after its revert. A
fault "not recovered" because the run ended is a different failure, not a smaller one.

This module works on loaded scenarios, so it sits above the loader; the loader reads
``spec.explore`` into the types of ``explorespec.py``, which need nothing from here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import attrs

from kubechaos.faults import ScheduledFault
from kubechaos.observe.slo import SLO
from kubechaos.observe.steady import DEFAULT_WINDOW
from kubechaos.scenario.explorespec import covers, draw_schedule
from kubechaos.scenario.loader import Scenario


def explored(scenario: Scenario, seed: int) -> Scenario:
    """``scenario`` with its fixed faults plus a schedule drawn for ``seed``, judged by the SLOs
    that have something to judge in it (see :func:`judged`)."""
    assert scenario.explore is not None
    drawn = draw_schedule(scenario.explore, seed)
    return judged(attrs.evolve(scenario, faults=(*scenario.faults, *drawn), seed=seed))


FAULT_SLOS = ("recoveryWithin", "condition")  # the SLOs that judge a fault (or template)


def unjudged(scenario: Scenario) -> tuple[SLO, ...]:
    """The ``recoveryWithin`` (and ``condition``) SLOs of ``scenario`` that judge none of its
    faults (a template of which nothing was drawn, or whose faults a shrink removed)."""
    names = [s.fault.name for s in scenario.faults]
    return tuple(
        slo
        for slo in scenario.slos
        if slo.kind in FAULT_SLOS and not any(covers(slo.fault, n) for n in names)
    )


def judged(scenario: Scenario) -> Scenario:
    """``scenario`` without its :func:`unjudged` SLOs: nothing to judge is not a violation."""
    left_out = unjudged(scenario)
    if not left_out:
        return scenario
    return attrs.evolve(scenario, slos=tuple(s for s in scenario.slos if s not in left_out))


def latest_injection(scenario: Scenario, scheduled: ScheduledFault) -> float:
    """The latest a fault may be injected and its recovery still be judged before the end:
    its duration plus the longest ``within`` of the SLOs on it (the stability window if none)."""
    margin = max(
        (
            slo.within
            for slo in scenario.slos
            if slo.kind in FAULT_SLOS and covers(slo.fault, scheduled.fault.name)
        ),
        default=DEFAULT_WINDOW,
    )
    return scenario.duration - (scheduled.duration or 0) - max(margin, DEFAULT_WINDOW)


# ---------------------------------------------------------------------- shrinking
Signature = tuple[str, ...]
"""How a run failed: the sorted names of the violated SLOs, or ``("invariant:<name>",)``."""

RunAndSign = Callable[[Scenario], Signature]  # runs a candidate, says how it failed
"""Runs a scenario and returns its failure signature (empty when it passes)."""


@attrs.define
class ShrinkResult:
    scenario: Scenario
    signature: Signature
    runs: int
    steps: list[str] = attrs.field(factory=list)
    interrupted: bool = False  # Ctrl-C (or SIGTERM/SIGHUP) stopped it: the smallest so far


def shrink(
    scenario: Scenario, signature: Signature, check: RunAndSign, max_runs: int = 200
) -> ShrinkResult:
    """Make ``scenario`` smaller while ``check`` keeps returning ``signature``. A
    ``KeyboardInterrupt`` in a check stops it with the smallest failing scenario so far
    (``interrupted`` set)."""
    assert signature, "only a failing scenario can be shrunk"
    result = ShrinkResult(scenario, signature, 0)

    def attempt(candidate: Scenario, step: str) -> bool:
        if result.runs >= max_runs:
            return False
        result.runs += 1
        candidate = judged(candidate)
        if check(candidate) == signature:
            result.scenario = candidate
            result.steps.append(step)
            return True
        return False

    try:
        _shrink_steps(result, attempt, max_runs)
    except KeyboardInterrupt:
        result.interrupted = True
    return result


def _shrink_steps(
    result: ShrinkResult, attempt: Callable[[Scenario, str], bool], max_runs: int
) -> None:
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
        # 4. move injections later (halfway to the latest time its recovery can still be
        # judged before the end: never into the last seconds, where it could not recover)
        for i in range(len(result.scenario.faults)):
            for _ in range(3):
                current = result.scenario.faults[i]
                latest = latest_injection(result.scenario, current)
                later_at = math.floor(current.at + (latest - current.at) / 2)
                if later_at <= current.at + 1 or later_at > latest:
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


def _replace(scenario: Scenario, index: int, fault: ScheduledFault) -> Scenario:
    faults = list(scenario.faults)
    faults[index] = fault
    return attrs.evolve(scenario, faults=tuple(faults))


def signature_of(violated_slos: Sequence[str], invariant: str | None) -> Signature:
    if invariant is not None:
        return (f"invariant:{invariant}",)
    return tuple(sorted(violated_slos))


def describe(scheduled: ScheduledFault) -> str:
    fault = scheduled.fault
    span = f" for {scheduled.duration:g}s" if scheduled.duration else ""
    params = fault.describe_params()
    return f"{fault.name} {fault.type} at {scheduled.at:g}s{span}" + (
        f" {params}" if params else ""
    )
