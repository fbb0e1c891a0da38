"""The HTML report's page: header, summary cards, charts, tables and causal stories, in order.

One self-contained page a person reads to see what a run did and why. Everything is in the
file: inline CSS (``report.css``, package data), plots drawn as inline SVG, no script, no font or
image fetched from anywhere, so the page opens the same from a CI artifact, a mail attachment or
an air-gapped laptop. Top to bottom: the verdict; the fault timeline; desired vs available
replicas per Deployment; success rate and latency per Service; the SLO and fault tables; and the
causal timeline. This module assembles the page and draws its header and tables; the charts,
stories and the analysis behind them are its siblings.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from kubechaos.report.files import write_text
from kubechaos.report.html.causal import MAX_STORIES, causal_timeline
from kubechaos.report.html.charts import (
    deployment_chart,
    dipped,
    fault_timeline,
    job_chart,
    latency_chart,
    success_chart,
)
from kubechaos.report.html.custom import custom_section
from kubechaos.report.html.processes import processes_section
from kubechaos.report.html.stories import in_full, story_html
from kubechaos.report.html.svg import Frame
from kubechaos.report.html.text import (
    MAX_TARGETS,
    capped,
    escape,
    html_table,
    human_duration,
    seconds_text,
)
from kubechaos.report.result import reached_seconds
from kubechaos.report.types import FaultRecord, RunResult
from kubechaos.sim.events import Event

MAX_CHARTS = 24  # Deployments / Services plotted (the ones that changed first)
VERDICT_COLOURS = {
    "passed": "#1a7f37",
    "failed": "#cf222e",
    "error": "#8250df",
    "interrupted": "#9a6700",
}


@functools.cache
def stylesheet() -> str:
    """The page's CSS, read once from ``report.css`` beside this module."""
    return resources.files("kubechaos.report.html").joinpath("report.css").read_text("utf-8")


def _header(result: RunResult) -> str:
    scenario = result["scenario"]
    verdict = result["verdict"]
    colour = VERDICT_COLOURS.get(verdict, "#57606a")
    reached = reached_seconds(result)
    wall = result.get("wallSeconds")
    facts = [
        ("seed", str(result["seed"])),
        (
            "virtual time",
            f"{reached:g} s of {scenario['duration']:g} s"
            + (f" ({human_duration(scenario['duration'])})" if scenario["duration"] >= 60 else ""),
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
        f"<h1>{escape(scenario['name'])} "
        f'<span class="verdict verdict-{escape(verdict)}" style="background:{colour}">'
        f"{escape(verdict.upper())}</span></h1>",
    ]
    if scenario["description"]:
        out.append(f'<p class="description">{escape(scenario["description"])}</p>')
    if not result["complete"]:
        why = {"interrupted": "it was interrupted", "error": "the run itself failed"}.get(
            verdict, "it did not reach its end"
        )
        out.append(
            f'<div class="banner incomplete" role="alert"><strong>Incomplete run.</strong> '
            f"{escape(why.capitalize())} at {reached:g} s of virtual time, of "
            f"{scenario['duration']:g} s asked for: every figure below covers the run so far."
            "</div>"
        )
    if result.get("error"):
        out.append(f'<div class="banner error" role="alert">{escape(result["error"])}</div>')
    out.append('<dl class="facts">')
    for key, value in facts:
        out.append(f"<div><dt>{escape(key)}</dt><dd>{escape(value)}</dd></div>")
    out.append("</dl>")
    out.append(f'<p class="replay">replay: <code>{escape(result["replay"])}</code></p>')
    out.append("</header>")
    return "".join(out)


def _summary(result: RunResult) -> str:
    faults = result["faults"]
    recovered = [f for f in faults if f["recovery"]["status"] == "recovered"]
    # a recovered fault always has its recovery seconds
    worst = max((s for f in recovered if (s := f["recovery"]["seconds"]) is not None), default=None)
    slos = result["slos"]
    held = sum(1 for s in slos if s["ok"])
    requests = sum(t["requests"] for t in result["traffic"])
    successes = sum(t["outcomes"].get("success", 0) for t in result["traffic"])
    pending = sum(1 for f in faults if f["recovery"]["status"] == "pending")
    notes = [f"worst {worst:.3f} s" if worst is not None else ""]
    notes += [f"{pending} pending" if pending else ""]
    unobservable = sum(1 for f in faults if f["recovery"]["status"] == "not-observable")
    notes += [f"{unobservable} not observable" if unobservable else ""]
    not_recovered = len(faults) - len(recovered) - pending - unobservable
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
            f'<div class="card {mood}"><div class="card-title">{escape(title)}</div>'
            f'<div class="card-value">{escape(value)}</div>'
            f'<div class="muted">{escape(sub)}</div></div>'
        )
    out.append("</div>")
    return "".join(out)


