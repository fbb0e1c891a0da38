"""Explore a fault space, shrink what breaks, replay it exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubechaos.batch.explore import explore_all, explore_one
from kubechaos.cli.explore import explore, replay
from kubechaos.faults.controlplane import EtcdLatency
from kubechaos.scenario.explorespec import draw_schedule
from kubechaos.scenario.loader import ScenarioError, load_scenario, parse_scenario

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parent.parent


def variant(tmp_path: Path, replicas: int, max_faults: int = 3) -> Path:
    text = (DATA / "explore-weakness.yaml").read_text()
    text = text.replace("REPLICAS", str(replicas)).replace("max: 3}", f"max: {max_faults}}}")
    path = tmp_path / f"weak-{replicas}.yaml"
    path.write_text(text)
    return path


def test_explore_finds_the_weakness_and_shrinks_it_to_the_two_overlapping_failures(
    tmp_path: Path,
) -> None:
    scenario = variant(tmp_path, replicas=2)
    out = tmp_path / "shrunk.yaml"
    report = tmp_path / "explore.json"
    result = CliRunner().invoke(
        explore,
        [str(scenario), "--runs", "30", "--workers", "1", "--out", str(out), "--json", str(report)],
    )
    assert result.exit_code == 1, result.stdout
    data = json.loads(report.read_text())
    failing = [r for r in data["runs"] if r["signature"]]
    assert failing, "found within 30 runs"
    assert all(r["signature"] == ["always-one-available"] for r in failing)
    shrunk = load_scenario(out)
    assert [s.fault.type for s in shrunk.faults] == ["pod-failure", "pod-failure"]
    assert shrunk.explore is None and shrunk.seed == data["shrunk"]["seed"]
    assert data["shrunk"]["runs"] <= 150 and data["shrunk"]["replay"].startswith("kubechaos run ")
    # The shrunk file fails on its own, the same way.
    from kubechaos.cli import main

    rerun = CliRunner().invoke(main, ["run", str(out), "--json", str(tmp_path / "r.json")])
    assert rerun.exit_code == 1, rerun.stdout
    verdicts = {s["name"]: s["ok"] for s in json.loads((tmp_path / "r.json").read_text())["slos"]}
    assert verdicts == {"always-one-available": False}


def test_a_healthy_scenario_explores_without_false_failures(tmp_path: Path) -> None:
    scenario = variant(tmp_path, replicas=3, max_faults=2)
    result = CliRunner().invoke(explore, [str(scenario), "--runs", "15", "--workers", "1"])
    assert result.exit_code == 0, result.stdout
    assert "0 of 15 runs failed" in result.stdout


def test_runs_are_deterministic_by_seed_in_any_worker(tmp_path: Path) -> None:
    scenario = variant(tmp_path, replicas=2)
    spec = load_scenario(scenario).explore
    assert spec is not None
    assert [s.fault.name for s in draw_schedule(spec, 7)] == [
        s.fault.name for s in draw_schedule(spec, 7)
    ]
    assert explore_one(str(scenario), 3, 10) == explore_one(str(scenario), 3, 10)
    assert explore_all(str(scenario), 4, 20, workers=2) == explore_all(
        str(scenario), 4, 20, workers=1
    )


def test_replay_reproduces_the_event_log_byte_for_byte(tmp_path: Path) -> None:
    from kubechaos.cli import main

    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    result_json = tmp_path / "result.json"
    scenario = str(ROOT / "scenarios" / "pod-kill.yaml")
    ran = CliRunner().invoke(
        main, ["run", scenario, "--seed", "9", "--events", str(first), "--json", str(result_json)]
    )
    assert ran.exit_code in (0, 1), ran.stdout
    replayed = CliRunner().invoke(replay, [str(result_json), "--events", str(second)])
    assert replayed.exit_code == ran.exit_code, replayed.stdout
    assert first.read_bytes() == second.read_bytes()


def test_replay_of_an_exploration_reruns_its_first_failure(tmp_path: Path) -> None:
    scenario = variant(tmp_path, replicas=2)
    report = tmp_path / "explore.json"
    CliRunner().invoke(
        explore,
        [str(scenario), "--runs", "30", "--workers", "1", "--no-shrink", "--json", str(report)],
    )
    replayed = CliRunner().invoke(replay, [str(report), "--json", str(tmp_path / "r.json")])
    assert replayed.exit_code == 1, replayed.stdout
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["explored"] is True
    assert [s["name"] for s in data["slos"] if not s["ok"]] == ["always-one-available"]


@pytest.mark.parametrize(
    ("explore_yaml", "message"),
    [
        ("faults: []", "list at least one fault template"),
        ("faults: [{type: pod-kil}]", 'did you mean "pod-kill"'),
        ("faults: [{type: pod-kill, duration: 1m}]", "acts once"),
        ("faults: [{type: etcd-latency, params: {latency: {min: 2s, max: 1s}}}]", "is above max"),
        (
            "faults: [{type: etcd-latency}]\n    window: {from: 5m, to: 1m}",
            "expected 0 <= from < to",
        ),
        ("faults: [{type: etcd-latency}]\n    count: 0", "expected a whole number >= 1"),
    ],
)
def test_explore_section_errors_are_located(explore_yaml: str, message: str) -> None:
    text = f"""\
apiVersion: kubechaos/v1
kind: Scenario
metadata: {{name: x}}
spec:
  duration: 10m
  cluster: {{nodeGroups: [{{name: worker}}]}}
  explore:
    {explore_yaml}
"""
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(text, "x.yaml")
    assert any(message in str(e) and "spec.explore" in str(e) for e in exc.value.errors), exc.value


def test_param_ranges_and_choices_are_drawn_within_bounds() -> None:
    text = """\
apiVersion: kubechaos/v1
kind: Scenario
metadata: {name: x}
spec:
  duration: 10m
  cluster: {nodeGroups: [{name: worker}]}
  explore:
    faults: [{type: etcd-latency, params: {latency: {min: 100ms, max: 2s}, jitter: [0s, 50ms]}}]
    count: {min: 2, max: 4}
"""
    spec = parse_scenario(text).explore
    assert spec is not None
    for seed in range(20):
        schedule = draw_schedule(spec, seed)
        assert 2 <= len(schedule) <= 4
        for scheduled in schedule:
            fault = scheduled.fault
            assert isinstance(fault, EtcdLatency)
            assert 0.1 <= fault.latency <= 2 and fault.jitter in (0, 0.05)
            assert 0 <= scheduled.at <= 600
