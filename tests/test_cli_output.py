"""What ``kubechaos run`` prints, as a person reads it in a terminal or a CI log.

Names are whole when piped and on a narrow terminal; big clusters list the disturbed objects and
count the rest; the traffic table names both success figures' denominators; a run that never
reached steady state says so; warnings that change a result appear without ``-v``; and text from
the scenario or the event log can neither forge lines nor drive the terminal.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner
from rich.console import Console
from rich.table import Table

from kubechaos.cli import main
from kubechaos.cli.runprint import print_summary, print_timeline, print_warnings
from kubechaos.cli.terminal import new_console, print_table, shown
from kubechaos.scenario.loader import Scenario, parse_scenario
from kubechaos.scenario.runner import Run, run_scenario
from kubechaos.sim.events import Event

ROOT = Path(__file__).resolve().parent.parent

SCENARIO = """\
apiVersion: kubechaos/v1
kind: Scenario
metadata: {{name: output}}
spec:
  duration: {duration}
  cluster: {{nodeGroups: [{{name: worker, count: 2}}]}}
  workloads:
    - manifest:
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: web}}
        spec:
          replicas: 2
          selector: {{matchLabels: {{app: web}}}}
          template:
            metadata:
              labels: {{app: web}}
              annotations: {{kubechaos.io/behaviour: "{behaviour}"}}
            spec:
              containers:
                - name: web
                  image: nginx
                  readinessProbe: {{httpGet: {{path: /, port: 80}}, periodSeconds: 1}}
    - manifest:
        apiVersion: v1
        kind: Service
        metadata: {{name: web}}
        spec:
          selector: {{app: {selector}}}
          ports: [{{port: 80}}]
  traffic: [{{service: web, rate: 10}}]
  faults:
    - name: {fault}
      type: pod-kill
      at: 40s
      target: {{labelSelector: {{app: web}}, mode: one}}
  slo:
    - recoveryWithin: {{fault: {fault}, within: {within}}}
    - availability: {{service: web, atLeast: "50%"}}
"""


def scenario_text(
    *,
    fault: str = "kill-one",
    within: str = "5m",
    behaviour: str = "startup=1s",
    selector: str = "web",
    duration: str = "90s",
) -> str:
    return SCENARIO.format(
        fault=fault, within=within, behaviour=behaviour, selector=selector, duration=duration
    )


def write_scenario(directory: Path, text: str, name: str = "output.yaml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def run_piped(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``kubechaos ARGS`` with stdout a pipe, as in a CI log (COLUMNS=80, as CI runners set)."""
    return subprocess.run(
        [sys.executable, "-m", "kubechaos.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "80", **(env or {})},
        timeout=300,
    )


def capture(the_run: Run, *, verbose: bool = False, width: int | None = None) -> str:
    """What the summary prints of ``the_run``: to a pipe, or to a terminal ``width`` wide."""
    console = (
        Console(width=width, force_terminal=True, color_system=None, highlight=False)
        if width is not None
        else new_console()
    )
    with console.capture() as captured:
        print_summary(console, the_run, 1.0, verbose)
    return captured.get()


def slo_title(out: str) -> str:
    """The line that titles the SLO table (the header line also counts SLOs)."""
    return next(line for line in out.splitlines() if line.strip() == "SLOs")


# ------------------------------------------------------------------ 1. names are never cut


LONG_FAULT = "kill-one-web-pod-while-the-payment-service-is-being-rolled-out-" + "x" * 40


def test_long_names_and_the_replay_command_are_whole_when_piped(tmp_path: Path) -> None:
    """Without a terminal rich fell back to 80 columns and ellipsized names: the fault and SLO
    names ('recovery-kill-one-web-pod-whi…') and the measured values were cut in a CI log."""
    long_dir = tmp_path / ("scenarios-of-the-payments-team-" + "y" * 60)
    long_dir.mkdir()
    path = write_scenario(long_dir, scenario_text(fault=LONG_FAULT, within="1ms"))
    done = run_piped("run", str(path))
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.strip().startswith(LONG_FAULT) for line in lines)  # the Faults table
    assert any(line.strip().startswith(f"recovery-{LONG_FAULT} ") for line in lines)
    assert f"kubechaos run {path} --seed 0" in done.stdout  # the replay command, one line
    assert "…" not in done.stdout


def test_a_narrow_terminal_wraps_rather_than_cutting_a_name(tmp_path: Path) -> None:
    """On a terminal narrower than a name, rich dropped the other columns' content; the row
    is now printed as a block, the name on a line of its own."""
    the_run = run_scenario(parse_scenario(scenario_text(fault=LONG_FAULT), "o.yaml"))
    out = capture(the_run, width=60)
    lines = [line.strip() for line in out.splitlines()]
    assert LONG_FAULT in lines and f"recovery-{LONG_FAULT}" in lines
    assert "…" not in out
    assert any(line.startswith("measured:") and "worst of 1" in line for line in lines)


