"""``kubechaos run``: one scenario, one seed, with its outputs on the side.

The command checks every output first (event log, JSON, JUnit and HTML reports, an OpenMetrics
recording: each writable, none the scenario, one of its manifests or another output) without
touching the files, so a bad path fails before a run of minutes; hooks the live ``/metrics``
exporter, the recording and the progress bar onto the run's observer ticker; runs; writes what
was asked for even if the run failed or was interrupted (each file whole, then renamed over the
old one: ``report/files.py``); and prints the outcome (``runprint.py``). Each step is one
function below, in that order.

Exit codes: 0 the run completed and every SLO held; 1 an SLO was violated; 2 invalid input
(scenario, manifest, flags); 3 the run itself failed (an internal error), with the event log
still written if ``--events`` was given, or a report could not be written; 130 interrupted by
Ctrl-C, 143 by SIGTERM, 129 by SIGHUP (what was asked for is still written: ``signals.py``).
"""

from __future__ import annotations

import contextlib
import datetime
import math
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from kubechaos.api.duration import DurationError, format_duration, parse_duration
from kubechaos.cli.apiserve import (
    api_options,
    api_speed,
    attach_api,
    linger_api,
    print_api_header,
    requested_api,
)
from kubechaos.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_SLO_VIOLATED,
    STRICT_HELP,
    Address,
    check_outputs,
    invalid,
    limit_options,
    load_or_exit,
    probe_writable,
    write_or_report,
)
from kubechaos.cli.processes import (
    attach_processes,
    exec_options,
    print_processes,
    print_processes_header,
    process_speed,
    requested_processes,
)
from kubechaos.cli.progress import ProgressBar
from kubechaos.cli.runprint import print_summary, print_timeline, print_warnings
from kubechaos.cli.signals import exit_status, stop_signal, stops_on_signals
from kubechaos.cli.terminal import new_console, shown
from kubechaos.export.live import LiveExporter, ServeError
from kubechaos.export.openmetrics import WRITE_BUFFER, OpenMetricsRecorder
from kubechaos.frontdoor.server import APIService
from kubechaos.report.files import atomic_output
from kubechaos.report.html import write_html
from kubechaos.report.junit import write_junit
from kubechaos.report.result import replay_command, result_of, write_json
from kubechaos.scenario.limits import Limits
from kubechaos.scenario.loader import Scenario
from kubechaos.scenario.runner import Run
from kubechaos.sim.failures import describe_failure

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


# Slowest pacing: 100x slower than real time. Slower would pace even a short scenario for days
# (--speed 1e-9 never ends), which no one watching a run wants.
MIN_SPEED = 0.01


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
        if not MIN_SPEED <= speed < math.inf:
            self.fail(
                f'expected a number >= {MIN_SPEED:g} (slow motion) or "max", got {value!r}',
                param,
                ctx,
            )
        return speed


EARLIEST_START = 0.0  # 1970-01-01T00:00:00Z
LATEST_START = 253402300799.0  # 9999-12-31T23:59:59Z, the last instant ISO 8601 can write


class _StartTime(click.ParamType):
    """Unix seconds or an ISO 8601 time (UTC unless it says otherwise), from 1970 to 9999."""

    name = "TIME"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        text = str(value).strip()
        try:
            start = float(text)
        except ValueError:
            try:
                stamp = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                self.fail(
                    "expected unix seconds or an ISO 8601 time (2026-01-01T00:00:00Z), "
                    f"got {text!r}",
                    param,
                    ctx,
                )
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=datetime.UTC)
            try:
                start = stamp.timestamp()
            except (OverflowError, ValueError):  # 9999-12-31T23:59-01:00 is past year 9999
                start = math.inf
        if not EARLIEST_START <= start <= LATEST_START:
            self.fail(f"expected a time from 1970 to 9999, got {text!r}", param, ctx)
        return start


