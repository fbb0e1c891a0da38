"""The causal timeline: for each injection, what followed it, in order (pure data, no HTML).

It reads a run's result and its event log. For each injection it takes the window from the
injection to its recovery (or to its revert, if that came later; if it never recovered, to the
next injection or the end) and lists, in time order, the first occurrence of each component's
reaction (``kubelet Killing``, ``replicaset-controller SuccessfulCreate`` ...) with counts,
interleaved with the metric changes in the same window (a Deployment's availability dipping and
returning, steady state lost, requests failing). Events in the window are not all *caused* by
the fault, but with faults apart in time they nearly always are, and the order tells the story.

Kept apart from the page so the analysis can be tested (and reused) without reading HTML;
:mod:`kubechaos.report.html.stories` draws what it finds.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence

import attrs

from kubechaos.observe.history import DEFAULT_INTERVAL as HISTORY_INTERVAL
from kubechaos.observe.steady import DEFAULT_WINDOW as STABILITY_WINDOW
from kubechaos.report.html.text import plural
from kubechaos.report.result import reached_seconds
from kubechaos.report.types import FaultRecord, RecoveryRecord, RunResult
from kubechaos.sim.events import Event

MAX_STORIES = 200  # faults given a causal timeline (a long run can inject thousands)

ROUNDING = 1e-6  # the result's times are rounded to this; the event log's are exact

# events that happen on their own schedule, whatever the fault: listed, but kept out of a chain
BACKGROUND = frozenset({("kube-apiserver", "Compacted")})


@attrs.frozen
class Step:
    """One line of a fault's causal timeline: a component's reaction or a metric change."""

    time: float
    who: str  # a component, a Deployment, a Service, or "steady state"
    what: str  # an event reason, or what changed
    kind: str  # "event", "background", "metric" or "recovery"
    count: int = 1
    last: float | None = None
    detail: str = ""


@attrs.frozen
class FaultStory:
    """What followed one injection: its window and the steps in it, in time order."""

    number: int  # 1-based, as in the faults table
    fault: FaultRecord
    start: float
    end: float
    why_end: str  # "recovery", "revert", "next injection", "end of run"
    steps: list[Step]
    events: list[Event]  # every event in the window (uncapped)


def _window_end(
    fault: FaultRecord, next_injection: float | None, reached: float
) -> tuple[float, str]:
    start = fault["injectedAt"]
    recovery = fault["recovery"]
    if recovery["status"] == "recovered" and recovery["recoveredAt"] is not None:
        end, why = max(start, recovery["recoveredAt"]), "recovery"
        reverted = fault["revertedAt"]
        if reverted is not None and reverted > end:
            end, why = reverted, "revert"  # recovered "in 0 s" while still in effect
        if recovery["disturbedAt"] is None and end < start + STABILITY_WINDOW:
            # Disturbed nothing steady state could see: its reactions are those in the window
            # steady state then held for.
            end, why = start + STABILITY_WINDOW, "recovery"
        return end, why
    if next_injection is not None:
        return next_injection, "next injection"
    return reached, "end of run"


def _event_steps(window: Sequence[Event], fault: FaultRecord) -> list[Step]:
    groups: dict[tuple[str, str], list[Event]] = {}
    for event in window:
        if event.object == fault["name"] and (
            (event.reason == "FaultInjected" and abs(event.time - fault["injectedAt"]) <= ROUNDING)
            or event.reason in ("Recovered", "NotRecovered")
        ):
            continue  # the story's own header and ending
        groups.setdefault((event.component, event.reason), []).append(event)
    steps = []
    for (component, reason), members in groups.items():
        first = members[0]
        where = f"{first.kind}/{first.object}" if first.object else first.kind
        detail = f"{where}: {first.message}" if first.message else where
        steps.append(
            Step(
                time=first.time,
                who=component,
                what=reason,
                kind="background" if (component, reason) in BACKGROUND else "event",
                count=len(members),
                last=members[-1].time,
                detail=detail,
            )
        )
    return steps


def _replica_steps(result: RunResult, start: float, end: float) -> list[Step]:
    """Availability dips that began in the window, and when each came back. History is sampled
    every few seconds, so a change is looked for up to one sampling interval past the window."""
    steps = []
    horizon = end + HISTORY_INTERVAL
    for deployment in result["deployments"]:
        name = f"{deployment['namespace']}/{deployment['name']}"
        history = deployment["history"]
        times = [p[0] for p in history]
        i = bisect.bisect_right(times, start)
        before = history[i - 1] if i > 0 else None
        if before is not None and before[2] < before[1]:
            steps.append(
                Step(
                    start,
                    name,
                    "already degraded",
                    "metric",
                    detail=f"{int(before[2])}/{int(before[1])} available at injection",
                )
            )
        degraded_since: float | None = None
        low = None
        for t, desired, available in history[i:]:
            if degraded_since is None:
                if t > horizon:
                    break
                if available < desired:
                    degraded_since, low = t, available
                    was = f"{int(before[2])}" if before is not None else "?"
                    steps.append(
                        Step(
                            t,
                            name,
                            "available replicas dropped",
                            "metric",
                            detail=f"{was} → {int(available)} of {int(desired)} desired",
                        )
                    )
            elif available >= desired:
                steps.append(
                    Step(
                        t,
                        name,
                        "available replicas back",
                        "metric",
                        detail=f"{int(available)}/{int(desired)} after {t - degraded_since:.0f}s "
                        f"(lowest {int(low or 0)})",
                    )
                )
                degraded_since = None
                if t > horizon:
                    break
            else:
                low = min(low if low is not None else available, available)
    return steps


def _steady_steps(
    result: RunResult, start: float, end: float, recovered: float | None
) -> list[Step]:
    """Steady state lost and regained in the window, each grouped (it may flap many times);
    the regain that was the recovery is left to the recovery step."""
    lost: list[float] = []
    regained: list[float] = []
    for t, ok in result["steadyState"]:
        if start - 1e-3 <= t <= end + 1e-3:  # changes are rounded to the millisecond
            if ok and not (recovered is not None and abs(t - recovered) < 1e-3):
                regained.append(t)
            elif not ok:
                lost.append(t)
    steps = []
    if lost:
        detail = "a Deployment short of replicas, or a Service answered with an error"
        steps.append(Step(lost[0], "steady state", "lost", "metric", len(lost), lost[-1], detail))
    if regained:
        steps.append(
            Step(regained[0], "steady state", "regained", "metric", len(regained), regained[-1])
        )
    return steps


def _traffic_steps(result: RunResult, start: float, end: float) -> list[Step]:
    steps = []
    first_second = math.floor(start)
    for service in result["traffic"]:
        name = f"{service['namespace']}/{service['service']}"
        seconds = service["perSecond"]
        i = bisect.bisect_left(seconds, first_second, key=lambda p: p[0])
        failing = []
        total = 0
        for second, ok, failed in seconds[i:]:
            if second > end:
                break
            total += ok + failed
            if failed:
                failing.append((second, ok, failed))
        if not failing:
            continue
        lost = sum(f for _, _, f in failing)
        worst = max(failing, key=lambda p: p[2] / (p[1] + p[2]))
        steps.append(
            Step(
                time=max(start, float(failing[0][0])),
                who=name,
                what="requests failing",
                kind="metric",
                count=lost,
                last=float(failing[-1][0]),
                detail=f"{lost} of {total} requests failed in {plural(len(failing), 'second')} "
                f"(worst: {worst[2]}/{worst[1] + worst[2]} at {worst[0]}s)",
            )
        )
    return steps


def causal_timeline(result: RunResult, events: Iterable[Event]) -> list[FaultStory]:
    """For each injection in ``result``: the reactions and metric changes in its window."""
    log = sorted(events, key=lambda e: e.time)  # already in order; sorted is stable and cheap
    times = [e.time for e in log]
    faults = result["faults"]
    reached = reached_seconds(result)
    injections = sorted(f["injectedAt"] for f in faults)
    stories = []
    for number, fault in enumerate(faults[:MAX_STORIES], start=1):
        start = fault["injectedAt"]
        later = bisect.bisect_right(injections, start)
        next_injection = injections[later] if later < len(injections) else None
        end, why = _window_end(fault, next_injection, reached)
        # the result's times are rounded to the microsecond; the log's are not
        first, last = (
            bisect.bisect_left(times, start - ROUNDING),
            bisect.bisect_right(times, end + ROUNDING),
        )
        window = log[first:last]
        steps = _event_steps(window, fault)
        steps += _replica_steps(result, start, end)
        recovery = fault["recovery"]
        steps += _steady_steps(result, start, end, recovery["recoveredAt"])
        steps += _traffic_steps(result, start, end)
        steps.append(_recovery_step(recovery, reached))
        order = {"event": 0, "background": 0, "metric": 1, "recovery": 2}
        # times to the microsecond, as the result and the event log file keep them: a report
        # rendered later from those files tells the same story in the same order
        steps.sort(key=lambda s: (round(s.time, 6), order[s.kind]))
        stories.append(FaultStory(number, fault, start, end, why, steps, window))
    return stories


def _recovery_step(recovery: RecoveryRecord, reached: float) -> Step:
    """The story's last line: how the observer judged the recovery."""
    if recovery["status"] == "recovered":
        recovered_at = recovery["recoveredAt"]
        assert recovered_at is not None  # a recovered fault always has its recovery time
        return Step(
            recovered_at,
            "observer",
            "Recovered",
            "recovery",
            detail=(
                f"steady state returned {recovery['seconds']:.3f}s after injection "
                f"and held {STABILITY_WINDOW:g}s"
                if recovery["disturbedAt"] is not None
                else "steady state was never disturbed before the next injection: recovery 0s"
            ),
        )
    if recovery["status"] == "not-recovered":
        return Step(
            reached,
            "observer",
            "NotRecovered",
            "recovery",
            detail="steady state did not return (for the stability window) by the end",
        )
    return Step(
        reached,
        "observer",
        "recovery unknown",
        "recovery",
        detail="the run stopped before recovery could be judged",
    )
