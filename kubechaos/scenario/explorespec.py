"""A scenario's ``spec.explore``: the space of fault schedules to explore, and one draw from it.

The space is a set of fault templates (a type, a target, and for each param or the duration
either a value, a list to choose from (:class:`Choice`) or a ``{min, max}`` range
(:class:`Range`)), how many faults a schedule holds, and the window their injections fall in.
:func:`draw_schedule` draws one schedule from a seed: run ``index`` of an exploration with base
seed ``S`` uses seed ``S + index`` both for drawing and for the run, so every run is independent
and replays exactly. Drawn faults are named ``<template>#<k>``; an SLO
``recoveryWithin: {fault: <template>}`` judges every fault drawn from that template.

These are the types the loader builds from YAML (see ``faultspec.read_explore``), so they sit
apart from what uses a loaded scenario (``scenario/explore.py``: drawing into a scenario and
shrinking a failure; ``kubechaos/batch/explore.py``: running the draws): the loader imports this
module and nothing in it needs a loaded scenario or a run.
"""

from __future__ import annotations

import random
from typing import Any

import attrs

from kubechaos.faults import ScheduledFault, Target
from kubechaos.faults.base import Fault


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


def covers(slo_fault: str, fault_name: str) -> bool:
    """Whether a ``recoveryWithin`` SLO on ``slo_fault`` judges the fault named ``fault_name``:
    the fault itself, or a fault drawn from the template of that name (``<template>#<k>``)."""
    return fault_name == slo_fault or fault_name.startswith(slo_fault + "#")


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