def _options(*decorators: Decorator) -> Decorator:
    """Several click options as one decorator, listed in --help in the order given."""

    def apply(command: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


_live_metrics_options = _options(
    click.option(
        "--serve",
        "serve",
        type=Address(),
        help="Serve live Prometheus metrics at http://HOST:PORT/metrics during the run "
        "(a bare PORT binds to 127.0.0.1).",
    ),
    click.option(
        "--speed",
        type=_Speed(),
        default="max",
        show_default=True,
        help="Pace virtual time to this multiple of the wall clock (1 = real time); "
        '"max" runs as fast as possible. The result is the same either way.',
    ),
    click.option(
        "--linger", is_flag=True, help="With --serve: keep serving after the run until Ctrl-C."
    ),
)

_recording_options = _options(
    click.option(
        "--openmetrics",
        "openmetrics_file",
        type=click.Path(dir_okay=False, writable=True, path_type=Path),
        help="Record every series, sampled on virtual time, as an OpenMetrics file for "
        "`promtool tsdb create-blocks-from openmetrics`.",
    ),
    click.option(
        "--scrape-interval",
        default="15s",
        show_default=True,
        help="Virtual time between samples in the --openmetrics recording.",
    ),
    click.option(
        "--start-time",
        type=_StartTime(),
        help="Wall-clock time that virtual time zero maps to in the recording (unix seconds or "
        "ISO 8601, from 1970 to 9999). Default: so that the run ends now.",
    ),
)

_report_options = _options(
    click.option(
        "--json",
        "json_file",
        type=click.Path(dir_okay=False, writable=True, path_type=Path),
        help="Write the whole result as JSON (schema kubechaos/result/v1, see `kubechaos schema`).",
    ),
    click.option(
        "--junit",
        "junit_file",
        type=click.Path(dir_okay=False, writable=True, path_type=Path),
        help="Write JUnit XML: a test suite for the run, a test case per SLO.",
    ),
    click.option(
        "--html",
        "html_file",
        type=click.Path(dir_okay=False, writable=True, path_type=Path),
        help="Write a self-contained HTML report: fault timeline, replicas, traffic, SLOs and a "
        "causal timeline linking each fault to what it caused.",
    ),
)


@click.command()
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seed", type=click.IntRange(min=0), help="Override the scenario's seed.")
@click.option(
    "--events",
    "events_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the event log as JSON lines to this file.",
)
@click.option("-v", "--verbose", is_flag=True, help="Show every event in the timeline.")
@_live_metrics_options
@_recording_options
@_report_options
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar over virtual time (default: on a terminal, for runs longer "
    "than a moment).",
)
@api_options
@exec_options
@click.option("--strict", is_flag=True, help=STRICT_HELP)
@limit_options
@stops_on_signals
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
    start_time: float | None,
    json_file: Path | None,
    junit_file: Path | None,
    html_file: Path | None,
    progress: bool | None,
    strict: bool,
    limits: Limits,
) -> None:
    """Run SCENARIO_FILE: inject its faults on schedule, measure recovery and judge its SLOs.

    Prints the timeline of injections, reverts and recoveries, then the faults, SLOs and
    traffic. Exit codes: 0 every SLO held; 1 an SLO was violated; 2 invalid input (scenario,
    manifest, flags); 3 the run itself failed or a report could not be written; 130
    interrupted by Ctrl-C, 143 by SIGTERM, 129 by SIGHUP (reports still written, incomplete).
    """
    console = new_console()
    scenario = load_or_exit(scenario_file, limits, strict)
    interval = _scrape_interval(scrape_interval)
    processes = requested_processes(scenario)
    speed = process_speed(api_speed(speed), processes)
    _check_linger(linger, serve)
    _check_output_paths(scenario, events_file, openmetrics_file, json_file, junit_file, html_file)
    reports = _reports(json_file, junit_file, html_file)
    probe_writable(events_file, *reports)
    the_run = Run(scenario, seed)
    recorder = _attach_recorder(the_run, openmetrics_file, start_time, interval)
    exporter = _attach_exporter(the_run, serve, speed)
    service = attach_processes(the_run, attach_api(the_run, speed), processes, speed)
    _print_header(console, the_run, exporter, speed, service)
    show_progress = console.is_terminal if progress is None else progress
    status, error, wall = _execute(console, the_run, speed, show_progress)
    written = True
    if events_file is not None:
        written &= _write_event_log(console, the_run, events_file)
    if recorder is not None and openmetrics_file is not None:
        written &= _close_recording(console, the_run, recorder, openmetrics_file, interval)
    if reports:
        written &= _write_reports(console, the_run, reports, status, error, wall)
    if status == EXIT_OK:
        status = _print_outcome(console, the_run, verbose, wall)
    if not written and status in (EXIT_OK, EXIT_SLO_VIOLATED):
        status = EXIT_RUN_FAILED  # the verdict is printed, but CI would miss its report
    _stop_serving(console, the_run, exporter, service, linger and status in _VERDICTS)
    sys.exit(exit_status(status))


