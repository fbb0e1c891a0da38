"""Probe outcomes computed, not polled.

Upstream's prober runs one worker per container and probe, ticking every ``periodSeconds``; a
result only counts once ``failureThreshold`` (or ``successThreshold``) consecutive probes agree
(pkg/kubelet/prober/worker.go: ``resultRun``). Running that for 300,000 containers would cost a
task wakeup per tick; instead, because a :class:`~kubechaos.node.behaviour.Behaviour` answers are
piecewise constant, we can jump from breakpoint to breakpoint and compute *the tick at which the
probe's result next flips*. The kubelet schedules one timer for that moment and none for the ticks
in between; the outcome and its time are exactly those of a prober that ran every tick.

The model's ticks are ``start + initialDelaySeconds + k * periodSeconds`` (k >= 0) where ``start``
is when the container started running. Liveness and readiness ticks only count once the
container has started (its startup probe succeeded), as upstream's worker skips them until then.
Probe timeouts are not modelled: a failing probe fails at its tick.
"""

from __future__ import annotations

import math

from kubechaos.api.objects import Probe
from kubechaos.node.behaviour import Behaviour, ProbeKind

# Tolerance for float noise when finding the first tick at or after a time.
_EPS = 1e-9


def _first_tick(probe: Probe, relative: float) -> int:
    """Index k of the first tick whose time (after start) is >= ``relative``."""
    k = math.ceil((relative - probe.initial_delay_seconds) / probe.period_seconds - _EPS)
    return max(k, 0)


def tick_time(probe: Probe, k: int) -> float:
    """Seconds after container start of tick ``k``."""
    return probe.initial_delay_seconds + k * probe.period_seconds


def next_flip(
    probe: Probe,
    behaviour: Behaviour,
    kind: ProbeKind,
    current: bool | None,
    not_before: float,
) -> tuple[float, bool] | None:
    """When, after container start, the probe's *result* next differs from ``current``.

    ``current`` is the result the kubelet holds now (None: unknown, as a startup probe's before
    its first verdict); ``not_before`` is the first moment (seconds after start) whose ticks
    count. Returns ``(seconds after start, new result)``, or None if the result never changes.

    A flip needs ``failure_threshold`` consecutive failing ticks (``success_threshold`` passing
    ones); a tick that agrees with ``current`` resets the run, exactly as ``resultRun`` does.
    """
    k: int | None = _first_tick(probe, not_before)
    if behaviour.always_passes(kind):
        # Fast path (most containers): a probe that passes at every tick flips at most once,
        # to success after successThreshold ticks, and never again. It must agree with the
        # loop below, which would find the same tick the long way.
        if current is True:
            return None
        assert k is not None
        return tick_time(probe, k + probe.success_threshold - 1), True
    while k is not None:
        value = behaviour.passes(kind, tick_time(probe, k))
        if value == current:
            k = _first_tick_where(probe, behaviour, kind, k, not value)
            continue
        need = probe.success_threshold if value else probe.failure_threshold
        broken = _first_tick_where(probe, behaviour, kind, k, not value)
        if broken is None or broken >= k + need:
            return tick_time(probe, k + need - 1), value
        k = broken
    return None


def _first_tick_where(
    probe: Probe, behaviour: Behaviour, kind: ProbeKind, k: int, wanted: bool
) -> int | None:
    """The first tick index >= ``k`` whose probe gives ``wanted``; None if none ever does.

    Jumps from change to change; a change that reverts between two ticks is never seen, as a
    prober ticking every period would not see it either.
    """
    t = tick_time(probe, k)
    while behaviour.passes(kind, t) != wanted:
        change = behaviour.next_change(kind, t)
        if change is None:
            return None
        k = max(_first_tick(probe, change), k + 1)
        t = tick_time(probe, k)
    return k


_FAILURE_DETAIL = {
    "httpGet": "HTTP probe failed with statuscode: 503",
    "tcpSocket": "dial tcp: connect: connection refused",
    "exec": "command exited with non-zero status 1",
    "grpc": "service unhealthy (responded with NOT_SERVING)",
}


def failure_message(kind: ProbeKind, probe: Probe) -> str:
    """The message of upstream's ``Unhealthy`` event for a failed probe."""
    detail = _FAILURE_DETAIL.get(probe.handler, "probe failed")
    return f"{kind.capitalize()} probe failed: {detail}"


__all__ = ["failure_message", "next_flip", "tick_time"]
