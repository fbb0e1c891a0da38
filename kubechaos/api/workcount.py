"""Deterministic work counters for complexity tests (issue 16): plain module-level ints.

Hot paths bump a counter with one integer add; tests read a counter before and after a run at two
sizes and assert the work grows at most linearly. Nothing in the model reads them. Reset with
:func:`reset` (a test's fixture), read with :func:`snapshot`.
"""

from __future__ import annotations

SELECTOR_MATCHES = 0
"""LabelSelector.matches evaluations (every caller: controllers, API server, scheduler)."""

PODS_VISITED = 0
"""Pods a controller sync looked at (ReplicaSet, Deployment, Endpoints, ownership claim, ...)."""

_NAMES = ("SELECTOR_MATCHES", "PODS_VISITED")


def reset() -> None:
    """Zero every counter."""
    for name in _NAMES:
        globals()[name] = 0


def snapshot() -> dict[str, int]:
    """Every counter's current value, by name."""
    return {name: globals()[name] for name in _NAMES}
