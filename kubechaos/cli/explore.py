"""``kubechaos explore`` and ``kubechaos replay``: search a fault space, shrink what breaks, and
reproduce any run exactly.

The runs (the worker pool over drawn schedules, and the shrink's runs) are
``kubechaos/batch/explore.py``'s; this module reads the flags, prints the failing runs and the
shrunk schedule, and writes the shrunk scenario file and the ``kubechaos/explore/v1`` JSON.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import attrs
import click
from rich.console import Console
from rich.table import Table

from kubechaos.batch.explore import ExploreOutcome, explore_all, shrink_failure
from kubechaos.cli.common import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_SLO_VIOLATED,
    invalid,
    load_or_exit,
)
from kubechaos.cli.terminal import new_console, print_table, shown
from kubechaos.report.result import replay_command, result_of, write_json
from kubechaos.scenario.explore import explored
from kubechaos.scenario.runner import Run
from kubechaos.scenario.writer import scenario_yaml
from kubechaos.sim.failures import describe_failure


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

    Exit codes: 0 no run failed; 1 a run violated an SLO; 2 invalid input; 3 a run broke a
    model invariant or failed internally.
    """
    console = new_console()
    scenario = load_or_exit(scenario_file)
    if scenario.explore is None:
        invalid(f"{scenario_file}: no spec.explore: nothing to explore (see the README)")
    workers = workers or os.cpu_count() or 1
    console.print(
        f"[bold]exploring {shown(scenario.name)}[/]: {runs} runs from seed {seed}, "
        f"{min(workers, runs)} workers"
    )
    outcomes = explore_all(str(scenario_file), runs, seed, workers)
    failures = [o for o in outcomes if o.signature]
    table = Table(title="Failing runs" if failures else None, show_edge=False, box=None)
    for column in ("run", "seed", "failure", "schedule"):
        table.add_column(column)
    for o in failures:
        table.add_row(str(o.index), str(o.seed), shown(", ".join(o.signature)),
                      shown("; ".join(o.schedule)))  # fmt: skip
    if failures:
        print_table(console, table, names=3)
    console.print(f"{len(failures)} of {runs} runs failed")
    report: dict[str, object] = {
        "schema": "kubechaos/explore/v1",
        "scenario": str(scenario_file),
        "baseSeed": seed,
        "runs": [attrs.asdict(o) for o in outcomes],
        "shrunk": None,
    }
    status = EXIT_OK
    if failures:
        first = failures[0]
        broken = any(o.signature[0].startswith(("invariant:", "error")) for o in failures)
        status = EXIT_RUN_FAILED if broken else EXIT_SLO_VIOLATED
        if not no_shrink and first.error is None:
            target = out or Path(f"{scenario_file.stem}.shrunk.yaml")
            report["shrunk"] = _shrink_and_write(
                console, scenario_file, first, target, max_shrink_runs
            )
    if json_file is not None:
        json_file.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        console.print(f"json report: {shown(json_file)}")
    sys.exit(status)


def _shrink_and_write(
    console: Console, scenario_file: Path, failing: ExploreOutcome, out: Path, max_runs: int
) -> dict[str, object]:
    console.print(
        f"shrinking run {failing.index} (seed {failing.seed}): {shown(', '.join(failing.signature))}"
    )
    result = shrink_failure(scenario_file, failing, max_runs)
    comment = (
        f"Shrunk by `kubechaos explore` from {scenario_file} run {failing.index} (seed "
        f"{failing.seed}) in {result.runs} runs.\nFails with: {', '.join(result.signature)}.\n"
        f"Steps: {'; '.join(result.steps) or 'none'}."
    )
    out.write_text(scenario_yaml(result.scenario, out, comment), encoding="utf-8")
    replay = replay_command(str(out), failing.seed)
    console.print(f"[bold]shrunk[/] to {len(result.scenario.faults)} faults in {result.runs} runs:")
    for scheduled in result.scenario.faults:
        span = f" for {scheduled.duration:g}s" if scheduled.duration else ""
        console.print(
            f"  {shown(scheduled.fault.name)} {shown(scheduled.fault.type)} at {scheduled.at:g}s{span}"
        )
    console.print(f"written to {shown(out)}; replay: {shown(replay)}", soft_wrap=True)
    return {
        "file": str(out),
        "seed": failing.seed,
        "signature": list(result.signature),
        "runs": result.runs,
        "steps": result.steps,
        "replay": replay,
    }


@click.command()
@click.argument("result_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--events", "events_file", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write the replayed run's event log as JSON lines.")  # fmt: skip
@click.option("--json", "json_file", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write the replayed run's result as JSON.")  # fmt: skip
def replay(result_file: Path, events_file: Path | None, json_file: Path | None) -> None:
    """Reproduce the run recorded in RESULT_FILE (from `run --json` or `explore --json`) exactly:
    the same scenario, seed and fault schedule, so the same event log byte for byte.

    Exit codes as for `kubechaos run`.
    """
    try:
        data = json.loads(result_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        invalid(f"{result_file}: not a kubechaos result: {exc}")
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema == "kubechaos/result/v1":
        path, seed, is_explored = (
            data["scenario"]["file"],
            data["seed"],
            data.get("explored", False),
        )
    elif schema == "kubechaos/explore/v1":
        failing = [r for r in data["runs"] if r["signature"]]
        if not failing:
            invalid(f"{result_file}: no failing run to replay")
        path, seed, is_explored = data["scenario"], failing[0]["seed"], True
    else:
        invalid(f"{result_file}: not a kubechaos run or explore result (schema {schema!r})")
    scenario = load_or_exit(Path(path))
    if is_explored:
        scenario = explored(scenario, seed)
    run = Run(scenario, seed)
    error = None
    try:
        run.run()
    except Exception as exc:
        error = describe_failure(exc)
    if events_file is not None:
        with events_file.open("w", encoding="utf-8") as out:
            run.events.write_jsonl(out)
    result = result_of(run, error=error)
    result["explored"] = is_explored
    if json_file is not None:
        write_json(result, json_file)
    click.echo(f"replayed {shown(scenario.name, markup=False)} seed {seed}: {result['verdict']}")
    sys.exit(result["exitCode"])
