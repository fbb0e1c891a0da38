"""SVG primitives every chart is drawn with: the shared time axis, scales, axes, legends, paths.

Every chart on the page shares one horizontal axis (virtual seconds since the run began, at the
same pixel positions), so reading straight down the page lines a fault's band up with what it did
to replicas, requests and latency. :class:`Frame` is that axis and the fault bands drawn behind
every chart's data; the rest are the small pieces (ticks, axes, legends, swatches, step paths)
the charts in :mod:`kubechaos.report.html.charts` are built from. Numbers are written by
:func:`coord`, which never lets a NaN or an infinity into the markup.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

from kubechaos.report.html.text import escape
from kubechaos.report.result import reached_seconds
from kubechaos.report.types import FaultRecord, RunResult

# drawing geometry (SVG user units = CSS pixels at full width)
WIDTH = 1100
LEFT = 170  # room for fault names; every chart uses it so their time axes line up
RIGHT = 24
PLOT = WIDTH - LEFT - RIGHT

MAX_RECOVERY_LINES = 30  # recoveries marked across the data charts too (more would be noise)
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


def coord(value: float) -> str:
    """A coordinate: one decimal, never NaN or infinite (a broken number would break the SVG)."""
    if not math.isfinite(value):
        value = 0.0
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def round_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to ``top`` (1-2-5 steps)."""
    if top <= 0:
        return [0.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(int(top / step + 1e-9) + 1)]


