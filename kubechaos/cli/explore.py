"""``kubechaos explore`` and ``kubechaos replay``: search a fault space, shrink what breaks, and
reproduce any run exactly.

The runs (the worker pool over drawn schedules, and the shrink's runs) are
``kubechaos/batch/explore.py``'s; this module reads the flags, prints the failing runs and the
shrunk schedule, and writes the shrunk scenario file and the ``kubechaos/explore/v1`` JSON.

Trust rules kept here: the shrunk file is run on its own before its replay command is printed
(a file that does not fail the same way is reported loudly, exit 3); an SLO that judged nothing
in any run is "not evaluated", not passed; Ctrl-C, SIGTERM and SIGHUP stop the exploration at
once (exit 130, 143, 129) and still write what was found, marked incomplete; files are written
whole or not at all (temporary file, then rename). ``replay`` (``replay.py``) refuses a scenario
or manifest that changed since the run it replays.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from kubechaos.batch.explore import (
    ExploreOutcome,
    explore_all,
    failing_scenario,
    reproduces,
    shrink_failure,
)
from kubechaos.batch.pool import default_workers
from kubechaos.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_SLO_VIOLATED,
    invalid,
    load_or_exit,
    write_or_report,
)
from kubechaos.cli.replay import replay
from kubechaos.cli.signals import exit_status, quiet, stops_on_signals
from kubechaos.cli.terminal import new_console, print_table, shown
from kubechaos.report.files import write_text
from kubechaos.report.result import relative_to, replay_command
from kubechaos.scenario.explore import ShrinkResult
from kubechaos.scenario.sources import source_digests
from kubechaos.scenario.writer import scenario_yaml


@click.command()
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--runs", type=click.IntRange(min=1), default=50, show_default=True,
              help="How many schedules to draw and run.")  # fmt: skip
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Base seed: run i draws its schedule and runs with seed + i.")  # fmt: skip
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: one per core).")  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Where to write the shrunk failing scenario "
              "(default: <scenario>.shrunk.yaml in the current directory).")  # fmt: skip
@click.option("--no-shrink", is_flag=True, help="Report failures without shrinking them.")
@click.option("--max-shrink-runs", type=click.IntRange(min=1), default=150, show_default=True,
              help="At most this many runs while shrinking.")  # fmt: skip
@click.option("--json", "json_file", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write the exploration (every run, the shrunk failure) as JSON.")  # fmt: skip
@stops_on_signals
def explore(
    scenario_file: Path,
    runs: int,
    seed: int,
    workers: int | None,
    out: Path | None,
    no_shrink: bool,
    max_shrink_runs: int,
    json_file: Path | None,
) -> None:
    """Draw RUNS fault schedules from SCENARIO_FILE's spec.explore, run each, and shrink the
    first failure to its smallest cause.

    Exit codes: 0 no run failed; 1 a run violated an SLO (or an SLO judged nothing in any
    run); 2 invalid input; 3 a run broke a model invariant or failed internally, or the shrunk
    file does not reproduce the failure; 130, 143, 129 stopped by SIGINT (Ctrl-C), SIGTERM,
    SIGHUP (what was found so far is still written, marked incomplete).
    """
    console = new_console()
    scenario = load_or_exit(scenario_file)
    if scenario.explore is None:
        invalid(f"{scenario_file}: no spec.explore: nothing to explore (see the README)")
    workers = workers or default_workers()
    console.print(
        f"[bold]exploring {shown(scenario.name)}[/]: {runs} runs from seed {seed}, "
        f"{min(workers, runs)} workers"
    )
    report: dict[str, Any] = {"schema": "kubechaos/explore/v1", "baseSeed": seed, "runs": []}
    target = out or Path(f"{scenario_file.stem}.shrunk.yaml")
    status = _explore(console, scenario_file, runs, seed, workers, report,
                      None if no_shrink else (target, max_shrink_runs))  # fmt: skip
    if json_file is not None:
        _write_report(console, scenario_file, report, json_file)
    sys.exit(status)


def _explore(
    console: Console,
    scenario_file: Path,
    runs: int,
    seed: int,
    workers: int,
    report: dict[str, Any],
    shrinking: tuple[Path, int] | None,
) -> int:
    """The exploration, filling ``report``; its exit status."""
    interrupted = False
    arrived: dict[int, ExploreOutcome] = {}  # kept here: a second signal may cut explore_all
    first: list[ExploreOutcome] = []  # short while it ends its workers, before it returns them

    def on_outcome(outcome: ExploreOutcome) -> None:
        arrived[outcome.index] = outcome
        if outcome.signature and not first:
            first.append(outcome)
            console.print(
                f"run {outcome.index} (seed {outcome.seed}) failed: "
                f"{shown(', '.join(outcome.signature))}; running the others"
            )

    try:
        _, interrupted = explore_all(str(scenario_file), runs, seed, workers, on_outcome)
    except KeyboardInterrupt:  # a second signal while the first stopped it
        interrupted = True
    outcomes = [arrived[i] for i in sorted(arrived)]
    if interrupted:
        quiet()
        console.print(f"[yellow]interrupted[/] after {len(outcomes)} of {runs} runs")
    report["runs"] = [_outcome_record(o) for o in outcomes]
    failures = [o for o in outcomes if o.signature]
    _print_failures(console, failures, len(outcomes))
    status = EXIT_OK
    if failures:
        broken = any(o.signature[0].startswith(("invariant:", "error")) for o in failures)
        status = EXIT_RUN_FAILED if broken else EXIT_SLO_VIOLATED
    if _never_judged(console, outcomes) and not interrupted:
        status = max(status, EXIT_SLO_VIOLATED)
    report["shrunk"] = None
    if failures and shrinking is not None and failures[0].error is None:
        target, max_runs = shrinking
        shrunk = _shrink_and_write(
            console, scenario_file, failures[0], target, max_runs, interrupted
        )
        report["shrunk"] = shrunk
        interrupted = interrupted or not shrunk["complete"]
        if shrunk["reproduces"] is False:
            status = EXIT_RUN_FAILED
    report["complete"] = not interrupted
    status = exit_status(EXIT_INTERRUPTED) if interrupted else status
    report["exitCode"] = status
    return status


def _outcome_record(o: ExploreOutcome) -> dict[str, Any]:
    return {"index": o.index, "seed": o.seed, "signature": list(o.signature),
            "schedule": list(o.schedule), "error": o.error, "notDrawn": list(o.not_drawn)}  # fmt: skip


def _print_failures(console: Console, failures: list[ExploreOutcome], ran: int) -> None:
    table = Table(title="Failing runs" if failures else None, show_edge=False, box=None)
    for column in ("run", "seed", "failure", "schedule"):
        table.add_column(column)
    for o in failures:
        table.add_row(str(o.index), str(o.seed), shown(", ".join(o.signature)),
                      shown("; ".join(o.schedule)))  # fmt: skip
    if failures:
        print_table(console, table)
    console.print(f"{len(failures)} of {ran} runs failed")


def _never_judged(console: Console, outcomes: list[ExploreOutcome]) -> bool:
    """Say which recoveryWithin SLOs were left out of runs that drew nothing they judge; True
    when one judged nothing in any run (not evaluated: the exploration measured nothing for
    it, so it cannot pass)."""
    left_out: dict[str, int] = {}
    for o in outcomes:
        for name in o.not_drawn:
            left_out[name] = left_out.get(name, 0) + 1
    never = False
    for name, count in sorted(left_out.items()):
        if count == len(outcomes):
            never = True
            console.print(
                f"[red]not evaluated[/]: SLO {shown(name)} judged none of {count} runs: no run "
                "drew a fault it judges (more --runs, or fewer templates?)"
            )
        else:
            console.print(
                f"SLO {shown(name)} judged {len(outcomes) - count} of {len(outcomes)} runs "
                f"(left out of {count}: nothing it judges was drawn)"
            )
    return never


def _shrink_and_write(
    console: Console,
    scenario_file: Path,
    failing: ExploreOutcome,
    out: Path,
    max_runs: int,
    interrupted: bool,
) -> dict[str, Any]:
    """Shrink ``failing`` (or, when the exploration was interrupted, take its schedule as
    drawn), write it to ``out`` and check that the file fails the same way on its own."""
    if interrupted:
        result = ShrinkResult(failing_scenario(scenario_file, failing), failing.signature, 0)
        result.interrupted = True
    else:
        console.print(
            f"shrinking run {failing.index} (seed {failing.seed}): {', '.join(failing.signature)}"
        )
        result = shrink_failure(scenario_file, failing, max_runs)
        if result.interrupted:
            quiet()
            console.print(f"[yellow]interrupted[/] while shrinking, after {result.runs} runs")
    state = "interrupted: smallest so far" if result.interrupted else f"in {result.runs} runs"
    comment = (
        f"Shrunk by `kubechaos explore` from {scenario_file} run {failing.index} (seed "
        f"{failing.seed}) {state}.\nFails with: {', '.join(result.signature)}.\n"
        f"Steps: {'; '.join(result.steps) or 'none'}."
    )
    _write_or_exit(out, scenario_yaml(result.scenario, out, comment))
    problem = _check_reproduces(out, result)
    console.print(f"[bold]shrunk[/] to {len(result.scenario.faults)} faults ({state}):")
    for scheduled in result.scenario.faults:
        span = f" for {scheduled.duration:g}s" if scheduled.duration else ""
        console.print(
            f"  {shown(scheduled.fault.name)} {scheduled.fault.type} at {scheduled.at:g}s{span}"
        )
    replay = replay_command(str(out), failing.seed)
    if problem is None:
        console.print(
            f"written to {shown(out)}; it fails the same way on its own; replay: {shown(replay)}"
        )
    elif result.interrupted:
        console.print(
            f"written to {shown(out)} (not run on its own: {shown(problem)}); replay: {shown(replay)}"
        )
    else:
        console.print(
            f"[bold red]error: the shrunk file {shown(str(out))} does not reproduce the "
            f"failure[/]: {shown(problem)}. This is a kubechaos bug; the failing run is "
            f"run {failing.index} of the exploration (seed {failing.seed})."
        )
    reproduced = None if result.interrupted else problem is None
    return {
        "file": str(out), "seed": failing.seed, "signature": list(result.signature),
        "runs": result.runs, "steps": result.steps, "complete": not result.interrupted,
        "reproduces": reproduced, "problem": problem,
        "replay": replay if reproduced is not False else None,
    }  # fmt: skip


def _check_reproduces(out: Path, result: ShrinkResult) -> str | None:
    """Run the written file on its own (unless the shrink was interrupted): None when it fails
    the same way, else what it did instead."""
    if result.interrupted:
        return "interrupted"
    try:
        return reproduces(out, result.signature)
    except KeyboardInterrupt:
        quiet()
        result.interrupted = True
        return "interrupted"


def _write_report(
    console: Console, scenario_file: Path, report: dict[str, Any], json_file: Path
) -> None:
    """The exploration's JSON, naming the scenario relative to the JSON's directory with the
    digests of its files, so ``replay`` finds it from anywhere and refuses it if it changed."""
    head: dict[str, Any] = {"schema": report.pop("schema"),
                            "scenario": relative_to(str(scenario_file), json_file.parent)}  # fmt: skip
    try:
        head["sha256"], head["manifests"] = source_digests(scenario_file)
    except OSError:
        head["sha256"], head["manifests"] = None, {}
    _write_or_exit(json_file, json.dumps(head | report, indent=2) + "\n")
    note = "" if report.get("complete") else " (incomplete)"
    console.print(f"json report: {json_file}{note}")


def _write_or_exit(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (a reader, or a second signal, never sees half
    a file); a write error is one line and exit 3."""
    if not write_or_report(path, lambda target: write_text(target, text)):
        sys.exit(EXIT_RUN_FAILED)


__all__ = ["explore", "replay"]
