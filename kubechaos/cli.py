"""The ``kubechaos`` command line: the edge where files, terminals and the wall clock live.

Exit codes: 0 the run completed; 2 invalid input (scenario, manifest, flags), with one line per
problem naming file, line, column and field; 3 the run itself failed (an internal error), with
the event log still written if ``--events`` was given.
"""

from __future__ import annotations

import difflib
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TextIO

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kubechaos import __version__
from kubechaos.api.duration import format_duration
from kubechaos.defaults import TARGET_RELEASE
from kubechaos.faults import CATALOGUE
from kubechaos.scenario.loader import Scenario, ScenarioError, load_scenario
from kubechaos.scenario.runner import Run
from kubechaos.sim.events import Event

EXIT_OK, EXIT_INVALID, EXIT_RUN_FAILED = 0, 2, 3

# What the default timeline shows: how the cluster converged and what went wrong on the way.
NOTABLE_REASONS = frozenset(
    {
        "Booting",
        "Applied",
        "SuccessfulCreate",
        "Scheduled",
        "Started",
        "Warning",
        "ScalingReplicaSet",
        "DeploymentAvailable",
        "DeploymentDegraded",
        "Converged",
        "Diverged",
        "NodeNotReady",
        "NodeReady",
        "TaintManagerEviction",
        "FailedScheduling",
        "BackOff",
        "Unhealthy",
        "Killing",
        "Relist",
        "FaultInjected",
        "FaultReverted",
        "FaultFailed",
        "Finished",
    }
)
ALWAYS_SHOWN = frozenset(
    {"Converged", "Diverged", "Finished", "FaultInjected", "FaultReverted", "FaultFailed"}
)
TARGET_FIELDS = {
    "pods": "namespace, labelSelector, names, mode, value",
    "nodes": "nodes, nodeGroup, labelSelector, mode, value",
    "none": "(none: acts on the control plane)",
}
MAX_REPEATS = 3  # per (reason, kind) in a row before the timeline folds the rest into a count


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__,
    prog_name="kubechaos",
    message=f"%(prog)s %(version)s (models Kubernetes {TARGET_RELEASE})",
)
def main() -> None:
    """kubechaos: a deterministic, virtual-time Kubernetes for chaos testing.

    Models a whole cluster (etcd, API server, scheduler, controllers, kubelets, kube-proxy) on
    virtual time, with upstream Kubernetes defaults (`kubechaos --version` names the release).
    """