def nice_top(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(
        m * magnitude for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * magnitude >= value
    )


def time_ticks(span: float) -> list[float]:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200):
        if span / step <= 12:
            break
    else:
        step = 86400 * math.ceil(span / 86400 / 12)
    return [i * step for i in range(int(span // step) + 1)]


def tick_label(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.3g}"


class Frame:
    """The shared time axis, and what every chart draws behind its data."""

    def __init__(self, result: RunResult) -> None:
        self.reached = reached_seconds(result)
        self.span = max(float(result["scenario"]["duration"]), self.reached, 1.0)
        self.faults = result["faults"]
        self.colours: dict[str, str] = {}
        for fault in self.faults:
            if fault["name"] not in self.colours:
                self.colours[fault["name"]] = FAULT_COLOURS[len(self.colours) % len(FAULT_COLOURS)]

    def x(self, t: float) -> float:
        return LEFT + PLOT * min(max(t, 0.0), self.span) / self.span

    def fault_end(self, fault: FaultRecord) -> float:
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
                    f'<rect class="fault-shade" x="{coord(x0)}" y="{coord(top)}"'
                    f' width="{coord(x1 - x0)}" '
                    f'height="{coord(bottom - top)}" fill="{colour}"/>'
                )
            else:
                out.append(
                    f'<line class="fault-line" x1="{coord(x0)}" x2="{coord(x0)}" y1="{coord(top)}" '
                    f'y2="{coord(bottom)}" stroke="{colour}"/>'
                )
            recovered = fault["recovery"]["recoveredAt"]
            if (
                fault["recovery"]["status"] == "recovered"
                and recovered is not None
                and len(self.faults) <= MAX_RECOVERY_LINES
            ):
                xr = self.x(recovered)
                out.append(
                    f'<line class="recovery-line" x1="{coord(xr)}" x2="{coord(xr)}"'
                    f' y1="{coord(top)}" '
                    f'y2="{coord(bottom)}"/>'
                )
        if self.reached < self.span:
            x0 = self.x(self.reached)
            out.append(
                f'<rect class="not-run" x="{coord(x0)}" y="{coord(top)}"'
                f' width="{coord(LEFT + PLOT - x0)}" '
                f'height="{coord(bottom - top)}" fill="#8c959f" fill-opacity="0.18">'
                "<title>not run: the run stopped here</title></rect>"
                f'<text x="{coord(x0 + 6)}" y="{coord(top + 14)}" class="muted">not run</text>'
            )
        return out

    def x_axis(self, y: float, top: float) -> list[str]:
        out = [
            f'<line class="axis" x1="{LEFT}" x2="{LEFT + PLOT}" y1="{coord(y)}" y2="{coord(y)}"/>'
        ]
        for t in time_ticks(self.span):
            x = self.x(t)
            out.append(
                f'<line class="grid" x1="{coord(x)}" x2="{coord(x)}"'
                f' y1="{coord(top)}" y2="{coord(y)}"/>'
                f'<line class="axis" x1="{coord(x)}" x2="{coord(x)}"'
                f' y1="{coord(y)}" y2="{coord(y + 4)}"/>'
                f'<text x="{coord(x)}" y="{coord(y + 16)}" text-anchor="middle"'
                f">{tick_label(t)}</text>"
            )
        out.append(
            f'<text x="{LEFT + PLOT / 2:.0f}" y="{coord(y + 32)}" text-anchor="middle" '
            'class="axis-title">virtual time (seconds since the run began)</text>'
        )
        return out


def svg_chart(height: float, label: str, body: Iterable[str], css: str = "chart") -> str:
    return (
        f'<svg class="{css}" role="img" aria-label="{escape(label)}" width="{WIDTH}" '
        f'height="{coord(height)}" viewBox="0 0 {WIDTH} {coord(height)}">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def legend_row(items: Sequence[tuple[str, str]], y: float) -> list[str]:
    """``items``: (swatch SVG drawn at 0,0 within 18x10, label), laid out right to left."""
    out = []
    x = float(LEFT + PLOT)
    for swatch, label in reversed(items):
        width = 26 + 6.2 * len(label)
        x -= width
        out.append(
            f'<g class="legend" transform="translate({coord(x)},{coord(y)})">{swatch}'
            f'<text x="22" y="9">{escape(label)}</text></g>'
        )
    return out


def line_swatch(colour: str, dash: str = "") -> str:
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<line x1="0" x2="18" y1="5" y2="5" stroke="{colour}" stroke-width="2"{dashed}/>'


def box_swatch(colour: str, opacity: float = 1.0) -> str:
    return f'<rect width="18" height="10" fill="{colour}" fill-opacity="{opacity}"/>'


def y_axis(
    ticks: Iterable[float],
    y_of: Callable[[float], float],
    fmt: Callable[[float], str],
    title: str,
    top: float,
    bottom: float,
) -> list[str]:
    out = [f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{coord(top)}" y2="{coord(bottom)}"/>']
    for value in ticks:
        y = y_of(value)
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + PLOT}" y1="{coord(y)}" y2="{coord(y)}"/>'
            f'<text x="{LEFT - 6}" y="{coord(y + 4)}" text-anchor="end">{escape(fmt(value))}</text>'
        )
    middle = (top + bottom) / 2
    out.append(
        f'<text class="axis-title" x="{LEFT - 48}" y="{coord(middle)}" text-anchor="middle" '
        f'transform="rotate(-90 {LEFT - 48} {coord(middle)})">{escape(title)}</text>'
    )
    return out


def cross(x: float, y: float, colour: str) -> str:
    return (
        f'<path d="M{coord(x - 4)} {coord(y - 4)} L{coord(x + 4)} {coord(y + 4)}'
        f" M{coord(x - 4)} {coord(y + 4)} "
        f'L{coord(x + 4)} {coord(y - 4)}" stroke="{colour}" stroke-width="2.5"/>'
    )


def step_path(points: Sequence[tuple[float, float]], end_x: float) -> str:
    """A step line (value holds until the next point), from (x, y) pixel points."""
    if not points:
        return ""
    x, y = points[0]
    d = [f"M{coord(x)} {coord(y)}"]
    for x, y in points[1:]:
        d.append(f"H{coord(x)}V{coord(y)}")
    d.append(f"H{coord(end_x)}")
    return "".join(d)
