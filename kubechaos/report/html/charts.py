"""The charts: the fault timeline, and replicas, request success and latency over time.

Each chart is one inline SVG drawn on the shared :class:`~kubechaos.report.html.svg.Frame`, so
every chart's time axis sits at the same pixels and the fault bands line up down the page. Long
runs stay small: traffic is downsampled to at most :data:`MAX_POINTS` buckets across the axis,
and latency keeps each bucket's worst value (a spike must survive the downsampling).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from kubechaos.observe.history import DEFAULT_INTERVAL as HISTORY_INTERVAL
from kubechaos.report.html.svg import (
    LEFT,
    PLOT,
    Frame,
    box_swatch,
    coord,
    cross,
    legend_row,
    line_swatch,
    nice_top,
    round_ticks,
    step_path,
    svg_chart,
    y_axis,
)
from kubechaos.report.html.text import MAX_TARGETS, capped, escape, seconds_text
from kubechaos.report.types import (
    AutoscalerRecord,
    DeploymentRecord,
    FaultRecord,
    JobRecord,
    LatencyRow,
    PerSecondRow,
    RunResult,
    StatefulSetRecord,
    SteadyRow,
    TrafficRecord,
)

MAX_POINTS = 900  # traffic and latency buckets across the axis: about one per pixel pair

STEADY, UNSTEADY, RECOVERY, NOT_RECOVERED = "#2da44e", "#cf222e", "#1a7f37", "#cf222e"
DESIRED, AVAILABLE = "#8c959f", "#0969da"
AUTOSCALER = "#bf8700"  # the HPA's desired replicas
JOB_ACTIVE, JOB_SUCCEEDED, JOB_FAILED = "#0969da", "#1a7f37", "#cf222e"
P50, P95, P99 = "#0969da", "#bf8700", "#cf222e"


def fault_timeline(frame: Frame, result: RunResult) -> str:
    """A row per fault name (each of its injections in that row), then steady state."""
    rows: dict[str, list[tuple[int, FaultRecord]]] = {}
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
            f"<title>{escape(name)}</title>{escape(short)}</text>"
            f'<text x="{LEFT - 8}" y="{y + 26}" text-anchor="end" class="muted">'
            f"{escape(', '.join(kinds))}</text>"
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
    legend = legend_row(
        [
            (box_swatch("#6e7781", 0.6), "fault in effect"),
            ('<path d="M9 0 L14 5 L9 10 L4 5 Z" fill="#6e7781"/>', "instantaneous fault"),
            (f'<circle cx="9" cy="5" r="4.5" fill="{RECOVERY}"/>', "steady state returned"),
            (cross(9, 5, NOT_RECOVERED), "not recovered"),
            (box_swatch(STEADY), "steady"),
            (box_swatch(UNSTEADY), "not steady"),
        ],
        8,
    )
    height = y + 44
    return svg_chart(
        height,
        "Fault timeline: when each fault was in effect and when steady state returned",
        [*backdrop, *frame.x_axis(y + 4, top), *body, *legend],
        "chart timeline",
    )


def _fault_mark(
    frame: Frame, number: int, fault: FaultRecord, colour: str, y: float, h: float
) -> str:
    x0 = frame.x(fault["injectedAt"])
    recovery = fault["recovery"]
    info = [
        f"#{number} {fault['name']} ({fault['type']})",
        f"injected at {seconds_text(fault['injectedAt'])}",
    ]
    if fault["lasting"]:
        info.append(
            f"reverted at {seconds_text(fault['revertedAt'])}"
            if fault["revertedAt"] is not None
            else "never reverted"
        )
    if recovery["status"] == "recovered":
        info.append(f"recovered in {recovery['seconds']:.3f}s")
    else:
        info.append(recovery["status"].replace("-", " "))
    if fault["targets"]:
        info.append("targets: " + capped(fault["targets"], MAX_TARGETS))
    tip = f"<title>{escape('; '.join(info))}</title>"
    mid = y + h / 2
    parts = [f'<a href="#cause-{number}">']
    if fault["lasting"]:
        x1 = max(frame.x(frame.fault_end(fault)), x0 + 2)
        still = " open" if fault["revertedAt"] is None else ""
        parts.append(
            f'<rect class="fault-band{still}" x="{coord(x0)}" y="{coord(y)}"'
            f' width="{coord(x1 - x0)}" '
            f'height="{coord(h)}" rx="2" fill="{colour}" fill-opacity="0.6" stroke="{colour}"'
            f"{' stroke-dasharray=&quot;4 2&quot;' if still else ''}>{tip}</rect>"
        )
    else:
        parts.append(
            f'<path class="fault-marker" d="M{coord(x0)} {coord(y)} L{coord(x0 + 6)} {coord(mid)} '
            f"L{coord(x0)} {coord(y + h)}"
            f' L{coord(x0 - 6)} {coord(mid)} Z" fill="{colour}">{tip}</path>'
        )
    if recovery["status"] == "recovered" and recovery["recoveredAt"] is not None:
        xr = frame.x(recovery["recoveredAt"])
        parts.append(
            f'<line class="recovery-span" x1="{coord(x0)}" x2="{coord(xr)}" y1="{coord(mid)}" '
            f'y2="{coord(mid)}" stroke="{RECOVERY}" stroke-width="1.5"/>'
            f'<circle class="recovery-marker" cx="{coord(xr)}" cy="{coord(mid)}" r="4.5" '
            f'fill="{RECOVERY}" stroke="#fff"><title>'
            f"#{number} recovered: steady state at"
            f" {escape(seconds_text(recovery['recoveredAt']))}, "
            f"{recovery['seconds']:.3f}s after injection</title></circle>"
        )
    elif recovery["status"] == "not-recovered":
        parts.append(
            '<g class="not-recovered-marker">'
            f"{cross(frame.x(frame.reached) - 6, mid, NOT_RECOVERED)}"
            f"<title>#{number} not recovered by the end of the run</title></g>"
        )
    parts.append("</a>")
    return "".join(parts)


def _steady_strip(frame: Frame, changes: Sequence[SteadyRow], y: float, h: float) -> list[str]:
    out = []
    for i, (t, ok) in enumerate(changes):
        end = changes[i + 1][0] if i + 1 < len(changes) else frame.reached
        x0, x1 = frame.x(t), frame.x(end)
        if x1 <= x0:
            x1 = x0 + 0.5
        state = "steady" if ok else "not steady"
        out.append(
            f'<rect class="steady-{"ok" if ok else "lost"}" x="{coord(x0)}" y="{coord(y)}" '
            f'width="{coord(x1 - x0)}" height="{coord(h)}" fill="{STEADY if ok else UNSTEADY}">'
            f"<title>{state} from {escape(seconds_text(t))}"
            f" to {escape(seconds_text(end))}</title></rect>"
        )
    return out


def deployment_chart(
    frame: Frame,
    deployment: DeploymentRecord | StatefulSetRecord,
    autoscaler: AutoscalerRecord | None = None,
    kind: str = "Deployment",
) -> str:
    """Desired vs available replicas of a Deployment (or of a DaemonSet's nodes, or a
    StatefulSet's replicas: ``kind``); with the HPA that scales the Deployment, its desired
    replicas too (a dotted line: where the autoscaler wants the Deployment)."""
    history = deployment["history"]
    hpa_history = autoscaler["history"] if autoscaler is not None else []
    top, bottom = 34, 164
    peak = max(
        [
            deployment["desired"],
            deployment["available"],
            *(max(p[1], p[2]) for p in history),
            *(p[2] for p in hpa_history),
        ]
    )
    y_top = max(1.0, float(peak) * 1.15)

    def y_of(v: float) -> float:
        return bottom - (bottom - top) * v / y_top

    step = max(1, math.ceil(y_top / 5))
    ticks = [float(v) for v in range(0, int(y_top) + 1, step)]
    end_x = frame.x(frame.reached)
    desired = step_path([(frame.x(t), y_of(d)) for t, d, _ in history], end_x)
    available = step_path([(frame.x(t), y_of(a)) for t, _, a in history], end_x)
    name = f"{deployment['namespace']}/{deployment['name']}"
    body = [
        *frame.backdrop(top, bottom),
        *y_axis(ticks, y_of, lambda v: f"{v:g}", "replicas", top, bottom),
        *frame.x_axis(bottom, top),
        f'<path class="series desired" d="{desired}" fill="none" stroke="{DESIRED}" '
        'stroke-width="2" stroke-dasharray="6 4"/>',
        f'<path class="series available" d="{available}" fill="none" stroke="{AVAILABLE}" '
        'stroke-width="2"/>',
        f'<text x="{LEFT}" y="18" class="chart-title">{escape(name)}</text>',
        *legend_row(
            [(line_swatch(DESIRED, "6 4"), "desired"), (line_swatch(AVAILABLE), "available")]
            + ([(line_swatch(AUTOSCALER, "2 3"), "HPA desired")] if autoscaler else []),
            10,
        ),
    ]
    if autoscaler is not None:
        wanted = step_path([(frame.x(t), y_of(d)) for t, _, d in hpa_history], end_x)
        body.append(
            f'<path class="series hpa-desired" d="{wanted}" fill="none" stroke="{AUTOSCALER}" '
            'stroke-width="2" stroke-dasharray="2 3"><title>'
            f"HorizontalPodAutoscaler {escape(autoscaler['name'])}: desired replicas "
            f"(min {autoscaler['minReplicas']}, max {autoscaler['maxReplicas']})</title></path>"
        )
    if not history:
        body.append(f'<text x="{LEFT + 8}" y="{top + 20}" class="muted">no samples</text>')
    return svg_chart(bottom + 40, f"{kind} {name}: desired vs available replicas", body)


def job_chart(frame: Frame, job: JobRecord) -> str:
    """A Job's active, succeeded and failed pods over time (kube_job_status_*)."""
    history = job["history"]
    top, bottom = 34, 164
    peak = max([job["active"], job["succeeded"], job["failed"], *(max(p[1:]) for p in history)])
    y_top = max(1.0, float(peak) * 1.15)

    def y_of(v: float) -> float:
        return bottom - (bottom - top) * v / y_top

    step = max(1, math.ceil(y_top / 5))
    ticks = [float(v) for v in range(0, int(y_top) + 1, step)]
    end_x = frame.x(frame.reached)
    name = f"{job['namespace']}/{job['name']}"
    body = [
        *frame.backdrop(top, bottom),
        *y_axis(ticks, y_of, lambda v: f"{v:g}", "pods", top, bottom),
        *frame.x_axis(bottom, top),
    ]
    for column, (colour, label) in enumerate(
        ((JOB_ACTIVE, "active"), (JOB_SUCCEEDED, "succeeded"), (JOB_FAILED, "failed")), 1
    ):
        path = step_path([(frame.x(p[0]), y_of(p[column])) for p in history], end_x)
        body.append(
            f'<path class="series {label}" d="{path}" fill="none" stroke="{colour}" '
            'stroke-width="2"/>'
        )
    body += [
        f'<text x="{LEFT}" y="18" class="chart-title">{escape(name)} ({escape(job["status"])})'
        "</text>",
        *legend_row(
            [
                (line_swatch(JOB_ACTIVE), "active"),
                (line_swatch(JOB_SUCCEEDED), "succeeded"),
                (line_swatch(JOB_FAILED), "failed"),
            ],
            10,
        ),
    ]
    if not history:
        body.append(f'<text x="{LEFT + 8}" y="{top + 20}" class="muted">no samples</text>')
    return svg_chart(bottom + 40, f"Job {name}: active, succeeded and failed pods", body)


def dipped(deployment: DeploymentRecord | StatefulSetRecord) -> bool:
    history = deployment["history"]
    full = next((i for i, p in enumerate(history) if p[2] >= p[1]), None)
    return full is not None and any(p[2] < p[1] for p in history[full:])


def _traffic_buckets(
    frame: Frame, per_second: Sequence[PerSecondRow]
) -> tuple[int, list[tuple[int, int, int]]]:
    size = max(1, math.ceil(frame.span / MAX_POINTS))
    buckets: dict[int, list[int]] = {}
    for second, ok, failed in per_second:
        bucket = buckets.setdefault(second // size, [0, 0])
        bucket[0] += ok
        bucket[1] += failed
    return size, [(b * size, ok, failed) for b, (ok, failed) in sorted(buckets.items())]


def success_chart(frame: Frame, service: TrafficRecord) -> str:
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
        move = f"V{coord(y)}" if previous_end == start else f"M{coord(x0)} {coord(y)}"
        d.append(f"{move}H{coord(x1)}")
        previous_end = start + size
        if failed:
            height = max(2.0, y - y_of(100))
            failures.append(
                f'<rect class="failed" x="{coord(x0)}" y="{coord(y_of(100))}" '
                f'width="{coord(max(1.0, x1 - x0))}" height="{coord(height)}" fill="{UNSTEADY}" '
                f'fill-opacity="0.55"><title>{failed} of {ok + failed} requests failed at '
                f"{start}s{'' if size == 1 else f'&ndash;{start + size}s'}</title></rect>"
            )
    name = f"{service['namespace']}/{service['service']}"
    unit = "per second" if size == 1 else f"per {size} s"
    body = [
        *frame.backdrop(top, bottom),
        *y_axis((0, 25, 50, 75, 100), y_of, lambda v: f"{v:g}%", "success rate", top, bottom),
        *frame.x_axis(bottom, top),
        *failures,
        f'<path class="series success" d="{"".join(d)}" fill="none" stroke="{STEADY}" '
        'stroke-width="1.5"/>',
        f'<text x="{LEFT}" y="18" class="chart-title">{escape(name)} — request success rate '
        f"({unit})</text>",
        *legend_row(
            [
                (line_swatch(STEADY), "success rate"),
                (box_swatch(UNSTEADY, 0.55), "failed requests"),
            ],
            10,
        ),
    ]
    if not buckets:
        body.append(f'<text x="{LEFT + 8}" y="{top + 20}" class="muted">no requests</text>')
    return svg_chart(bottom + 40, f"Service {name}: request success rate over time", body)


def _row_time(row: LatencyRow) -> float:
    time = row[0]
    assert time is not None  # only a row's quantiles may be null, never its time
    return time


def _worst_per_bucket(points: Sequence[LatencyRow], size: float) -> list[LatencyRow]:
    """``points`` merged into buckets ``size`` seconds wide, keeping each bucket's worst value
    of each quantile (spikes must survive) and its last time."""
    merged: dict[int, LatencyRow] = {}
    for row in points:
        t = _row_time(row)
        into = merged.setdefault(int(t // size), [t, None, None, None])
        into[0] = t
        for i, q in enumerate(row[1:], start=1):
            worst = into[i]
            if q is not None and (worst is None or q > worst):
                into[i] = q
    return list(merged.values())


def latency_chart(frame: Frame, service: TrafficRecord) -> str:
    top, bottom = 34, 154
    points = service["latency"]
    size = max(HISTORY_INTERVAL, frame.span / MAX_POINTS)
    if len(points) > MAX_POINTS:
        points = _worst_per_bucket(points, size)
    peak = max((q for p in points for q in p[1:] if q is not None), default=0.0) * 1000
    y_top = nice_top(peak * 1.05) if peak > 0 else 1.0

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
            d.append(
                f"{'L' if pen_down else 'M'}{coord(frame.x(_row_time(p)))} {coord(y_of(q * 1000))}"
            )
            pen_down = True
        lines.append(
            f'<path class="series latency {label}" d="{"".join(d)}" fill="none" '
            f'stroke="{colour}" stroke-width="1.5"/>'
        )
    name = f"{service['namespace']}/{service['service']}"
    body = [
        *frame.backdrop(top, bottom),
        *y_axis(round_ticks(y_top, 4), y_of, lambda v: f"{v:g}", "latency (ms)", top, bottom),
        *frame.x_axis(bottom, top),
        *lines,
        f'<text x="{LEFT}" y="18" class="chart-title">{escape(name)} — request latency '
        f"(per {HISTORY_INTERVAL:g} s interval)</text>",
        *legend_row(
            [(line_swatch(P50), "p50"), (line_swatch(P95), "p95"), (line_swatch(P99), "p99")], 10
        ),
    ]
    if not points:
        body.append(f'<text x="{LEFT + 8}" y="{top + 20}" class="muted">no requests</text>')
    return svg_chart(bottom + 40, f"Service {name}: request latency p50/p95/p99 over time", body)
