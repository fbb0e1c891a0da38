"""The ``kubechaos`` command line: the edge where files, terminals and the wall clock live.

Exit codes: 0 the run completed and every SLO held; 1 an SLO was violated; 2 invalid input
(scenario, manifest, flags), with one line per problem naming file, line, column and field; 3
the run itself failed (an internal error), with the event log still written if ``--events`` was
given; 130 interrupted by Ctrl-C (what was asked for is still written).
"""

from __future__ import annotations

import contextlib
import datetime
import difflib
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from kubechaos import __version__
from kubechaos.api.duration import DurationError, format_duration, parse_duration
from kubechaos.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_SLO_VIOLATED,
    invalid,
    load_or_exit,
    open_for_writing,
)
from kubechaos.defaults import TARGET_RELEASE
from kubechaos.export.live import LiveExporter, ServeError
from kubechaos.export.openmetrics import OpenMetricsRecorder
from kubechaos.faults import CATALOGUE
from kubechaos.report.html import write_html
from kubechaos.report.junit import write_junit
from kubechaos.report.result import replay_command, result_of, schema, write_json
from kubechaos.scenario.loader import ScenarioError, load_scenario
from kubechaos.scenario.runner import Run
from kubechaos.sim.events import Event
from kubechaos.sim.failures import describe_failure

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
        "Recovered",
        "NotRecovered",
        "Finished",
    }
)
ALWAYS_SHOWN = frozenset(
    {
        "Converged",
        "Diverged",
        "Finished",
        "FaultInjected",
        "FaultReverted",
        "FaultFailed",
        "Recovered",
        "NotRecovered",
    }
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


class _Address(click.ParamType):
    """HOST:PORT for --serve (IPv6 hosts in brackets); a bare PORT binds to loopback."""

    name = "HOST:PORT"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, int]:
        if isinstance(value, tuple):
            return value
        text = str(value)
        host, sep, port = text.rpartition(":")
        if not sep:
            host, port = "127.0.0.1", text
        host = host.strip("[]") or "127.0.0.1"
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            self.fail(f"expected HOST:PORT (e.g. 127.0.0.1:9464), got {text!r}", param, ctx)
        return host, int(port)


class _Speed(click.ParamType):
    name = "FACTOR|max"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float | None:
        if value is None or value == "max":
            return None
        try:
            speed = float(str(value))
        except ValueError:
            self.fail(f'expected a number > 0 or "max", got {value!r}', param, ctx)
        if not speed > 0 or math.isinf(speed):
            self.fail(f'expected a number > 0 or "max", got {value!r}', param, ctx)
        return speed


