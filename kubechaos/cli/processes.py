"""``kubechaos run --exec``: external processes (a controller, an operator) run against the run's
API, with their checks (one line each, exit 2) and what is printed about them.

A scenario's own ``spec.processes`` and each ``--exec`` are run alike. A run with processes
serves its API: at ``--api`` if given, else on a free loopback port (each process finds it
through the kubeconfig it is handed, so it needs no address of its own), paced to 1x real time
unless ``--speed`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

from kubechaos.cli.common import invalid
from kubechaos.cli.terminal import shown
from kubechaos.faults.process import ProcessKill
from kubechaos.frontdoor.server import APIServeError, APIService
from kubechaos.processes.serve import program_problem, serve_processes
from kubechaos.scenario.loader import Scenario
from kubechaos.scenario.procspec import EXIT_POLICIES, ProcessSpec, parse_exec
from kubechaos.scenario.runner import Run

_META_KEY = "kubechaos.exec"


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if param.name is not None:
        ctx.meta.setdefault(_META_KEY, {})[param.name] = value
    return value


def exec_options(command: Callable[..., Any]) -> Callable[..., Any]:
    common: dict[str, Any] = {"expose_value": False, "callback": _remember}
    command = click.option(
        "--exec-exit",
        "exec_exit",
        type=click.Choice(EXIT_POLICIES),
        default="fail",
        show_default=True,
        help="What an --exec process exiting before the end of the run does: fail the run "
        "(a non-zero exit code), ignore it, or restart it with the kubelet's backoff.",
        **common,
    )(command)
    return click.option(
        "--exec",
        "execs",
        multiple=True,
        metavar="[NAME=]CMD",
        help="Run CMD (split as a shell would, run without one) once the API is served, with "
        "KUBECONFIG set to a kubeconfig of its own: its requests are made as client NAME "
        "(default exec-1, exec-2, ...), which faults' clients and process-kill pick. Repeatable. "
        "Serves the API (on a free loopback port without --api) and paces the run.",
        **common,
    )(command)


def requested_processes(scenario: Scenario) -> tuple[ProcessSpec, ...]:
    """The scenario's processes and each --exec, checked: exit 2 with one line on a bad command,
    a name given twice, or a process-kill aimed at no process."""
    meta = click.get_current_context().meta.get(_META_KEY, {})
    policy = meta.get("exec_exit") or "fail"
    specs = list(scenario.processes)
    for index, text in enumerate(meta.get("execs") or (), start=1):
        try:
            specs.append(parse_exec(text, index, policy))
        except ValueError as exc:
            invalid(f"--exec {text!r}: {exc}")
    names = [spec.name for spec in specs]
    for spec in specs:
        if names.count(spec.name) > 1:
            invalid(f"--exec: process {spec.name!r} is named twice (--exec NAME=CMD names one)")
        problem = program_problem(spec)
        if problem is not None:
            invalid(f"process {spec.name}: {problem}")
    for scheduled in scenario.faults:
        fault = scheduled.fault
        if isinstance(fault, ProcessKill) and fault.process not in names:
            have = ", ".join(names) if names else "none (give --exec or spec.processes)"
            invalid(
                f"fault {fault.name}: process-kill of {fault.process!r}, which the run does not "
                f"start; its processes: {have}"
            )
    return tuple(specs)


def process_speed(speed: float | None, specs: tuple[ProcessSpec, ...]) -> float | None:
    """Real processes need a clock that keeps to the wall clock: 1x unless --speed says."""
    return 1.0 if specs and speed is None else speed


def attach_processes(
    the_run: Run, service: APIService | None, specs: tuple[ProcessSpec, ...], speed: float | None
) -> APIService | None:
    """Start ``specs`` with the run (serving its API on loopback if --api did not): the API
    service the run serves, if any."""
    if not specs:
        return service
    try:
        return serve_processes(the_run, specs, speed or 1.0, service)
    except APIServeError as exc:
        invalid(f"--exec: {exc}")


def print_processes_header(console: Console, the_run: Run) -> None:
    if the_run.processes:
        names = ", ".join(outcome.name for outcome in the_run.processes)
        count = len(the_run.processes)
        console.print(
            f"running {count} external process{'es' if count > 1 else ''} "
            f"({shown(names)}) against the API: wall-clock paced, not replayable"
        )


def print_processes(console: Console, the_run: Run) -> None:
    """One line per process: how it ended, how often it restarted, its last line of output."""
    for outcome in the_run.processes:
        code = "running" if outcome.exit_code is None else f"exit {outcome.exit_code}"
        lines = [line for line in outcome.output.splitlines() if line.strip()]
        last = f": {lines[-1].strip()[:120]}" if lines else ""
        console.print(
            f"process {shown(outcome.name)}: {code}, {outcome.restarts} restarts{shown(last)}",
            soft_wrap=True,
        )


__all__ = [
    "attach_processes",
    "exec_options",
    "print_processes",
    "print_processes_header",
    "process_speed",
    "requested_processes",
]