def _reports(
    json_file: Path | None, junit_file: Path | None, html_file: Path | None
) -> dict[Path, str]:
    """The reports asked for, by path."""
    asked = ((json_file, "json"), (junit_file, "junit"), (html_file, "html"))
    return {path: kind for path, kind in asked if path is not None}


def _check_linger(linger: bool, serve: tuple[str, int] | None) -> None:
    if linger and serve is None and requested_api().address is None:
        invalid("--linger needs --serve or --api")


def _check_output_paths(scenario: Scenario, *paths: Path | None) -> None:
    """Exit 2 if two outputs are one file, or an output is the scenario or one of its
    manifests (``paths`` in the order of the flags named below)."""
    flags = ("--events", "--openmetrics", "--json", "--junit", "--html")
    check_outputs(
        dict(zip(flags, paths, strict=True)),
        {
            "the scenario file": [scenario.source],
            "a manifest the scenario reads": scenario.manifest_files,
        },
    )


def _scrape_interval(text: str) -> float:
    try:
        interval = parse_duration(text)
    except DurationError as exc:
        invalid(f"--scrape-interval: {exc}")
    if interval <= 0 or interval != int(interval):
        invalid("--scrape-interval: must be a whole number of seconds (e.g. 15s)")
    return interval


def _parse_start(start: float | None, duration: float) -> float:
    """Wall-clock seconds that virtual time zero maps to in recorded metrics."""
    if start is None:
        # The run ends "now": after backfilling, Prometheus' and Grafana's default "last hour"
        # (or "last N hours") views show it at once.
        return float(math.floor(time.time() - duration))
    return start


def _attach_recorder(
    the_run: Run, openmetrics_file: Path | None, start_time: float | None, interval: float
) -> OpenMetricsRecorder | None:
    """The --openmetrics recording, sampling on the run's ticker every ``interval``."""
    if openmetrics_file is None:
        return None
    start = _parse_start(start_time, the_run.scenario.duration)
    probe_writable(openmetrics_file)  # before --serve binds: a bad path fails first
    recorder = OpenMetricsRecorder(the_run.collector, openmetrics_file, start, interval)
    the_run.ticker.every(interval, recorder.sample)
    return recorder


def _attach_exporter(
    the_run: Run, serve: tuple[str, int] | None, speed: float | None
) -> LiveExporter | None:
    """The --serve endpoint, started now and refreshed on the run's ticker and at its end."""
    if serve is None:
        return None
    exporter = LiveExporter(the_run.collector, the_run.registry, serve[0], serve[1], speed)
    try:
        exporter.start()
    except ServeError as exc:
        invalid(f"--serve: {exc}")
    the_run.ticker.every(exporter.refresh_every(), exporter.refresh)
    the_run.on_finish.append(exporter.refresh)
    return exporter


def _print_header(
    console: Console,
    the_run: Run,
    exporter: LiveExporter | None,
    speed: float | None,
    service: APIService | None,
) -> None:
    scenario = the_run.scenario
    console.print(
        f"[bold]{shown(scenario.name)}[/]  seed {the_run.seed}  {format_duration(scenario.duration)} virtual"
        f"  {scenario.cluster.node_count()} nodes  {len(scenario.workloads)} objects"
        f"  {len(scenario.faults)} faults  {len(scenario.slos)} SLOs"
    )
    if exporter is not None:
        pace = "as fast as possible" if speed is None else f"{speed:g}x real time"
        console.print(f"serving metrics at {shown(exporter.url)} ({pace})")
    if service is not None:
        print_api_header(console, service)
    print_processes_header(console, the_run)
    for warning in scenario.warnings:
        console.print(f"[yellow]warning:[/] {shown(warning)}", soft_wrap=True)


