"""The HTML report's section on a run's external processes (``run --exec``, ``spec.processes``):
how each ended, how often it restarted, and the tail of its output."""

from __future__ import annotations

from kubechaos.report.html.text import escape, html_table
from kubechaos.report.types import RunResult


def processes_section(result: RunResult) -> list[str]:
    """Nothing for a run without processes."""
    processes = result.get("processes", [])
    if not processes:
        return []
    rows = [
        (
            escape(p["name"]),
            escape(" ".join(p["command"])),
            escape("-" if p["exitCode"] is None else p["exitCode"]),
            escape(p["restarts"]),
        )
        for p in processes
    ]
    parts = [
        '<h2 id="processes">External processes</h2>',
        '<p class="muted">Real programs run against the run\'s API, paced in wall time: what they '
        "did when is not a function of the seed, so this run cannot be replayed exactly. A "
        "negative exit code is the signal that ended the process.</p>",
        html_table(("process", "command", "exit code", "restarts"), rows, "processes"),
    ]
    for p in processes:
        cut = " (earlier output dropped)" if p["outputTruncated"] else ""
        parts.append(f"<h3>{escape(p['name'])}: last output{escape(cut)}</h3>")
        parts.append(f"<pre>{escape(p['output'])}</pre>")
    return parts


__all__ = ["processes_section"]
