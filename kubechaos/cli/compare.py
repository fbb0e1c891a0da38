"""``kubechaos compare``: two variants of a scenario under the same seeds, side by side.

The runs are ``kubechaos/batch/compare.py``'s and the paired comparison ``report/compare.py``'s;
this module reads the flags, shows progress, prints one table per measure (the runs' verdicts,
recovery time per fault, availability per service, pass rate per SLO), each with its test's
p-value and verdict, and picks the exit code: 1 when B is significantly worse on anything.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from kubechaos.batch.compare import run_compare
from kubechaos.batch.pool import default_workers
from kubechaos.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_SLO_VIOLATED,
    invalid,
    load_or_exit,
    parse_seeds_or_exit,
    percent,
    probe_writable,
    seconds,
    workers_option,
)
from kubechaos.cli.progress import runs_progress
from kubechaos.cli.terminal import new_console, print_table, shown
from kubechaos.report.compare_stats import DEFAULT_ALPHA, seeds_needed
from kubechaos.report.result import write_json
from kubechaos.scenario.loader import Scenario
from kubechaos.scenario.seeds import format_seeds

EXIT_B_WORSE = EXIT_SLO_VIOLATED  # B significantly worse than A: the comparison's failure

_ONLY_IN = {"a": "only in A", "b": "only in B"}
_SHOWN_VERDICT = {
    "better": "[green]B better[/]",
    "worse": "[bold red]B worse[/]",
    "not-significant": "no significant difference",
    "too-few-seeds": "[yellow]too few seeds[/]",
}
_SHOWN_KIND = {"verdict": "run verdict", "slo": "SLO", "recovery": "recovery of", "availability": "availability of"}  # fmt: skip


def _verdict(row: dict[str, Any]) -> str:
    if row["presentIn"] != "both":
        return f"[yellow]{_ONLY_IN[row['presentIn']]}[/]"
    return _SHOWN_VERDICT[row["verdict"]]


def _counts(row: dict[str, Any]) -> list[str]:
    """The seeds where B was better, worse, the same: one column, "+/-/="."""
    return [f"{row['better']}/{row['worse']}/{row['same']}"]


def _p(row: dict[str, Any]) -> str:
    """The p-value of the row's test ("-" where none was possible)."""
    p = (row["test"] or {}).get("pValue")
    return "-" if p is None else f"{p:.3g}"


def _failed(side: dict[str, Any] | None) -> str:
    return "-" if not side else f"{side['runs'] - side['passed']}/{side['runs']}"


def _signed(x: float | None, scale: float, unit: str) -> str:
    return "-" if x is None else f"{scale * x:+.{3 if unit == 's' else 2}f}{unit}"


def _comparison_table(title: str, first: str, columns: tuple[str, ...]) -> Table:
    table = Table(title=title, show_edge=False, box=None)
    table.add_column(first, overflow="fold", min_width=12)  # a narrow terminal wraps a name
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("p", justify="right", no_wrap=True)
    table.add_column("verdict")
    return table


def _runs_table(runs: dict[str, Any]) -> Table:
    table = _comparison_table(
        "Run verdicts: failed runs (Fisher's exact test)",
        "",
        ("A failed", "B failed", "+/-/="),
    )
    a, b = runs["a"], runs["b"]
    table.add_row(
        "runs",
        f"{a['failed']}/{a['runs']}",
        f"{b['failed']}/{b['runs']}",
        *_counts(runs),
        _p(runs),
        _SHOWN_VERDICT[runs["verdict"]],
    )
    return table


def _recovery_table(rows: list[dict[str, Any]]) -> Table:
    table = _comparison_table(
        "Recovery time: Δ = B - A per seed, lower is better (Mann-Whitney U)",
        "fault",
        ("A p50", "B p50", "Δ mean", "Δ p50", "+/-/="),
    )
    for row in rows:
        a, b = row["a"] or {}, row["b"] or {}
        table.add_row(
            shown(row["name"]),
            seconds(a.get("median")) + (f" ({a['notRecovered']} n/r)" if a.get("notRecovered") else ""),
            seconds(b.get("median")) + (f" ({b['notRecovered']} n/r)" if b.get("notRecovered") else ""),
            _signed(row["meanDifference"], 1, "s"),
            _signed(row["medianDifference"], 1, "s"),
            *_counts(row),
            _p(row),
            _verdict(row),
        )  # fmt: skip
    return table


