"""A real Prometheus server for tests: started on loopback, queried over its HTTP API, always stopped.

The tests that use it check what operators would see — PromQL over series that Prometheus itself
scraped or loaded from backfilled blocks — so they need the real binaries (Debian package
``prometheus``: ``/usr/bin/prometheus`` and ``/usr/bin/promtool``; ``.ci/run`` installs them).
Without them a test skips with the install command, except under ``CI=true``, where a missing
binary is a failure: CI must never pass by skipping what it was meant to check.

    with start_prometheus(tmp_path, scrape_target="127.0.0.1:9464", scrape_interval="250ms") as prom:
        prom.wait_for_first_scrape()
        prom.query("sum(kubechaos_service_requests_total)")

    backfill(openmetrics_file, blocks_dir)           # promtool tsdb create-blocks-from openmetrics
    with start_prometheus(tmp_path, data_dir=blocks_dir) as prom:
        prom.query_range("kube_deployment_status_replicas_available", start, end, 15)

Each server gets a free port, its own data directory and a generated config (JSON, which YAML
reads as is) with one scrape job or none; it is terminated on leaving the ``with`` block, whether
the test passed or not.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

INSTALL_HINT = "install with: apt-get install -y prometheus"
READY_TIMEOUT = 30.0
# Backfilled blocks hold whatever time the recording was mapped to, possibly long ago: keep them.
RETENTION = "100y"
# The scrape manager applies discovered targets at most every 5 s, so a new server's first scrape
# comes up to ~5 s after it is ready.
FIRST_SCRAPE_TIMEOUT = 20.0


def binary(name: str) -> str:
    """The path of ``name`` (``prometheus``, ``promtool``); skip or, under CI=true, fail if missing."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed; {INSTALL_HINT}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: real-server tests must not skip)")
        pytest.skip(message)
    return found


def free_port() -> int:
    """A port nothing listens on right now (the caller retries if another process takes it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config(scrape_target: str | None, scrape_interval: str) -> dict[str, Any]:
    """A Prometheus config: one job ``kubechaos`` scraping ``scrape_target``, or no jobs at all."""
    # The timeout may not exceed the interval, and its 10 s default would for sub-second intervals.
    timing = {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval}
    jobs = []
    if scrape_target is not None:
        jobs.append({"job_name": "kubechaos", "static_configs": [{"targets": [scrape_target]}]})
    return {"global": {**timing, "evaluation_interval": "1m"}, "scrape_configs": jobs}


class PrometheusError(Exception):
    """The server answered a query with an error (bad PromQL, unreachable, not JSON)."""


class Prometheus:
    """A running server: its URL, the process, and PromQL over the HTTP API (urllib + json)."""

    def __init__(self, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.process = process
        self.log = log

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>`` and return its ``data`` (raises PrometheusError on failure)."""
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as r:
                body = json.load(r)
        except urllib.error.HTTPError as exc:  # 400/422 carry the PromQL error as JSON
            try:
                body = json.load(exc)
            except ValueError:
                raise PrometheusError(f"{path} {params}: HTTP {exc.code}") from None
        except (OSError, ValueError) as exc:
            raise PrometheusError(f"{path} {params}: {exc}\n{self.log_tail()}") from None
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str, time: float | None = None) -> Any:
        """An instant query: ``result`` of the answer, a list of ``{"metric", "value": [t, "v"]}``
        for a vector, ``{"metric", "values": [[t, "v"], ...]}`` for a range selector."""
        params = {"query": expr} if time is None else {"query": expr, "time": _stamp(time)}
        return self.api("query", **params)["result"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> Any:
        """A range query: a list of ``{"metric", "values": [[t, "v"], ...]}``, one per series."""
        return self.api(
            "query_range", query=expr, start=_stamp(start), end=_stamp(end), step=_stamp(step)
        )["result"]

    def value(self, expr: str, time: float | None = None) -> float | None:
        """The value of an expression that yields one series (None if it yields none)."""
        result = self.query(expr, time)
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusError(f"{expr}: expected one series, got {len(result)}")
        return float(result[0]["value"][1])

    def wait_for(
        self, what: str, condition: Callable[[], bool], timeout: float, step: float = 0.1
    ) -> None:
        """Poll ``condition`` until it holds; fail the test naming ``what`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                pytest.fail(f"prometheus exited while waiting for {what}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
            time.sleep(step)

    def wait_for_first_scrape(self, timeout: float = FIRST_SCRAPE_TIMEOUT) -> None:
        """Wait until the scrape job has run once (``up`` exists, whether the target is up yet)."""
        self.wait_for("the first scrape", lambda: bool(self.query("up")), timeout)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _stamp(seconds: float) -> str:
    return f"{seconds:.3f}"


@contextlib.contextmanager
def start_prometheus(
    workdir: Path,
    scrape_target: str | None = None,
    scrape_interval: str = "1s",
    data_dir: Path | None = None,
    ready_timeout: float = READY_TIMEOUT,
) -> Iterator[Prometheus]:
    """Run ``prometheus`` on 127.0.0.1 (a free port) until the block exits.

    ``scrape_target`` (``HOST:PORT``) is scraped every ``scrape_interval`` by a job named
    ``kubechaos``; without it the server scrapes nothing (for backfilled blocks). ``data_dir``
    (default: a fresh one under ``workdir``) is the TSDB directory, e.g. promtool's output.
    """
    exe = binary("prometheus")
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "prometheus.yml"
    config_file.write_text(json.dumps(config(scrape_target, scrape_interval), indent=2))
    data = data_dir if data_dir is not None else workdir / "prometheus-data"
    log = workdir / "prometheus.log"
    for _attempt in range(3):  # another process may take the free port before we bind it
        port = free_port()
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    exe,
                    f"--config.file={config_file}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    f"--storage.tsdb.path={data}",
                    f"--storage.tsdb.retention.time={RETENTION}",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        server = Prometheus(f"http://127.0.0.1:{port}", process, log)
        try:
            if _wait_ready(server, ready_timeout):
                yield server
                return
            if "address already in use" not in server.log_tail():
                pytest.fail(f"prometheus did not become ready:\n{server.log_tail()}")
        finally:
            _stop(process)
    pytest.fail(f"prometheus could not bind a free port:\n{log.read_text(errors='replace')}")


def _wait_ready(server: Prometheus, timeout: float) -> bool:
    """True once ``/-/ready`` answers 200; False if the process exited first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{server.url}/-/ready", timeout=1) as r,
        ):
            if r.status == 200:
                return True
        time.sleep(0.05)
    pytest.fail(f"prometheus not ready after {timeout:g}s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def backfill(openmetrics_file: Path, blocks_dir: Path) -> str:
    """``promtool tsdb create-blocks-from openmetrics FILE DIR``; returns promtool's output."""
    result = subprocess.run(
        [binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(openmetrics_file),
         str(blocks_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.fail(
            f"promtool could not backfill {openmetrics_file}:\n{result.stdout}{result.stderr}"
        )
    return result.stdout + result.stderr
