"""The HTML report: one self-contained page a person reads to see what a run did and why.

Everything is in the file: inline CSS, plots drawn here as inline SVG, no script, no font or
image fetched from anywhere, so the page opens the same from a CI artifact, a mail attachment or
an air-gapped laptop. Every chart shares one horizontal axis (virtual seconds since the run
began, at the same pixel positions), so reading straight down the page lines a fault's band up
with what it did to replicas, requests and latency.

What it shows, top to bottom: the verdict; the fault timeline (a band per lasting fault, a
marker per instantaneous one, where steady state came back, and the steady-state strip); desired
vs available replicas per Deployment; success rate and latency per Service; the SLO and fault
tables; and the *causal timeline*. That last one reads the event log: for each injection it
takes the window from the injection to its recovery (or to its revert, if that came later; if
it never recovered, to the next injection or the end) and lists, in time order, the first occurrence of each component's
reaction (``kubelet Killing``, ``replicaset-controller SuccessfulCreate`` ...) with counts,
interleaved with the metric changes in the same window (a Deployment's availability dipping and
returning, steady state lost, requests failing). Events in the window are not all *caused* by
the fault, but with faults apart in time they nearly always are, and the order tells the story.

Long runs stay small: traffic is downsampled to at most :data:`MAX_POINTS` buckets across the
axis, and every list of reactions or events is capped with an "and N more".
"""

from __future__ import annotations

import bisect
import html
import json
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from kubechaos.observe.history import DEFAULT_INTERVAL as HISTORY_INTERVAL
from kubechaos.observe.steady import DEFAULT_WINDOW as STABILITY_WINDOW
from kubechaos.sim.events import Event

# drawing geometry (SVG user units = CSS pixels at full width)
WIDTH = 1100
LEFT = 170  # room for fault names; every chart uses it so their time axes line up
RIGHT = 24
PLOT = WIDTH - LEFT - RIGHT
MAX_POINTS = 900  # traffic and latency buckets across the axis: about one per pixel pair

# caps that keep a one-hour run with thousands of events a reasonable file
MAX_CHARTS = 24  # Deployments / Services plotted (the ones that changed first)
MAX_STEPS = 40  # reactions listed per fault
MAX_CHAIN = 12  # links in a fault's one-line chain
MAX_RAW_EVENTS = 30  # events listed per fault window
MAX_RECOVERY_LINES = 30  # recoveries marked across the data charts too (more would be noise)
FULL_PER_FAULT = 3  # injections of one fault given a full causal timeline (more: by exception)
MAX_STORIES = 200  # faults given a causal timeline
MAX_TARGETS = 8

VERDICT_COLOURS = {
    "passed": "#1a7f37",
    "failed": "#cf222e",
    "error": "#8250df",
    "interrupted": "#9a6700",
}
FAULT_COLOURS = (
    "#e8590c",
    "#7048e8",
    "#1098ad",
    "#d6336c",
    "#5c940d",
    "#f59f00",
    "#1c7ed6",
    "#862e9c",
    "#0ca678",
    "#a61e4d",
)
STEADY, UNSTEADY, RECOVERY, NOT_RECOVERED = "#2da44e", "#cf222e", "#1a7f37", "#cf222e"
DESIRED, AVAILABLE = "#8c959f", "#0969da"
P50, P95, P99 = "#0969da", "#bf8700", "#cf222e"

ROUNDING = 1e-6  # the result's times are rounded to this; the event log's are exact

# events that happen on their own schedule, whatever the fault: listed, but kept out of a chain
BACKGROUND = frozenset({("kube-apiserver", "Compacted")})


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _n(value: float) -> str:
    """A coordinate: one decimal, never NaN or infinite (a broken number would break the SVG)."""
    if not math.isfinite(value):
        value = 0.0
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _human(seconds: float) -> str:
    """``7m0.001s``, ``5m45s``, ``1h2m``: milliseconds at most, trailing zeros dropped."""
    whole, rest = divmod(round(seconds, 3), 60)
    hours, minutes = divmod(int(whole), 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    secs = f"{rest:.3f}".rstrip("0").rstrip(".")
    return out + (f"{secs}s" if secs != "0" or not out else "")


def _secs(value: float | None) -> str:
    """A point in virtual time: seconds (the axes' unit), with the human form when long."""
    if value is None:
        return "-"
    text = f"{value:.3f} s"
    return f"{text} ({_human(value)})" if value >= 60 else text


def _offset(seconds: float) -> str:
    seconds = max(0.0, seconds)
    return f"+{seconds:.3f}s" if seconds < 60 else f"+{_human(seconds)}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ---------------------------------------------------------------------------- causal timeline
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
    fault: dict[str, Any]
    start: float
    end: float
    why_end: str  # "recovery", "revert", "next injection", "end of run"
    steps: list[Step]
    events: list[Event]  # every event in the window (uncapped)


def _window_end(
    fault: dict[str, Any], next_injection: float | None, reached: float
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


def _event_steps(window: Sequence[Event], fault: dict[str, Any]) -> list[Step]:
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


def _replica_steps(result: dict[str, Any], start: float, end: float) -> list[Step]:
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
    result: dict[str, Any], start: float, end: float, recovered: float | None
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


def _traffic_steps(result: dict[str, Any], start: float, end: float) -> list[Step]:
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
                detail=f"{lost} of {total} requests failed in {_plural(len(failing), 'second')} "
                f"(worst: {worst[2]}/{worst[1] + worst[2]} at {worst[0]}s)",
            )
        )
    return steps


