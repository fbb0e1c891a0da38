"""The causal timeline: for each injection, what followed it, in order (pure data, no HTML).

It reads a run's result and its event log. For each injection it takes the window from the
injection to its recovery (or to its revert, if that came later; if it never recovered, to the
next injection or the end) and lists, in time order, the first occurrence of each component's
reaction (``kubelet Killing``, ``replicaset-controller SuccessfulCreate``, ``observer
DeploymentDegraded`` ...) with counts, ending with the observer's verdict (``Recovered``,
``NotRecovered`` or ``NotObservable``). Events in the window are not all *caused* by the fault,
but with faults apart in time they nearly always are, and the order tells the story.

The event log is the one source of the steps and their times: every step is at the time of an
event in the log (a Deployment losing availability is the observer's ``DeploymentDegraded``, at
the instant it happened). The sampled series (replica history every 5 s, requests per second)
are for the charts; from them a story only adds untimed notes of what was measured in its
window (requests that failed, a Deployment already degraded at the injection). Deriving steps
from the samples put them up to a sampling interval late: availability "dropped" at +4.99 s in
the report while the log had ``DeploymentDegraded`` at +0.02 s.

Kept apart from the page so the analysis can be tested (and reused) without reading HTML;
:mod:`kubechaos.report.html.stories` draws what it finds.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence

import attrs

from kubechaos.observe.steady import DEFAULT_WINDOW as STABILITY_WINDOW
from kubechaos.report.html.text import plural
from kubechaos.report.result import reached_seconds
from kubechaos.report.types import FaultRecord, RecoveryRecord, RunResult
from kubechaos.sim.events import Event

MAX_STORIES = 200  # faults given a causal timeline (a long run can inject thousands)

ROUNDING = 1e-6  # the result's times are rounded to this; the event log's are exact

# events that happen on their own schedule, whatever the fault: listed, but kept out of a chain
BACKGROUND = frozenset({("kube-apiserver", "Compacted")})
# the observer's verdict on a recovery, by the result's recovery status
VERDICT_OF = {
    "recovered": "Recovered",
    "not-recovered": "NotRecovered",
    "not-observable": "NotObservable",
}
VERDICTS = frozenset(VERDICT_OF.values())


@attrs.frozen
class Step:
    """One line of a fault's causal timeline: an event of the log (a component's reaction, or
    the observer's verdict on the recovery), at its time."""

    time: float
    who: str  # the component that logged the event
    what: str  # its reason
    kind: str  # "event", "background" or "recovery"
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
    steps: list[Step]  # each at the time of an event in the log
    events: list[Event]  # every event in the window (uncapped)
    measured: list[str] = attrs.field(factory=list)  # from the sampled series, not timed steps


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
            or event.reason in VERDICTS
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


def _already_degraded(result: RunResult, start: float) -> list[str]:
    """Deployments short of replicas when the fault was injected (from the sampled history)."""
    notes = []
    for deployment in result["deployments"]:
        history = deployment["history"]
        i = bisect.bisect_right([p[0] for p in history], start)
        before = history[i - 1] if i > 0 else None
        if before is not None and before[2] < before[1]:
            notes.append(
                f"{deployment['namespace']}/{deployment['name']} was already degraded: "
                f"{int(before[2])}/{int(before[1])} available at the injection"
            )
    return notes


def _traffic_notes(result: RunResult, start: float, end: float) -> list[str]:
    """Requests that failed in the window, per Service (from the per-second counters)."""
    notes = []
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
        notes.append(
            f"{name}: requests failing, {lost} of {total} requests failed in "
            f"{plural(len(failing), 'second')} from second {failing[0][0]} to {failing[-1][0]} "
            f"(worst: {worst[2]}/{worst[1] + worst[2]} in second {worst[0]})"
        )
    return notes


def causal_timeline(result: RunResult, events: Iterable[Event]) -> list[FaultStory]:
    """For each injection in ``result``: the events in its window, each step at the time the
    event log has for it, and what the sampled series measured in the window."""
    log = sorted(events, key=lambda e: e.time)  # already in order; sorted is stable and cheap
    times = [e.time for e in log]
    verdicts = [e for e in log if e.kind == "Fault" and e.reason in VERDICTS]
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
        verdict = _verdict_event(fault, verdicts)
        if verdict is not None:
            steps.append(_recovery_step(fault["recovery"], verdict))
        order = {"event": 0, "background": 0, "recovery": 1}
        # times to the microsecond, as the result and the event log file keep them: a report
        # rendered later from those files tells the same story in the same order
        steps.sort(key=lambda s: (round(s.time, 6), order[s.kind]))
        measured = _already_degraded(result, start) + _traffic_notes(result, start, end)
        stories.append(FaultStory(number, fault, start, end, why, steps, window, measured))
    return stories


def _verdict_event(fault: FaultRecord, verdicts: Sequence[Event]) -> Event | None:
    """The observer's event that judged this injection's recovery (None while pending): its
    ``Recovered`` with the same number of seconds, or its ``NotRecovered`` / ``NotObservable``
    at the end of the run."""
    recovery = fault["recovery"]
    reason = VERDICT_OF.get(recovery["status"])
    for event in verdicts:
        if event.object != fault["name"] or event.reason != reason:
            continue
        if event.time < fault["injectedAt"] - ROUNDING:
            continue
        if reason == "Recovered":
            seconds = (event.fields or {}).get("seconds")
            if seconds is None or recovery["seconds"] is None:
                continue
            if abs(float(seconds) - recovery["seconds"]) > 2 * ROUNDING:
                continue
        return event
    return None


def _recovery_step(recovery: RecoveryRecord, event: Event) -> Step:
    """The story's last line: the observer's verdict on the recovery, when it logged it."""
    if event.reason == "Recovered":
        how = (
            "the objects it disturbed were whole again"
            if recovery.get("attribution") == "per-object"
            else "steady state returned"
        )
        detail = (
            f"{how} {recovery['seconds']:.3f}s after injection (at "
            f"{recovery['recoveredAt']:.3f}s); confirmed once it had held {STABILITY_WINDOW:g}s"
            if recovery["disturbedAt"] is not None
            else "steady state was never disturbed before the next injection: recovery 0s"
        )
    elif event.reason == "NotRecovered":
        detail = "steady state did not return (for the stability window) by the end"
    else:
        detail = "injected too close to the end of the run for its recovery to be observed"
    return Step(event.time, event.component, event.reason, "recovery", detail=detail)