def _availability_table(rows: list[dict[str, Any]]) -> Table:
    table = _comparison_table(
        "Request success rate over the whole run: Δ = B - A per seed, higher is better "
        "(Mann-Whitney U)",
        "service",
        ("A mean", "B mean", "Δ mean", "Δ p50", "+/-/="),
    )
    for row in rows:
        a, b = row["a"] or {}, row["b"] or {}
        table.add_row(
            shown(row["name"]),
            percent(a.get("mean")),
            percent(b.get("mean")),
            _signed(row["meanDifference"], 100, "pp"),
            _signed(row["medianDifference"], 100, "pp"),
            *_counts(row),
            _p(row),
            _verdict(row),
        )
    return table


def _slo_table(rows: list[dict[str, Any]]) -> Table:
    table = _comparison_table(
        "SLOs: runs that violated it (Fisher's exact test)",
        "slo",
        ("A failed", "B failed", "+/-/="),
    )
    for row in rows:
        table.add_row(
            shown(row["name"]),
            _failed(row["a"]),
            _failed(row["b"]),
            *_counts(row),
            _p(row),
            _verdict(row),
        )
    return table


def _print_comparison(console: Console, comparison: dict[str, Any]) -> None:
    print_table(console, _runs_table(comparison["runs"]))
    if comparison["faults"]:
        print_table(console, _recovery_table(comparison["faults"]))
    if comparison["availability"]:
        print_table(console, _availability_table(comparison["availability"]))
    if comparison["slos"]:
        print_table(console, _slo_table(comparison["slos"]))
    console.print("+/-/=: seeds where B was better / worse / the same as A with the same seed")
    a, b = comparison["a"], comparison["b"]
    console.print(
        f"A passed {a['passed']}/{a['runs']} runs, B passed {b['passed']}/{b['runs']}; "
        f"{comparison['pairedSeeds']} seeds paired"
        + (f" · {comparison['wallSeconds']:.2f}s wall" if comparison["wallSeconds"] else "")
    )
    _print_conclusion(console, comparison)


def _print_conclusion(console: Console, comparison: dict[str, Any]) -> None:
    """What a CI gate needs to read: is B significantly worse, and could the seeds have said so."""
    alpha, paired, needed = (
        comparison["alpha"],
        comparison["pairedSeeds"],
        comparison["seedsNeeded"],
    )
    if paired < needed:
        least = comparison["runs"]["test"]["leastPValue"]
        console.print(
            f"[yellow]{paired} seeds cannot show a difference at alpha {alpha:g}[/]"
            + (f" (the least p-value {paired} seeds can give is {least:.3g})" if least else "")
            + f"; run at least {needed} seeds"
        )
    if comparison["bWorse"]:
        what = ", ".join(
            f"{_SHOWN_KIND[w['kind']]}{' ' + shown(w['name']) if w['name'] else ''} "
            f"(p={w['pValue']:.3g})"
            for w in comparison["worseOn"]
        )
        console.print(f"[bold red]B is significantly worse than A[/] at alpha {alpha:g}: {what}")
    elif paired >= needed:
        console.print(f"B is not significantly worse than A on anything at alpha {alpha:g}")


def _seeds_and_alpha_or_exit(seeds_spec: str, alpha_text: str) -> tuple[list[int], float]:
    """The seeds and alpha; refused if they could never find B worse: with that few seeds even
    the most lopsided outcome has a p-value above alpha."""
    seeds = parse_seeds_or_exit(seeds_spec)
    alpha = _alpha_or_exit(alpha_text)
    count, needed = len(seeds), seeds_needed(alpha)
    if count < needed:
        least = 2 / math.comb(2 * count, count)
        invalid(
            f"--seeds: {count} seeds cannot show a difference at alpha {alpha:g} (the least "
            f"p-value {count} seeds can give is {least:.3g}); run at least {needed} seeds"
        )
    return seeds, alpha


