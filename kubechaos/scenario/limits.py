"""How much one scenario may ask for: every bound on hostile or mistaken input, in one place.

A scenario is a few lines of YAML, and a few lines can ask for a billion nodes, a billion
requests a second or a hundred thousand hours: each would run out of memory or never end. The
loader checks each against :class:`Limits` and answers with one located error instead. The
defaults are far above what the scenario library and the benchmarks need; a user who needs more
raises one with the matching ``kubechaos run`` / ``validate`` flag (``--max-nodes 20000``), which
:data:`FLAGS` lists. File size, YAML nesting and aliases are bounded while reading
(:mod:`kubechaos.scenario.yamlfile`), before there is a scenario to check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeGuard

import attrs

from kubechaos.api.duration import format_duration
from kubechaos.scenario.yamlfile import MAX_FILE_BYTES

DAY = 86400.0


@attrs.frozen
class Limits:
    """The most one scenario may ask for. Each field is checked by the loader; the ones in
    :data:`FLAGS` can be raised from the command line."""

    nodes: int = 10_000  # nodes in spec.cluster, over every node group
    rate: float = 10_000.0  # requests per second of one spec.traffic entry
    total_rate: float = 100_000.0  # requests per second of all spec.traffic entries together
    duration: float = 30 * DAY  # spec.duration (virtual time)
    every: float = 1.0  # the shortest `every` of a repeated fault
    injections: int = 10_000  # fault injections in one run (every occurrence of every fault)
    objects: int = 100_000  # workload objects, counting the pods their replicas ask for
    explore_faults: int = 100  # faults in one drawn schedule (spec.explore.count)
    file_bytes: int = MAX_FILE_BYTES  # one scenario or manifest file

    def with_overrides(self, overrides: Mapping[str, Any]) -> Limits:
        """These limits with the given fields (``None`` values ignored) replaced."""
        return attrs.evolve(self, **{k: v for k, v in overrides.items() if v is not None})


@attrs.frozen
class Flag:
    """A limit a user may raise: its field, its flag and how its value is written."""

    field: str
    flag: str
    kind: str  # "count", "rate" or "duration"
    help: str


FLAGS = (
    Flag("nodes", "--max-nodes", "count", "Most nodes in the cluster"),
    Flag("rate", "--max-rate", "rate", "Most requests per second of one traffic entry"),
    Flag("total_rate", "--max-total-rate", "rate", "Most requests per second of all traffic"),
    Flag("duration", "--max-duration", "duration", "Longest scenario duration"),
    Flag("injections", "--max-injections", "count", "Most fault injections in one run"),
    Flag(
        "objects",
        "--max-objects",
        "count",
        "Most workload objects, counting the pods their replicas ask for",
    ),
)


def flag_of(field: str) -> str:
    """The flag that raises ``field``, for the hint in an error ("raise it with ...")."""
    for flag in FLAGS:
        if flag.field == field:
            return f"; raise it with {flag.flag}"
    return ""


def show(field: str, value: float) -> str:
    """A limit's value as its flag takes it."""
    if field == "duration" or field == "every":
        return format_duration(value)
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    return f"{value:,}"


def finite_number(value: Any) -> TypeGuard[int | float]:
    """A number YAML may give that is neither NaN nor infinite (``.nan``, ``.inf``)."""
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


__all__ = ["DAY", "FLAGS", "Flag", "Limits", "finite_number", "flag_of", "show"]
