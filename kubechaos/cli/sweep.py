"""``kubechaos sweep`` and ``sweep-merge``: one scenario under many seeds, in parallel and across
machines, summarised on the terminal and in JSON and JUnit reports.

The runs and the merging are ``kubechaos/batch/sweep.py``'s, the summary ``report/sweep.py``'s;
this module reads the flags, shows progress and prints the summary's tables.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table

from kubechaos.api.duration import format_duration
from kubechaos.batch.pool import default_workers
from kubechaos.batch.sweep import merge as merge_sweeps
from kubechaos.batch.sweep import run_sweep
from kubechaos.cli.common import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_SLO_VIOLATED,
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
from kubechaos.cli.terminal import new_console, print_table, shown
from kubechaos.report.junit import write_junit
from kubechaos.report.result import write_json
from kubechaos.report.sweep import SweepError, junit_results, read_sweep
from kubechaos.scenario.loader import Scenario
from kubechaos.scenario.seeds import Shard, format_seeds, parse_shard


def _write_sweep_reports(
    console: Console, sweep: dict[str, Any], json_file: Path | None, junit_file: Path | None
) -> bool:
    """The --json and --junit reports (each whole, or the old file left as it was); whether
    both were written (a write error is one line)."""
    note = "" if sweep["complete"] else " (incomplete)"
    written = True
    if json_file is not None:
        if write_or_report(json_file, lambda path: write_json(sweep, path)):
            console.print(f"json report: {shown(json_file)}{note}")
        else:
            written = False
    if junit_file is not None:
        # one test suite per seed; a seed an interrupted sweep did not run is a skipped one
        if write_or_report(junit_file, lambda path: write_junit(junit_results(sweep), path)):
            console.print(f"junit report: {shown(junit_file)}{note}")
        else:
            written = False
    return written


def _exit(sweep: dict[str, Any], written: bool) -> NoReturn:
    """Exit with the sweep's code, 3 if a report could not be written (an interrupted sweep
    keeps the stopping signal's code, see ``signals.py``)."""
    code = sweep["exitCode"]
    if not written and code in (EXIT_OK, EXIT_SLO_VIOLATED):
        code = EXIT_RUN_FAILED
    sys.exit(exit_status(code))


def _print_sweep(console: Console, sweep: dict[str, Any]) -> None:
    summary = sweep["summary"]
    if summary["faults"]:
        print_table(console, _recovery_table(summary["faults"]))
    if summary["slos"]:
        print_table(console, _slo_table(summary["slos"]))
    if summary["traffic"]:
        print_table(console, _traffic_table(summary["traffic"]))
    if summary["failing"]:
        _print_failing(console, summary["failing"])
    _print_totals(console, sweep)


def _recovery_table(faults: list[dict[str, Any]]) -> Table:
    table = Table(title="Recovery times over all runs", show_edge=False, box=None)
    table.add_column("fault")
    for column in ("injected", "unrecovered", "unobservable", "min", "p50", "p95", "p99", "max"):
        table.add_column(column, justify="right", no_wrap=True)
    for fault in faults:
        dist = fault["recoverySeconds"] or {}
        missing = fault["notRecovered"] + fault["pending"]
        table.add_row(
            shown(fault["name"]),
            str(fault["injections"]),
            f"[red]{missing}[/]" if missing else "0",
            str(fault.get("notObservable", 0)),
            *(seconds(dist.get(k)) for k in ("min", "p50", "p95", "p99", "max")),
        )
    return table


def _slo_table(slos: list[dict[str, Any]]) -> Table:
    table = Table(title="SLOs over all runs", show_edge=False, box=None)
    for column in ("slo", "kind", "passed", "pass rate"):
        table.add_column(column, justify="right" if column in ("passed", "pass rate") else "left")
    for slo in slos:
        rate = percent(slo["passRate"])
        table.add_row(
            shown(slo["name"]),
            shown(slo["kind"]),
            f"{slo['passed']}/{slo['runs']}",
            rate if slo["passed"] == slo["runs"] else f"[bold red]{rate}[/]",
        )
    return table


def _traffic_table(services: list[dict[str, Any]]) -> Table:
    table = Table(title="Success rate per run", show_edge=False, box=None)
    table.add_column("service")
    for column in ("requests", "min", "p50", "mean"):
        table.add_column(column, justify="right")
    for t in services:
        dist = t["successRate"] or {}
        table.add_row(
            shown(f"{t['namespace']}/{t['service']}"),
            str(t["requests"]),
            *(percent(dist.get(k)) for k in ("min", "p50", "mean")),
        )
    return table


