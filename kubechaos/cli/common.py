"""What every ``kubechaos`` command shares: exit codes, the one-line handling of bad input, output
files checked before a run, and how tables show seconds and rates."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TextIO, TypeVar

import click

from kubechaos.cli.terminal import shown
from kubechaos.scenario.loader import Scenario, ScenarioError, load_scenario
from kubechaos.scenario.seeds import parse_seeds

FC = TypeVar("FC", bound=Callable[..., object])

# Exit codes, the same for every command that runs scenarios.
EXIT_OK = 0  # every SLO held
EXIT_SLO_VIOLATED = 1  # an SLO was violated
EXIT_INVALID = 2  # invalid input: scenario, manifest or flags
EXIT_RUN_FAILED = 3  # the run itself failed: a model invariant broke or an internal error
EXIT_INTERRUPTED = 130  # Ctrl-C (what was asked for is still written, marked incomplete)


def workers_option(unit: str) -> Callable[[FC], FC]:
    """``--workers``, shared by the commands that run many scenarios; ``unit`` names what one
    worker runs ("seed", "run")."""
    return click.option(
        "--workers",
        type=click.IntRange(min=1),
        envvar="KUBECHAOS_WORKERS",
        show_envvar=True,
        help="Worker processes (default: one per CPU core this process may use); 1 runs every "
        f"{unit} in this process.",
    )


def invalid(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_INVALID)


def load_or_exit(path: Path) -> Scenario:
    try:
        return load_scenario(path)
    except ScenarioError as exc:
        for error in exc.errors:
            click.echo(f"error: {shown(error, markup=False)}", err=True)
        sys.exit(EXIT_INVALID)


def open_for_writing(path: Path | None) -> TextIO | None:
    """Open an output file before the run, so a bad path fails at once, not after the run."""
    if path is None:
        return None
    try:
        return path.open("w", encoding="utf-8")
    except OSError as exc:
        click.echo(f"error: cannot write {path}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_INVALID)


def probe_writable(*paths: Path | None) -> None:
    """Check that each report path can be written (exit 2 if not), leaving it empty: a bad path
    fails at once, not after a run of minutes."""
    for path in paths:
        probe = open_for_writing(path)
        if probe is not None:
            probe.close()


def parse_seeds_or_exit(spec: str) -> list[int]:
    try:
        return parse_seeds(spec)
    except ValueError as exc:
        invalid(f"--seeds: {exc}")


def seconds(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}s"


def percent(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"
