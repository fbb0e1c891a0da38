"""A run serving its API (``kubechaos run --api``) in a subprocess, and kubectl to talk to it.

kubectl is a real binary: without it a test skips with how to get it, except under ``CI=true``,
where its absence fails the test (CI must never pass by skipping what it was meant to check).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parent.parent
WEB_MANIFEST = ROOT / "scenarios" / "manifests" / "web.yaml"


def kubectl_binary() -> str:
    path = shutil.which("kubectl")
    if path is None:
        message = "kubectl v1.32 is needed (https://kubernetes.io/docs/tasks/tools/)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: real-client tests must not skip)")
        pytest.skip(message)
    return path


def scenario_file(
    directory: Path,
    name: str = "served",
    duration: str = "30m",
    faults: str = "",
    nodes: int = 3,
) -> Path:
    """A small scenario: ``nodes`` workers, the web Deployment and Service, ``faults`` (YAML
    list items indented by four spaces, or nothing)."""
    path = directory / f"{name}.yaml"
    path.write_text(
        f"""apiVersion: kubechaos/v1
kind: Scenario
metadata: {{name: {name}}}
spec:
  seed: 7
  duration: {duration}
  cluster:
    nodeGroups:
      - name: worker
        count: {nodes}
        capacity: {{cpu: "4", memory: 16Gi, pods: 110}}
  workloads:
    - path: {WEB_MANIFEST}
  faults:{faults or " []"}
""",
        encoding="utf-8",
    )
    return path


@attrs.define
class Served:
    proc: subprocess.Popen[str]
    kubeconfig: Path
    header: list[str]

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def kubectl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [kubectl_binary(), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
        )

    def kubectl_ok(self, *args: str, timeout: float = 60) -> str:
        done = self.kubectl(*args, timeout=timeout)
        assert done.returncode == 0, f"kubectl {' '.join(args)} failed:\n{done.stderr}"
        return done.stdout

    def watch(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [kubectl_binary(), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(),
        )


@contextmanager
def served(directory: Path, scenario: Path, speed: float = 1, *extra: str) -> Iterator[Served]:
    """``kubechaos run SCENARIO --api 127.0.0.1:0``: yields once the API answers."""
    kubeconfig = directory / "kubeconfig"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubechaos.cli",
            "run",
            str(scenario),
            "--api",
            "127.0.0.1:0",
            "--kubeconfig",
            str(kubeconfig),
            "--speed",
            str(speed),
            "--no-progress",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        header = _read_until(proc, "serving the Kubernetes API at")
        yield Served(proc, kubeconfig, header)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _read_until(proc: subprocess.Popen[str], text: str, timeout: float = 60) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            _, err = proc.communicate(timeout=10)
            raise AssertionError(f"the run ended before serving: {lines} {err}")
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"no {text!r} within {timeout}s: {lines}")


def read_lines_until(proc: subprocess.Popen[str], done: object, timeout: float = 60) -> list[str]:
    """Lines of a watching process's output until ``done(lines)`` holds."""
    assert proc.stdout is not None and callable(done)
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if done(lines):
            return lines
    raise AssertionError("watch output ended or timed out:\n" + "\n".join(lines))
