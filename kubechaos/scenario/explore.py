"""What an exploration does to a scenario: draw a schedule into it, and shrink a failure.

:func:`explored` adds the schedule drawn for a seed from the scenario's ``spec.explore`` (see
``explorespec.py``) to its fixed faults. :func:`shrink` takes a failing scenario and makes it
smaller while it keeps failing *the same way* (the same SLOs violated, or the same invariant
broken): it removes faults, shortens durations, narrows targets to one victim, moves injections
later, and lowers traffic, keeping each change only if the failure stays the same. It is
deterministic (the same seed throughout) and bounded in runs; it runs nothing itself but asks a
``check`` (``kubechaos/batch/explore.py`` supplies one that runs the candidate).

This module works on loaded scenarios, so it sits above the loader; the loader reads
``spec.explore`` into the types of ``explorespec.py``, which need nothing from here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import attrs

from kubechaos.faults import ScheduledFault
from kubechaos.scenario.explorespec import draw_schedule
from kubechaos.scenario.loader import Scenario


def explored(scenario: Scenario, seed: int) -> Scenario:
    """``scenario`` with its fixed faults plus a schedule drawn for ``seed``."""
    assert scenario.explore is not None
    drawn = draw_schedule(scenario.explore, seed)
    return attrs.evolve(scenario, faults=(*scenario.faults, *drawn), seed=seed)


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


def shrink(
    scenario: Scenario, signature: Signature, check: RunAndSign, max_runs: int = 200
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


def describe(scheduled: ScheduledFault) -> str:
    fault = scheduled.fault
    span = f" for {scheduled.duration:g}s" if scheduled.duration else ""
    params = fault.describe_params()
    return f"{fault.name} {fault.type} at {scheduled.at:g}s{span}" + (
        f" {params}" if params else ""
    )
