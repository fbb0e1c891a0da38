"""Which pods or nodes a fault hits: selectors and modes as Chaos Mesh spells them.

A pod target filters by ``namespace``, ``labelSelector`` and ``names``; a node target by ``nodes``,
``nodeGroup`` and ``labelSelector`` (node labels). Both then pick among the matches by ``mode``:

``one``
    one at random;
``all``
    every match;
``fixed``
    ``value`` at random (all of them if fewer match);
``fixed-percent``
    ``value`` percent of the matches, rounded down, at random;
``random-max-percent``
    a random share between 0 and ``value`` percent, rounded down.

Matches are sorted by name before drawing, so a seed picks the same victims in every process.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import TypeVar

import attrs

MODES = ("one", "all", "fixed", "fixed-percent", "random-max-percent")

T = TypeVar("T")


@attrs.frozen
class Target:
    """A selector; pod faults read the pod fields, node faults the node fields."""

    namespace: str | None = None
    label_selector: Mapping[str, str] = attrs.field(factory=dict)
    names: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()
    node_group: str | None = None
    mode: str = "all"
    value: float = 0

    def __attrs_post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")

    def matches_labels(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.label_selector.items())

    def describe(self) -> str:
        parts = []
        if self.namespace:
            parts.append(f"namespace={self.namespace}")
        if self.label_selector:
            parts.append(",".join(f"{k}={v}" for k, v in self.label_selector.items()))
        if self.names:
            parts.append("names=" + ",".join(self.names))
        if self.nodes:
            parts.append("nodes=" + ",".join(self.nodes))
        if self.node_group:
            parts.append(f"nodeGroup={self.node_group}")
        picked = self.mode if self.mode in ("one", "all") else f"{self.mode} {self.value:g}"
        return " ".join([*parts, picked]) if parts else picked


def pick(matches: Sequence[T], mode: str, value: float, rng: random.Random) -> list[T]:
    """Choose among ``matches`` (already in a stable order) as ``mode`` says."""
    found = list(matches)
    if mode == "all" or not found:
        return found
    if mode == "one":
        count = 1
    elif mode == "fixed":
        count = int(value)
    elif mode == "fixed-percent":
        count = math.floor(len(found) * value / 100)
    elif mode == "random-max-percent":
        count = math.floor(len(found) * rng.randint(0, int(value)) / 100)
    else:
        raise ValueError(f"unknown mode {mode!r}")
    count = max(0, min(count, len(found)))
    chosen = sorted(rng.sample(range(len(found)), count))
    return [found[i] for i in chosen]
