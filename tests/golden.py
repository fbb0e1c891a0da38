"""Golden runs: every scenario in ``scenarios/``, its event log and its result, as recorded.

Reshaping the package must not change what a run does. ``tests/test_golden.py`` runs every
scenario at its own seed and compares the event log (byte for byte) and the JSON result (all but
the wall time) with the files recorded here. A change that is *meant* to change behaviour records
them anew, and the diff of ``tests/data/golden/`` shows reviewers what changed::

    python -m tests.golden            # re-record every scenario
    python -m tests.golden pod-kill   # re-record one
"""

from __future__ import annotations

import functools
import io
import json
import sys
from pathlib import Path

from kubechaos.report.result import result_of
from kubechaos.scenario.loader import Scenario, load_scenario
from kubechaos.scenario.runner import Run, run_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
GOLDEN = Path(__file__).resolve().parent / "data" / "golden"


def scenario_names() -> list[str]:
    """Every scenario but those running external processes (``spec.processes``): real programs
    answer in wall time, so such a run has no byte-for-byte recording (tests/test_kopf_operator.py
    checks own-controller instead)."""
    return sorted(
        path.stem for path in SCENARIOS.glob("*.yaml") if not load_scenario(path).processes
    )


@functools.cache
def scenario_of(stem: str) -> Scenario:
    return load_scenario(SCENARIOS / f"{stem}.yaml")


@functools.cache
def run_of(stem: str) -> Run:
    """Scenario ``stem``'s run at its own seed, once per test session: tests/test_golden.py
    compares it with its recording and tests/test_scenarios.py (and the feature tests that
    import ``run_of`` from it) read it; none of them changes a finished run."""
    return run_scenario(scenario_of(stem))


def run_golden(name: str) -> tuple[str, str]:
    """Run scenario ``name`` at its own seed: (event log as JSON lines, result as JSON text)."""
    return golden_of(Run(load_scenario(SCENARIOS / f"{name}.yaml")).run())


def golden_of(the_run: Run) -> tuple[str, str]:
    """A finished run as recorded: (event log as JSON lines, result as JSON text).

    The result leaves out what differs between identical runs: the wall time, and the paths
    (which depend on where the checkout lives); in both, a path inside the checkout (a warning
    naming a manifest's file and line) is written relative to it.
    """
    events = io.StringIO()
    the_run.events.write_jsonl(events)
    result = result_of(the_run, wall_seconds=0.0)
    for volatile in ("wallSeconds", "replay", "scenario"):
        result.pop(volatile, None)
    here = f"{ROOT}/"
    return (
        events.getvalue().replace(here, ""),
        json.dumps(result, indent=1, sort_keys=True).replace(here, "") + "\n",
    )


def golden_paths(name: str) -> tuple[Path, Path]:
    return GOLDEN / f"{name}.events.jsonl", GOLDEN / f"{name}.result.json"


def record(names: list[str]) -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name in names:
        events, result = run_golden(name)
        events_path, result_path = golden_paths(name)
        events_path.write_text(events)
        result_path.write_text(result)
        print(f"recorded {name}: {events.count(chr(10))} events")


if __name__ == "__main__":
    record(sys.argv[1:] or scenario_names())