def _print_failing(console: Console, failing_seeds: list[dict[str, Any]]) -> None:
    # one line each, never wrapped: the replay command is there to be copied
    console.print("[bold]Seeds that did not pass[/] (seed, why, replay)")
    width = max(len(str(f["seed"])) for f in failing_seeds)
    for failing in failing_seeds:
        why = ", ".join(failing["violated"]) or failing["error"] or failing["verdict"]
        console.print(
            f"  {failing['seed']:>{width}}  [red]{shown(why)}[/]  {shown(failing['replay'])}",
            soft_wrap=True,
        )


def _print_totals(console: Console, sweep: dict[str, Any]) -> None:
    summary = sweep["summary"]
    runs = summary["runs"]
    parts = [f"{summary['passed']}/{runs} runs passed ({percent(summary['passRate'])})"]
    if summary["failed"]:
        parts.append(f"[bold red]{summary['failed']} violated an SLO[/]")
    if summary["errors"]:
        parts.append(f"[bold red]{summary['errors']} failed internally[/]")
    if not sweep["complete"]:
        parts.append(f"[yellow]interrupted after {runs} runs[/]")
    if sweep["wallSeconds"] is not None:
        parts.append(f"{sweep['wallSeconds']:.2f}s wall")
    console.print(" · ".join(parts))


def _parse_shard_or_exit(shard_text: str | None) -> Shard | None:
    if shard_text is None:
        return None
    try:
        return parse_shard(shard_text)
    except ValueError as exc:
        invalid(f"--shard: {exc}")


def _print_sweep_header(
    console: Console,
    scenario: Scenario,
    seeds: list[int],
    shard: Shard | None,
    chosen: int,
    workers: int,
) -> None:
    where = f"  shard {shard}: {chosen} of them" if shard is not None else ""
    console.print(
        f"[bold]{shown(scenario.name)}[/]  seeds {format_seeds(seeds)} ({len(seeds)}){where}"
        f"  {format_duration(scenario.duration)} virtual each  {workers} worker"
        f"{'s' if workers > 1 else ''}"
    )
    for warning in scenario.warnings:
        console.print(f"[yellow]warning:[/] {shown(warning)}", soft_wrap=True)


@click.command(name="sweep")
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--seeds",
    "seeds_spec",
    required=True,
    metavar="SPEC",
    help='The seeds to run: "1-200", "1,5,9" or "1-10,20-30".',
)
@workers_option("seed")
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
@stops_on_signals
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
    internally (or a report could not be written); 130 interrupted by Ctrl-C, 143 by SIGTERM,
    129 by SIGHUP (reports still written, marked incomplete; no worker outlives the sweep).
    """
    console = new_console()
    seeds = parse_seeds_or_exit(seeds_spec)
    shard = _parse_shard_or_exit(shard_text)
    scenario = load_or_exit(scenario_file)
    check_outputs(
        {"--json": json_file, "--junit": junit_file},
        {
            "the scenario file": [scenario.source],
            "a manifest the scenario reads": scenario.manifest_files,
        },
    )
    probe_writable(json_file, junit_file)
    chosen = shard.select(seeds) if shard is not None else seeds
    workers = min(workers or default_workers(), max(len(chosen), 1))
    _print_sweep_header(console, scenario, seeds, shard, len(chosen), workers)
    show = console.is_terminal if progress is None else progress
    with runs_progress(console, len(chosen), show) as on_result:
        result = run_sweep(scenario, seeds_spec, shard, workers, on_result)
    written = _write_sweep_reports(console, result, json_file, junit_file)
    _print_sweep(console, result)
    _exit(result, written)


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
@stops_on_signals
def sweep_merge_command(
    shard_files: tuple[Path, ...], json_file: Path | None, junit_file: Path | None
) -> None:
    """Combine the --json files of every shard of a sweep into one report.

    The shards must be of the same scenario file and seeds, each given once, all present and
    complete. Exit codes as for `kubechaos sweep`: 0 every run passed; 1 some run violated an
    SLO; 2 invalid input (unreadable or mismatched shards, or an output that is one of them);
    3 some run failed internally (or a report could not be written).
    """
    console = new_console()
    check_outputs(
        {"--json": json_file, "--junit": junit_file},
        {"one of the shard files": [str(f) for f in shard_files]},
    )
    try:
        merged = merge_sweeps([read_sweep(f) for f in shard_files], [str(f) for f in shard_files])
    except SweepError as exc:
        invalid(str(exc))
    probe_writable(json_file, junit_file)
    console.print(
        f"[bold]{shown(merged['scenario']['name'])}[/]  seeds {merged['seeds']} "
        f"({merged['seedCount']}) merged from {len(shard_files)} "
        f"shard{'s' if len(shard_files) > 1 else ''}"
    )
    written = _write_sweep_reports(console, merged, json_file, junit_file)
    _print_sweep(console, merged)
    _exit(merged, written)
