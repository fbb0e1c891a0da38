"""A/B comparison: did a change (more replicas, other probe settings) make a workload more
resilient, not just lucky once?

Two variants of a scenario run under the same seeds. A seed fixes everything the model draws at
random (which pod a fault picks, when a request arrives), so the run of A and the run of B with
one seed face the same bad luck, and their difference measures the change itself. Compared are
each run's verdict (failed or passed), per SLO whether it held, per fault name the recovery time
and per service the availability (the run's request success rate). Each comparison carries the
paired differences (B minus A, seed by seed: mean and median, on how many seeds B was better,
worse or the same) and a statistical test (``compare_stats.py``: Fisher's exact test on
failures, Mann-Whitney U on recovery times and availabilities) whose result is the verdict: B
"worse" or "better" only when the difference is significant at ``alpha``, else
"not-significant", or "too-few-seeds" when the seeds could not show a difference at ``alpha``
whatever happened. ``bWorse`` (what ``kubechaos compare``'s exit code 1 gates on) is whether B is
significantly worse on anything; ``worseOn`` lists what.

An injection that never recovered has no recovery time: it counts as slower than any recovery
(and two such as equal) in the counts and the test, but stays out of the mean and median
difference. When a fault is injected more than once in a run, the run's value is its slowest
recovery, as ``recoveryWithin`` judges it. Seeds whose run failed internally in either variant
are left out of every pairing and every test. A fault, service or SLO present in one variant
only is reported as such, with that variant's figures, and is not tested.

This module computes the comparison from the two variants' sweeps (``kubechaos/compare/v2``);
running them is ``kubechaos/batch/compare.py``'s.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any

from kubechaos.defaults import TARGET_RELEASE
from kubechaos.report.compare_stats import (
    DEFAULT_ALPHA,
    WORSE,
    failures_test,
    ranks_test,
    seeds_needed,
)
from kubechaos.report.result import ERROR, PASSED
from kubechaos.scenario.seeds import parse_seeds
from kubechaos.version import __version__

SCHEMA_ID = "kubechaos/compare/v2"

NOT_RECOVERED = math.inf  # for ordering only: never enters a mean or median
Pairs = Sequence[tuple[int, dict[str, Any], dict[str, Any]]]


def schema() -> dict[str, Any]:
    """The JSON Schema of a comparison (draft 2020-12)."""
    text = resources.files("kubechaos.report").joinpath("compare-schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def compare(
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    wall_seconds: float | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> dict[str, Any]:
    """The paired comparison of two sweeps over the same seeds (``kubechaos/compare/v2``),
    each difference tested at significance level ``alpha``."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (exclusive), not {alpha}")
    if a["seeds"] != b["seeds"]:
        raise ValueError(f"the variants ran different seeds ({a['seeds']} and {b['seeds']})")
    a_by_seed = {r["seed"]: r for r in a["results"]}
    b_by_seed = {r["seed"]: r for r in b["results"]}
    paired = [
        s
        for s in parse_seeds(a["seeds"])
        if s in a_by_seed
        and s in b_by_seed
        and a_by_seed[s]["verdict"] != ERROR
        and b_by_seed[s]["verdict"] != ERROR
    ]
    pairs = [(s, a_by_seed[s], b_by_seed[s]) for s in paired]
    comparison = {
        "schema": SCHEMA_ID,
        "kubechaosVersion": __version__,
        "kubernetesVersion": TARGET_RELEASE,
        "seeds": a["seeds"],
        "seedCount": a["seedCount"],
        "pairedSeeds": len(paired),
        "alpha": alpha,
        "seedsNeeded": seeds_needed(alpha),
        "a": _variant(a),
        "b": _variant(b),
        "runs": _runs(pairs, alpha),
        "slos": _slos(pairs, alpha),
        "faults": _measures(pairs, _recoveries, lower_is_better=True, alpha=alpha),
        "availability": _measures(pairs, _availabilities, lower_is_better=False, alpha=alpha),
        "wallSeconds": None if wall_seconds is None else round(wall_seconds, 3),
    }
    worse = _worse_on(comparison)
    comparison.update({"bWorse": bool(worse), "worseOn": worse})
    return comparison


