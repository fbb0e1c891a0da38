"""Every ready-made scenario under scenarios/ is valid and runs to its end."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubechaos.scenario.loader import load_scenario
from kubechaos.scenario.runner import run_scenario

SCENARIOS = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_runs(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.description, "every scenario says what it shows"
    run = run_scenario(scenario)
    assert run.finished_at == scenario.duration
    assert run.traffic.stats.totals_by_service() or not scenario.traffic


def test_crashloop_backs_off() -> None:
    run = run_scenario(
        load_scenario(Path(__file__).resolve().parent.parent / "scenarios" / "crashloop.yaml")
    )
    assert run.events.find(reason="BackOff")
    pods = run.cluster.api.cache("pods").list("default")
    assert all(p.status.container_statuses[0].restart_count >= 4 for p in pods)