def causal_timeline(result: dict[str, Any], events: Iterable[Event]) -> list[FaultStory]:
    """For each injection in ``result``: the reactions and metric changes in its window."""
    log = sorted(events, key=lambda e: e.time)  # already in order; sorted is stable and cheap
    times = [e.time for e in log]
    faults = result["faults"]
    reached = _reached(result)
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
        if recovery["status"] == "recovered":
            steps.append(
                Step(
                    recovery["recoveredAt"],
                    "observer",
                    "Recovered",
                    "recovery",
                    detail=(
                        f"steady state returned {recovery['seconds']:.3f}s after injection "
                        f"and held {STABILITY_WINDOW:g}s"
                        if recovery["disturbedAt"] is not None
                        else "steady state was never disturbed before the next injection: "
                        "recovery 0s"
                    ),
                )
            )
        elif recovery["status"] == "not-recovered":
            steps.append(
                Step(
                    reached,
                    "observer",
                    "NotRecovered",
                    "recovery",
                    detail="steady state did not return (for the stability window) by the end",
                )
            )
        else:
            steps.append(
                Step(
                    reached,
                    "observer",
                    "recovery unknown",
                    "recovery",
                    detail="the run stopped before recovery could be judged",
                )
            )
        order = {"event": 0, "background": 0, "metric": 1, "recovery": 2}
        # times to the microsecond, as the result and the event log file keep them: a report
        # rendered later from those files tells the same story in the same order
        steps.sort(key=lambda s: (round(s.time, 6), order[s.kind]))
        stories.append(FaultStory(number, fault, start, end, why, steps, window))
    return stories


def _reached(result: dict[str, Any]) -> float:
    reached = result.get("virtualSeconds")
    return float(reached) if reached is not None else float(result["scenario"]["duration"])


# ---------------------------------------------------------------------------- SVG drawing
def _ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to ``top`` (1-2-5 steps)."""
    if top <= 0:
        return [0.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(int(top / step + 1e-9) + 1)]


def _nice_top(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(
        m * magnitude for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * magnitude >= value
    )


def _time_ticks(span: float) -> list[float]:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200):
        if span / step <= 12:
            break
    else:
        step = 86400 * math.ceil(span / 86400 / 12)
    return [i * step for i in range(int(span // step) + 1)]


def _tick_label(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.3g}"


class _Frame:
    """The shared time axis, and what every chart draws behind its data."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.reached = _reached(result)
        self.span = max(float(result["scenario"]["duration"]), self.reached, 1.0)
        self.faults = result["faults"]
        self.colours: dict[str, str] = {}
        for fault in self.faults:
            if fault["name"] not in self.colours:
                self.colours[fault["name"]] = FAULT_COLOURS[len(self.colours) % len(FAULT_COLOURS)]

    def x(self, t: float) -> float:
        return LEFT + PLOT * min(max(t, 0.0), self.span) / self.span

    def fault_end(self, fault: dict[str, Any]) -> float:
        return fault["revertedAt"] if fault["revertedAt"] is not None else self.reached

    def backdrop(self, top: float, bottom: float) -> list[str]:
        """Fault bands (lasting) or lines (instantaneous), recovery lines, and the part of the
        axis the run never reached."""
        out = []  # no tooltips here (the timeline has them): a long run has many faults
        for fault in self.faults:
            colour = self.colours[fault["name"]]
            x0 = self.x(fault["injectedAt"])
            if fault["lasting"]:
                x1 = max(self.x(self.fault_end(fault)), x0 + 1)
                out.append(
                    f'<rect class="fault-shade" x="{_n(x0)}" y="{_n(top)}" width="{_n(x1 - x0)}" '
                    f'height="{_n(bottom - top)}" fill="{colour}"/>'
                )
            else:
                out.append(
                    f'<line class="fault-line" x1="{_n(x0)}" x2="{_n(x0)}" y1="{_n(top)}" '
                    f'y2="{_n(bottom)}" stroke="{colour}"/>'
                )
            recovered = fault["recovery"]["recoveredAt"]
            if (
                fault["recovery"]["status"] == "recovered"
                and recovered is not None
                and len(self.faults) <= MAX_RECOVERY_LINES
            ):
                xr = self.x(recovered)
                out.append(
                    f'<line class="recovery-line" x1="{_n(xr)}" x2="{_n(xr)}" y1="{_n(top)}" '
                    f'y2="{_n(bottom)}"/>'
                )
        if self.reached < self.span:
            x0 = self.x(self.reached)
            out.append(
                f'<rect class="not-run" x="{_n(x0)}" y="{_n(top)}" width="{_n(LEFT + PLOT - x0)}" '
                f'height="{_n(bottom - top)}" fill="#8c959f" fill-opacity="0.18">'
                "<title>not run: the run stopped here</title></rect>"
                f'<text x="{_n(x0 + 6)}" y="{_n(top + 14)}" class="muted">not run</text>'
            )
        return out

    def x_axis(self, y: float, top: float) -> list[str]:
        out = [f'<line class="axis" x1="{LEFT}" x2="{LEFT + PLOT}" y1="{_n(y)}" y2="{_n(y)}"/>']
        for t in _time_ticks(self.span):
            x = self.x(t)
            out.append(
                f'<line class="grid" x1="{_n(x)}" x2="{_n(x)}" y1="{_n(top)}" y2="{_n(y)}"/>'
                f'<line class="axis" x1="{_n(x)}" x2="{_n(x)}" y1="{_n(y)}" y2="{_n(y + 4)}"/>'
                f'<text x="{_n(x)}" y="{_n(y + 16)}" text-anchor="middle">{_tick_label(t)}</text>'
            )
        out.append(
            f'<text x="{LEFT + PLOT / 2:.0f}" y="{_n(y + 32)}" text-anchor="middle" '
            'class="axis-title">virtual time (seconds since the run began)</text>'
        )
        return out


def _svg(height: float, label: str, body: Iterable[str], css: str = "chart") -> str:
    return (
        f'<svg class="{css}" role="img" aria-label="{_e(label)}" width="{WIDTH}" '
        f'height="{_n(height)}" viewBox="0 0 {WIDTH} {_n(height)}">'
        f"<title>{_e(label)}</title>{''.join(body)}</svg>"
    )


