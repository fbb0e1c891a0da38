"""The ``kubechaos`` command line: the edge where files, terminals and the wall clock live.

This module is the ``kubechaos`` group and its small commands (``validate``, ``schema``,
``faults``); each larger command has a module beside it: ``run.py`` (one run, with
``runprint.py`` for what it prints), ``sweep.py`` (many seeds, and merging shards),
``compare.py`` (two variants), ``explore.py`` (a fault space) and ``replay.py`` (a recorded
run again). What they share (exit codes, checking input and output paths, progress bars,
stopping on signals) is in ``common.py``, ``progress.py`` and ``signals.py``; how user text and
tables reach a terminal or a pipe, in ``terminal.py``.

Exit codes: 0 the run completed and every SLO held; 1 an SLO was violated; 2 invalid input
(scenario, manifest, flags), with one line per problem naming file, line, column and field; 3
the run itself failed (an internal error), with the event log still written if ``--events`` was
given, or a report could not be written; 130 interrupted by Ctrl-C, 143 by SIGTERM, 129 by
SIGHUP (what was asked for is still written).
"""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path
from typing import Any

import click

from kubechaos.cli.common import EXIT_INVALID, EXIT_OK, STRICT_HELP, limit_options
from kubechaos.cli.compare import compare_command
from kubechaos.cli.explore import explore
from kubechaos.cli.replay import replay
from kubechaos.cli.run import run
from kubechaos.cli.signals import exit_quietly_when_stopped, stopped
from kubechaos.cli.sweep import sweep_command, sweep_merge_command
from kubechaos.cli.terminal import new_console, shown
from kubechaos.defaults import TARGET_RELEASE
from kubechaos.faults import CATALOGUE
from kubechaos.report.result import schema
from kubechaos.scenario.limits import Limits
from kubechaos.scenario.loader import ScenarioError, load_scenario
from kubechaos.version import __version__

TARGET_FIELDS = {
    "pods": "namespace, labelSelector, names, mode, value",
    "nodes": "nodes, nodeGroup, labelSelector, mode, value",
    "none": "(none: its parameters name what it acts on)",
}


class _Main(click.Group):
    """The ``kubechaos`` group: a usage error (an unknown option, a bad flag value, a missing
    argument) is one ``error:`` line with a hint and exit 2, like every other error, instead of
    click's usage block."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("standalone_mode", True) is False:
            return super().main(*args, **kwargs)
        try:
            outcome = super().main(*args, **{**kwargs, "standalone_mode": False})
        except _NO_ARGS as exc:  # bare `kubechaos`: the help, as click shows it
            exc.show()
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"error: {_one_line(exc)}", err=True)
            sys.exit(EXIT_INVALID)
        except click.Abort as exc:
            if isinstance(exc.__cause__, KeyboardInterrupt):  # click's word for a Ctrl-C
                stopped()
            click.echo("aborted", err=True)
            sys.exit(1)
        sys.exit(outcome if isinstance(outcome, int) else EXIT_OK)


_NO_ARGS: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click >= 8.2


def _one_line(exc: click.ClickException) -> str:
    """The exception's message on one line, with where to read the usage for a usage error."""
    message = " ".join(exc.format_message().split())
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        if not message.endswith((".", "?", "!", ")")):
            message += "."
        message += f" Run '{exc.ctx.command_path} --help' for usage."
    return message


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
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


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--strict", is_flag=True, help=STRICT_HELP)
@limit_options
def validate(files: tuple[Path, ...], strict: bool, limits: Limits) -> None:
    """Check scenario FILES; print every problem; exit 2 if any file is invalid.

    Warns, as `kubechaos run` does, about every manifest kind and field the model does not
    serve (--strict: they are errors). The --max-* limits are those of `kubechaos run`: a file
    valid here runs with the same flags.
    """
    bad = 0
    for file in files:
        try:
            scenario = load_scenario(file, limits, strict=strict)
        except ScenarioError as exc:
            bad += 1
            for error in exc.errors:
                click.echo(shown(error, markup=False), err=True)
            continue
        for warning in scenario.warnings:
            click.echo(f"warning: {shown(warning, markup=False)}", err=True)
        click.echo(f"{shown(file, markup=False)}: ok ({shown(scenario.name, markup=False)})")
    sys.exit(EXIT_INVALID if bad else EXIT_OK)


@click.command(name="schema")
def schema_command() -> None:
    """Print the JSON Schema of `kubechaos run --json` results (kubechaos/result/v1)."""
    click.echo(json.dumps(schema(), indent=2))


@click.command()
@click.argument("fault_type", required=False)
def faults(fault_type: str | None) -> None:
    """List the fault catalogue: each type, what it targets, and its params.

    With FAULT_TYPE, show that type alone.
    """
    console = new_console()
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
        console.print(f"[bold]{name}[/]  {shown(cls.summary)}")
        console.print(f"    target: {TARGET_FIELDS[cls.target_kind]}")
        console.print(f"    timing: {timing}")
        for p in cls.params():
            kind = f"{p.kind} {'|'.join(p.choices)}" if p.choices else p.kind
            console.print(
                f"    [cyan]{p.name}[/] ({kind}, default {shown(p.show_default())}): {shown(p.help)}",
                soft_wrap=True,
            )
        console.print()


for command in (
    run,
    validate,
    schema_command,
    faults,
    sweep_command,
    sweep_merge_command,
    compare_command,
    explore,
    replay,
):
    main.add_command(command)


def program() -> None:
    """The ``kubechaos`` program as a process (the console script, ``python -m kubechaos.cli``);
    in-process callers (tests, CliRunner) use :func:`main`."""
    exit_quietly_when_stopped(main)


__all__ = ["main", "program"]
