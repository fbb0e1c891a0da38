"""JUnit XML, the format every CI system renders: a run is a test suite, each SLO a test case.

One ``<testsuite>`` per scenario run (its seed, duration, verdict and replay command as
properties); one ``<testcase>`` per SLO (and a failing one per fault that could not be injected), with a ``<failure>`` that says what was measured, what
the threshold was, and how to replay the run. A run without SLOs is one test case that passes
when the run completes. A run that failed internally gets an ``<error>``; an interrupted run
marks its test cases ``<skipped>`` with the reason, so a half-finished run never reads as green
(and so does a seed an interrupted sweep did not finish, see ``report/sweep.py``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from kubechaos.report.files import write_bytes
from kubechaos.report.types import RunOutcome, SloRecord


def _suite(result: RunOutcome) -> ET.Element:
    scenario = result["scenario"]
    name = scenario["name"]
    suite = ET.Element("testsuite", name=f"{name} (seed {result['seed']})")
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("scenario", name),
        ("file", scenario["file"]),
        ("seed", result["seed"]),
        ("duration", f"{scenario['duration']:g}s"),
        ("virtualSeconds", result["virtualSeconds"]),
        ("verdict", result["verdict"]),
        ("complete", str(result["complete"]).lower()),
        ("replay", result["replay"]),
    ):
        ET.SubElement(props, "property", name=key, value=str(value))
    run_completes: SloRecord = {
        "name": "run completes",
        "kind": "run",
        "ok": True,
        "measured": "",
        "threshold": "",
        "detail": "",
    }
    injected: list[SloRecord] = [
        {
            "name": f"fault {failed['name']} injected",
            "kind": "injection",
            "ok": False,
            "measured": "not injected",
            "threshold": "injected",
            "detail": failed["message"],
        }
        for failed in result["failedInjections"]
    ]
    cases = [*injected, *result["slos"]] or [run_completes]
    failures = errors = skipped = 0
    for slo in cases:
        case = ET.SubElement(suite, "testcase", classname=f"kubechaos.{name}", name=slo["name"])
        case.set("time", "0")
        if result["verdict"] == "error":
            errors += 1
            error = ET.SubElement(case, "error", message=str(result["error"]), type="RunError")
            error.text = f"the run itself failed: {result['error']}\nreplay: {result['replay']}"
        elif not result["complete"]:
            skipped += 1
            ET.SubElement(case, "skipped", message=_why_skipped(result, slo))
        elif not slo["ok"]:
            failures += 1
            if slo["kind"] == "injection":
                message, kind = slo["detail"], "FaultNotInjected"
            else:
                message = f"{slo['kind']} SLO violated: measured {slo['measured']}, threshold {slo['threshold']}"
                kind = "SLOViolation"
            failure = ET.SubElement(case, "failure", message=message, type=kind)
            failure.text = f"{message}\nreplay: {result['replay']}"
        elif slo["measured"]:
            out = ET.SubElement(case, "system-out")
            out.text = f"measured {slo['measured']} (threshold {slo['threshold']})"
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    suite.set("time", f"{result['wallSeconds'] or 0:.3f}")
    return suite


def _why_skipped(result: RunOutcome, slo: SloRecord) -> str:
    if result["virtualSeconds"] is None:  # a seed an interrupted sweep did not get to run
        return f"not run: interrupted before seed {result['seed']} finished"
    return (
        f"run interrupted at {result['virtualSeconds']}s of "
        f"{result['scenario']['duration']:g}s; measured so far: {slo['measured'] or '-'}"
    )


def junit_xml(results: Iterable[RunOutcome]) -> bytes:
    """A ``<testsuites>`` document for one or more run results."""
    root = ET.Element("testsuites", name="kubechaos")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for result in results:
        suite = _suite(result)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def write_junit(results: Iterable[RunOutcome], path: Path) -> None:
    write_bytes(path, junit_xml(results))
