"""A/B comparisons a CI can gate on: every verdict comes from a significance test, and the
exit code says whether B is significantly worse than A.

Before these tests, ``compare`` called B "worse" from a majority of seeds (7 failures against 3)
with no test at all, and exited 0 even when B failed every seed that A passed. The p-values here
are computed independently of scipy (exact hypergeometric sums and rank enumerations, the normal
approximation written out), so the tests check the library is used as documented."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kubechaos.report.compare import compare
from kubechaos.report.compare import schema as compare_schema
from kubechaos.report.compare_stats import seeds_needed
from kubechaos.scenario.runner import Run

from .test_sweep import run_cli, write_scenario

# --- p-values computed without scipy -------------------------------------------------------


def fisher_p(failed_a: int, runs_a: int, failed_b: int, runs_b: int) -> float:
    """Fisher's exact test, two-sided: the hypergeometric probability of every table with the
    same margins that is no more likely than the observed one."""
    failed, total = failed_a + failed_b, runs_a + runs_b

    def prob(x: int) -> float:
        return math.comb(runs_a, x) * math.comb(runs_b, failed - x) / math.comb(total, failed)

    observed = prob(failed_a)
    xs = range(max(0, failed - runs_b), min(runs_a, failed) + 1)
    return min(1.0, sum(prob(x) for x in xs if prob(x) <= observed * (1 + 1e-7)))


def mann_whitney_exact_p(a: list[float], b: list[float]) -> float:
    """Two-sided exact Mann-Whitney p-value (no ties) by enumerating every assignment of the
    ranks to B."""
    ranked = sorted(a + b)
    u_b = sum(ranked.index(y) + 1 for y in b) - len(b) * (len(b) + 1) / 2
    us = [
        sum(c) - len(b) * (len(b) + 1) / 2
        for c in itertools.combinations(range(1, len(ranked) + 1), len(b))
    ]
    extreme = max(u_b, len(a) * len(b) - u_b)
    return min(1.0, 2 * sum(1 for u in us if u >= extreme) / len(us))


def mann_whitney_normal_p(u_b: float, n_a: int, n_b: int, ties: list[int]) -> float:
    """Two-sided normal approximation with tie and continuity corrections (``ties``: the size
    of each group of equal values)."""
    n = n_a + n_b
    mean = n_a * n_b / 2
    var = n_a * n_b / 12 * ((n + 1) - sum(t**3 - t for t in ties) / (n * (n - 1)))
    z = (abs(u_b - mean) - 0.5) / math.sqrt(var)
    return math.erfc(z / math.sqrt(2))


# --- sweeps made by hand --------------------------------------------------------------------


def sweep(
    name: str,
    failed: list[bool],
    recoveries: list[float | None] | None = None,
    success: list[float] | None = None,
) -> dict[str, Any]:
    """A sweep with one SLO that fails where the run does, one fault ``kill`` recovering in the
    given seconds (None: never recovered) and one service with the given success rates."""
    n = len(failed)
    recoveries = recoveries if recoveries is not None else [5.0] * n
    success = success if success is not None else [0.99] * n
    results = []
    for seed, (fail, rec, rate) in enumerate(zip(failed, recoveries, success, strict=True), 1):
        recovery = (
            {"status": "recovered", "seconds": rec}
            if rec is not None
            else {"status": "not-recovered", "seconds": None}
        )
        results.append(
            {
                "seed": seed,
                "verdict": "failed" if fail else "passed",
                "slos": [{"name": "recovery-kill", "kind": "recoveryWithin", "ok": not fail}],
                "faults": [{"name": "kill", "type": "pod-kill", "recovery": recovery}],
                "traffic": [{"namespace": "default", "service": "web", "successRate": rate}],
            }
        )
    passed = n - sum(failed)
    return {
        "scenario": {"name": name, "file": f"{name}.yaml", "sha256": "0" * 64},
        "seeds": f"1-{n}",
        "seedCount": n,
        "summary": {"runs": n, "passed": passed, "errors": 0, "passRate": passed / n},
        "results": results,
    }


def checked(comparison: dict[str, Any]) -> dict[str, Any]:
    """The comparison, validated against its schema after a JSON round trip."""
    loaded: dict[str, Any] = json.loads(json.dumps(comparison))
    jsonschema.validate(loaded, compare_schema())
    assert loaded["schema"] == "kubechaos/compare/v2"
    return loaded


def test_b_failing_every_seed_a_passes_is_significantly_worse() -> None:
    """0/10 against 10/10 failures: Fisher's p = 2 / C(20, 10) = 1.08e-05. Before, the verdict
    came from a majority of seeds and the command exited 0 whatever it said."""
    c = checked(compare(sweep("a", [False] * 10), sweep("b", [True] * 10)))
    expected = fisher_p(0, 10, 10, 10)
    assert expected == pytest.approx(2 / math.comb(20, 10)) == pytest.approx(1.0825e-05, rel=1e-4)
    runs = c["runs"]
    assert runs["test"]["test"] == "fisher-exact" and runs["test"]["alternative"] == "two-sided"
    assert runs["test"]["pValue"] == pytest.approx(expected, rel=1e-5)
    assert runs["verdict"] == "worse" and runs["a"]["failed"] == 0 and runs["b"]["failed"] == 10
    assert runs["test"]["effect"] == {"aFailRate": 0, "bFailRate": 1}
    (slo,) = c["slos"]
    assert slo["verdict"] == "worse" and slo["test"]["pValue"] == pytest.approx(expected, rel=1e-5)
    assert c["bWorse"] is True and c["alpha"] == 0.05
    assert [(w["kind"], w["name"]) for w in c["worseOn"]] == [
        ("verdict", None),
        ("slo", "recovery-kill"),
    ]
    # the other way round, B is significantly better, and not worse
    c = checked(compare(sweep("a", [True] * 10), sweep("b", [False] * 10)))
    assert c["runs"]["verdict"] == "better" and c["bWorse"] is False and c["worseOn"] == []


def test_seven_against_three_failures_is_no_significant_difference() -> None:
    """The issue's example: 7 failures of 10 against 3 used to read "B worse"; Fisher's exact
    test gives p = 0.18, not significant at 0.05."""
    a = sweep("a", [True] * 3 + [False] * 7)
    b = sweep("b", [True] * 7 + [False] * 3)
    c = checked(compare(a, b))
    expected = fisher_p(3, 10, 7, 10)
    assert expected == pytest.approx(0.1789, abs=1e-4)
    assert c["runs"]["test"]["pValue"] == pytest.approx(expected, rel=1e-5)
    assert c["runs"]["worse"] == 4  # seeds 4-7: only B failed, as before
    assert c["runs"]["verdict"] == "not-significant" and c["bWorse"] is False
    # a looser level finds it: p is the same, the verdict follows alpha
    assert checked(compare(a, b, alpha=0.2))["runs"]["verdict"] == "worse"


def test_equal_variants_have_p_one() -> None:
    """Identical results: every test gives p = 1 (Mann-Whitney on all-equal values included,
    where the normal approximation has no variance)."""
    a = sweep("a", [False, True] * 5)
    c = checked(compare(a, json.loads(json.dumps(a))))
    for row in (c["runs"], *c["slos"], *c["faults"], *c["availability"]):
        assert row["test"]["pValue"] == 1 and row["verdict"] == "not-significant", row
    assert c["bWorse"] is False and c["worseOn"] == []


def test_too_few_seeds_says_so_instead_of_pretending() -> None:
    """3 seeds: even 0/3 against 3/3 gives p = 2 / C(6, 3) = 0.1, so no outcome could be
    significant at 0.05; the verdict is "too-few-seeds", not "no difference" nor "worse"."""
    c = checked(compare(sweep("a", [False] * 3), sweep("b", [True] * 3)))
    runs = c["runs"]["test"]
    assert runs["pValue"] == pytest.approx(fisher_p(0, 3, 3, 3)) == pytest.approx(0.1)
    assert runs["leastPValue"] == pytest.approx(0.1) and runs["result"] == "too-few-seeds"
    assert c["seedsNeeded"] == 4 and c["bWorse"] is False
    assert [seeds_needed(x) for x in (0.05, 0.01, 0.001)] == [4, 5, 7]
    # 4 seeds are enough at 0.05: 0/4 against 4/4 gives 2 / C(8, 4) = 0.029
    c = checked(compare(sweep("a", [False] * 4), sweep("b", [True] * 4)))
    assert c["runs"]["test"]["pValue"] == pytest.approx(2 / math.comb(8, 4))
    assert c["runs"]["verdict"] == "worse" and c["bWorse"] is True


def test_recovery_times_by_mann_whitney_exact() -> None:
    """Five seeds each, no ties: the exact distribution of U."""
    fine = [False] * 5
    a = sweep("a", fine, recoveries=[5.0, 6.0, 7.0, 8.0, 9.0])
    b = sweep("b", fine, recoveries=[8.5, 9.5, 10.5, 11.5, 12.5])
    (kill,) = checked(compare(a, b))["faults"]
    test = kill["test"]
    assert test["test"] == "mann-whitney-u" and test["method"] == "exact"
    expected = mann_whitney_exact_p([5, 6, 7, 8, 9], [8.5, 9.5, 10.5, 11.5, 12.5])
    assert test["pValue"] == pytest.approx(expected, rel=1e-5)
    assert expected == pytest.approx(4 / 252)  # U_B of 24 or 25 (or 0, 1): 4 of 252 assignments
    assert test["effect"]["aMedian"] == 7 and test["effect"]["bMedian"] == 10.5
    assert test["effect"]["probabilityBWorse"] == pytest.approx(24 / 25)
    assert kill["verdict"] == "worse"
    # the same values the other way round: B faster is better
    (kill,) = checked(compare(b, a))["faults"]
    assert kill["verdict"] == "better" and kill["test"]["pValue"] == pytest.approx(expected)


def test_never_recovered_counts_as_slower_than_any_recovery() -> None:
    """B never recovers on any of 10 seeds, A always does: B's values tie (ten infinitely slow
    ones), so the p-value is the normal approximation with tie correction."""
    fine = [False] * 10
    a = sweep("a", fine, recoveries=[5.0 + i / 10 for i in range(10)])
    b = sweep("b", fine, recoveries=[None] * 10)
    (kill,) = checked(compare(a, b))["faults"]
    test = kill["test"]
    assert test["method"] == "asymptotic"
    expected = mann_whitney_normal_p(100, 10, 10, ties=[10])
    assert test["pValue"] == pytest.approx(expected, rel=1e-5)
    assert expected < 1e-3
    assert test["effect"]["bMedian"] == "not-recovered" and kill["meanDifference"] is None
    assert kill["verdict"] == "worse" and kill["b"]["notRecovered"] == 10
    # ties make the normal approximation's p (6.4e-05) lower than that of the most extreme
    # outcome without ties (1.8e-04): at alpha 1e-04 that is significant, not "too few seeds"
    (kill,) = checked(compare(a, b, alpha=1e-4))["faults"]
    assert kill["test"]["pValue"] < 1e-4 < kill["test"]["leastPValue"]
    assert kill["verdict"] == "worse"


def test_availability_lower_in_b_is_worse() -> None:
    """Availability: higher is better, so B's lower success rates are "worse"."""
    fine = [False] * 6
    a = sweep("a", fine, success=[0.99, 0.98, 0.985, 0.995, 0.97, 0.975])
    b = sweep("b", fine, success=[0.90, 0.91, 0.92, 0.93, 0.94, 0.95])
    c = checked(compare(a, b))
    (web,) = c["availability"]
    expected = mann_whitney_exact_p(
        [0.99, 0.98, 0.985, 0.995, 0.97, 0.975], [0.90, 0.91, 0.92, 0.93, 0.94, 0.95]
    )
    assert web["test"]["pValue"] == pytest.approx(expected) == pytest.approx(2 / math.comb(12, 6))
    assert web["verdict"] == "worse" and web["test"]["effect"]["probabilityBWorse"] == 1
    assert c["worseOn"] == [{"kind": "availability", "name": "default/web", "pValue": c["worseOn"][0]["pValue"]}]  # fmt: skip