@main.command()
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seed", type=click.IntRange(min=0), help="Override the scenario's seed.")
@click.option(
    "--events",
    "events_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the event log as JSON lines to this file.",
)
@click.option("-v", "--verbose", is_flag=True, help="Show every event in the timeline.")
def run(scenario_file: Path, seed: int | None, events_file: Path | None, verbose: bool) -> None:
    """Run SCENARIO_FILE: inject its faults on schedule and print the timeline of injections,
    reverts and convergence.

    Exit codes: 0 completed, 2 invalid input, 3 the run failed.
    """
    console = Console(highlight=False)
    scenario = _load_or_exit(scenario_file)
    events_out = _open_for_writing(events_file)
    the_run = Run(scenario, seed)
    console.print(
        f"[bold]{scenario.name}[/]  seed {the_run.seed}  {format_duration(scenario.duration)} virtual"
        f"  {scenario.cluster.node_count()} nodes  {len(scenario.workloads)} objects"
    )
    for warning in scenario.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    started = time.perf_counter()
    status = EXIT_OK
    try:
        the_run.run()
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: writing what the run produced so far")
        status = 130
    except Exception as exc:  # the edge turns any model failure into exit 3
        cause = _innermost(exc)
        console.print(f"[red]run failed:[/] {type(cause).__name__}: {cause}")
        status = EXIT_RUN_FAILED
    wall = time.perf_counter() - started
    if events_out is not None:
        with events_out:
            the_run.events.write_jsonl(events_out)
        console.print(f"event log: {events_file} ({len(the_run.events)} events)")
    if status == EXIT_OK:
        _print_timeline(console, list(the_run.events), verbose)
        _print_summary(console, the_run, wall)
    sys.exit(status)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check scenario FILES; print every problem; exit 2 if any file is invalid."""
    bad = 0
    for file in files:
        try:
            scenario = load_scenario(file)
        except ScenarioError as exc:
            bad += 1
            for error in exc.errors:
                click.echo(str(error), err=True)
            continue
        for warning in scenario.warnings:
            click.echo(f"warning: {warning}", err=True)
        click.echo(f"{file}: ok ({scenario.name})")
    sys.exit(EXIT_INVALID if bad else EXIT_OK)


@main.command()
@click.argument("fault_type", required=False)
def faults(fault_type: str | None) -> None:
    """List the fault catalogue: each type, what it targets, and its params.

    With FAULT_TYPE, show that type alone.
    """
    console = Console(highlight=False)
    names = sorted(CATALOGUE)
    if fault_type is not None:
        if fault_type not in CATALOGUE:
            hint = difflib.get_close_matches(fault_type, names, n=1)
            click.echo(
                f"error: unknown fault type {fault_type!r}"
                + (f'; did you mean "{hint[0]}"?' if hint else "; run `kubechaos faults`"),
                err=True,
            )
            sys.exit(EXIT_INVALID)
        names = [fault_type]
    for name in names:
        cls = CATALOGUE[name]
        timing = (
            "lasting (duration: until reverted; omitted: until the end)"
            if cls.lasting
            else "instantaneous"
        )
        console.print(f"[bold]{name}[/]  {escape(cls.summary)}")
        console.print(f"    target: {TARGET_FIELDS[cls.target_kind]}")
        console.print(f"    timing: {timing}")
        for p in cls.params():
            kind = f"{p.kind} {'|'.join(p.choices)}" if p.choices else p.kind
            console.print(
                f"    [cyan]{p.name}[/] ({kind}, default {escape(p.show_default())}): {escape(p.help)}",
                soft_wrap=True,
            )
        console.print()


def _load_or_exit(path: Path) -> Scenario:
    try:
        return load_scenario(path)
    except ScenarioError as exc:
        for error in exc.errors:
            click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_INVALID)


def _innermost(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _open_for_writing(path: Path | None) -> TextIO | None:
    """Open an output file before the run, so a bad path fails at once, not after the run."""
    if path is None:
        return None
    try:
        return path.open("w", encoding="utf-8")
    except OSError as exc:
        click.echo(f"error: cannot write {path}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_INVALID)


def _print_timeline(console: Console, events: list[Event], verbose: bool) -> None:
    console.print("[bold]Timeline[/] (virtual time)")
    shown: Counter[tuple[str, str]] = Counter()
    folded: Counter[str] = Counter()
    for event in events:
        if not verbose and event.reason not in NOTABLE_REASONS:
            continue
        group = (event.reason, event.kind)
        shown[group] += 1
        if not verbose and shown[group] > MAX_REPEATS and event.reason not in ALWAYS_SHOWN:
            folded[event.reason] += 1
            continue
        obj = f"{event.kind}/{event.object}" if event.object else event.kind
        style = "bold magenta" if event.reason.startswith("Fault") else "bold"
        console.print(
            f"[cyan]{event.time:10.3f}s[/]  [dim]{event.component:<24}[/] [{style}]{event.reason:<20}[/]"
            f" {obj:<36} {escape(event.message)}",
            soft_wrap=True,
        )
    if folded:
        more = ", ".join(f"{n} more {r}" for r, n in sorted(folded.items()))
        console.print(f"[dim]also: {more} (see --verbose)[/]")


def _print_faults(console: Console, the_run: Run) -> None:
    """Each injection, its revert, and when the workloads were all available again after it."""
    if not the_run.chaos.injections and not the_run.events.find(reason="FaultFailed"):
        return
    converged = [e.time for e in the_run.events.find(reason="Converged")]
    table = Table(title="Faults", show_edge=False, box=None)
    for column in ("fault", "type", "injected", "reverted", "converged again", "targets"):
        table.add_column(column, justify="right" if column in ("injected", "reverted") else "left")
    for injection in the_run.chaos.injections:
        after = next((t for t in converged if t >= injection.injected_at), None)
        again = (
            f"+{format_duration(round(after - injection.injected_at, 3))}"
            if after is not None
            else "[red]not within the run[/]"
        )
        reverted = (
            format_duration(round(injection.reverted_at, 3))
            if injection.reverted_at is not None
            else ("-" if not injection.fault.lasting else "until the end")
        )
        targets = ", ".join(injection.targets[:4]) + (
            f" (+{len(injection.targets) - 4})" if len(injection.targets) > 4 else ""
        )
        table.add_row(
            injection.fault.name,
            injection.fault.type,
            format_duration(round(injection.injected_at, 3)),
            reverted,
            again,
            escape(targets or "nothing matched"),
        )
    for failed in the_run.events.find(reason="FaultFailed"):
        table.add_row(
            failed.object,
            str((failed.fields or {}).get("type", "")),
            format_duration(round(failed.time, 3)),
            "-",
            "[red]failed to inject[/]",
            escape(failed.message),
        )
    console.print(table)


def _print_summary(console: Console, the_run: Run, wall: float) -> None:
    cluster = the_run.cluster
    _print_faults(console, the_run)
    deployments = Table(title="Deployments", show_edge=False, box=None)
    for column in ("deployment", "desired", "available", "updated"):
        deployments.add_column(column, justify="right" if column != "deployment" else "left")
    for d in cluster.ctx.api.cache("deployments").list():
        deployments.add_row(
            f"{d.metadata.namespace}/{d.metadata.name}",
            str(d.spec.replicas),
            str(d.status.available_replicas),
            str(d.status.updated_replicas),
        )
    console.print(deployments)
    by_service: dict[str, Counter[str]] = {}
    for (namespace, service, _, outcome), n in sorted(the_run.traffic.stats.requests.items()):
        by_service.setdefault(f"{namespace}/{service}", Counter())[outcome] += n
    if by_service:
        failures = sorted({o for c in by_service.values() for o in c if o != "success"})
        traffic = Table(title="Traffic", show_edge=False, box=None)
        traffic.add_column("service")
        for column in ("requests", "success rate", *failures):
            traffic.add_column(column, justify="right")
        for service, outcomes in by_service.items():
            total = sum(outcomes.values())
            rate = f"{100.0 * outcomes['success'] / total:.2f}%" if total else "-"
            traffic.add_row(service, str(total), rate, *(str(outcomes[o]) for o in failures))
        console.print(traffic)
    converged = the_run.convergence.first_converged_at
    virtual = the_run.finished_at or 0.0
    console.print(
        f"converged at {format_duration(converged) if converged is not None else 'never'}"
        f" · {len(the_run.events)} events · {format_duration(virtual)} virtual in {wall:.2f}s wall"
        f" ({virtual / wall if wall > 0 else float('inf'):.0f}x real time)"
    )


if __name__ == "__main__":  # pragma: no cover
    main()
