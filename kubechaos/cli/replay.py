"""``kubechaos replay``: run a recorded run again, exactly, or refuse to.

A result (``run --json``, ``replay --json``) or an exploration (``explore --json``) names its
scenario file (relative to the JSON's own directory, or absolute), the seed, whether the
schedule was drawn from ``spec.explore``, and the SHA-256 of the scenario file and of each
manifest file it reads. Replay reruns that exactly, so it writes the same event log byte for
byte, and refuses (one line, exit 2) when a file changed since, when the JSON records no digests
to check against, or when the JSON is malformed.

The JSON may be hostile: only regular files of a bounded size are read, and no message ever
shows a file's content (a result pointing at ``/etc/shadow`` gets "changed since the run was
recorded", not its lines). Values from the JSON that a message names are shortened and escaped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import attrs
import click

from kubechaos.cli.common import EXIT_INVALID, invalid
from kubechaos.cli.terminal import shown
from kubechaos.report.result import SCHEMA_ID, result_of, write_json
from kubechaos.scenario.explore import explored
from kubechaos.scenario.loader import Scenario, ScenarioError, parse_scenario
from kubechaos.scenario.runner import Run
from kubechaos.scenario.sources import changed_source
from kubechaos.scenario.yamlfile import FileRefused, read_text
from kubechaos.sim.failures import describe_failure

EXPLORE_SCHEMA = "kubechaos/explore/v1"


@attrs.frozen
class Recorded:
    """What a JSON file says to replay."""

    scenario_file: Path  # resolved against the JSON's directory
    seed: int
    explored: bool
    sha256: str | None
    manifests: dict[str, str]


def quoted(value: Any, limit: int = 40) -> str:
    """A value from an untrusted file, safe to put in one line of a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bad(result_file: Path, field: str, problem: str) -> NoReturn:
    invalid(f"{result_file}: {field}: {problem}")


def _string(result_file: Path, field: str, value: Any) -> str:
    if not isinstance(value, str) or not value or any(c < " " or c == "\x7f" for c in value):
        _bad(result_file, field, f"expected a file path, got {quoted(value)}")
    return value


def _digests(
    result_file: Path, holder: dict[str, Any], where: str
) -> tuple[str | None, dict[str, str]]:
    sha256 = holder.get("sha256")
    manifests = holder.get("manifests", {})
    if sha256 is not None and not (isinstance(sha256, str) and len(sha256) == 64):
        _bad(result_file, f"{where}sha256", f"expected a SHA-256 in hex, got {quoted(sha256)}")
    if not isinstance(manifests, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in manifests.items()
    ):
        _bad(result_file, f"{where}manifests", "expected a mapping of paths to SHA-256 digests")
    return sha256, manifests


def read_recorded(result_file: Path) -> Recorded:
    """What ``result_file`` records, checked; exit 2 with one line if it is not a kubechaos
    result or exploration, or is malformed."""
    try:
        data = json.loads(read_text(result_file))
    except FileRefused as exc:
        invalid(str(exc))
    except OSError as exc:
        invalid(f"{result_file}: cannot read: {exc.strerror or exc}")
    except ValueError as exc:  # the message locates the problem; it quotes no content
        invalid(f"{result_file}: not JSON: {exc}")
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema == SCHEMA_ID:
        scenario = data.get("scenario")
        if not isinstance(scenario, dict):
            _bad(result_file, "scenario", "expected an object")
        file = _string(result_file, "scenario.file", scenario.get("file"))
        seed, is_explored = data.get("seed"), data.get("explored", False)
        if isinstance(data.get("processes"), list) and data["processes"]:
            names = ", ".join(str(p.get("name")) for p in data["processes"] if isinstance(p, dict))
            invalid(
                f"{result_file}: the run ran external processes ({names}) against its API "
                "(run --exec, spec.processes); they ran in wall time, so it cannot be replayed "
                "exactly: run the scenario again instead"
            )
        if "externalClients" in data:
            invalid(
                f"{result_file}: the run served its API to external clients (run --api); "
                "when they asked shaped it, so it cannot be replayed exactly"
            )
        sha256, manifests = _digests(result_file, scenario, "scenario.")
    elif schema == EXPLORE_SCHEMA:
        file = _string(result_file, "scenario", data.get("scenario"))
        runs = data.get("runs")
        if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
            _bad(result_file, "runs", "expected a list of runs")
        failing = [r for r in runs if r.get("signature")]
        if not failing:
            invalid(f"{result_file}: no failing run to replay")
        seed, is_explored = failing[0].get("seed"), True
        sha256, manifests = _digests(result_file, data, "")
    else:
        invalid(f"{result_file}: not a kubechaos run or explore result (schema {quoted(schema)})")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        _bad(result_file, "seed", f"expected a whole number >= 0, got {quoted(seed)}")
    if not isinstance(is_explored, bool):
        _bad(result_file, "explored", f"expected true or false, got {quoted(is_explored)}")
    path = Path(file)
    path = path if path.is_absolute() else result_file.parent / path
    return Recorded(path, seed, is_explored, sha256, manifests)