def test_print_table_fits_on_a_wide_enough_terminal_without_cutting_names() -> None:
    console = Console(width=70, force_terminal=True, color_system=None)
    table = Table(title="SLOs", box=None)
    for column in ("slo", "measured", "threshold"):
        table.add_column(column)
    name = "recovery-of-a-long-fault-name-of-forty-five-chars"
    table.add_row(name, "351.000s (worst of 1)", "<= 420s from injection")
    with console.capture() as captured:
        print_table(console, table)
    out = captured.get()
    assert name in out and "351.000s" in out and "injection" in out
    assert max(len(line) for line in out.splitlines()) <= 70


# ------------------------------------------------------------------ 2. big clusters

BIG = """\
apiVersion: kubechaos/v1
kind: Scenario
metadata: {{name: big}}
spec:
  duration: 30s
  cluster: {{nodeGroups: [{{name: worker, count: 4, capacity: {{cpu: "64", pods: 110}}}}]}}
  workloads: [{workloads}]
"""


def deployment(name: str, cpu: str | None = None) -> str:
    """One Deployment of one replica, as a flow-style (JSON) manifest entry."""
    container: dict[str, object] = {"name": "c", "image": "nginx"}
    if cpu is not None:
        container["resources"] = {"requests": {"cpu": cpu}}
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container]},
            },
        },
    }
    return json.dumps({"manifest": manifest})


@pytest.fixture(scope="module")
def big_run() -> Run:
    """300 Deployments: 299 settle, one asks for more CPU than any node has."""
    workloads = [deployment(f"app-{i:03d}") for i in range(299)] + [deployment("too-big", "100")]
    return run_scenario(parse_scenario(BIG.format(workloads=", ".join(workloads)), "big.yaml"))


def test_a_big_cluster_lists_the_disturbed_deployments_and_counts_the_rest(big_run: Run) -> None:
    """The Deployments table had a row for each of the 300 Deployments."""
    out = capture(big_run)
    assert "default/too-big" in out
    assert "+ 299 deployments at desired replicas" in out
    assert "default/app-" not in out


def test_verbose_lists_every_deployment(big_run: Run) -> None:
    out = capture(big_run, verbose=True)
    assert all(f"default/app-{i:03d}" in out for i in range(299))
    assert "deployments at desired replicas" not in out


# ------------------------------------------------------------------ 3. both success figures


def test_traffic_shows_the_whole_run_and_since_steady_state_with_their_denominators(
    tmp_path: Path,
) -> None:
    """The table showed one 'success rate' over the whole run while the availability SLO
    counted since steady state: two different figures, neither denominator named."""
    the_run = run_scenario(parse_scenario(scenario_text(), "o.yaml"))
    stats = the_run.traffic.stats.totals_by_service()["default/web"]
    since = the_run.slo.since_steady("default", "web")
    assert since is not None and since[0] < stats[0]  # the initial rollout is left out
    out = capture(the_run)
    assert "whole run" in out and "since steady state" in out
    traffic = out[out.index("Traffic") :]
    row = next(line for line in traffic.splitlines() if line.strip().startswith("default/web"))
    assert f"of {stats[0]}" in row and f"of {int(since[0])}" in row
    availability = next(r for r in the_run.results if r.slo.kind == "availability")
    assert availability.measured.replace(" requests", "") in row  # the same figure as the SLO
    assert "what the availability and maxErrors SLOs count" in out


# ------------------------------------------------------------------ 4. never converged


def test_a_run_that_never_reached_steady_state_says_so_before_the_slo_table(
    tmp_path: Path,
) -> None:
    """A Service with no endpoints: the run never converged, which was only said inside an
    SLO's detail (the JSON), never on the terminal."""
    path = write_scenario(tmp_path, scenario_text(selector="nobody"))
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 1, result.stdout
    out = result.stdout
    assert "never reached steady state" in out
    assert out.index("never reached steady state") < out.index(slo_title(out))
    assert "Service default/web failed requests" in out  # why, at the end
    assert "not reached" in out  # the traffic table's since-steady figure


def test_a_run_that_converged_does_not_say_it_never_did() -> None:
    the_run = run_scenario(parse_scenario(scenario_text(), "o.yaml"))
    assert "never reached steady state" not in capture(the_run)


# ------------------------------------------------------------------ 5. warnings without -v


