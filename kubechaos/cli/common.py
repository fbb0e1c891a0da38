"""What every ``kubechaos`` command shares: exit codes, the one-line handling of bad input, output
files checked before a run, and how tables show seconds and rates."""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TextIO, TypeVar

import click

from kubechaos.api.duration import DurationError, parse_duration
from kubechaos.cli.terminal import shown
from kubechaos.scenario.limits import FLAGS, Limits, show
from kubechaos.scenario.loader import DEFAULT_LIMITS, Scenario, ScenarioError, load_scenario
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


class _LimitValue(click.ParamType):
    """A limit's new value: a whole number, a rate, or a duration (``1440h``); finite, > 0."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = {"count": "N", "rate": "PER_SECOND", "duration": "DURATION"}[kind]

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float | int:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        try:
            if self.kind == "duration":
                number: float | int = parse_duration(text)
            elif self.kind == "count":
                number = int(text)
            else:
                number = float(text)
        except (ValueError, DurationError):
            number = math.nan
        if not (math.isfinite(number) and number > 0):
            what = {"count": "a whole number", "rate": "a number", "duration": "a duration"}
            self.fail(f"expected {what[self.kind]} > 0, got {text!r}", param, ctx)
        return number


def limit_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--max-*`` options (:data:`kubechaos.scenario.limits.FLAGS`) on ``command``, which is
    called with ``limits`` (the defaults with whatever the flags raised) instead of them."""

    @functools.wraps(command)
    def with_limits(*args: Any, **kwargs: Any) -> Any:
        given = {flag.field: kwargs.pop(_param_name(flag.flag)) for flag in FLAGS}
        return command(*args, limits=DEFAULT_LIMITS.with_overrides(given), **kwargs)

    decorated: Callable[..., Any] = with_limits
    for flag in reversed(FLAGS):
        default = show(flag.field, getattr(Limits(), flag.field))
        decorated = click.option(
            flag.flag,
            type=_LimitValue(flag.kind),
            help=f"{flag.help} (default {default}).",
        )(decorated)
    return decorated


def _param_name(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def load_or_exit(path: Path, limits: Limits = DEFAULT_LIMITS) -> Scenario:
    try:
        return load_scenario(path, limits)
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
