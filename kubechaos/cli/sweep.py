"""``kubechaos sweep``, ``sweep-merge`` and ``compare``: one scenario under many seeds, in
parallel and across machines, and two variants side by side.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from kubechaos.api.duration import format_duration
from kubechaos.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_FAILED,
    invalid,
    load_or_exit,
    open_for_writing,
)
from kubechaos.report.compare import run_compare
from kubechaos.report.junit import write_junit
from kubechaos.report.result import write_json
from kubechaos.report.sweep import (
    SweepError,
    default_workers,
    format_seeds,
    parse_seeds,
    parse_shard,
    read_sweep,
    run_sweep,
)
from kubechaos.report.sweep import merge as merge_sweeps

# --- seed sweeps and A/B comparison (see kubechaos.report.sweep and kubechaos.report.compare) ---


@contextlib.contextmanager
def _runs_progress(
    console: Console, total: int, show: bool
) -> Iterator[Callable[[dict[str, Any]], None] | None]:
    """A bar over completed runs (not virtual time: many runs go at once), with a failure
    count so a bad sweep shows itself early."""
    if not show or total == 0:
        yield None
        return
    progress = Progress(
        TextColumn("[bold]runs"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} not passed"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task("runs", total=total, failed=0)
    failed = 0

    def on_result(result: dict[str, Any]) -> None:
        nonlocal failed
        failed += result["verdict"] != "passed"
        progress.update(task, advance=1, failed=failed)

    with progress:
        yield on_result


def _parse_seeds_or_exit(spec: str) -> list[int]:
    try:
        return parse_seeds(spec)
    except ValueError as exc:
        invalid(f"--seeds: {exc}")


def _probe_reports(*paths: Path | None) -> None:
    for path in paths:
        probe = open_for_writing(path)  # a bad path fails now, not after the sweep
        if probe is not None:
            probe.close()


def _write_sweep_reports(
    console: Console, sweep: dict[str, Any], json_file: Path | None, junit_file: Path | None
) -> None:
    note = "" if sweep["complete"] else " (incomplete)"
    if json_file is not None:
        write_json(sweep, json_file)
        console.print(f"json report: {json_file}{note}")
    if junit_file is not None:
        write_junit(sweep["results"], junit_file)  # one test suite per seed
        console.print(f"junit report: {junit_file}{note}")


def _seconds(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}s"


def _percent_of(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _print_sweep(console: Console, sweep: dict[str, Any]) -> None:
    summary = sweep["summary"]
    if summary["faults"]:
        table = Table(title="Recovery times over all runs", show_edge=False, box=None)
        table.add_column("fault")
        for column in ("injected", "unrecovered", "min", "p50", "p95", "p99", "max"):
            table.add_column(column, justify="right", no_wrap=True)
        for fault in summary["faults"]:
            dist = fault["recoverySeconds"] or {}
            missing = fault["notRecovered"] + fault["pending"]
            table.add_row(
                escape(fault["name"]),
                str(fault["injections"]),
                f"[red]{missing}[/]" if missing else "0",
                *(_seconds(dist.get(k)) for k in ("min", "p50", "p95", "p99", "max")),
            )
        console.print(table)
    if summary["slos"]:
        table = Table(title="SLOs over all runs", show_edge=False, box=None)
        for column in ("slo", "kind", "passed", "pass rate"):
            table.add_column(
                column, justify="right" if column in ("passed", "pass rate") else "left"
            )
        for slo in summary["slos"]:
            rate = _percent_of(slo["passRate"])
            table.add_row(
                escape(slo["name"]),
                slo["kind"],
                f"{slo['passed']}/{slo['runs']}",
                rate if slo["passed"] == slo["runs"] else f"[bold red]{rate}[/]",
            )
        console.print(table)
    if summary["traffic"]:
        table = Table(title="Success rate per run", show_edge=False, box=None)
        table.add_column("service")
        for column in ("requests", "min", "p50", "mean"):
            table.add_column(column, justify="right")
        for t in summary["traffic"]:
            dist = t["successRate"] or {}
            table.add_row(
                f"{t['namespace']}/{t['service']}",
                str(t["requests"]),
                *(_percent_of(dist.get(k)) for k in ("min", "p50", "mean")),
            )
        console.print(table)
    if summary["failing"]:
        # one line each, never wrapped: the replay command is there to be copied
        console.print("[bold]Seeds that did not pass[/] (seed, why, replay)")
        width = max(len(str(f["seed"])) for f in summary["failing"])
        for failing in summary["failing"]:
            why = ", ".join(failing["violated"]) or failing["error"] or failing["verdict"]
            console.print(
                f"  {failing['seed']:>{width}}  [red]{escape(why)}[/]  {escape(failing['replay'])}",
                soft_wrap=True,
            )
    runs = summary["runs"]
    parts = [f"{summary['passed']}/{runs} runs passed ({_percent_of(summary['passRate'])})"]
    if summary["failed"]:
        parts.append(f"[bold red]{summary['failed']} violated an SLO[/]")
    if summary["errors"]:
        parts.append(f"[bold red]{summary['errors']} failed internally[/]")
    if not sweep["complete"]:
        parts.append(f"[yellow]interrupted after {runs} runs[/]")
    if sweep["wallSeconds"] is not None:
        parts.append(f"{sweep['wallSeconds']:.2f}s wall")
    console.print(" · ".join(parts))


@click.command(name="sweep")
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--seeds",
    "seeds_spec",
    required=True,
    metavar="SPEC",
    help='The seeds to run: "1-200", "1,5,9" or "1-10,20-30".',
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    envvar="KUBECHAOS_WORKERS",
    show_envvar=True,
    help="Worker processes (default: one per CPU core this process may use); 1 runs every "
    "seed in this process.",
)
@click.option(
    "--shard",
    "shard_text",
    metavar="K/N",
    help="Run only shard K of N: the sorted seeds at positions i with i % N == K-1. "
    "Combine the shards' --json files with `kubechaos sweep-merge`.",
)
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the sweep as JSON (schema kubechaos/sweep/v1): summary and every seed's result.",
)
@click.option(
    "--junit",
    "junit_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write JUnit XML: a test suite per seed, a test case per SLO.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar over completed runs (default: on a terminal).",
)
def sweep_command(
    scenario_file: Path,
    seeds_spec: str,
    workers: int | None,
    shard_text: str | None,
    json_file: Path | None,
    junit_file: Path | None,
    progress: bool | None,
) -> None:
    """Run SCENARIO_FILE once per seed, in parallel, and report how the runs went.

    Shows each fault's recovery time distribution (min/p50/p95/p99/max over the runs), each
    SLO's pass rate, and every seed that did not pass with the command that replays it. Exit
    codes: 0 every run passed; 1 some run violated an SLO; 2 invalid input; 3 some run failed
    internally; 130 interrupted (reports still written, marked incomplete).
    """
    console = Console(highlight=False)
    seeds = _parse_seeds_or_exit(seeds_spec)
    shard = None
    if shard_text is not None:
        try:
            shard = parse_shard(shard_text)
        except ValueError as exc:
            invalid(f"--shard: {exc}")
    scenario = load_or_exit(scenario_file)
    _probe_reports(json_file, junit_file)
    chosen = shard.select(seeds) if shard is not None else seeds
    workers = min(workers or default_workers(), max(len(chosen), 1))
    where = f"  shard {shard}: {len(chosen)} of them" if shard is not None else ""
    console.print(
        f"[bold]{escape(scenario.name)}[/]  seeds {format_seeds(seeds)} ({len(seeds)}){where}"
        f"  {format_duration(scenario.duration)} virtual each  {workers} worker"
        f"{'s' if workers > 1 else ''}"
    )
    for warning in scenario.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    show = console.is_terminal if progress is None else progress
    with _runs_progress(console, len(chosen), show) as on_result:
        result = run_sweep(scenario, seeds_spec, shard, workers, on_result)
    _write_sweep_reports(console, result, json_file, junit_file)
    _print_sweep(console, result)
    sys.exit(result["exitCode"])


@click.command(name="sweep-merge")
@click.argument(
    "shard_files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the merged sweep as JSON (schema kubechaos/sweep/v1).",
)
@click.option(
    "--junit",
    "junit_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write JUnit XML: a test suite per seed, a test case per SLO.",
)
def sweep_merge_command(
    shard_files: tuple[Path, ...], json_file: Path | None, junit_file: Path | None
) -> None:
    """Combine the --json files of every shard of a sweep into one report.

    The shards must be of the same scenario file and seeds, each given once, all present and
    complete. Exit codes as for `kubechaos sweep`: 0 every run passed; 1 some run violated an
    SLO; 2 invalid input (unreadable or mismatched shards); 3 some run failed internally.
    """
    console = Console(highlight=False)
    try:
        merged = merge_sweeps([read_sweep(f) for f in shard_files], [str(f) for f in shard_files])
    except SweepError as exc:
        invalid(str(exc))
    _probe_reports(json_file, junit_file)
    console.print(
        f"[bold]{escape(merged['scenario']['name'])}[/]  seeds {merged['seeds']} "
        f"({merged['seedCount']}) merged from {len(shard_files)} "
        f"shard{'s' if len(shard_files) > 1 else ''}"
    )
    _write_sweep_reports(console, merged, json_file, junit_file)
    _print_sweep(console, merged)
    sys.exit(merged["exitCode"])


def _print_comparison(console: Console, comparison: dict[str, Any]) -> None:
    only = {"a": "only in A", "b": "only in B"}

    def verdict(row: dict[str, Any]) -> str:
        if row["presentIn"] != "both":
            return f"[yellow]{only[row['presentIn']]}[/]"
        shown = {"better": "[green]B better[/]", "worse": "[bold red]B worse[/]", "same": "same"}
        return shown[row["verdict"]]

    def counts(row: dict[str, Any]) -> list[str]:
        return [str(row["better"]), str(row["worse"]), str(row["same"])]

    def signed(x: float | None, scale: float, unit: str) -> str:
        return "-" if x is None else f"{scale * x:+.{3 if unit == 's' else 2}f}{unit}"

    if comparison["faults"]:
        table = Table(
            title="Recovery time: Δ = B - A per seed (lower is better)", show_edge=False, box=None
        )
        table.add_column("fault")
        for column in ("A p50", "B p50", "Δ mean", "Δ p50", "better", "worse", "same"):
            table.add_column(column, justify="right", no_wrap=True)
        table.add_column("verdict", no_wrap=True)
        for row in comparison["faults"]:
            a, b = row["a"] or {}, row["b"] or {}
            table.add_row(
                escape(row["name"]),
                _seconds(a.get("median")) + (f" ({a['notRecovered']} n/r)" if a.get("notRecovered") else ""),
                _seconds(b.get("median")) + (f" ({b['notRecovered']} n/r)" if b.get("notRecovered") else ""),
                signed(row["meanDifference"], 1, "s"),
                signed(row["medianDifference"], 1, "s"),
                *counts(row),
                verdict(row),
            )  # fmt: skip
        console.print(table)
    if comparison["availability"]:
        table = Table(
            title="Request success rate over the whole run: Δ = B - A per seed (higher is better)",
            show_edge=False,
            box=None,
        )
        table.add_column("service")
        for column in ("A mean", "B mean", "Δ mean", "Δ p50", "better", "worse", "same"):
            table.add_column(column, justify="right", no_wrap=True)
        table.add_column("verdict", no_wrap=True)
        for row in comparison["availability"]:
            a, b = row["a"] or {}, row["b"] or {}
            table.add_row(
                escape(row["name"]),
                _percent_of(a.get("mean")),
                _percent_of(b.get("mean")),
                signed(row["meanDifference"], 100, "pp"),
                signed(row["medianDifference"], 100, "pp"),
                *counts(row),
                verdict(row),
            )
        console.print(table)
    if comparison["slos"]:
        table = Table(
            title="SLOs: seeds where it held in B only (better), A only (worse)",
            show_edge=False,
            box=None,
        )
        table.add_column("slo")
        for column in ("A passed", "B passed", "better", "worse", "same"):
            table.add_column(column, justify="right", no_wrap=True)
        table.add_column("verdict", no_wrap=True)
        for row in comparison["slos"]:
            table.add_row(
                escape(row["name"]),
                _percent_of((row["a"] or {}).get("passRate")),
                _percent_of((row["b"] or {}).get("passRate")),
                *counts(row),
                verdict(row),
            )
        console.print(table)
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
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    envvar="KUBECHAOS_WORKERS",
    show_envvar=True,
    help="Worker processes (default: one per CPU core this process may use); 1 runs every "
    "run in this process.",
)
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
    left out of the pairing); 130 interrupted.
    """
    console = Console(highlight=False)
    seeds = _parse_seeds_or_exit(seeds_spec)
    a = load_or_exit(a_file)
    b = load_or_exit(b_file)
    if a.source == b.source:
        invalid("A and B are the same file; compare two variants of a scenario")
    _probe_reports(json_file)
    workers = min(workers or default_workers(), 2 * len(seeds))
    console.print(
        f"A: [bold]{escape(a.name)}[/] ({escape(a.source)})  B: [bold]{escape(b.name)}[/] "
        f"({escape(b.source)})  seeds {format_seeds(seeds)} ({len(seeds)})  {workers} worker"
        f"{'s' if workers > 1 else ''}"
    )
    show = console.is_terminal if progress is None else progress
    try:
        with _runs_progress(console, 2 * len(seeds), show) as on_result:
            comparison = run_compare(a, b, seeds_spec, workers, on_result)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: no comparison (it needs every seed of both)")
        sys.exit(EXIT_INTERRUPTED)
    if json_file is not None:
        write_json(comparison, json_file)
        console.print(f"json report: {json_file}")
    _print_comparison(console, comparison)
    errors = comparison["a"]["errors"] + comparison["b"]["errors"]
    if errors:
        console.print(f"[bold red]{errors} runs failed internally[/]; their seeds are left out")
    sys.exit(EXIT_RUN_FAILED if errors else EXIT_OK)
