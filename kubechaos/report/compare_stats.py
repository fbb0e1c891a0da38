"""The statistical tests behind an A/B comparison's verdicts (scipy.stats).

A difference between the variants is called "worse" or "better" only when a test finds it
significant at the level ``alpha``; otherwise it is "not-significant", with its p-value. Both
tests are two-sided, and the direction of a significant difference is read from the effect:

- failures (a run's verdict, an SLO held or not): Fisher's exact test on the 2x2 table of failed
  and passed seeds of A and of B; B is worse when its failure rate is the higher.
- measures (recovery time per fault, availability per service): the Mann-Whitney U test on the
  two variants' values; B is worse when a random B run is more likely worse than a random A run
  than better (the common-language effect size, ``U_B / (n_A n_B)``, above one half; ties count
  half). An injection that never recovered counts as slower than any recovery, and two such as
  equal (ranks only need the order). The p-value is the exact one when a sample has at most 8
  values and no value ties, the normal approximation (with tie and continuity corrections)
  otherwise; the method is recorded.

Both tests treat the two variants' seeds as independent samples. Each test also records the
p-value of the most extreme outcome its sample sizes allow (every A run passes and every B run
fails; every B value above every A value, none tied): two-sided p = 2 / C(2n, n) with n values
each, for Fisher's test and the exact U test alike (the normal approximation, used above 8
values, gives somewhat more). When even that is above alpha, a non-significant result is
"too-few-seeds" rather than "not-significant": with alpha 0.05 that is fewer than 4 seeds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from scipy.stats import fisher_exact, mannwhitneyu

DEFAULT_ALPHA = 0.05
FISHER, MANN_WHITNEY = "fisher-exact", "mann-whitney-u"
WORSE, BETTER, NOT_SIGNIFICANT, TOO_FEW = "worse", "better", "not-significant", "too-few-seeds"
_EXACT_UP_TO = 8  # scipy's own rule for 'auto': exact below this size, if no ties


def seeds_needed(alpha: float) -> int:
    """The fewest seeds per variant with which Fisher's exact test (and the exact U test) can
    reach ``alpha``: the least n with 2 / C(2n, n) <= alpha."""
    n = 1
    while 2 / math.comb(2 * n, n) > alpha:
        n += 1
    return n


def failures_test(
    failed_a: int, runs_a: int, failed_b: int, runs_b: int, alpha: float
) -> dict[str, Any]:
    """Fisher's exact test (two-sided) on failed / passed seeds of A against B."""
    effect = {"aFailRate": _rate(failed_a, runs_a), "bFailRate": _rate(failed_b, runs_b)}
    if runs_a == 0 or runs_b == 0:
        return _untested(FISHER, runs_a, runs_b, effect)
    table = [[failed_a, runs_a - failed_a], [failed_b, runs_b - failed_b]]
    p = float(fisher_exact(table, alternative="two-sided").pvalue)
    least = float(fisher_exact([[0, runs_a], [runs_b, 0]], alternative="two-sided").pvalue)
    cross = failed_b * runs_a - failed_a * runs_b  # B's failure rate above A's: B is worse
    direction = (cross > 0) - (cross < 0)
    return _tested(FISHER, "exact", runs_a, runs_b, p, least, alpha, direction, effect)


def ranks_test(
    a: Sequence[float], b: Sequence[float], lower_is_better: bool, alpha: float
) -> dict[str, Any]:
    """The Mann-Whitney U test (two-sided) on A's values against B's; ``inf`` (never recovered)
    ranks above every finite value."""
    effect: dict[str, Any] = {"aMedian": _median(a), "bMedian": _median(b)}
    if not a or not b:
        effect["probabilityBWorse"] = None
        return _untested(MANN_WHITNEY, len(a), len(b), effect)
    top = max((v for v in (*a, *b) if math.isfinite(v)), default=0.0) + 1.0
    xa = [v if math.isfinite(v) else top for v in a]
    xb = [v if math.isfinite(v) else top for v in b]
    ties = len(set(xa + xb)) < len(xa) + len(xb)
    method = "exact" if not ties and min(len(xa), len(xb)) <= _EXACT_UP_TO else "asymptotic"
    pairs = len(xa) * len(xb)
    if len(set(xa + xb)) == 1:  # every value equal: no evidence of any difference
        p, u_b = 1.0, pairs / 2
    else:
        result = mannwhitneyu(xb, xa, alternative="two-sided", method=method)
        p, u_b = float(result.pvalue), float(result.statistic)
    b_higher = u_b / pairs  # P(B > A) + P(B = A) / 2
    b_worse = 1 - b_higher if not lower_is_better else b_higher
    effect["probabilityBWorse"] = round(b_worse, 6)
    low, high = list(range(len(xa))), list(range(len(xa), len(xa) + len(xb)))
    exact_least = "exact" if min(len(xa), len(xb)) <= _EXACT_UP_TO else "asymptotic"
    least = float(mannwhitneyu(high, low, alternative="two-sided", method=exact_least).pvalue)
    direction = (b_worse > 0.5) - (b_worse < 0.5)
    return _tested(MANN_WHITNEY, method, len(a), len(b), p, least, alpha, direction, effect)


def _tested(
    name: str,
    method: str,
    n_a: int,
    n_b: int,
    p: float,
    least: float,
    alpha: float,
    direction: int,
    effect: dict[str, Any],
) -> dict[str, Any]:
    """A test's record; ``direction`` is +1 when B's sample is the worse, -1 the better."""
    if p <= alpha and direction:
        result = WORSE if direction > 0 else BETTER
    elif least > alpha:  # no outcome could have been significant
        result = TOO_FEW
    else:
        result = NOT_SIGNIFICANT
    return {
        "test": name,
        "method": method,
        "alternative": "two-sided",
        "n": [n_a, n_b],
        "pValue": _p(p),
        "leastPValue": _p(least),
        "effect": effect,
        "result": result,
    }


def _untested(name: str, n_a: int, n_b: int, effect: dict[str, Any]) -> dict[str, Any]:
    """No test is possible: a variant has no value (every seed failed internally, say)."""
    return {
        "test": name,
        "method": None,
        "alternative": "two-sided",
        "n": [n_a, n_b],
        "pValue": None,
        "leastPValue": None,
        "effect": effect,
        "result": TOO_FEW,
    }


def _p(p: float) -> float:
    """A p-value for JSON: 6 significant digits, never above 1 (rounding in scipy's sums)."""
    return float(f"{min(p, 1.0):.6g}")


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def _median(values: Sequence[float]) -> float | str | None:
    """The median counting a never-recovered value as infinitely slow ("not-recovered")."""
    if not values:
        return None
    median = statistics.median(sorted(values))
    return round(median, 6) if math.isfinite(median) else "not-recovered"