def test_a_failed_behaviour_warning_is_shown_without_verbose(tmp_path: Path) -> None:
    """FailedBehaviour (the container never starts) was only in the --verbose timeline."""
    path = write_scenario(tmp_path, scenario_text(behaviour="startup=soon"))
    result = CliRunner().invoke(main, ["run", str(path)])
    out = result.stdout
    assert "Warnings" in out
    warning = next(line for line in out.splitlines() if "FailedBehaviour" in line)
    assert "Pod/default/web-" in warning and re.search(r"\(and \d+ more Pods?\)", warning)
    assert "never starts" in warning
    assert out.index("Warnings") < out.index(slo_title(out))


def test_every_warning_of_a_kind_is_shown_not_folded() -> None:
    """Scenario warnings (kinds and fields not modelled) were folded after three in the
    default timeline; the warnings block has each distinct message."""
    events = [
        Event(0.01, "kubechaos", "Scenario", "s", "Warning", f"m.yaml:{i}: ConfigMap 'c{i}' ...")
        for i in range(6)
    ] + [Event(5.0, "kubectl", "Scenario", "s", "ApplyFailed", "etcdserver: request timed out")]
    console = new_console()
    with console.capture() as captured:
        print_timeline(console, events, verbose=False)
        print_warnings(console, events)
    out = captured.get()
    assert all(f"ConfigMap 'c{i}'" in out for i in range(6))
    assert "ApplyFailed" in out and "was not applied" in out


# ------------------------------------------------------------------ 6. escaping


def test_shown_spells_control_characters_and_escapes_markup() -> None:
    assert shown("a\nb") == "a\\nb"
    assert shown("\x1b[31mred") == "\\x1b[31mred"
    assert shown("\x1b[31mred", markup=False) == "\\x1b[31mred"
    assert shown("[bold]x[/bold]") == "\\[bold]x\\[/bold]"
    assert shown("\r\t\x07\x9b\u202e\u2028") == "\\r\\t\\x07\\x9b\\u202e\\u2028"
    assert shown("web-6df865f547 ✓ é") == "web-6df865f547 ✓ é"


HOSTILE = "evil\n     1.000s  kubechaos  Forged  \x1b[31mred\x1b[0m [bold]loud[/bold] :fire:"


def _hostile_scenario(tmp_path: Path) -> Scenario:
    """A scenario whose fault is named ``HOSTILE``, built in Python so that it does not depend
    on what the loader accepts."""
    base = parse_scenario(scenario_text(), str(tmp_path / "hostile.yaml"))
    fault = base.faults[0]
    renamed = attrs.evolve(fault, fault=attrs.evolve(fault.fault, name=HOSTILE))
    slo = attrs.evolve(base.slos[0], fault=HOSTILE, name=f"recovery-{HOSTILE}")
    return attrs.evolve(base, name=f"name {HOSTILE}", faults=(renamed,), slos=(slo, *base.slos[1:]))


def test_a_hostile_fault_name_is_printed_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A newline in a fault name started a forged timeline line, an ANSI escape coloured the
    terminal, and markup in it was interpreted."""
    scenario = _hostile_scenario(tmp_path)
    # kubechaos.cli.run the attribute is the command; the module is in sys.modules
    monkeypatch.setattr(
        sys.modules["kubechaos.cli.run"], "load_or_exit", lambda path, *limits: scenario
    )
    result = CliRunner().invoke(main, ["run", "hostile.yaml", "-v"])
    out = result.stdout
    assert result.exit_code in (0, 1), out
    assert "\x1b" not in out
    escaped = HOSTILE.replace("\n", "\\n").replace("\x1b", "\\x1b")
    assert f"Fault/{escaped} " in out  # the timeline, verbatim: markup and :fire: as written
    assert f"recovery-{escaped} " in out  # the SLO table
    assert any(line.strip().startswith(escaped) for line in out.splitlines())  # Faults table
    assert f"name {escaped}  seed 0" in out  # the header
    assert not any(line.lstrip().startswith("1.000s") for line in out.splitlines())


def test_event_messages_in_the_timeline_are_escaped() -> None:
    events = [Event(1.0, "kubelet\x1b[2J", "Pod", "default/p[b]", "Killing", "a\nb\x1b]0;t\x07")]
    console = Console(force_terminal=True, color_system=None, highlight=False, width=200)
    with console.capture() as captured:
        print_timeline(console, events, verbose=True)
    out = captured.get()
    assert "kubelet\\x1b[2J" in out and "Pod/default/p[b]" in out
    assert "a\\nb\\x1b]0;t\\x07" in out
    assert "\x1b" not in out and "\x07" not in out and out.count("\n") == 2
