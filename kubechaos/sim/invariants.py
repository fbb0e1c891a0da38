"""The error a broken model rule raises: a run that breaks one fails (exit code 3)."""

from __future__ import annotations


class InvariantViolation(Exception):
    """The model broke ``invariant`` (see :mod:`kubechaos.observe.invariants` for the list)."""

    def __init__(self, invariant: str, message: str) -> None:
        super().__init__(f"invariant {invariant} violated: {message}")
        self.invariant = invariant
        self.message = message