def _legend(items: Sequence[tuple[str, str]], y: float) -> list[str]:
    """``items``: (swatch SVG drawn at 0,0 within 18x10, label), laid out right to left."""
    out = []
    x = float(LEFT + PLOT)
    for swatch, label in reversed(items):
        width = 26 + 6.2 * len(label)
        x -= width
        out.append(
            f'<g class="legend" transform="translate({_n(x)},{_n(y)})">{swatch}'
            f'<text x="22" y="9">{_e(label)}</text></g>'
        )
    return out


def _line_swatch(colour: str, dash: str = "") -> str:
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<line x1="0" x2="18" y1="5" y2="5" stroke="{colour}" stroke-width="2"{dashed}/>'


def _box_swatch(colour: str, opacity: float = 1.0) -> str:
    return f'<rect width="18" height="10" fill="{colour}" fill-opacity="{opacity}"/>'


def _y_axis(
    ticks: Iterable[float],
    y_of: Callable[[float], float],
    fmt: Callable[[float], str],
    title: str,
    top: float,
    bottom: float,
) -> list[str]:
    out = [f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{_n(top)}" y2="{_n(bottom)}"/>']
    for value in ticks:
        y = y_of(value)
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + PLOT}" y1="{_n(y)}" y2="{_n(y)}"/>'
            f'<text x="{LEFT - 6}" y="{_n(y + 4)}" text-anchor="end">{_e(fmt(value))}</text>'
        )
    middle = (top + bottom) / 2
    out.append(
        f'<text class="axis-title" x="{LEFT - 48}" y="{_n(middle)}" text-anchor="middle" '
        f'transform="rotate(-90 {LEFT - 48} {_n(middle)})">{_e(title)}</text>'
    )
    return out


def _fault_timeline(frame: _Frame, result: dict[str, Any]) -> str:
    """A row per fault name (each of its injections in that row), then steady state."""
    rows: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for number, fault in enumerate(result["faults"], start=1):
        rows.setdefault(fault["name"], []).append((number, fault))
    top, row_h = 30, 34
    body: list[str] = []
    y = top
    for name, injections in rows.items():
        colour = frame.colours[name]
        kinds = sorted({f["type"] for _, f in injections})
        short = name if len(name) <= 24 else name[:23] + "…"
        body.append(
            f'<text x="{LEFT - 8}" y="{y + 14}" text-anchor="end" class="row-label">'
            f"<title>{_e(name)}</title>{_e(short)}</text>"
            f'<text x="{LEFT - 8}" y="{y + 26}" text-anchor="end" class="muted">'
            f"{_e(', '.join(kinds))}</text>"
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + PLOT}" y1="{y + row_h}" '
            f'y2="{y + row_h}"/>'
        )
        for number, fault in injections:
            body.append(_fault_mark(frame, number, fault, colour, y + 4, row_h - 8))
        y += row_h
    if not rows:
        body.append(
            f'<text x="{LEFT + 8}" y="{y + 20}" class="muted">no faults were injected</text>'
        )
        y += row_h
    body.append(
        f'<text x="{LEFT - 8}" y="{y + 18}" text-anchor="end" class="row-label">steady state</text>'
    )
    body += _steady_strip(frame, result["steadyState"], y + 6, 16)
    y += 30
    backdrop = frame.backdrop(top, y)
    legend = _legend(
        [
            (_box_swatch("#6e7781", 0.6), "fault in effect"),
            ('<path d="M9 0 L14 5 L9 10 L4 5 Z" fill="#6e7781"/>', "instantaneous fault"),
            (f'<circle cx="9" cy="5" r="4.5" fill="{RECOVERY}"/>', "steady state returned"),
            (_cross(9, 5, NOT_RECOVERED), "not recovered"),
            (_box_swatch(STEADY), "steady"),
            (_box_swatch(UNSTEADY), "not steady"),
        ],
        8,
    )
    height = y + 44
    return _svg(
        height,
        "Fault timeline: when each fault was in effect and when steady state returned",
        [*backdrop, *frame.x_axis(y + 4, top), *body, *legend],
        "chart timeline",
    )


def _cross(x: float, y: float, colour: str) -> str:
    return (
        f'<path d="M{_n(x - 4)} {_n(y - 4)} L{_n(x + 4)} {_n(y + 4)} M{_n(x - 4)} {_n(y + 4)} '
        f'L{_n(x + 4)} {_n(y - 4)}" stroke="{colour}" stroke-width="2.5"/>'
    )


def _fault_mark(
    frame: _Frame, number: int, fault: dict[str, Any], colour: str, y: float, h: float
) -> str:
    x0 = frame.x(fault["injectedAt"])
    recovery = fault["recovery"]
    info = [
        f"#{number} {fault['name']} ({fault['type']})",
        f"injected at {_secs(fault['injectedAt'])}",
    ]
    if fault["lasting"]:
        info.append(
            f"reverted at {_secs(fault['revertedAt'])}"
            if fault["revertedAt"] is not None
            else "never reverted"
        )
    if recovery["status"] == "recovered":
        info.append(f"recovered in {recovery['seconds']:.3f}s")
    else:
        info.append(recovery["status"].replace("-", " "))
    if fault["targets"]:
        info.append("targets: " + _capped(fault["targets"], MAX_TARGETS))
    tip = f"<title>{_e('; '.join(info))}</title>"
    mid = y + h / 2
    parts = [f'<a href="#cause-{number}">']
    if fault["lasting"]:
        x1 = max(frame.x(frame.fault_end(fault)), x0 + 2)
        still = " open" if fault["revertedAt"] is None else ""
        parts.append(
            f'<rect class="fault-band{still}" x="{_n(x0)}" y="{_n(y)}" width="{_n(x1 - x0)}" '
            f'height="{_n(h)}" rx="2" fill="{colour}" fill-opacity="0.6" stroke="{colour}"'
            f"{' stroke-dasharray=&quot;4 2&quot;' if still else ''}>{tip}</rect>"
        )
    else:
        parts.append(
            f'<path class="fault-marker" d="M{_n(x0)} {_n(y)} L{_n(x0 + 6)} {_n(mid)} '
            f'L{_n(x0)} {_n(y + h)} L{_n(x0 - 6)} {_n(mid)} Z" fill="{colour}">{tip}</path>'
        )
    if recovery["status"] == "recovered" and recovery["recoveredAt"] is not None:
        xr = frame.x(recovery["recoveredAt"])
        parts.append(
            f'<line class="recovery-span" x1="{_n(x0)}" x2="{_n(xr)}" y1="{_n(mid)}" '
            f'y2="{_n(mid)}" stroke="{RECOVERY}" stroke-width="1.5"/>'
            f'<circle class="recovery-marker" cx="{_n(xr)}" cy="{_n(mid)}" r="4.5" '
            f'fill="{RECOVERY}" stroke="#fff"><title>'
            f"#{number} recovered: steady state at {_e(_secs(recovery['recoveredAt']))}, "
            f"{recovery['seconds']:.3f}s after injection</title></circle>"
        )
    elif recovery["status"] == "not-recovered":
        parts.append(
            f'<g class="not-recovered-marker">{_cross(frame.x(frame.reached) - 6, mid, NOT_RECOVERED)}'
            f"<title>#{number} not recovered by the end of the run</title></g>"
        )
    parts.append("</a>")
    return "".join(parts)


