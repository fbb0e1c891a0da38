"""``kubechaos compare``: two variants of a scenario under the same seeds, side by side.

The runs are ``kubechaos/batch/compare.py``'s and the paired comparison ``report/compare.py``'s;
this module reads the flags, shows progress, prints one table per measure (recovery time per
fault, availability per service, pass rate per SLO) and picks the exit code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kubechaos.batch.compare import run_compare
from kubechaos.batch.pool import default_workers
from kubechaos.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_FAILED,
    check_outputs,
    invalid,
    load_or_exit,
    parse_seeds_or_exit,
    percent,
    probe_writable,
    seconds,
    workers_option,
    write_or_report,
)
from kubechaos.cli.progress import runs_progress
from kubechaos.cli.signals import exit_status, stops_on_signals
from kubechaos.report.result import write_json
from kubechaos.scenario.seeds import format_seeds

_ONLY_IN = {"a": "only in A", "b": "only in B"}
_SHOWN_VERDICT = {"better": "[green]B better[/]", "worse": "[bold red]B worse[/]", "same": "same"}


def _verdict(row: dict[str, Any]) -> str:
    if row["presentIn"] != "both":
        return f"[yellow]{_ONLY_IN[row['presentIn']]}[/]"
    return _SHOWN_VERDICT[row["verdict"]]


def _counts(row: dict[str, Any]) -> list[str]:
    return [str(row["better"]), str(row["worse"]), str(row["same"])]


def _signed(x: float | None, scale: float, unit: str) -> str:
    return "-" if x is None else f"{scale * x:+.{3 if unit == 's' else 2}f}{unit}"


def _comparison_table(title: str, first: str, columns: tuple[str, ...]) -> Table:
    table = Table(title=title, show_edge=False, box=None)
    table.add_column(first)
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    return table


def _recovery_table(rows: list[dict[str, Any]]) -> Table:
    table = _comparison_table(
        "Recovery time: Δ = B - A per seed (lower is better)",
        "fault",
        ("A p50", "B p50", "Δ mean", "Δ p50", "better", "worse", "same"),
    )
    for row in rows:
        a, b = row["a"] or {}, row["b"] or {}
        table.add_row(
            escape(row["name"]),
            seconds(a.get("median")) + (f" ({a['notRecovered']} n/r)" if a.get("notRecovered") else ""),
            seconds(b.get("median")) + (f" ({b['notRecovered']} n/r)" if b.get("notRecovered") else ""),
            _signed(row["meanDifference"], 1, "s"),
            _signed(row["medianDifference"], 1, "s"),
            *_counts(row),
            _verdict(row),
        )  # fmt: skip
    return table


def _availability_table(rows: list[dict[str, Any]]) -> Table:
    table = _comparison_table(
        "Request success rate over the whole run: Δ = B - A per seed (higher is better)",
        "service",
        ("A mean", "B mean", "Δ mean", "Δ p50", "better", "worse", "same"),
    )
    for row in rows:
        a, b = row["a"] or {}, row["b"] or {}
        table.add_row(
            escape(row["name"]),
            percent(a.get("mean")),
            percent(b.get("mean")),
            _signed(row["meanDifference"], 100, "pp"),
            _signed(row["medianDifference"], 100, "pp"),
            *_counts(row),
            _verdict(row),
        )
    return table


def _slo_table(rows: list[dict[str, Any]]) -> Table:
    table = _comparison_table(
        "SLOs: seeds where it held in B only (better), A only (worse)",
        "slo",
        ("A passed", "B passed", "better", "worse", "same"),
    )
    for row in rows:
        table.add_row(
            escape(row["name"]),
            percent((row["a"] or {}).get("passRate")),
            percent((row["b"] or {}).get("passRate")),
            *_counts(row),
            _verdict(row),
        )
    return table


def _print_comparison(console: Console, comparison: dict[str, Any]) -> None:
    if comparison["faults"]:
        console.print(_recovery_table(comparison["faults"]))
    if comparison["availability"]:
        console.print(_availability_table(comparison["availability"]))
    if comparison["slos"]:
        console.print(_slo_table(comparison["slos"]))
    a, b = comparison["a"], comparison["b"]
    console.print(
        f"A passed {a['passed']}/{a['runs']} runs, B passed {b['passed']}/{b['runs']}; "
        f"{comparison['pairedSeeds']} seeds paired"
        + (f" · {comparison['wallSeconds']:.2f}s wall" if comparison["wallSeconds"] else "")
    )


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
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the comparison as JSON (schema kubechaos/compare/v1), with per-seed values.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar over completed runs (default: on a terminal).",
)
@stops_on_signals
def compare_command(
    a_file: Path,
    b_file: Path,
    seeds_spec: str,
    workers: int | None,
    json_file: Path | None,
    progress: bool | None,
) -> None:
    """Run two variants of a scenario, A_FILE and B_FILE, under the same seeds and compare them.

    A seed fixes the model's luck, so each seed's pair of runs differs only by the change
    between the files. For each fault: the paired difference in recovery time; for each
    service: in availability (request success rate); for each SLO: the pass rates. Each shows
    the mean and median difference (B minus A) and on how many seeds B was better, worse or
    the same. Exit codes: 0 compared; 2 invalid input; 3 a run failed internally (its seed is
    left out of the pairing) or the report could not be written; 130 interrupted by Ctrl-C,
    143 by SIGTERM, 129 by SIGHUP (no comparison: it needs every seed of both).
    """
    console = Console(highlight=False)
    seeds = parse_seeds_or_exit(seeds_spec)
    a = load_or_exit(a_file)
    b = load_or_exit(b_file)
    if a.source == b.source:
        invalid("A and B are the same file; compare two variants of a scenario")
    check_outputs(
        {"--json": json_file},
        {
            "one of the compared scenario files": [a.source, b.source],
            "a manifest a compared scenario reads": [*a.manifest_files, *b.manifest_files],
        },
    )
    probe_writable(json_file)
    workers = min(workers or default_workers(), 2 * len(seeds))
    console.print(
        f"A: [bold]{escape(a.name)}[/] ({escape(a.source)})  B: [bold]{escape(b.name)}[/] "
        f"({escape(b.source)})  seeds {format_seeds(seeds)} ({len(seeds)})  {workers} worker"
        f"{'s' if workers > 1 else ''}"
    )
    show = console.is_terminal if progress is None else progress
    try:
        with runs_progress(console, 2 * len(seeds), show) as on_result:
            comparison = run_compare(a, b, seeds_spec, workers, on_result)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: no comparison (it needs every seed of both)")
        sys.exit(exit_status(EXIT_INTERRUPTED))
    written = json_file is None or write_or_report(
        json_file, lambda path: write_json(comparison, path)
    )
    if json_file is not None and written:
        console.print(f"json report: {json_file}")
    _print_comparison(console, comparison)
    errors = comparison["a"]["errors"] + comparison["b"]["errors"]
    if errors:
        console.print(f"[bold red]{errors} runs failed internally[/]; their seeds are left out")
    sys.exit(EXIT_RUN_FAILED if errors or not written else EXIT_OK)
