"""Metrics leaving the process: the OpenMetrics recording, the live endpoint, pacing, and the CLI
verdicts built on them."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from kubechaos.cli import main
from kubechaos.export.live import LiveExporter
from kubechaos.export.openmetrics import OpenMetricsRecorder
from kubechaos.observe.metrics import FAMILIES
from kubechaos.observe.metrics.kubestate import OBJECT_FAMILIES, OPTIONAL_RESOURCES
from kubechaos.scenario.loader import parse_scenario
from kubechaos.scenario.runner import Run

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "scenarios" / "manifests" / "web.yaml"

SCENARIO = f"""\
apiVersion: kubechaos/v1
kind: Scenario
metadata: {{name: expo}}
spec:
  seed: 3
  duration: 2m
  cluster: {{nodeGroups: [{{name: worker, count: 3}}]}}
  workloads: [{{path: {WEB}}}]
  traffic: [{{service: web, rate: 10}}]
  faults:
    - {{name: kill, type: pod-kill, at: 1m, target: {{labelSelector: {{app: web}}, mode: one}}}}
  slo:
    - recoveryWithin: {{fault: kill, within: 30s}}
"""


def write_scenario(tmp_path: Path, text: str = SCENARIO) -> Path:
    path = tmp_path / "expo.yaml"
    path.write_text(text)
    return path


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_openmetrics_recording_is_valid_time_ordered_and_complete(tmp_path: Path) -> None:
    run = Run(parse_scenario(SCENARIO))
    out = tmp_path / "run.om"
    recorder = OpenMetricsRecorder(run.collector, out, start=1_700_000_000, interval=15)
    run.ticker.every(15, recorder.sample)
    run.run()
    recorder.close(run.finished_at)
    text = out.read_text()
    assert text.endswith("# EOF\n")
    families = list(text_string_to_metric_families(without_histograms(text)))
    histograms = check_histograms(text)
    # Families of optional kinds exist only in runs that have such an object (this one has none
    # but the EndpointSlice of its Service)
    optional = {
        name
        for r in OPTIONAL_RESOURCES
        if r != "endpointslices"
        for name, _, _ in OBJECT_FAMILIES[r]
    }
    assert {f.name for f in families} | histograms == set(FAMILIES) - optional
    assert len({f.name for f in families}) == len(families), "each family appears once"
    clock = next(f for f in families if f.name == "kubechaos_virtual_time_seconds")
    stamps = [float(s.timestamp) for s in clock.samples]  # type: ignore[arg-type]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert [round(s - 1_700_000_000) for s in stamps[1:3]] == [15, 30]
    assert stamps[-1] == 1_700_000_000 + 120
    values = {float(s.value) for s in clock.samples}
    assert max(values) == 120
    # The recording and the run's own numbers agree.
    requests = next(f for f in families if f.name == "kubechaos_service_requests")
    last = max(float(s.timestamp) for s in requests.samples)  # type: ignore[arg-type]
    final = sum(s.value for s in requests.samples if float(s.timestamp) == last)  # type: ignore[arg-type]
    assert final == sum(run.traffic.stats.requests.values())


def without_histograms(text: str) -> str:
    """The file minus its histogram families: prometheus-client's reference parser rejects a
    histogram with more than one timestamp (a limitation of that parser; the OpenMetrics spec
    and promtool accept it), so histograms get :func:`check_histograms` instead."""
    kept, skipping = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith("# TYPE "):
            skipping = line.split()[3] == "histogram"
        if not skipping or line == "# EOF\n":
            kept.append(line)
    return "".join(kept)


def check_histograms(text: str) -> set[str]:
    """Each histogram group, at each timestamp: buckets in ascending order ending at +Inf, then
    _count equal to it and _sum; timestamps ascending within a group. Returns the names."""
    names: set[str] = set()
    family = ""
    state: dict[str, tuple[float, float, float, str]] = {}  # group -> (ts, last le, +Inf, stage)
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, typ = line.split()
            family = family if typ == "histogram" else ""
            names.add(family) if family else None
            continue
        if not family or line.startswith("#"):
            continue
        head, value, stamp = line.rsplit(" ", 2)
        name, _, labels = head.partition("{")
        le = None
        parts = [p for p in labels.rstrip("}").split(",") if p]
        for part in parts:
            if part.startswith("le="):
                le = float(part[4:-1])
        group = family + "|" + ",".join(p for p in parts if not p.startswith("le="))
        ts = float(stamp)
        prev = state.get(group)
        if name.endswith("_bucket"):
            assert le is not None
            if prev is None or prev[3] == "sum":
                assert prev is None or ts > prev[0], line
                state[group] = (ts, le, float(value) if le == float("inf") else -1, "bucket")
            else:
                assert prev[0] == ts and prev[3] == "bucket" and le > prev[1], line
                state[group] = (ts, le, float(value) if le == float("inf") else -1, "bucket")
        elif name.endswith("_count"):
            assert prev is not None and prev[0] == ts and prev[1] == float("inf"), line
            assert float(value) == prev[2], line
            state[group] = (ts, prev[1], prev[2], "count")
        else:
            assert name.endswith("_sum") and prev is not None and prev[3] == "count", line
            state[group] = (ts, prev[1], prev[2], "sum")
    return names


def test_pacing_slows_the_run_but_never_changes_it() -> None:
    text = SCENARIO.replace("duration: 2m", "duration: 20s").replace("at: 1m", "at: 10s")
    fast = Run(parse_scenario(text)).run()
    started = time.monotonic()
    paced = Run(parse_scenario(text)).run(speed=40)
    wall = time.monotonic() - started
    assert wall >= 20 / 40 * 0.9
    assert [e.to_json() for e in paced.events] == [e.to_json() for e in fast.events]


def test_watching_a_run_never_changes_it(tmp_path: Path) -> None:
    plain = Run(parse_scenario(SCENARIO)).run()
    watched = Run(parse_scenario(SCENARIO))
    recorder = OpenMetricsRecorder(watched.collector, tmp_path / "m.om", start=0, interval=15)
    exporter = LiveExporter(watched.collector, watched.registry, "127.0.0.1", 0, speed=7)
    watched.ticker.every(15, recorder.sample)
    watched.ticker.every(exporter.refresh_every(), exporter.refresh)
    watched.run()
    assert [e.to_json() for e in watched.events] == [e.to_json() for e in plain.events]
    assert watched.traffic.stats.requests == plain.traffic.stats.requests


def test_live_endpoint_serves_text_and_openmetrics_during_the_run() -> None:
    text = SCENARIO.replace("duration: 2m", "duration: 30s").replace("at: 1m", "at: 10s")
    run = Run(parse_scenario(text))
    exporter = LiveExporter(run.collector, run.registry, "127.0.0.1", 0, speed=20)
    exporter.start()
    run.ticker.every(exporter.refresh_every(), exporter.refresh)
    bodies: dict[str, str] = {}

    def scrape() -> None:
        time.sleep(0.6)  # mid-run (30 s virtual at 20x: 1.5 s wall)
        for accept in ("text/plain", "application/openmetrics-text; version=1.0.0"):
            request = urllib.request.Request(exporter.url, headers={"Accept": accept})
            with urllib.request.urlopen(request, timeout=5) as response:
                bodies[response.headers["Content-Type"].split(";")[0]] = response.read().decode()

    thread = threading.Thread(target=scrape)
    thread.start()
    try:
        run.run(speed=20)
    finally:
        thread.join()
        exporter.stop()
    assert exporter.url.startswith("http://127.0.0.1:")
    plain = bodies["text/plain"]
    assert "kubechaos_virtual_time_seconds " in plain and "kube_pod_status_phase{" in plain
    virtual = float(plain.split("\nkubechaos_virtual_time_seconds ")[1].split()[0])
    assert 0 < virtual < 30, "served while the run was under way"
    assert bodies["application/openmetrics-text"].rstrip().endswith("# EOF")


def test_run_exits_1_when_an_slo_is_violated_and_says_which(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, SCENARIO.replace("within: 30s", "within: 1s"))
    code, out, _ = cli("run", str(path))
    assert code == 1, out
    assert "VIOLATED" in out and "recovery-kill" in out
    code, out, _ = cli("run", str(write_scenario(tmp_path)))
    assert code == 0, out
    assert "Recovered" in out and "SLOs" in out


def test_cli_records_openmetrics_with_a_fixed_start_time(tmp_path: Path) -> None:
    out = tmp_path / "m.om"
    code, stdout, _ = cli(
        "run", str(write_scenario(tmp_path)), "--openmetrics", str(out),
        "--start-time", "2026-01-01T00:00:00Z", "--scrape-interval", "30s",
    )  # fmt: skip
    assert code == 0, stdout
    clock = [
        line
        for line in out.read_text().splitlines()
        if line.startswith("kubechaos_virtual_time_seconds ")
    ]
    assert [line.split()[-1] for line in clock] == [
        f"{1767225600 + t:.3f}" for t in (clock_start(clock), 30, 60, 90, 120)
    ]


def clock_start(lines: list[str]) -> float:
    return float(lines[0].split()[-1]) - 1767225600


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--serve", "localhost:notaport"], "expected HOST:PORT"),
        (["--speed", "0"], 'expected a number >= 0.01 (slow motion) or "max"'),
        (["--linger"], "--linger needs --serve"),
        (["--scrape-interval", "soon"], "--scrape-interval"),
        (["--start-time", "yesterday", "--openmetrics", "{tmp}/x.om"], "--start-time"),
    ],
)
def test_bad_metric_flags_exit_2_with_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, out, err = cli("run", str(write_scenario(tmp_path)), *args)
    assert code == 2 and message in err, (out, err)
    assert not (tmp_path / "x.om").exists(), "flags are checked before any file is written"
    assert "Traceback" not in err


def test_serving_on_a_taken_port_is_a_clean_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = cli("run", str(write_scenario(tmp_path)), "--serve", f"127.0.0.1:{port}")
    assert code == 2 and "cannot serve on 127.0.0.1" in err


def test_faults_command_lists_the_catalogue_and_one_type() -> None:
    code, out, _ = cli("faults")
    assert code == 0 and "etcd-write-drop" in out and "keyPrefix" in out
    code, out, _ = cli("faults", "network-delay")
    assert code == 0 and "direction" in out and "pod-kill" not in out
    code, _, err = cli("faults", "node-crsh")
    assert code == 2 and 'did you mean "node-crash"' in err