def _ok_cell(ok: bool, complete: bool) -> str:
    if not complete:
        return '<span class="pill pending">so far ' + ("ok" if ok else "violated") + "</span>"
    return '<span class="pill ok">held</span>' if ok else '<span class="pill bad">violated</span>'


def _slo_table(result: RunResult) -> str:
    if not result["slos"]:
        return '<p class="muted">The scenario declares no SLOs.</p>'
    rows = [
        (
            escape(s["name"]),
            escape(s["kind"]),
            escape(s["measured"]),
            escape(s["threshold"]),
            _ok_cell(s["ok"], result["complete"]),
            escape(s["detail"]),
        )
        for s in result["slos"]
    ]
    return html_table(("SLO", "kind", "measured", "threshold", "verdict", "detail"), rows, "slos")


def _recovery_cell(fault: FaultRecord) -> str:
    recovery = fault["recovery"]
    if recovery["status"] == "recovered":
        return f'<span class="pill ok">{recovery["seconds"]:.3f} s</span>'
    if recovery["status"] == "not-recovered":
        return '<span class="pill bad">not recovered</span>'
    if recovery["status"] == "not-observable":
        return '<span class="pill pending">not observable</span>'
    return '<span class="pill pending">pending</span>'


def _overlap_cell(fault: FaultRecord, numbers: dict[tuple[str, float], int]) -> str:
    """The injections that overlapped this one (linked to their stories), and how its
    recovery was therefore measured: per object, or cluster-wide."""
    overlaps = fault.get("overlaps") or []
    if not overlaps:
        return ""
    links = []
    for o in overlaps:
        n = numbers.get((o["name"], o["injectedAt"]))
        label = escape(o["name"]) + (f" #{n}" if n is not None else "")
        links.append(f'<a href="#cause-{n}">{label}</a>' if n is not None else label)
    attribution = fault["recovery"].get("attribution")
    how = f' <span class="muted">({escape(attribution)})</span>' if attribution else ""
    return ", ".join(links) + how


def _fault_table(result: RunResult, colours: dict[str, str]) -> str:
    if not result["faults"]:
        return '<p class="muted">No faults were injected.</p>'
    rows = []
    numbers = {(f["name"], f["injectedAt"]): n for n, f in enumerate(result["faults"], start=1)}
    for number, f in enumerate(result["faults"], start=1):
        reverted = seconds_text(f["revertedAt"]) if f["lasting"] else "instantaneous"
        rows.append(
            (
                f'<a href="#cause-{number}">#{number}</a>',
                f'<span class="swatch" style="background:{colours[f["name"]]}"></span>'
                + escape(f["name"]),
                escape(f["type"]),
                escape(f["params"]),
                escape(seconds_text(f["injectedAt"])),
                escape(reverted),
                _recovery_cell(f),
                _overlap_cell(f, numbers),
                escape(capped(f["targets"], MAX_TARGETS)),
            )
        )
    table = html_table(
        (
            "#",
            "fault",
            "type",
            "params",
            "injected",
            "reverted",
            "recovery",
            "overlapped by",
            "targets",
        ),
        rows,
        "faults",
    )
    failed = result.get("failedInjections") or []
    if failed:
        table += "<h3>Injections that failed</h3>" + html_table(
            ("fault", "type", "at", "why"),
            [
                (
                    escape(f["name"]),
                    escape(f["type"]),
                    escape(seconds_text(f["at"])),
                    escape(f["message"]),
                )
                for f in failed
            ],
            "failed-injections",
        )
    return table


def _traffic_table(result: RunResult) -> str:
    rows = []
    for t in result["traffic"]:
        rate = f"{100 * t['successRate']:.3f}%" if t["successRate"] is not None else "-"
        outcomes = ", ".join(f"{k} {v}" for k, v in t["outcomes"].items())
        rows.append(
            (
                escape(f"{t['namespace']}/{t['service']}"),
                escape(t["requests"]),
                escape(rate),
                escape(outcomes),
                escape(t["unsent"]),
            )
        )
    return html_table(
        ("service", "requests", "success rate", "outcomes", "unsent"), rows, "traffic"
    )