class ProgressBar:
    """A bar over virtual time, drawn only once a run has taken more than a moment."""

    DELAY = 0.5  # wall seconds before a bar appears: short runs finish without one

    def __init__(self, console: Console, duration: float) -> None:
        self.console = console
        self.duration = duration
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._started = time.monotonic()

    def update(self, now: float) -> None:
        """Advance the bar (a hook on the run's observer ticker)."""
        if self._progress is None and time.monotonic() - self._started > self.DELAY:
            self._progress = Progress(
                TextColumn("[bold]virtual time"),
                BarColumn(),
                TextColumn("{task.completed:.0f}/{task.total:.0f}s"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self._task = self._progress.add_task("run", total=self.duration)
            self._progress.start()
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=now)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def _parse_start(text: str | None, duration: float) -> float:
    """Wall-clock seconds that virtual time zero maps to in recorded metrics."""
    if text is None:
        # The run ends "now": after backfilling, Prometheus' and Grafana's default "last hour"
        # (or "last N hours") views show it at once.
        return float(math.floor(time.time() - duration))
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        click.echo(
            f"error: --start-time: expected unix seconds or an ISO 8601 time "
            f"(2026-01-01T00:00:00Z), got {text!r}",
            err=True,
        )
        sys.exit(EXIT_INVALID)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.UTC)
    return stamp.timestamp()


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
@click.option(
    "--serve",
    "serve",
    type=_Address(),
    help="Serve live Prometheus metrics at http://HOST:PORT/metrics during the run "
    "(a bare PORT binds to 127.0.0.1).",
)
@click.option(
    "--speed",
    type=_Speed(),
    default="max",
    show_default=True,
    help="Pace virtual time to this multiple of the wall clock (1 = real time); "
    '"max" runs as fast as possible. The result is the same either way.',
)
@click.option(
    "--linger", is_flag=True, help="With --serve: keep serving after the run until Ctrl-C."
)
@click.option(
    "--openmetrics",
    "openmetrics_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Record every series, sampled on virtual time, as an OpenMetrics file for "
    "`promtool tsdb create-blocks-from openmetrics`.",
)
@click.option(
    "--scrape-interval",
    default="15s",
    show_default=True,
    help="Virtual time between samples in the --openmetrics recording.",
)
@click.option(
    "--start-time",
    help="Wall-clock time that virtual time zero maps to in the recording (unix seconds or "
    "ISO 8601). Default: so that the run ends now.",
)
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the whole result as JSON (schema kubechaos/result/v1, see `kubechaos schema`).",
)
@click.option(
    "--junit",
    "junit_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write JUnit XML: a test suite for the run, a test case per SLO.",
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write a self-contained HTML report: fault timeline, replicas, traffic, SLOs and a "
    "causal timeline linking each fault to what it caused.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar over virtual time (default: on a terminal, for runs longer "
    "than a moment).",
)
def run(
    scenario_file: Path,
    seed: int | None,
    events_file: Path | None,
    verbose: bool,
    serve: tuple[str, int] | None,
    speed: float | None,
    linger: bool,
    openmetrics_file: Path | None,
    scrape_interval: str,
    start_time: str | None,
    json_file: Path | None,
    junit_file: Path | None,
    html_file: Path | None,
    progress: bool | None,
) -> None:
    """Run SCENARIO_FILE: inject its faults on schedule, measure recovery and judge its SLOs.

    Prints the timeline of injections, reverts and recoveries, then the faults, SLOs and
    traffic. Exit codes: 0 every SLO held; 1 an SLO was violated; 2 invalid input (scenario,
    manifest, flags); 3 the run itself failed; 130 interrupted (reports still written).
    """
    console = Console(highlight=False)
    scenario = load_or_exit(scenario_file)
    try:
        interval = parse_duration(scrape_interval)
    except DurationError as exc:
        invalid(f"--scrape-interval: {exc}")
    if interval <= 0 or interval != int(interval):
        invalid("--scrape-interval: must be a whole number of seconds (e.g. 15s)")
    if linger and serve is None:
        invalid("--linger needs --serve")
    events_out = open_for_writing(events_file)
    reports = {
        path: kind
        for path, kind in ((json_file, "json"), (junit_file, "junit"), (html_file, "html"))
        if path is not None
    }
    for path in reports:
        probe = open_for_writing(path)  # a bad path fails now, not after the run
        if probe is not None:
            probe.close()
    the_run = Run(scenario, seed)
    recorder = None
    if openmetrics_file is not None:
        start = _parse_start(start_time, scenario.duration)
        probe = open_for_writing(openmetrics_file)  # fail now on a bad path, not after the run
        if probe is not None:
            probe.close()
        recorder = OpenMetricsRecorder(the_run.collector, openmetrics_file, start, interval)
        the_run.ticker.every(interval, recorder.sample)
    exporter = None
    if serve is not None:
        exporter = LiveExporter(the_run.collector, the_run.registry, serve[0], serve[1], speed)
        try:
            exporter.start()
        except ServeError as exc:
            invalid(f"--serve: {exc}")
        the_run.ticker.every(exporter.refresh_every(), exporter.refresh)
        the_run.on_finish.append(exporter.refresh)
    console.print(
        f"[bold]{scenario.name}[/]  seed {the_run.seed}  {format_duration(scenario.duration)} virtual"
        f"  {scenario.cluster.node_count()} nodes  {len(scenario.workloads)} objects"
        f"  {len(scenario.faults)} faults  {len(scenario.slos)} SLOs"
    )
    if exporter is not None:
        pace = "as fast as possible" if speed is None else f"{speed:g}x real time"
        console.print(f"serving metrics at {exporter.url} ({pace})")
    for warning in scenario.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    started = time.perf_counter()
    status = EXIT_OK
    error: str | None = None
    show_progress = console.is_terminal if progress is None else progress
    bar = ProgressBar(console, scenario.duration) if show_progress else None
    if bar is not None:
        the_run.ticker.every(the_run.ticker.interval, bar.update)
    try:
        the_run.run(speed=speed)
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
    except Exception as exc:  # the edge turns any model failure into exit 3
        error = describe_failure(exc)
        status = EXIT_RUN_FAILED
    finally:
        if bar is not None:
            bar.stop()
    if status == EXIT_INTERRUPTED:
        console.print("[yellow]interrupted[/]: writing what the run produced so far")
    elif error is not None:
        console.print(f"[red]run failed:[/] {escape(error)}")
    wall = time.perf_counter() - started
    if events_out is not None:
        with events_out:
            the_run.events.write_jsonl(events_out)
        console.print(f"event log: {events_file} ({len(the_run.events)} events)")
    if recorder is not None:
        recorder.close(the_run.finished_at)
        console.print(
            f"metrics: {openmetrics_file} ({recorder.samples_written} samples at "
            f"{format_duration(interval)} intervals)"
        )
    if reports:
        result = result_of(
            the_run,
            interrupted=status == EXIT_INTERRUPTED,
            error=error,
            wall_seconds=wall,
        )
        for path, kind in reports.items():
            if kind == "json":
                write_json(result, path)
            elif kind == "junit":
                write_junit([result], path)
            else:
                write_html(result, the_run.events, path)
            note = "" if result["complete"] else " (incomplete)"
            console.print(f"{kind} report: {path}{note}")
    if status == EXIT_OK:
        _print_timeline(console, list(the_run.events), verbose)
        _print_summary(console, the_run, wall)
        if not the_run.slo_ok:
            status = EXIT_SLO_VIOLATED
            console.print(f"replay: {replay_command(scenario.source, the_run.seed)}")
    if exporter is not None:
        if linger and status in (EXIT_OK, EXIT_SLO_VIOLATED):
            console.print(f"still serving {exporter.url}; Ctrl-C to stop")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
        exporter.stop()
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