def _execute(
    console: Console, the_run: Run, speed: float | None, show_progress: bool
) -> tuple[int, str | None, float]:
    """Run it: the exit status so far (0, 3 or 130), the failure if any, and the wall seconds."""
    started = time.perf_counter()
    status = EXIT_OK
    error: str | None = None
    bar = ProgressBar(console, the_run.scenario.duration) if show_progress else None
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
        name = signal.Signals(stop_signal()).name  # the first signal: it decides the exit code
        console.print(f"[yellow]interrupted[/] ({name}): writing what the run produced so far")
    elif error is not None:
        console.print(f"[red]run failed:[/] {shown(error)}", soft_wrap=True)
    print_processes(console, the_run)
    return status, error, time.perf_counter() - started


def _write_event_log(console: Console, the_run: Run, events_file: Path) -> bool:
    def write(path: Path) -> None:
        with atomic_output(path) as out:
            the_run.events.write_jsonl(out)

    if not write_or_report(events_file, write):
        return False
    console.print(f"event log: {shown(events_file)} ({len(the_run.events)} events)")
    return True


def _close_recording(
    console: Console,
    the_run: Run,
    recorder: OpenMetricsRecorder,
    openmetrics_file: Path,
    interval: float,
) -> bool:
    recorder.finish(the_run.finished_at)

    def write(path: Path) -> None:
        # Gigabytes at a thousand nodes: a large buffer saves most of the write calls.
        with atomic_output(path, buffering=WRITE_BUFFER) as out:
            recorder.write(out)

    if not write_or_report(openmetrics_file, write):
        return False
    console.print(
        f"metrics: {shown(openmetrics_file)} ({recorder.samples_written} samples at "
        f"{format_duration(interval)} intervals)"
    )
    return True


def _write_reports(
    console: Console,
    the_run: Run,
    reports: dict[Path, str],
    status: int,
    error: str | None,
    wall: float,
) -> bool:
    """Each of --json, --junit and --html, marked incomplete if the run did not finish;
    whether every one was written (a write error is one line, and the others still go)."""
    result = result_of(
        the_run, interrupted=status == EXIT_INTERRUPTED, error=error, wall_seconds=wall
    )
    writers: dict[str, Callable[[Path], None]] = {
        "json": lambda path: write_json(result, path),
        "junit": lambda path: write_junit([result], path),
        "html": lambda path: write_html(result, the_run.events, path),
    }
    written = True
    for path, kind in reports.items():
        ok = write_or_report(path, writers[kind])
        written &= ok
        note = "" if result["complete"] else " (incomplete)"
        if ok:
            console.print(f"{kind} report: {shown(path)}{note}", soft_wrap=True)
    return written


def _print_outcome(console: Console, the_run: Run, verbose: bool, wall: float) -> int:
    """The timeline and summary of a completed run; its exit status (0, or 1 on a violated SLO
    or a fault that could not be injected, with the command that replays it)."""
    events = list(the_run.events)
    print_timeline(console, events, verbose)
    print_warnings(console, events)
    print_summary(console, the_run, wall, verbose)
    if the_run.passed:
        return EXIT_OK
    console.print(
        f"replay: {shown(replay_command(the_run.scenario.source, the_run.seed))}", soft_wrap=True
    )
    return EXIT_SLO_VIOLATED


_VERDICTS = (EXIT_OK, EXIT_SLO_VIOLATED)  # the run ended with a verdict: worth lingering over


def _stop_serving(
    console: Console,
    the_run: Run,
    exporter: LiveExporter | None,
    service: APIService | None,
    linger: bool,
) -> None:
    """--linger: the API (if served) keeps serving the final state, the metrics endpoint
    keeps its last snapshot, until Ctrl-C."""
    if service is not None and linger:
        linger_api(console, the_run, service)
    if exporter is not None:
        _linger_and_stop(console, exporter, linger and service is None)


def _linger_and_stop(console: Console, exporter: LiveExporter, linger: bool) -> None:
    if linger:
        console.print(f"still serving {exporter.url}; Ctrl-C to stop")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    exporter.stop()