def _steady_strip(
    frame: _Frame, changes: Sequence[Sequence[float]], y: float, h: float
) -> list[str]:
    out = []
    for i, (t, ok) in enumerate(changes):
        end = changes[i + 1][0] if i + 1 < len(changes) else frame.reached
        x0, x1 = frame.x(t), frame.x(end)
        if x1 <= x0:
            x1 = x0 + 0.5
        state = "steady" if ok else "not steady"
        out.append(
            f'<rect class="steady-{"ok" if ok else "lost"}" x="{_n(x0)}" y="{_n(y)}" '
            f'width="{_n(x1 - x0)}" height="{_n(h)}" fill="{STEADY if ok else UNSTEADY}">'
            f"<title>{state} from {_e(_secs(t))} to {_e(_secs(end))}</title></rect>"
        )
    return out


def _step_path(points: Sequence[tuple[float, float]], end_x: float) -> str:
    """A step line (value holds until the next point), from (x, y) pixel points."""
    if not points:
        return ""
    x, y = points[0]
    d = [f"M{_n(x)} {_n(y)}"]
    for x, y in points[1:]:
        d.append(f"H{_n(x)}V{_n(y)}")
    d.append(f"H{_n(end_x)}")
    return "".join(d)


def _deployment_chart(frame: _Frame, deployment: dict[str, Any]) -> str:
    history = deployment["history"]
    top, bottom = 34, 164
    peak = max(
        [deployment["desired"], deployment["available"], *(max(p[1], p[2]) for p in history)]
    )
    y_top = max(1.0, float(peak) * 1.15)

    def y_of(v: float) -> float:
        return bottom - (bottom - top) * v / y_top

    step = max(1, math.ceil(y_top / 5))
    ticks = [float(v) for v in range(0, int(y_top) + 1, step)]
    end_x = frame.x(frame.reached)
    desired = _step_path([(frame.x(t), y_of(d)) for t, d, _ in history], end_x)
    available = _step_path([(frame.x(t), y_of(a)) for t, _, a in history], end_x)
    name = f"{deployment['namespace']}/{deployment['name']}"
    body = [
        *frame.backdrop(top, bottom),
        *_y_axis(ticks, y_of, lambda v: f"{v:g}", "replicas", top, bottom),
        *frame.x_axis(bottom, top),
        f'<path class="series desired" d="{desired}" fill="none" stroke="{DESIRED}" '
        'stroke-width="2" stroke-dasharray="6 4"/>',
        f'<path class="series available" d="{available}" fill="none" stroke="{AVAILABLE}" '
        'stroke-width="2"/>',
        f'<text x="{LEFT}" y="18" class="chart-title">{_e(name)}</text>',
        *_legend(
            [(_line_swatch(DESIRED, "6 4"), "desired"), (_line_swatch(AVAILABLE), "available")], 10
        ),
    ]
    if not history:
        body.append(f'<text x="{LEFT + 8}" y="{top + 20}" class="muted">no samples</text>')
    return _svg(bottom + 40, f"Deployment {name}: desired vs available replicas", body)


def _dipped(deployment: dict[str, Any]) -> bool:
    history = deployment["history"]
    full = next((i for i, p in enumerate(history) if p[2] >= p[1]), None)
    return full is not None and any(p[2] < p[1] for p in history[full:])