def _worse_on(comparison: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Everything on which B is significantly worse than A, with the test's p-value."""
    worse = []
    if comparison["runs"]["verdict"] == WORSE:
        worse.append(
            {"kind": "verdict", "name": None, "pValue": comparison["runs"]["test"]["pValue"]}
        )
    for kind, rows in (("slo", "slos"), ("recovery", "faults"), ("availability", "availability")):
        worse.extend(
            {"kind": kind, "name": row["name"], "pValue": row["test"]["pValue"]}
            for row in comparison[rows]
            if row["verdict"] == WORSE
        )
    return worse


def _runs(pairs: Pairs, alpha: float) -> dict[str, Any]:
    """The runs' verdicts over the paired seeds: how many failed (an SLO violated, a fault not
    injected) in each variant, tested with Fisher's exact test."""
    failed_a = [ra["verdict"] != PASSED for _, ra, _ in pairs]
    failed_b = [rb["verdict"] != PASSED for _, _, rb in pairs]
    n = len(pairs)
    test = failures_test(sum(failed_a), n, sum(failed_b), n, alpha)
    return {
        "a": {"runs": n, "failed": sum(failed_a)},
        "b": {"runs": n, "failed": sum(failed_b)},
        "better": sum(1 for x, y in zip(failed_a, failed_b, strict=True) if x and not y),
        "worse": sum(1 for x, y in zip(failed_a, failed_b, strict=True) if y and not x),
        "same": sum(1 for x, y in zip(failed_a, failed_b, strict=True) if x == y),
        "test": test,
        "verdict": test["result"],
    }


def _variant(sweep: Mapping[str, Any]) -> dict[str, Any]:
    summary = sweep["summary"]
    return {
        "scenario": sweep["scenario"],
        "runs": summary["runs"],
        "passed": summary["passed"],
        "errors": summary["errors"],
        "passRate": summary["passRate"],
    }


def _present(in_a: bool, in_b: bool) -> str:
    return "both" if in_a and in_b else ("a" if in_a else "b")


def _slos(pairs: Pairs, alpha: float) -> list[dict[str, Any]]:
    """Per SLO: each variant's pass rate over the paired seeds, the seeds where it held in one
    variant only, and Fisher's exact test on the seeds where both judged it."""
    names: dict[str, str] = {}
    for _, ra, rb in pairs:
        for slo in (*ra["slos"], *rb["slos"]):
            names.setdefault(slo["name"], slo["kind"])
    rows = []
    for name, kind in names.items():
        ok_a = {s: _slo_ok(ra, name) for s, ra, _ in pairs}
        ok_b = {s: _slo_ok(rb, name) for s, _, rb in pairs}
        in_a = any(v is not None for v in ok_a.values())
        in_b = any(v is not None for v in ok_b.values())
        row: dict[str, Any] = {"name": name, "kind": kind, "presentIn": _present(in_a, in_b)}
        for label, oks in (("a", ok_a), ("b", ok_b)):
            judged = [v for v in oks.values() if v is not None]
            passed = sum(judged)
            row[label] = (
                {"runs": len(judged), "passed": passed, "passRate": round(passed / len(judged), 6)}
                if judged
                else None
            )
        both = [(ok_a[s], ok_b[s]) for s, _, _ in pairs]
        both = [(x, y) for x, y in both if x is not None and y is not None]
        row["better"] = sum(1 for x, y in both if y and not x)
        row["worse"] = sum(1 for x, y in both if x and not y)
        row["same"] = sum(1 for x, y in both if x == y)
        failed_a, failed_b = sum(1 for x, _ in both if not x), sum(1 for _, y in both if not y)
        test = failures_test(failed_a, len(both), failed_b, len(both), alpha)
        row["test"] = test if row["presentIn"] == "both" else None
        row["verdict"] = test["result"] if row["presentIn"] == "both" else None
        rows.append(row)
    return rows


def _slo_ok(result: Mapping[str, Any], name: str) -> bool | None:
    return next((s["ok"] for s in result["slos"] if s["name"] == name), None)


def _recoveries(result: Mapping[str, Any]) -> dict[str, tuple[str, float]]:
    """Per fault name: (type, the run's slowest recovery; inf if any injection never did).

    Pending recoveries (an unfinished run) and injections too close to the end for their
    recovery to be seen (not observable) are no measurement and are left out."""
    out: dict[str, tuple[str, float]] = {}
    for fault in result["faults"]:
        recovery = fault["recovery"]
        if recovery["status"] == "recovered":
            value = recovery["seconds"]
        elif recovery["status"] == "not-recovered":
            value = NOT_RECOVERED
        else:
            continue
        _, before = out.get(fault["name"], ("", -math.inf))
        out[fault["name"]] = (fault["type"], max(before, value))
    return out


def _availabilities(result: Mapping[str, Any]) -> dict[str, tuple[str, float]]:
    """Per service ``namespace/name``: ("service", the run's request success rate)."""
    return {
        f"{t['namespace']}/{t['service']}": ("service", t["successRate"])
        for t in result["traffic"]
        if t["successRate"] is not None
    }


def _measures(
    pairs: Pairs,
    measure: Callable[[Mapping[str, Any]], dict[str, tuple[str, float]]],
    lower_is_better: bool,
    alpha: float,
) -> list[dict[str, Any]]:
    """Paired differences (B minus A) of one measure, per name, over the paired seeds, and the
    Mann-Whitney U test on the values of the seeds where both variants measured it."""
    values_a = {s: measure(ra) for s, ra, _ in pairs}
    values_b = {s: measure(rb) for s, _, rb in pairs}
    names: dict[str, str] = {}
    for s, _, _ in pairs:
        for name, (kind, _) in (*values_a[s].items(), *values_b[s].items()):
            names.setdefault(name, kind)
    rows = []
    for name, kind in names.items():
        per_seed = [
            (s, values_a[s].get(name, (kind, None))[1], values_b[s].get(name, (kind, None))[1])
            for s, _, _ in pairs
        ]
        in_a = any(x is not None for _, x, _ in per_seed)
        in_b = any(y is not None for _, _, y in per_seed)
        both = [(s, x, y) for s, x, y in per_seed if x is not None and y is not None]
        diffs = [y - x for _, x, y in both if math.isfinite(x) and math.isfinite(y)]
        better = worse = same = 0
        for _, x, y in both:
            if x == y:
                same += 1
            elif (y < x) == lower_is_better:
                better += 1
            else:
                worse += 1
        row: dict[str, Any] = {"name": name, "presentIn": _present(in_a, in_b)}
        test = ranks_test([x for _, x, _ in both], [y for _, _, y in both], lower_is_better, alpha)
        if kind != "service":
            row["type"] = kind
        row.update(
            {
                "a": _typical([x for _, x, _ in per_seed if x is not None]),
                "b": _typical([y for _, _, y in per_seed if y is not None]),
                "paired": len(both),
                "meanDifference": round(math.fsum(diffs) / len(diffs), 6) if diffs else None,
                "medianDifference": round(statistics.median(diffs), 6) if diffs else None,
                "better": better,
                "worse": worse,
                "same": same,
                "test": test if in_a and in_b else None,
                "verdict": test["result"] if in_a and in_b else None,
                "perSeed": [[s, _json_value(x), _json_value(y)] for s, x, y in per_seed],
            }
        )
        rows.append(row)
    return rows


def _json_value(x: float | None) -> float | str | None:
    """A measured value for JSON: "not-recovered" where there is no recovery time."""
    if x is None or math.isfinite(x):
        return x
    return "not-recovered"


def _typical(values: Sequence[float]) -> dict[str, Any] | None:
    """One variant's values of a measure: median and mean of the finite ones, and how many
    were not measurable (never recovered)."""
    if not values:
        return None
    finite = [v for v in values if math.isfinite(v)]
    return {
        "runs": len(values),
        "median": round(statistics.median(finite), 6) if finite else None,
        "mean": round(math.fsum(finite) / len(finite), 6) if finite else None,
        "notRecovered": len(values) - len(finite),
    }