def verified_scenario(result_file: Path, recorded: Recorded) -> Scenario:
    """The recorded scenario, read and checked against its digests; exit 2 with one line naming
    the file if it cannot be read, changed, or no digests were recorded to check against."""
    path = recorded.scenario_file
    try:
        text = read_text(path)
    except FileRefused as exc:
        invalid(str(exc))
    except OSError as exc:
        invalid(f"{path}: cannot read: {exc.strerror or exc}")
    if recorded.sha256 is None:
        invalid(
            f"{result_file}: records no SHA-256 of its scenario (written by an older kubechaos?), "
            f"so the replay could not be the same run; run it anew with `kubechaos run`"
        )
    changed = changed_source(path, text, recorded.sha256, recorded.manifests)
    if changed is not None:
        invalid(changed)
    try:
        return parse_scenario(text, str(path), base_dir=path.parent)
    except ScenarioError as exc:
        for error in exc.errors:
            click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_INVALID)


@click.command()
@click.argument("result_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--events", "events_file", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write the replayed run's event log as JSON lines.")  # fmt: skip
@click.option("--json", "json_file", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write the replayed run's result as JSON.")  # fmt: skip
def replay(result_file: Path, events_file: Path | None, json_file: Path | None) -> None:
    """Reproduce the run recorded in RESULT_FILE (from `run --json` or `explore --json`) exactly:
    the same scenario, seed and fault schedule, so the same event log byte for byte.

    The scenario path is read relative to RESULT_FILE's directory. A scenario or manifest file
    that changed since the run was recorded is refused (exit 2). Exit codes as for `kubechaos run`.
    """
    recorded = read_recorded(result_file)
    scenario = verified_scenario(result_file, recorded)
    not_drawn: list[str] = []
    if recorded.explored:
        if scenario.explore is None:
            invalid(f"{recorded.scenario_file}: no spec.explore to draw the recorded schedule from")
        drawn = explored(scenario, recorded.seed)
        not_drawn = [s.name for s in scenario.slos if s not in drawn.slos]
        scenario = drawn
    run = Run(scenario, recorded.seed)
    error = None
    try:
        run.run()
    except Exception as exc:
        error = describe_failure(exc)
    if events_file is not None:
        with events_file.open("w", encoding="utf-8") as out:
            run.events.write_jsonl(out)
    result = result_of(run, error=error)
    result["explored"] = recorded.explored
    if not_drawn:
        result["notDrawn"] = not_drawn
        click.echo(
            f"left out (nothing they judge was drawn): {shown(', '.join(not_drawn), markup=False)}"
        )
    if json_file is not None:
        write_json(result, json_file)
    click.echo(
        f"replayed {shown(scenario.name, markup=False)} seed {recorded.seed}: {result['verdict']}"
    )
    sys.exit(result["exitCode"])