def _traffic_buckets(frame: _Frame, per_second: Sequence[Sequence[int]]) -> tuple[int, list[Any]]:
    size = max(1, math.ceil(frame.span / MAX_POINTS))
    buckets: dict[int, list[int]] = {}
    for second, ok, failed in per_second:
        bucket = buckets.setdefault(second // size, [0, 0])
        bucket[0] += ok
        bucket[1] += failed
    return size, [(b * size, ok, failed) for b, (ok, failed) in sorted(buckets.items())]


def _success_chart(frame: _Frame, service: dict[str, Any]) -> str:
    top, bottom = 34, 154
    size, buckets = _traffic_buckets(frame, service["perSecond"])

    def y_of(v: float) -> float:
        return bottom - (bottom - top) * v / 100

    d: list[str] = []
    failures: list[str] = []
    previous_end = None
    for start, ok, failed in buckets:
        rate = 100 * ok / (ok + failed)
        x0, x1, y = frame.x(start), frame.x(start + size), y_of(rate)
        # a step line, broken where a bucket had no requests at all
        move = f"V{_n(y)}" if previous_end == start else f"M{_n(x0)} {_n(y)}"
        d.append(f"{move}H{_n(x1)}")
        previous_end = start + size
        if failed:
            height = max(2.0, y - y_of(100))
            failures.append(
                f'<rect class="failed" x="{_n(x0)}" y="{_n(y_of(100))}" '
                f'width="{_n(max(1.0, x1 - x0))}" height="{_n(height)}" fill="{UNSTEADY}" '
                f'fill-opacity="0.55"><title>{failed} of {ok + failed} requests failed at '
                f"{start}s{'' if size == 1 else f'&ndash;{start + size}s'}</title></rect>"
            )
    name = f"{service['namespace']}/{service['service']}"
    unit = "per second" if size == 1 else f"per {size} s"
    body = [
        *frame.backdrop(top, bottom),
        *_y_axis((0, 25, 50, 75, 100), y_of, lambda v: f"{v:g}%", "success rate", top, bottom),
        *frame.x_axis(bottom, top),
        *failures,
        f'<path class="series success" d="{"".join(d)}" fill="none" stroke="{STEADY}" '
        'stroke-width="1.5"/>',
        f'<text x="{LEFT}" y="18" class="chart-title">{_e(name)} — request success rate '
        f"({unit})</text>",
        *_legend(
            [
                (_line_swatch(STEADY), "success rate"),
                (_box_swatch(UNSTEADY, 0.55), "failed requests"),
            ],
            10,
        ),
    ]
    if not buckets:
        body.append(f'<text x="{LEFT + 8}" y="{top + 20}" class="muted">no requests</text>')
    return _svg(bottom + 40, f"Service {name}: request success rate over time", body)


def _latency_chart(frame: _Frame, service: dict[str, Any]) -> str:
    top, bottom = 34, 154
    points = service["latency"]
    size = max(HISTORY_INTERVAL, frame.span / MAX_POINTS)
    if len(points) > MAX_POINTS:  # keep each bucket's worst value: spikes must survive
        merged: dict[int, list[Any]] = {}
        for t, *qs in points:
            key = int(t // size)
            into = merged.setdefault(key, [t, None, None, None])
            into[0] = t
            for i, q in enumerate(qs, start=1):
                if q is not None and (into[i] is None or q > into[i]):
                    into[i] = q
        points = list(merged.values())
    peak = max((q for p in points for q in p[1:] if q is not None), default=0.0) * 1000
    y_top = _nice_top(peak * 1.05) if peak > 0 else 1.0

    def y_of(v: float) -> float:
        return bottom - (bottom - top) * v / y_top

    lines = []
    for index, (label, colour) in enumerate((("p50", P50), ("p95", P95), ("p99", P99)), start=1):
        d = []
        pen_down = False
        for p in points:
            q = p[index]
            if q is None:
                pen_down = False
                continue
            d.append(f"{'L' if pen_down else 'M'}{_n(frame.x(p[0]))} {_n(y_of(q * 1000))}")
            pen_down = True
        lines.append(
            f'<path class="series latency {label}" d="{"".join(d)}" fill="none" '
            f'stroke="{colour}" stroke-width="1.5"/>'
        )
    name = f"{service['namespace']}/{service['service']}"
    body = [
        *frame.backdrop(top, bottom),
        *_y_axis(_ticks(y_top, 4), y_of, lambda v: f"{v:g}", "latency (ms)", top, bottom),
        *frame.x_axis(bottom, top),
        *lines,
        f'<text x="{LEFT}" y="18" class="chart-title">{_e(name)} — request latency '
        f"(per {HISTORY_INTERVAL:g} s interval)</text>",
        *_legend(
            [(_line_swatch(P50), "p50"), (_line_swatch(P95), "p95"), (_line_swatch(P99), "p99")], 10
        ),
    ]
    if not points:
        body.append(f'<text x="{LEFT + 8}" y="{top + 20}" class="muted">no requests</text>')
    return _svg(bottom + 40, f"Service {name}: request latency p50/p95/p99 over time", body)


# ---------------------------------------------------------------------------- page sections
def _capped(items: Sequence[str], limit: int) -> str:
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown


def _header(result: dict[str, Any]) -> str:
    scenario = result["scenario"]
    verdict = result["verdict"]
    colour = VERDICT_COLOURS.get(verdict, "#57606a")
    reached = _reached(result)
    wall = result.get("wallSeconds")
    facts = [
        ("seed", str(result["seed"])),
        (
            "virtual time",
            f"{reached:g} s of {scenario['duration']:g} s"
            + (f" ({_human(scenario['duration'])})" if scenario["duration"] >= 60 else ""),
        ),
        ("wall time", f"{wall:.2f} s" if wall is not None else "-"),
        ("events", str(result["events"])),
        ("scenario file", scenario["file"]),
        (
            "model",
            f"kubechaos {result['kubechaosVersion']}, Kubernetes "
            f"{result['kubernetesVersion']} defaults",
        ),
    ]
    out = [
        f'<header style="border-left-color:{colour}">',
        f"<h1>{_e(scenario['name'])} "
        f'<span class="verdict verdict-{_e(verdict)}" style="background:{colour}">'
        f"{_e(verdict.upper())}</span></h1>",
    ]
    if scenario["description"]:
        out.append(f'<p class="description">{_e(scenario["description"])}</p>')
    if not result["complete"]:
        why = {"interrupted": "it was interrupted", "error": "the run itself failed"}.get(
            verdict, "it did not reach its end"
        )
        out.append(
            f'<div class="banner incomplete" role="alert"><strong>Incomplete run.</strong> '
            f"{_e(why.capitalize())} at {reached:g} s of virtual time, of "
            f"{scenario['duration']:g} s asked for: every figure below covers the run so far."
            "</div>"
        )
    if result.get("error"):
        out.append(f'<div class="banner error" role="alert">{_e(result["error"])}</div>')
    out.append('<dl class="facts">')
    for key, value in facts:
        out.append(f"<div><dt>{_e(key)}</dt><dd>{_e(value)}</dd></div>")
    out.append("</dl>")
    out.append(f'<p class="replay">replay: <code>{_e(result["replay"])}</code></p>')
    out.append("</header>")
    return "".join(out)


def _summary(result: dict[str, Any]) -> str:
    faults = result["faults"]
    recovered = [f for f in faults if f["recovery"]["status"] == "recovered"]
    worst = max((f["recovery"]["seconds"] for f in recovered), default=None)
    slos = result["slos"]
    held = sum(1 for s in slos if s["ok"])
    requests = sum(t["requests"] for t in result["traffic"])
    successes = sum(t["outcomes"].get("success", 0) for t in result["traffic"])
    pending = sum(1 for f in faults if f["recovery"]["status"] == "pending")
    notes = [f"worst {worst:.3f} s" if worst is not None else ""]
    notes += [f"{pending} pending" if pending else ""]
    not_recovered = len(faults) - len(recovered) - pending
    notes += [f"{not_recovered} not recovered" if not_recovered else ""]
    so_far = "" if result["complete"] else " so far"
    cards = [
        (
            "faults",
            f"{len(recovered)}/{len(faults)} recovered",
            "; ".join(n for n in notes if n),
            "ok" if not not_recovered and not pending else "bad" if not_recovered else "",
        ),
        (
            "SLOs",
            f"{held}/{len(slos)} held{so_far}",
            "",
            "" if not result["complete"] else "ok" if held == len(slos) else "bad",
        ),
        (
            "requests",  # judged by the availability SLOs, if any: no colour of its own
            f"{requests}",
            f"{100 * successes / requests:.3f}% succeeded" if requests else "no traffic",
            "",
        ),
    ]
    out = ['<div class="cards">']
    for title, value, sub, mood in cards:
        out.append(
            f'<div class="card {mood}"><div class="card-title">{_e(title)}</div>'
            f'<div class="card-value">{_e(value)}</div><div class="muted">{_e(sub)}</div></div>'
        )
    out.append("</div>")
    return "".join(out)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], css: str) -> str:
    """``rows`` hold cell HTML (already escaped)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _ok_cell(ok: bool, complete: bool) -> str:
    if not complete:
        return '<span class="pill pending">so far ' + ("ok" if ok else "violated") + "</span>"
    return '<span class="pill ok">held</span>' if ok else '<span class="pill bad">violated</span>'


def _slo_table(result: dict[str, Any]) -> str:
    if not result["slos"]:
        return '<p class="muted">The scenario declares no SLOs.</p>'
    rows = [
        (
            _e(s["name"]),
            _e(s["kind"]),
            _e(s["measured"]),
            _e(s["threshold"]),
            _ok_cell(s["ok"], result["complete"]),
            _e(s["detail"]),
        )
        for s in result["slos"]
    ]
    return _table(("SLO", "kind", "measured", "threshold", "verdict", "detail"), rows, "slos")


def _recovery_cell(fault: dict[str, Any]) -> str:
    recovery = fault["recovery"]
    if recovery["status"] == "recovered":
        return f'<span class="pill ok">{recovery["seconds"]:.3f} s</span>'
    if recovery["status"] == "not-recovered":
        return '<span class="pill bad">not recovered</span>'
    return '<span class="pill pending">pending</span>'


def _fault_table(result: dict[str, Any], colours: dict[str, str]) -> str:
    if not result["faults"]:
        return '<p class="muted">No faults were injected.</p>'
    rows = []
    for number, f in enumerate(result["faults"], start=1):
        reverted = _secs(f["revertedAt"]) if f["lasting"] else "instantaneous"
        rows.append(
            (
                f'<a href="#cause-{number}">#{number}</a>',
                f'<span class="swatch" style="background:{colours[f["name"]]}"></span>'
                + _e(f["name"]),
                _e(f["type"]),
                _e(f["params"]),
                _e(_secs(f["injectedAt"])),
                _e(reverted),
                _recovery_cell(f),
                _e(_capped(f["targets"], MAX_TARGETS)),
            )
        )
    table = _table(
        ("#", "fault", "type", "params", "injected", "reverted", "recovery", "targets"),
        rows,
        "faults",
    )
    failed = result.get("failedInjections") or []
    if failed:
        table += "<h3>Injections that failed</h3>" + _table(
            ("fault", "type", "at", "why"),
            [(_e(f["name"]), _e(f["type"]), _e(_secs(f["at"])), _e(f["message"])) for f in failed],
            "failed-injections",
        )
    return table


def _traffic_table(result: dict[str, Any]) -> str:
    rows = []
    for t in result["traffic"]:
        rate = f"{100 * t['successRate']:.3f}%" if t["successRate"] is not None else "-"
        outcomes = ", ".join(f"{k} {v}" for k, v in t["outcomes"].items())
        rows.append(
            (
                _e(f"{t['namespace']}/{t['service']}"),
                _e(t["requests"]),
                _e(rate),
                _e(outcomes),
                _e(t["unsent"]),
            )
        )
    return _table(("service", "requests", "success rate", "outcomes", "unsent"), rows, "traffic")


def _in_full(stories: Sequence[FaultStory]) -> set[int]:
    """The stories worth every detail: the first few injections of each fault, the slowest
    recovery of each, and every one that did not recover. A fault injected every minute for an
    hour would otherwise repeat the same story sixty times (the rest keep their chain)."""
    chosen: set[int] = set()
    by_name: dict[str, list[FaultStory]] = {}
    for story in stories:
        by_name.setdefault(story.fault["name"], []).append(story)
        if story.fault["recovery"]["status"] != "recovered":
            chosen.add(story.number)
    for same in by_name.values():
        chosen.update(s.number for s in same[:FULL_PER_FAULT])
        slowest = max(same, key=lambda s: s.fault["recovery"]["seconds"] or 0.0)
        chosen.add(slowest.number)
    return chosen


def _story_html(story: FaultStory, full: bool = True) -> str:
    fault = story.fault
    recovery = fault["recovery"]
    if recovery["status"] == "recovered":
        outcome = f"recovered in {recovery['seconds']:.3f} s"
        mood = "ok"
    elif recovery["status"] == "not-recovered":
        outcome, mood = "not recovered", "bad"
    else:
        outcome, mood = "recovery pending", "pending"
    out = [
        f'<section class="story" id="cause-{story.number}">',
        f'<h3>#{story.number} {_e(fault["name"])} <span class="muted">{_e(fault["type"])}'
        f"</span> at {_e(_secs(story.start))} → "
        f'<span class="pill {mood}">{_e(outcome)}</span></h3>',
    ]
    chain = [f"{fault['type']} at {story.start:.3f}s"]
    links = [s for s in story.steps if s.kind in ("event", "recovery")]
    for step in links[:MAX_CHAIN]:
        if step.kind == "recovery":
            chain.append(
                f"{step.who} {step.what} {recovery['seconds']:.3f}s"
                if recovery["status"] == "recovered"
                else f"{step.who} {step.what}"
            )
        else:
            chain.append(f"{step.who} {step.what} ({_offset(step.time - story.start)})")
    if len(links) > MAX_CHAIN:
        chain.append(f"… {len(links) - MAX_CHAIN} more")
    out.append('<p class="chain">' + " → ".join(_e(c) for c in chain) + "</p>")
    meta = [f"window {story.start:.3f}\u2013{story.end:.3f} s (to the {story.why_end})"]
    if fault["targets"]:
        meta.append("targets: " + _capped(fault["targets"], MAX_TARGETS))
    if fault["params"]:
        meta.append("params: " + fault["params"])
    if fault["lasting"]:
        meta.append(
            f"reverted at {fault['revertedAt']:.3f} s"
            if fault["revertedAt"] is not None
            else "never reverted"
        )
    out.append('<p class="meta muted">' + _e(" · ".join(meta)) + "</p>")
    if not full:
        out.append(
            f'<p class="more">{_plural(len(story.events), "event")} in the window, not listed: '
            f"in full are the first {FULL_PER_FAULT} injections of each fault, its slowest "
            "recovery and any that did not recover.</p></section>"
        )
        return "".join(out)
    by_component: dict[str, list[str]] = {}
    for step in story.steps:
        if step.kind in ("event", "background"):
            by_component.setdefault(step.who, []).append(f"{step.what} \u00d7{step.count}")
    if by_component:
        out.append(
            '<p class="components">'
            + " · ".join(
                f"<b>{_e(component)}</b>: {_e(', '.join(reasons))}"
                for component, reasons in by_component.items()
            )
            + "</p>"
        )
    out.append('<ol class="steps">')
    for step in story.steps[:MAX_STEPS]:
        count = f' <span class="count">&times;{step.count}</span>' if step.count > 1 else ""
        if step.last is not None and step.last > step.time and step.count > 1:
            count += f' <span class="muted">(last {_e(_offset(step.last - story.start))})</span>'
        out.append(
            f'<li class="step {step.kind}"><span class="t">{_e(_offset(step.time - story.start))}'
            f'</span> <span class="who">{_e(step.who)}</span> <b class="what">{_e(step.what)}</b>'
            f'{count} <span class="detail">{_e(step.detail)}</span></li>'
        )
    if len(story.steps) > MAX_STEPS:
        out.append(f'<li class="more">and {len(story.steps) - MAX_STEPS} more</li>')
    out.append("</ol>")
    if story.events:
        rows = [
            (
                _e(f"{e.time:.3f}"),
                _e(_offset(e.time - story.start)),
                _e(e.component),
                _e(e.reason),
                _e(f"{e.kind}/{e.object}" if e.object else e.kind),
                _e(e.message),
            )
            for e in story.events[:MAX_RAW_EVENTS]
        ]
        more = len(story.events) - MAX_RAW_EVENTS
        out.append(
            f"<details><summary>{_plural(len(story.events), 'event')} in the window</summary>"
            + _table(
                ("time (s)", "offset", "component", "reason", "object", "message"), rows, "events"
            )
            + (f'<p class="more">and {more} more</p>' if more > 0 else "")
            + "</details>"
        )
    out.append("</section>")
    return "".join(out)


CSS = """
:root{--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--bg:#fff;--soft:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;padding:24px 32px 64px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg);max-width:1180px}
h1{margin:0 0 6px;font-size:26px}h2{margin:36px 0 8px;font-size:19px;border-bottom:1px solid
var(--line);padding-bottom:4px}h3{font-size:15px;margin:0 0 6px}
header{border-left:8px solid;padding:4px 0 4px 16px}
.verdict{color:#fff;font-size:14px;padding:3px 10px;border-radius:12px;vertical-align:middle;
letter-spacing:.05em}
.description{margin:2px 0 10px;color:var(--muted);max-width:900px}
.banner{padding:10px 14px;border-radius:6px;margin:10px 0;border:1px solid}
.banner.incomplete{background:#fff8c5;border-color:#d4a72c}
.banner.error{background:#ffebe9;border-color:#ff8182;font-family:ui-monospace,monospace}
.facts{display:flex;flex-wrap:wrap;gap:4px 28px;margin:8px 0}.facts dt{color:var(--muted);
font-size:12px}.facts dd{margin:0}
code,.replay code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
background:var(--soft);padding:2px 6px;border-radius:4px}
nav{margin:14px 0;font-size:13px}nav a{margin-right:14px}
a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}
.cards{display:flex;gap:14px;margin:14px 0}
.card{border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:180px;
border-top:4px solid var(--line)}.card.ok{border-top-color:#2da44e}.card.bad{border-top-color:#cf222e}
.card-title{color:var(--muted);font-size:12px;text-transform:uppercase}.card-value{font-size:20px}
svg.chart{display:block;max-width:100%;height:auto;margin:6px 0 14px;font-size:11px;
fill:var(--fg)}
svg text{font-family:inherit}svg .muted{fill:var(--muted);font-size:10px}
svg .grid{stroke:#eaeef2}svg .axis{stroke:#8c959f}svg .axis-title{fill:var(--muted);font-size:11px}
svg .chart-title{font-size:13px;font-weight:600}svg .row-label{font-size:12px}
svg .legend text{font-size:11px;fill:var(--fg)}
svg .fault-shade{fill-opacity:.13}svg .fault-line{stroke-width:1.2;stroke-dasharray:4 3;stroke-opacity:.7}
svg .recovery-line{stroke:#1a7f37;stroke-width:1;stroke-dasharray:1 3}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:4px 10px;text-align:left;vertical-align:top}
th{background:var(--soft)}
.pill{padding:1px 8px;border-radius:10px;font-size:12px;white-space:nowrap}
.pill.ok{background:#dafbe1;color:#116329}.pill.bad{background:#ffebe9;color:#a40e26}
.pill.pending{background:#fff8c5;color:#7d4e00}
.muted{color:var(--muted)}
.story{border:1px solid var(--line);border-radius:8px;padding:12px 16px;margin:12px 0}
.chain{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;
background:var(--soft);padding:6px 10px;border-radius:6px;margin:6px 0}
.meta{margin:4px 0;font-size:12.5px}.components{font-size:12.5px;margin:4px 0 8px}
ol.steps{list-style:none;padding:0;margin:0}
.step{padding:2px 0 2px 10px;border-left:3px solid var(--line);font-size:13px}
.step .t{display:inline-block;min-width:86px;font-family:ui-monospace,monospace;
color:var(--muted)}.step .who{color:#0550ae}.step .detail{color:var(--muted)}
.step.metric{border-left-color:#bf8700}.step.metric .who{color:#7d4e00}
.step.recovery{border-left-color:#2da44e}.step.background{opacity:.6}
.more{color:var(--muted);font-style:italic}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
details{margin-top:8px}summary{cursor:pointer;color:var(--muted)}
table.events td{font-size:12px}
footer{margin-top:40px;color:var(--muted);font-size:12px}
"""


def render_html(result: dict[str, Any], events: Iterable[Event]) -> str:
    """The report of one run (``result`` as :func:`~kubechaos.report.result.result_of` gives
    it, ``events`` its event log) as one self-contained HTML document."""
    frame = _Frame(result)
    scenario = result["scenario"]
    deployments = sorted(result["deployments"], key=lambda d: not _dipped(d))
    services = sorted(result["traffic"], key=lambda t: not any(p[2] for p in t["perSecond"]))
    stories = causal_timeline(result, events)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>kubechaos · {_e(scenario['name'])} · seed {_e(result['seed'])} · "
        f"{_e(result['verdict'])}</title>",
        f"<style>{CSS}</style></head><body>",
        _header(result),
        '<nav><a href="#timeline">fault timeline</a><a href="#replicas">replicas</a>'
        '<a href="#traffic">traffic</a><a href="#slos">SLOs</a><a href="#faults">faults</a>'
        '<a href="#causal">causal timeline</a></nav>',
        _summary(result),
        '<h2 id="timeline">Fault timeline</h2>',
        '<p class="muted">One row per fault: a band while it is in effect, a diamond for an '
        "instantaneous fault; the green line runs from the injection to where steady state "
        "returned (the recovery). Click a fault for its causal timeline.</p>",
        _fault_timeline(frame, result),
        '<h2 id="replicas">Desired vs available replicas</h2>',
    ]
    for deployment in deployments[:MAX_CHARTS]:
        parts.append(_deployment_chart(frame, deployment))
    if len(deployments) > MAX_CHARTS:
        rest = [f"{d['namespace']}/{d['name']}" for d in deployments[MAX_CHARTS:]]
        parts.append(f'<p class="more">and {len(rest)} more: {_e(_capped(rest, 50))}</p>')
    if not deployments:
        parts.append('<p class="muted">No Deployments.</p>')
    parts.append('<h2 id="traffic">Requests</h2>')
    for service in services[:MAX_CHARTS]:
        parts.append(_success_chart(frame, service))
        parts.append(_latency_chart(frame, service))
    if len(services) > MAX_CHARTS:
        parts.append(f'<p class="more">and {len(services) - MAX_CHARTS} more Services</p>')
    parts.append(_traffic_table(result) if services else '<p class="muted">No traffic.</p>')
    parts += [
        '<h2 id="slos">SLOs</h2>',
        _slo_table(result),
        '<h2 id="faults">Faults</h2>',
        _fault_table(result, frame.colours),
        '<h2 id="causal">Causal timeline</h2>',
        '<p class="muted">For each injection, what happened from the injection until steady '
        "state returned (or, if it never did, until the next injection or the end): each "
        "component's first reaction of each kind with its count, and the metric changes, in "
        "time order; offsets are from the injection.</p>",
    ]
    full = _in_full(stories)
    parts += [_story_html(story, story.number in full) for story in stories]
    if len(result["faults"]) > MAX_STORIES:
        parts.append(f'<p class="more">and {len(result["faults"]) - MAX_STORIES} more faults</p>')
    if not stories:
        parts.append('<p class="muted">No faults were injected.</p>')
    parts.append(
        f"<footer>kubechaos {_e(result['kubechaosVersion'])} · result schema "
        f"{_e(result['schema'])} · {_e(result['events'])} events · all times are virtual</footer>"
        "</body></html>\n"
    )
    return "\n".join(parts)


def write_html(result: dict[str, Any], events: Iterable[Event], path: str | Path) -> None:
    Path(path).write_text(render_html(result, events), encoding="utf-8")


def read_events_jsonl(path: str | Path) -> list[Event]:
    """An event log written by ``kubechaos run --events`` (to render a report after the fact)."""
    events = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                record = json.loads(line)
                events.append(
                    Event(
                        record["time"],
                        record["component"],
                        record["kind"],
                        record["object"],
                        record["reason"],
                        record.get("message", ""),
                        record.get("fields"),
                    )
                )
    return events
