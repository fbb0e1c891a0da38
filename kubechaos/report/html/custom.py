"""The HTML report's section on custom objects steady state judged (by kstatus: see
kubechaos.observe.kstatus): each object's status at the end, how long it was not Current, and
its changes."""

from __future__ import annotations

from kubechaos.report.html.text import escape, html_table
from kubechaos.report.types import CustomObjectRecord, RunResult


def not_current_seconds(record: CustomObjectRecord, end: float) -> float:
    """Seconds the object spent out of Current (while it existed) up to ``end``."""
    total = 0.0
    history = record["history"]
    for (at, status, _), nxt in zip(history, [*history[1:], [end, "", ""]], strict=True):
        if status not in ("Current", "Deleted"):
            total += max(0.0, float(nxt[0]) - float(at))
    return total


def custom_section(result: RunResult) -> list[str]:
    """Nothing for a run that judged no custom object."""
    records = result.get("customObjects", [])
    if not records:
        return []
    end = float(result.get("virtualSeconds") or 0.0)
    rows = [
        (
            escape(f"{r['kind']} ({r['apiVersion']})"),
            escape(f"{r['namespace']}/{r['name']}" if r["namespace"] else r["name"]),
            escape(r["status"]),
            escape(f"{not_current_seconds(r, end):.1f}s"),
            escape("; ".join(f"{t:g}s {s}" + (f": {m}" if m else "") for t, s, m in r["history"])),
        )
        for r in records
    ]
    return [
        '<h2 id="custom-objects">Custom objects</h2>',
        '<p class="muted">Custom objects whose status follows the convention kstatus reads '
        "(observedGeneration, Reconciling, Stalled, Ready conditions): each counts in steady "
        "state while it is not Current. Objects whose status has neither observedGeneration nor "
        "conditions tell nothing and are not judged.</p>",
        html_table(
            ("kind", "object", "at the end", "not Current", "changes"), rows, "custom-objects"
        ),
    ]


__all__ = ["custom_section", "not_current_seconds"]
