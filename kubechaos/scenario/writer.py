"""Write a scenario back out as a plain scenario file (what ``explore --out`` leaves behind).

The cluster, workloads and SLOs are copied from the original file as written (workload paths
rewritten relative to the new file), ``spec.explore`` is dropped, and ``spec.faults`` and
``spec.traffic`` are written from the scenario given: a fixed schedule that runs on its own.
A ``recoveryWithin`` SLO on a fault the schedule no longer has is dropped (the scenario given
left it out of its runs too), and times are written exactly (``3m28.897s``, never rounded), so
the file runs the same schedule the shrink ran: ``kubechaos explore`` checks that it does.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from kubechaos.api.duration import format_duration, parse_duration
from kubechaos.faults import ScheduledFault, Target
from kubechaos.scenario.explorespec import covers
from kubechaos.scenario.loader import Scenario
from kubechaos.scenario.yamlfile import read_text


def exact_duration(seconds: float) -> str:
    """``seconds`` as a duration that reads back as exactly the same number: the short form
    (``5m``, ``250ms``) where that is exact, else seconds in full (``208.897s``)."""
    short = format_duration(seconds)
    if parse_duration(short) == seconds:
        return short
    return f"{Decimal(repr(float(seconds))):f}s"


def _target(target: Target, kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if kind == "pods":
        if target.namespace:
            out["namespace"] = target.namespace
        if target.names:
            out["names"] = list(target.names)
    else:
        if target.nodes:
            out["nodes"] = list(target.nodes)
        if target.node_group:
            out["nodeGroup"] = target.node_group
    if target.label_selector:
        out["labelSelector"] = dict(target.label_selector)
    out["mode"] = target.mode
    if target.mode in ("fixed", "fixed-percent", "random-max-percent"):
        out["value"] = int(target.value) if target.value == int(target.value) else target.value
    return out


def _param_value(kind: str, value: Any) -> Any:
    if kind == "duration":
        return exact_duration(value)
    if kind == "strings":
        return list(value)
    if kind == "nodes":
        return _target(value, "nodes") | {"mode": "all"} if isinstance(value, Target) else value
    return value


def fault_entry(scheduled: ScheduledFault) -> dict[str, Any]:
    fault = scheduled.fault
    entry: dict[str, Any] = {
        "name": fault.name,
        "type": fault.type,
        "at": exact_duration(scheduled.at),
    }
    if scheduled.duration is not None:
        entry["duration"] = exact_duration(scheduled.duration)
    if scheduled.every is not None:
        entry["every"] = exact_duration(scheduled.every)
    if fault.target_kind != "none":
        entry["target"] = _target(fault.target, fault.target_kind)
    params = {}
    for p in fault.params():
        value = getattr(fault, p.field)
        if value != p.default and value is not None:
            params[p.name] = _param_value(p.kind, value)
    if params:
        entry["params"] = params
    return entry


def _judges_something(entry: Any, scenario: Scenario) -> bool:
    """Whether an SLO entry as written still has something to judge in ``scenario``."""
    body = entry.get("recoveryWithin") if isinstance(entry, dict) else None
    if not isinstance(body, dict):
        return True
    return any(covers(str(body.get("fault")), s.fault.name) for s in scenario.faults)


def scenario_yaml(scenario: Scenario, out: Path, comment: str = "") -> str:
    """The text of a scenario file at ``out`` that runs ``scenario``'s schedule on its own."""
    source = Path(scenario.source)
    raw = yaml.safe_load(read_text(source))
    spec = raw.setdefault("spec", {})
    spec.pop("explore", None)
    if scenario.seed is not None:
        spec["seed"] = scenario.seed
    for workload in spec.get("workloads") or []:
        if isinstance(workload, dict) and "path" in workload:
            absolute = (source.parent / workload["path"]).resolve()
            workload["path"] = os.path.relpath(absolute, out.resolve().parent)
    if scenario.faults:
        spec["faults"] = [fault_entry(s) for s in scenario.faults]
    else:
        spec.pop("faults", None)
    if isinstance(spec.get("slo"), list):
        spec["slo"] = [e for e in spec["slo"] if _judges_something(e, scenario)]
    rates = {(t.namespace, t.service): t.rate for t in scenario.traffic}
    for entry in spec.get("traffic") or []:
        key = (entry.get("namespace", "default"), entry.get("service"))
        if key in rates:
            rate = rates[key]
            entry["rate"] = int(rate) if rate == int(rate) else rate
    header = "".join(f"# {line}\n" if line else "#\n" for line in comment.splitlines())
    return header + yaml.safe_dump(raw, sort_keys=False, default_flow_style=None, width=100)
