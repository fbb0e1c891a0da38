"""What went wrong inside a run, with Trio's exception groups unwrapped.

Trio wraps whatever escapes a task in an exception group, nested once per nursery on the way
out; whoever reports a failed run (the CLI, sweeps, explore, the pytest plugin) wants the
exception that started it.
"""

from __future__ import annotations


def innermost(exc: BaseException) -> BaseException:
    """The first exception at the bottom of ``exc``'s (nested) groups; ``exc`` if not a group."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def leaves(exc: BaseException) -> list[BaseException]:
    """Every exception at the bottom of ``exc``'s (nested) groups, in order."""
    if not isinstance(exc, BaseExceptionGroup):
        return [exc]
    return [leaf for inner in exc.exceptions for leaf in leaves(inner)]


def describe_failure(exc: BaseException) -> str:
    """``Type: message`` of the exception that started the failure."""
    cause = innermost(exc)
    return f"{type(cause).__name__}: {cause}"