def render_html(result: RunResult, events: Iterable[Event]) -> str:
    """The report of one run (``result`` as :func:`~kubechaos.report.result.result_of` gives
    it, ``events`` its event log) as one self-contained HTML document."""
    frame = Frame(result)
    scenario = result["scenario"]
    services = sorted(result["traffic"], key=lambda t: not any(p[2] for p in t["perSecond"]))
    stories = causal_timeline(result, events)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>kubechaos · {escape(scenario['name'])} · seed {escape(result['seed'])} · "
        f"{escape(result['verdict'])}</title>",
        "<style>\n" + stylesheet() + "</style></head><body>",  # CSS on lines of its own
        _header(result),
        '<nav><a href="#timeline">fault timeline</a><a href="#replicas">replicas</a>'
        '<a href="#traffic">traffic</a><a href="#slos">SLOs</a><a href="#faults">faults</a>'
        '<a href="#causal">causal timeline</a></nav>',
        _summary(result),
        '<h2 id="timeline">Fault timeline</h2>',
        '<p class="muted">One row per fault: a band while it is in effect, a diamond for an '
        "instantaneous fault; the green line runs from the injection to where steady state "
        "returned (the recovery). Click a fault for its causal timeline.</p>",
        fault_timeline(frame, result),
        '<h2 id="replicas">Desired vs available replicas</h2>',
    ]
    parts += _workload_charts(frame, result)
    parts += custom_section(result)
    parts.append('<h2 id="traffic">Requests</h2>')
    for service in services[:MAX_CHARTS]:
        parts.append(success_chart(frame, service))
        parts.append(latency_chart(frame, service))
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
        "component's first reaction of each kind with its count, in time order, each at the "
        "time the event log has for it (offsets are from the injection), then what the sampled "
        "series measured in the window.</p>",
    ]
    full = in_full(stories)
    parts += [story_html(story, story.number in full) for story in stories]
    if len(result["faults"]) > MAX_STORIES:
        parts.append(f'<p class="more">and {len(result["faults"]) - MAX_STORIES} more faults</p>')
    if not stories:
        parts.append('<p class="muted">No faults were injected.</p>')
    parts += processes_section(result)
    parts.append(
        f"<footer>kubechaos {escape(result['kubechaosVersion'])} · result schema "
        f"{escape(result['schema'])}"
        f" · {escape(result['events'])} events · all times are virtual</footer>"
        "</body></html>\n"
    )
    return "\n".join(parts)


def _workload_charts(frame: Frame, result: RunResult) -> list[str]:
    """Desired vs available replicas of each Deployment (with its HPA), DaemonSet and
    StatefulSet, the workloads that dipped first, then each Job's pods."""
    deployments = sorted(result["deployments"], key=lambda d: not dipped(d))
    charts: list[str] = []
    scalers = {
        (a["namespace"], a["targetName"]): a
        for a in result.get("autoscalers", [])
        if a["targetKind"] == "Deployment"
    }
    for deployment in deployments[:MAX_CHARTS]:
        scaler = scalers.get((deployment["namespace"], deployment["name"]))
        charts.append(deployment_chart(frame, deployment, scaler))
    if len(deployments) > MAX_CHARTS:
        rest = [f"{d['namespace']}/{d['name']}" for d in deployments[MAX_CHARTS:]]
        charts.append(f'<p class="more">and {len(rest)} more: {escape(capped(rest, 50))}</p>')
    for daemonset in result.get("daemonsets", [])[:MAX_CHARTS]:
        charts.append(deployment_chart(frame, daemonset, kind="DaemonSet"))
    statefulsets = sorted(result.get("statefulsets", []), key=lambda s: not dipped(s))
    for sts in statefulsets[:MAX_CHARTS]:
        charts.append(deployment_chart(frame, sts, kind="StatefulSet"))
    if len(statefulsets) > MAX_CHARTS:
        rest = [f"{s['namespace']}/{s['name']}" for s in statefulsets[MAX_CHARTS:]]
        charts.append(f'<p class="more">and {len(rest)} more: {escape(capped(rest, 50))}</p>')
    jobs = result.get("jobs", [])
    for job in jobs[:MAX_CHARTS]:
        charts.append(job_chart(frame, job))
    if not deployments and not result.get("daemonsets") and not statefulsets and not jobs:
        charts.append('<p class="muted">No Deployments.</p>')
    return charts


def write_html(result: RunResult, events: Iterable[Event], path: str | Path) -> None:
    write_text(Path(path), render_html(result, events))


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
