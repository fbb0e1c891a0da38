"""A real Prometheus sees a run's metrics the way an operator would (issue 4, "Real component tests").

Both tests run tests/data/pod-kill-short.yaml: three slow-starting web pods (20 s to serve), one
killed at 1m, the run over at 2m. The Deployment is a replica short for ~20 virtual seconds
after the kill, then whole again; recovery is measured once steady state has held for 10 s.

- **Live**: ``kubechaos run --serve --speed 20 --linger`` in a subprocess, scraped every 250 ms by
  a Prometheus on loopback; PromQL through its HTTP API shows the traffic counter rising, the
  Deployment's available replicas dipping after the kill and back at desired, and the final
  scraped values equal an in-process run of the same scenario and observers, run flat out
  (pacing does not change results).
- **Backfill**: ``kubechaos run --openmetrics FILE --start-time T``, then ``promtool tsdb
  create-blocks-from openmetrics``, then a Prometheus on those blocks: a range query over the run
  returns the recorded values at the recorded timestamps, and the end-of-run values equal what
  the run reported (requests per outcome, recoveries).

Without ``prometheus``/``promtool`` they skip (fail under CI=true): see tests/promserver.py.
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from kubechaos.cli import main
from kubechaos.export.live import LiveExporter
from kubechaos.export.openmetrics import DEFAULT_INTERVAL, OpenMetricsRecorder
from kubechaos.scenario.loader import load_scenario
from kubechaos.scenario.runner import Run
from tests.promserver import backfill, binary, free_port, start_prometheus

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "tests" / "data" / "pod-kill-short.yaml"
DESIRED = 3.0
AVAILABLE = 'kube_deployment_status_replicas_available{namespace="default",deployment="web"}'
SPEED = 20  # 2m virtual in 6 s wall; the dip after the kill lasts ~1 s wall
SCRAPE_INTERVAL = "250ms"
RUN_TIMEOUT = 60.0


def reference_run(
    serve_speed: float | None = None, recording: Path | None = None, start: float | None = None
) -> Run:
    """The same scenario in process, flat out, observed the way the CLI observes it (``--serve``
    at ``serve_speed``; ``--openmetrics recording``): what the run under test must report.
    Neither pacing nor observers change a run (observers hang on the run's one ticker)."""
    run = Run(load_scenario(SCENARIO))
    recorder = None
    if recording is not None:
        at = start_time() if start is None else start  # the caller's: an hour may turn meanwhile
        recorder = OpenMetricsRecorder(run.collector, recording, at, DEFAULT_INTERVAL)
        run.ticker.every(DEFAULT_INTERVAL, recorder.sample)
    if serve_speed is not None:
        exporter = LiveExporter(run.collector, run.registry, "127.0.0.1", 0, serve_speed)
        run.ticker.every(exporter.refresh_every(), exporter.refresh)  # never started: no server
        run.on_finish.append(exporter.refresh)
    run.run()
    if recorder is not None:
        recorder.close(run.finished_at)
    return run


def start_time() -> float:
    """Where the recording puts virtual time zero: a whole hour three hours ago, so the blocks
    are in the past (queryable at once) and every recorded timestamp is known."""
    return (math.floor(time.time() / 3600) - 3) * 3600.0


def requests_by_outcome(run: Run) -> Counter[str]:
    by_outcome: Counter[str] = Counter()
    for (_, _, _, outcome), n in run.traffic.stats.requests.items():
        by_outcome[outcome] += n
    return by_outcome


def raw_samples(result: list[dict[str, object]]) -> list[tuple[float, float]]:
    """The one series of a range-selector query as ``(timestamp, value)`` pairs."""
    assert len(result) == 1, result
    values = result[0]["values"]
    assert isinstance(values, list)
    return [(float(t), float(v)) for t, v in values]


def _wait_for_output(proc: subprocess.Popen[bytes], out: Path, text: str) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT
    while text not in out.read_text(errors="replace"):
        assert proc.poll() is None, f"kubechaos exited {proc.returncode}:\n{out.read_text()}"
        assert time.monotonic() < deadline, (
            f"no {text!r} after {RUN_TIMEOUT:g}s:\n{out.read_text()}"
        )
        time.sleep(0.05)


def _interrupt(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_prometheus_scrapes_a_paced_run(tmp_path: Path) -> None:
    binary("prometheus")
    expected = reference_run(serve_speed=SPEED)
    total = sum(requests_by_outcome(expected).values())
    port = free_port()
    with start_prometheus(
        tmp_path / "prometheus", scrape_target=f"127.0.0.1:{port}", scrape_interval=SCRAPE_INTERVAL
    ) as prom:
        prom.wait_for_first_scrape()  # scraping a target not up yet: no scrape of the run is lost
        out = tmp_path / "kubechaos.out"
        with out.open("wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "kubechaos.cli", "run", str(SCENARIO),
                 "--serve", f"127.0.0.1:{port}", "--speed", str(SPEED), "--linger"],
                stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT,
            )  # fmt: skip
        try:
            _wait_for_output(proc, out, "still serving")  # the run is over; it lingers
            # The final snapshot (taken at the run's end) reaches Prometheus with the next scrape.
            prom.wait_for(
                "the final scrape",
                lambda: prom.value("sum(kubechaos_service_requests_total)") == total,
                timeout=10,
            )
            end = time.time()
        finally:
            _interrupt(proc)
        assert proc.returncode == 0, out.read_text()

        # The traffic counter rose over the run, from the first scrape that saw it to the last.
        increase = prom.value("sum(increase(kubechaos_service_requests_total[1m]))", end)
        assert increase is not None and increase > 0
        first_seen = raw_samples(prom.query("sum(kubechaos_service_requests_total)[1m:250ms]", end))
        assert first_seen[0][1] < total
        # The last scrape holds the run's final counts: those of the same run in process.
        by_outcome = {
            r["metric"]["outcome"]: float(r["value"][1])
            for r in prom.query("sum by (outcome) (kubechaos_service_requests_total)", end)
        }
        assert by_outcome == {k: float(n) for k, n in requests_by_outcome(expected).items()}

        # The Deployment was whole before the kill, a replica short after it, and whole again.
        injections = raw_samples(
            prom.query('kubechaos_fault_injections_total{fault="kill-one-web-pod"}[1m]', end)
        )
        killed_seen_at = min(t for t, v in injections if v >= 1)
        available = raw_samples(prom.query(f"{AVAILABLE}[1m]", end))
        before = [v for t, v in available if t < killed_seen_at]
        assert before and before[-1] == DESIRED
        since_kill_ms = math.ceil((end - killed_seen_at) * 1000) + 1
        dipped = prom.value(f"min_over_time({AVAILABLE}[{since_kill_ms}ms])", end)
        assert dipped is not None and dipped < DESIRED
        assert prom.value(AVAILABLE, end) == DESIRED
        assert prom.value('kube_deployment_spec_replicas{deployment="web"}', end) == DESIRED

        # Recovery as the run measured it, scraped.
        recovered = sum(1 for r in expected.steady.recoveries if r.seconds is not None)
        assert recovered == 1
        assert prom.value("sum(kubechaos_recovery_seconds_count)", end) == recovered
        assert prom.value('kubechaos_steady_state{scenario="pod-kill-short"}', end) == 1


def _recorded(text: str, series: str) -> list[tuple[float, float]]:
    """``(timestamp, value)`` of one series (name and labels exactly as written) in a recording."""
    found = []
    for line in text.splitlines():
        if line.startswith(series + " "):
            _, value, stamp = line.rsplit(" ", 2)
            found.append((float(stamp), float(value)))
    return found


def test_backfilled_recording_answers_range_queries(tmp_path: Path) -> None:
    binary("promtool")
    binary("prometheus")
    start = start_time()
    recording = tmp_path / "run.om"
    result = CliRunner().invoke(
        main,
        ["run", str(SCENARIO), "--openmetrics", str(recording), "--start-time", f"{start:.0f}"],
    )
    assert result.exit_code == 0, result.output
    text = recording.read_text()
    assert text.endswith("# EOF\n")
    expected = reference_run(recording=tmp_path / "reference.om", start=start)
    assert (tmp_path / "reference.om").read_text() == text  # same seed, same observers
    duration = load_scenario(SCENARIO).duration
    end = start + duration

    blocks = tmp_path / "blocks"
    backfill(recording, blocks)
    with start_prometheus(tmp_path / "prometheus", data_dir=blocks) as prom:
        # A range query over the run, at the recorded instants (every 15 s), gives the file's values.
        recorded = _recorded(text, AVAILABLE)
        assert recorded and recorded[-1][0] == end
        first = recorded[0][0]
        answer = prom.query_range(AVAILABLE, first, end, 15)
        assert len(answer) == 1
        assert [(float(t), float(v)) for t, v in answer[0]["values"]] == recorded
        values = [v for _, v in recorded]
        assert values[-1] == DESIRED and min(values[values.index(DESIRED) :]) < DESIRED
        # Raw samples too: nothing added or lost between the file and the blocks.
        assert raw_samples(prom.query(f"{AVAILABLE}[{duration:.0f}s]", end)) == recorded

        # End-of-run values equal what the run reported.
        by_outcome = {
            r["metric"]["outcome"]: float(r["value"][1])
            for r in prom.query("sum by (outcome) (kubechaos_service_requests_total)", end)
        }
        assert by_outcome == {k: float(n) for k, n in requests_by_outcome(expected).items()}
        recoveries = [r.seconds for r in expected.steady.recoveries if r.seconds is not None]
        assert len(recoveries) == 1
        assert prom.value("sum(kubechaos_recovery_seconds_count)", end) == len(recoveries)
        assert prom.value("sum(kubechaos_recovery_seconds_sum)", end) == sum(recoveries)
        assert prom.value("kubechaos_virtual_time_seconds", end) == duration
        # The recovery was observed only once known: a window after steady state returned.
        known = prom.query_range("sum(kubechaos_recovery_seconds_count)", start + 60, end, 15)
        assert [(float(t) - start, float(v)) for t, v in known[0]["values"]] == [
            (75, 0), (90, 0), (105, 1), (120, 1)
        ]  # fmt: skip
