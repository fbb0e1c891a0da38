"""The causal timeline as HTML: one section per injection, what followed it and in what order.

:mod:`kubechaos.report.html.causal` finds each injection's story (pure data); this draws it: a
heading with the outcome, a one-line chain (``pod-kill at 300s → kubelet Killing (+0.000s) →
...``), the window and targets, the reactions grouped by component, the ordered steps, and the
raw events of the window folded away. A fault injected every minute for an hour would tell the
same story sixty times, so only some stories are drawn in full (see :func:`in_full`); the rest
keep their heading and chain.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubechaos.report.html.causal import FaultStory
from kubechaos.report.html.text import (
    MAX_TARGETS,
    capped,
    escape,
    html_table,
    offset_text,
    plural,
    seconds_text,
)

# caps that keep a one-hour run with thousands of events a reasonable file
MAX_STEPS = 40  # reactions listed per fault
MAX_CHAIN = 12  # links in a fault's one-line chain
MAX_RAW_EVENTS = 30  # events listed per fault window
FULL_PER_FAULT = 3  # injections of one fault given a full causal timeline (more: by exception)


def in_full(stories: Sequence[FaultStory]) -> set[int]:
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


def story_html(story: FaultStory, full: bool = True) -> str:
    """One injection's section; ``full=False`` keeps only its heading, chain and window."""
    out = [
        f'<section class="story" id="cause-{story.number}">',
        _heading(story),
        _chain(story),
        _meta(story),
    ]
    if not full:
        out.append(
            f'<p class="more">{plural(len(story.events), "event")} in the window, not listed: '
            f"in full are the first {FULL_PER_FAULT} injections of each fault, its slowest "
            "recovery and any that did not recover.</p></section>"
        )
        return "".join(out)
    out += [_components(story), _steps(story), _measured(story), _events(story), "</section>"]
    return "".join(out)


def _heading(story: FaultStory) -> str:
    fault = story.fault
    recovery = fault["recovery"]
    if recovery["status"] == "recovered":
        outcome = f"recovered in {recovery['seconds']:.3f} s"
        mood = "ok"
    elif recovery["status"] == "not-recovered":
        outcome, mood = "not recovered", "bad"
    elif recovery["status"] == "not-observable":
        outcome, mood = "not observable", "pending"
    else:
        outcome, mood = "recovery pending", "pending"
    return (
        f'<h3>#{story.number} {escape(fault["name"])} <span class="muted">'
        f"{escape(fault['type'])}</span> at {escape(seconds_text(story.start))} → "
        f'<span class="pill {mood}">{escape(outcome)}</span></h3>'
    )


def _chain(story: FaultStory) -> str:
    """The story in one line: the fault, then each reaction with its offset, then the recovery."""
    recovery = story.fault["recovery"]
    chain = [f"{story.fault['type']} at {story.start:.3f}s"]
    links = [s for s in story.steps if s.kind in ("event", "recovery")]
    for step in links[:MAX_CHAIN]:
        if step.kind == "recovery":
            chain.append(
                f"{step.who} {step.what} {recovery['seconds']:.3f}s"
                if recovery["status"] == "recovered"
                else f"{step.who} {step.what}"
            )
        else:
            chain.append(f"{step.who} {step.what} ({offset_text(step.time - story.start)})")
    if len(links) > MAX_CHAIN:
        chain.append(f"… {len(links) - MAX_CHAIN} more")
    return '<p class="chain">' + " → ".join(escape(c) for c in chain) + "</p>"


def _meta(story: FaultStory) -> str:
    fault = story.fault
    meta = [f"window {story.start:.3f}\u2013{story.end:.3f} s (to the {story.why_end})"]
    if fault["targets"]:
        meta.append("targets: " + capped(fault["targets"], MAX_TARGETS))
    if fault["params"]:
        meta.append("params: " + fault["params"])
    overlaps = fault.get("overlaps") or []
    if overlaps:
        names = capped([f"{o['name']} at {o['injectedAt']:.3f} s" for o in overlaps], MAX_TARGETS)
        how = fault["recovery"].get("attribution") or "pending"
        meta.append(f"overlapped by {names}: recovery measured {how}")
        objects = fault["recovery"].get("objects") or []
        if objects:
            meta.append("measured on " + capped(objects, MAX_TARGETS))
    measured_on = fault["recovery"].get("measuredOn")
    if measured_on:
        meta.append(f"recovery measured on {measured_on}")
    if fault["lasting"]:
        meta.append(
            f"reverted at {fault['revertedAt']:.3f} s"
            if fault["revertedAt"] is not None
            else "never reverted"
        )
    return '<p class="meta muted">' + escape(" · ".join(meta)) + "</p>"


def _components(story: FaultStory) -> str:
    """Each component's reactions in the window, with counts (empty if there were none)."""
    by_component: dict[str, list[str]] = {}
    for step in story.steps:
        if step.kind in ("event", "background"):
            by_component.setdefault(step.who, []).append(f"{step.what} \u00d7{step.count}")
    if not by_component:
        return ""
    return (
        '<p class="components">'
        + " · ".join(
            f"<b>{escape(component)}</b>: {escape(', '.join(reasons))}"
            for component, reasons in by_component.items()
        )
        + "</p>"
    )


def _steps(story: FaultStory) -> str:
    out = ['<ol class="steps">']
    for step in story.steps[:MAX_STEPS]:
        count = f' <span class="count">&times;{step.count}</span>' if step.count > 1 else ""
        if step.last is not None and step.last > step.time and step.count > 1:
            count += (
                f' <span class="muted">(last {escape(offset_text(step.last - story.start))})</span>'
            )
        out.append(
            f'<li class="step {step.kind}"><span class="t">'
            f"{escape(offset_text(step.time - story.start))}</span> "
            f'<span class="who">{escape(step.who)}</span> <b class="what">{escape(step.what)}</b>'
            f'{count} <span class="detail">{escape(step.detail)}</span></li>'
        )
    if len(story.steps) > MAX_STEPS:
        out.append(f'<li class="more">and {len(story.steps) - MAX_STEPS} more</li>')
    out.append("</ol>")
    return "".join(out)


def _measured(story: FaultStory) -> str:
    """What the sampled series measured in the window (empty if nothing stood out): notes,
    not steps, since the series are sampled and the steps keep the event log's times."""
    if not story.measured:
        return ""
    items = "".join(f"<li>{escape(note)}</li>" for note in story.measured)
    return f'<p class="muted">Measured in the window (sampled series):</p><ul class="measured">{items}</ul>'


def _events(story: FaultStory) -> str:
    """The window's raw events, folded away (empty if there were none)."""
    if not story.events:
        return ""
    rows = [
        (
            escape(f"{e.time:.3f}"),
            escape(offset_text(e.time - story.start)),
            escape(e.component),
            escape(e.reason),
            escape(f"{e.kind}/{e.object}" if e.object else e.kind),
            escape(e.message),
        )
        for e in story.events[:MAX_RAW_EVENTS]
    ]
    more = len(story.events) - MAX_RAW_EVENTS
    return (
        f"<details><summary>{plural(len(story.events), 'event')} in the window</summary>"
        + html_table(
            ("time (s)", "offset", "component", "reason", "object", "message"), rows, "events"
        )
        + (f'<p class="more">and {more} more</p>' if more > 0 else "")
        + "</details>"
    )