def _alpha_or_exit(text: str) -> float:
    try:
        alpha = float(text)
    except ValueError:
        invalid(f"--alpha: {text!r} is not a number")
    if not (math.isfinite(alpha) and 0 < alpha < 1):
        invalid(f"--alpha: {text!r} is not a significance level between 0 and 1 (exclusive)")
    return alpha


@click.command(name="compare")
@click.argument("a_file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("b_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--seeds",
    "seeds_spec",
    required=True,
    metavar="SPEC",
    help='The seeds to run both variants under: "1-50", "1,5,9" or "1-10,20-30".',
)
@workers_option("run")
@click.option(
    "--alpha",
    "alpha_text",
    default=str(DEFAULT_ALPHA),
    show_default=True,
    metavar="LEVEL",
    help="Significance level: B is called worse or better only where a test's p-value is at "
    "or below it.",
)
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the comparison as JSON (schema kubechaos/compare/v2), with per-seed values "
    "and every test.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar over completed runs (default: on a terminal).",
)
def compare_command(
    a_file: Path,
    b_file: Path,
    seeds_spec: str,
    workers: int | None,
    alpha_text: str,
    json_file: Path | None,
    progress: bool | None,
) -> None:
    """Run two variants of a scenario, A_FILE and B_FILE, under the same seeds and compare them.

    A seed fixes the model's luck, so each seed's pair of runs differs only by the change
    between the files. Compared: the runs' verdicts; for each SLO whether it held; for each
    fault the recovery time; for each service the availability (request success rate). Each
    shows the paired differences (B minus A) and on how many seeds B was better, worse or the
    same, and a two-sided test: Fisher's exact test on failed runs and violated SLOs,
    Mann-Whitney U on recovery times (a fault that never recovered counts as slower than any
    recovery) and availabilities. B is "worse" or "better" only where the test's p-value is at
    most --alpha. Too few seeds to ever get there (fewer than 4 at 0.05) is invalid input: a
    gate that cannot fail would pass every change.

    \b
    Exit codes:
      0    B is not significantly worse than A on anything compared
      1    B is significantly worse than A on something (verdicts, an SLO, a recovery,
           an availability)
      2    invalid input
      3    a run failed internally (its seed is left out of the pairing); wins over 1
      130  interrupted
    """
    console = new_console()
    seeds, alpha = _seeds_and_alpha_or_exit(seeds_spec, alpha_text)
    a, b = _variants_or_exit(a_file, b_file)
    probe_writable(json_file)
    workers = min(workers or default_workers(), 2 * len(seeds))
    _print_header(console, a, b, seeds, workers, alpha)
    show = console.is_terminal if progress is None else progress
    try:
        with runs_progress(console, 2 * len(seeds), show) as on_result:
            comparison = run_compare(a, b, seeds_spec, workers, on_result, alpha)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: no comparison (it needs every seed of both)")
        sys.exit(EXIT_INTERRUPTED)
    if json_file is not None:
        write_json(comparison, json_file)
        console.print(f"json report: {shown(json_file)}")
    _print_comparison(console, comparison)
    sys.exit(_exit_code(console, comparison))


def _variants_or_exit(a_file: Path, b_file: Path) -> tuple[Scenario, Scenario]:
    a = load_or_exit(a_file)
    b = load_or_exit(b_file)
    if a.source == b.source:
        invalid("A and B are the same file; compare two variants of a scenario")
    return a, b


def _print_header(
    console: Console, a: Scenario, b: Scenario, seeds: list[int], workers: int, alpha: float
) -> None:
    console.print(
        f"A: [bold]{shown(a.name)}[/] ({shown(a.source)})  B: [bold]{shown(b.name)}[/] "
        f"({shown(b.source)})  seeds {format_seeds(seeds)} ({len(seeds)})  {workers} worker"
        f"{'s' if workers > 1 else ''}  alpha {alpha:g}"
    )


def _exit_code(console: Console, comparison: dict[str, Any]) -> int:
    """3 if runs failed internally (the comparison lacks their seeds), else 1 if B is
    significantly worse, else 0."""
    errors = comparison["a"]["errors"] + comparison["b"]["errors"]
    if errors:
        console.print(f"[bold red]{errors} runs failed internally[/]; their seeds are left out")
        return EXIT_RUN_FAILED
    return EXIT_B_WORSE if comparison["bWorse"] else EXIT_OK
