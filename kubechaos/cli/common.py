"""What every ``kubechaos`` command shares: exit codes, the one-line handling of bad input, output
files checked before a run (writable, none of them an input or another output) and written after
it, and how tables show seconds and rates."""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from kubechaos.api.duration import DurationError, parse_duration
from kubechaos.cli.terminal import shown
from kubechaos.report.files import OutputError, check_writable
from kubechaos.scenario.limits import FLAGS, Limits, show
from kubechaos.scenario.loader import DEFAULT_LIMITS, Scenario, ScenarioError, load_scenario
from kubechaos.scenario.seeds import parse_seeds

FC = TypeVar("FC", bound=Callable[..., object])

# Exit codes, the same for every command that runs scenarios.
EXIT_OK = 0  # every SLO held
EXIT_SLO_VIOLATED = 1  # an SLO was violated
EXIT_INVALID = 2  # invalid input: scenario, manifest or flags
EXIT_RUN_FAILED = 3  # the run itself failed: a model invariant broke or an internal error
EXIT_INTERRUPTED = 130  # Ctrl-C (what was asked for is still written, marked incomplete);
# SIGTERM and SIGHUP stop a run the same way and exit 128 + signum (143, 129): see signals.py


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


STRICT_HELP = (
    "Refuse (exit 2) manifests of kinds, and manifest fields, the model does not serve, "
    "instead of warning about them."
)


def _param_name(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def load_or_exit(path: Path, limits: Limits = DEFAULT_LIMITS, strict: bool = False) -> Scenario:
    try:
        return load_scenario(path, limits, strict=strict)
    except ScenarioError as exc:
        for error in exc.errors:
            click.echo(f"error: {shown(error, markup=False)}", err=True)
        sys.exit(EXIT_INVALID)


def probe_writable(*paths: Path | None) -> None:
    """Check that each output path can be written (exit 2 if not) without creating, opening or
    truncating it: a bad path fails at once, not after a run of minutes, and a run that never
    starts leaves the previous report as it was."""
    for path in paths:
        if path is None:
            continue
        try:
            check_writable(path)
        except OutputError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_INVALID)


def _same_file(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # a hard link, or another spelling of one file
    except OSError:
        return False


def check_outputs(outputs: Mapping[str, Path | None], inputs: Mapping[str, Iterable[str]]) -> None:
    """Exit 2, before anything runs, if two output flags name one file, or an output flag names
    one of the inputs (``inputs``: what each group of files is, e.g. "the scenario file" →
    paths): writing the report would destroy what the run reads, or one report the other."""
    given = [(flag, path) for flag, path in outputs.items() if path is not None]
    for i, (flag, path) in enumerate(given):
        for other_flag, other in given[:i]:
            if _same_file(path, other):
                invalid(f"{other_flag} and {flag} name the same file ({path}); give each its own")
        for what, files in inputs.items():
            if any(_same_file(path, Path(file)) for file in files):
                invalid(f"{flag} {path} is {what}; writing the report would overwrite it")


def write_or_report(path: Path, write: Callable[[Path], object]) -> bool:
    """``write(path)``; on a write error print one line and return False (the caller exits 3
    once everything else is written)."""
    try:
        write(path)
    except OutputError as exc:
        click.echo(f"error: {exc}", err=True)
        return False
    return True


def parse_seeds_or_exit(spec: str) -> list[int]:
    try:
        return parse_seeds(spec)
    except ValueError as exc:
        invalid(f"--seeds: {exc}")


def seconds(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}s"


def percent(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


class Address(click.ParamType):
    """HOST:PORT for --serve and --api (IPv6 hosts in brackets); a bare PORT binds to loopback."""

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