def test_alpha_must_be_a_level() -> None:
    a = sweep("a", [False] * 4)
    for alpha in (0.0, 1.0, -0.1, math.nan):
        with pytest.raises(ValueError, match="alpha must be between 0 and 1"):
            compare(a, a, alpha=alpha)


# --- the command ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Three replicas (A) against one (B): B's recovery is slower and its availability lower on
    every seed, so both SLOs fail in B where they hold in A."""
    directory = tmp_path_factory.mktemp("compare")
    slos = {"within": "7.5s", "availability": "99%"}
    three = write_scenario(directory, "three-replicas", replicas=3, **slos)
    one = write_scenario(directory, "one-replica", replicas=1, **slos)
    return three, one


def test_compare_exits_1_when_b_is_significantly_worse(
    variants: tuple[Path, Path], tmp_path: Path
) -> None:
    """Before, this exited 0: B failed 8 of 8 seeds that A passed."""
    three, one = variants
    out_json = tmp_path / "compare.json"
    code, out, _ = run_cli(
        "compare", str(three), str(one), "--seeds", "1-8", "--workers", "1",
        "--json", str(out_json),
    )  # fmt: skip
    assert code == 1, out
    c = checked(json.loads(out_json.read_text()))
    assert c["runs"]["a"]["failed"] == 0 and c["runs"]["b"]["failed"] == 8
    assert c["runs"]["test"]["pValue"] == pytest.approx(fisher_p(0, 8, 8, 8), rel=1e-5)
    assert c["bWorse"] and {w["kind"] for w in c["worseOn"]} >= {"verdict", "slo"}
    assert "B is significantly worse than A at alpha 0.05: run verdict (p=0.000155)" in " ".join(
        out.split()
    )
    assert "Fisher's exact test" in out and "Mann-Whitney U" in out and "B worse" in out

    # a stricter level: the recovery difference does not count (p = 0.13 since recovery is
    # measured at event resolution; 0.0047 on 1 s samples, whose rounding exaggerated it), the
    # verdicts' (p = 0.00016) still does
    code, out, _ = run_cli(
        "compare", str(three), str(one), "--seeds", "1-8", "--workers", "1", "--alpha", "0.001",
        "--json", str(out_json),
    )  # fmt: skip
    c = checked(json.loads(out_json.read_text()))
    (kill,) = c["faults"]
    assert code == 1 and kill["verdict"] == "not-significant"
    assert kill["test"]["pValue"] > 0.001 and c["runs"]["verdict"] == "worse"


def test_compare_exits_0_when_b_is_equal_or_better(
    variants: tuple[Path, Path], tmp_path: Path
) -> None:
    three, one = variants
    copy = tmp_path / "copy.yaml"
    copy.write_text(three.read_text())
    out_json = tmp_path / "same.json"
    code, out, _ = run_cli(
        "compare", str(three), str(copy), "--seeds", "1-4", "--workers", "1",
        "--json", str(out_json),
    )  # fmt: skip
    assert code == 0, out
    c = checked(json.loads(out_json.read_text()))
    for row in (c["runs"], *c["slos"], *c["faults"], *c["availability"]):
        assert row["test"]["pValue"] == 1 and row["verdict"] == "not-significant", row
    assert "B is not significantly worse than A on anything at alpha 0.05" in out
    # B better: still exit 0
    code, out, _ = run_cli("compare", str(one), str(three), "--seeds", "1-4", "--workers", "1")
    assert code == 0 and "B better" in out and "significantly worse than A at" not in out, out


def test_compare_with_too_few_seeds_is_refused_before_it_runs(
    variants: tuple[Path, Path],
) -> None:
    """3 seeds: even B failing every one A passes gives p = 0.1, the best 3 seeds can give, so
    the gate could never fail: invalid input (exit 2), one line, nothing run."""
    three, one = variants
    code, out, err = run_cli("compare", str(three), str(one), "--seeds", "1-3", "--workers", "1")
    assert code == 2, out
    assert err.strip() == (
        "error: --seeds: 3 seeds cannot show a difference at alpha 0.05 (the least p-value 3 "
        "seeds can give is 0.1); run at least 4 seeds"
    )
    assert "A passed" not in out


def test_compare_flags_and_internal_failures(
    variants: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--alpha is checked (one line, exit 2); a run that fails internally gives exit 3 even
    when B is significantly worse on the other seeds; --help documents the exit codes."""
    three, one = variants
    for alpha in ("0", "1", "nan", "inf", "-0.5", "abc"):
        code, _, err = run_cli("compare", str(three), str(one), "--seeds", "1", "--alpha", alpha)
        assert code == 2 and err.startswith("error: --alpha:") and err.count("\n") == 1, err
    code, out, _ = run_cli("compare", "--help")
    assert "--alpha" in out and "1    B is significantly worse than A" in out

    real_run = Run.run

    def breaks_on_seed_2(self: Run, speed: float | None = None) -> Run:
        if self.seed == 2:
            raise RuntimeError("a model invariant broke")
        return real_run(self, speed)

    monkeypatch.setattr(Run, "run", breaks_on_seed_2)
    code, out, _ = run_cli("compare", str(three), str(one), "--seeds", "1-6", "--workers", "1")
    assert code == 3 and "2 runs failed internally" in out and "B worse" in out, out
