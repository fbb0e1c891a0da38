"""Every scenario in ``scenarios/`` still does exactly what it did when its golden run was
recorded (see :mod:`tests.golden`): same event log byte for byte, same result.

The run compared is the session's one run of the scenario (``run_of``), which
tests/test_scenarios.py reads too: the library is run once per session, not twice.
"""

from __future__ import annotations

import pytest

from tests.golden import golden_of, golden_paths, run_of, scenario_names


@pytest.mark.parametrize("name", scenario_names())
def test_scenario_runs_as_recorded(name: str) -> None:
    events_path, result_path = golden_paths(name)
    assert events_path.exists(), f"no golden run for {name}: python -m tests.golden {name}"
    events, result = golden_of(run_of(name))
    assert events == events_path.read_text(), (
        f"{name}: the event log differs from {events_path.name}; if the change is meant to "
        f"change behaviour, re-record with `python -m tests.golden {name}` and review the diff"
    )
    assert result == result_path.read_text(), f"{name}: the result differs from {result_path.name}"