@main.command(name="schema")
def schema_command() -> None:
    """Print the JSON Schema of `kubechaos run --json` results (kubechaos/result/v1)."""
    click.echo(json.dumps(schema(), indent=2))


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
    """Each injection, its revert, and its recovery (see kubechaos.observe.steady)."""
    recoveries = the_run.steady.recoveries
    failed_events = the_run.events.find(reason="FaultFailed")
    if not recoveries and not failed_events:
        return
    targets_of = {(i.fault.name, round(i.injected_at, 9)): i for i in the_run.chaos.injections}
    table = Table(title="Faults", show_edge=False, box=None)
    for column in ("fault", "type", "injected", "reverted", "recovery", "targets"):
        table.add_column(
            column, justify="right" if column in ("injected", "reverted", "recovery") else "left"
        )
    for rec in recoveries:
        injection = targets_of.get((rec.fault, round(rec.injected_at, 9)))
        if rec.known and rec.seconds is not None:
            recovery = f"{rec.seconds:.3f}s"
        elif rec.known:
            recovery = "[red]not recovered[/]"
        else:
            recovery = "-"
        if rec.reverted_at is not None:
            back = format_duration(round(rec.reverted_at, 3))
        elif injection is not None and not injection.fault.lasting:
            back = "-"
        else:
            back = "until the end"
        targets = injection.targets if injection is not None else []
        shown = ", ".join(targets[:3]) + (f" (+{len(targets) - 3})" if len(targets) > 3 else "")
        table.add_row(
            rec.fault, rec.type, format_duration(round(rec.injected_at, 3)), back, recovery,
            escape(shown or "nothing matched"),
        )  # fmt: skip
    for failed in failed_events:
        table.add_row(
            failed.object, str((failed.fields or {}).get("type", "")),
            format_duration(round(failed.time, 3)), "-", "[red]failed to inject[/]",
            escape(failed.message),
        )  # fmt: skip
    console.print(table)


def _print_slos(console: Console, the_run: Run) -> None:
    if not the_run.results:
        return
    table = Table(title="SLOs", show_edge=False, box=None)
    for column in ("slo", "measured", "threshold", "verdict"):
        table.add_column(column)
    for result in the_run.results:
        verdict = "[green]ok[/]" if result.ok else "[bold red]VIOLATED[/]"
        table.add_row(
            escape(result.slo.name), escape(result.measured), escape(result.threshold), verdict
        )
    console.print(table)


def _print_summary(console: Console, the_run: Run, wall: float) -> None:
    cluster = the_run.cluster
    _print_faults(console, the_run)
    _print_slos(console, the_run)
    deployments = Table(title="Deployments", show_edge=False, box=None)
    for column in ("deployment", "desired", "available", "updated"):
        deployments.add_column(column, justify="right" if column != "deployment" else "left")
    for d in cluster.api.cache("deployments").list():
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


# The other commands live beside this module; imported last, as they import its package.
from kubechaos.cli.explore import explore, replay  # noqa: E402
from kubechaos.cli.sweep import compare_command, sweep_command, sweep_merge_command  # noqa: E402

for command in (sweep_command, sweep_merge_command, compare_command, explore, replay):
    main.add_command(command)

__all__ = ["main"]
