"""External processes in a run (``kubechaos run --exec``, ``spec.processes``, the harness's
``processes``): started against the run's API with a kubeconfig of their own, their requests
attributed to their name, their output kept, their exits judged, killed by ``process-kill``.

The processes here are tiny Python scripts that only read the API (list pods, watch pods,
sleep, exit 1), so they need nothing beyond the front door's reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kubechaos.faults import CATALOGUE
from kubechaos.report.result import schema
from kubechaos.scenario.check import ScenarioError
from kubechaos.scenario.loader import parse_scenario
from kubechaos.scenario.procspec import parse_exec
from kubechaos.testing.processes import ProcessSpec
from tests import early

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "scenarios" / "manifests" / "web.yaml"

# A client that reads what its kubeconfig points it at: the server, and its own bearer token.
_CLIENT = """
import json, os, sys, urllib.request, urllib.error, yaml
config = yaml.safe_load(open(os.environ["KUBECONFIG"]))
server = config["clusters"][0]["cluster"]["server"]
token = config["users"][0]["user"]["token"]
def get(path, **kw):
    request = urllib.request.Request(server + path, headers={"Authorization": "Bearer " + token})
    return urllib.request.urlopen(request, **kw)
"""

LISTER = (
    _CLIENT
    + """
try:
    pods = json.load(get("/api/v1/pods"))["items"]
except urllib.error.HTTPError as exc:
    print(os.environ["KUBECHAOS_CLIENT"], "refused:", exc.code)
    sys.exit(1)
print(os.environ["KUBECHAOS_CLIENT"], "sees", len(pods), "pods")
"""
)

WATCHER = (
    _CLIENT
    + """
listed = json.load(get("/api/v1/namespaces/default/pods"))
version = listed["metadata"]["resourceVersion"]
print("listed", len(listed["items"]), flush=True)
stream = get(f"/api/v1/namespaces/default/pods?watch=1&resourceVersion={version}")
for line in stream:
    event = json.loads(line)
    print(event["type"], event["object"]["metadata"]["name"], flush=True)
"""
)

STUBBORN = """
import signal, time
signal.signal(signal.SIGTERM, lambda *_: print("ignoring SIGTERM", flush=True))
print("up", flush=True)
while True:
    time.sleep(0.05)
"""


def _script(directory: Path, name: str, text: str) -> str:
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def _scenario(
    directory: Path,
    duration: str = "20s",
    faults: str = "[]",
    processes: str = "[]",
    settings: str = "{}",
) -> Path:
    path = directory / "processes.yaml"
    path.write_text(
        f"""apiVersion: kubechaos/v1
kind: Scenario
metadata: {{name: processes}}
spec:
  seed: 3
  duration: {duration}
  cluster:
    nodeGroups:
      - {{name: worker, count: 2}}
    settings: {settings}
  workloads:
    - path: {WEB}
  faults: {faults}
  processes: {processes}
""",
        encoding="utf-8",
    )
    return path


def _run(
    scenario: Path, *args: str, speed: str = "5", timeout: float = 120
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    result_file = scenario.parent / "result.json"
    result_file.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "kubechaos.cli", "run", str(scenario), "--speed", speed,
         "--json", str(result_file), "--no-progress", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    result = json.loads(result_file.read_text()) if result_file.exists() else None
    return done, result


def _process(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in result["processes"] if p["name"] == name)


def _early_run(name: str, build: Callable[[Path], tuple[Path, list[str]]]) -> None:
    """Register ``name``: ``kubechaos run`` at --speed 5 of the scenario ``build(scratch)``
    writes, with the arguments it returns. The run is paced to the wall clock (seconds of
    waiting, little work): it runs on the early lane beside the rest of the suite
    (tests/early.py), and its test reads its result with :func:`_early_result`."""

    def argv(scratch: Path) -> list[str]:
        scenario, args = build(scratch)
        return [sys.executable, "-m", "kubechaos.cli", "run", str(scenario), "--speed", "5",
                "--json", str(scratch / "result.json"), "--no-progress", *args]  # fmt: skip

    early.register(name, early.Launch(argv, ROOT, 120, {"COLUMNS": "200"}))


def _early_result(
    name: str,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None, Path]:
    done, scratch = early.finished(name)
    result_file = scratch / "result.json"
    result = json.loads(result_file.read_text()) if result_file.exists() else None
    return done, result, scratch


def _lister_run(scratch: Path) -> tuple[Path, list[str]]:
    lister = _script(scratch, "lister", LISTER)
    return _scenario(scratch), [
        "--exec",
        f"lister=python {lister}",
        "--html",
        str(scratch / "report.html"),
    ]


_early_run("exec-lister", _lister_run)


@pytest.mark.early("exec-lister")
def test_an_exec_process_reads_the_api_and_is_in_the_report() -> None:
    """``--exec NAME=CMD`` runs CMD (no shell) once the API is up, with KUBECONFIG naming a
    kubeconfig for the run's API (served on loopback without --api) and KUBECHAOS_CLIENT its
    name; its exit code, restarts and output are in the result (schema-valid) and the HTML
    report, which say the run had external clients, so replay refuses it."""
    done, result, scratch = _early_result("exec-lister")
    lister, html = str(scratch / "lister.py"), scratch / "report.html"
    assert done.returncode == 0, done.stderr + done.stdout
    page = html.read_text(encoding="utf-8")
    assert '<h2 id="processes">External processes</h2>' in page
    assert "<pre>lister sees 3 pods\n</pre>" in page
    assert result is not None
    jsonschema.validate(result, schema())
    record = _process(result, "lister")
    assert record["command"] == ["python", lister]
    assert record["exitCode"] == 0 and record["restarts"] == 0
    assert "lister sees 3 pods" in record["output"]
    assert result["externalClients"]["processes"] == ["lister"]
    assert "process lister: exit 0" in done.stdout
    replay = subprocess.run(
        [sys.executable, "-m", "kubechaos.cli", "replay", str(scratch / "result.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert replay.returncode == 2
    assert "ran external processes (lister)" in replay.stderr
    assert len(replay.stderr.strip().splitlines()) == 1


def _refused_run(scratch: Path) -> tuple[Path, list[str]]:
    lister = _script(scratch, "lister", LISTER)
    faults = (
        "[{type: apiserver-unavailable, name: cut, at: 0s, duration: 20s, "
        "params: {clients: [refused]}}]"
    )
    return _scenario(scratch, faults=faults), [
        "--exec", f"refused=python {lister}",
        "--exec", f"served=python {lister}",
        "--exec-exit", "ignore",
    ]  # fmt: skip


_early_run("exec-refused", _refused_run)


@pytest.mark.early("exec-refused")
def test_requests_are_made_as_the_process_whatever_its_user_agent() -> None:
    """Both processes send urllib's User-Agent; each carries its own bearer token, which the
    front door maps to its name, so ``apiserver-unavailable`` with ``clients: [refused]`` fails
    only that one's requests (503, as upstream's apiserver answers when unavailable:
    staging/src/k8s.io/apiserver/pkg/server/filters/maxinflight.go). Exit policy ``ignore``
    keeps the run going and records the exit code."""
    done, result, _ = _early_result("exec-refused")
    assert result is not None, done.stderr
    refused, served = _process(result, "refused"), _process(result, "served")
    assert refused["exitCode"] == 1 and "refused: 503" in refused["output"]
    assert served["exitCode"] == 0 and "served sees 3 pods" in served["output"]


def test_an_early_non_zero_exit_fails_the_run_naming_the_process(tmp_path: Path) -> None:
    """Under the default policy (``--exec-exit fail``) a process that exits non-zero before the
    end of the run fails it (exit 3) with one line naming the process, its code and its last
    output; the others are stopped and the report is still written."""
    done, result = _run(
        _scenario(tmp_path),
        "--exec", "python -c 'import sys; print(\"boom\"); sys.exit(4)'",
        "--exec", "sleeper=sleep 60",
    )  # fmt: skip
    assert done.returncode == 3
    assert "process exec-1 exited with code 4" in done.stdout
    assert "last output: boom" in done.stdout
    assert result is not None and result["verdict"] == "error"
    assert "ProcessFailed: process exec-1 exited with code 4" in result["error"]
    assert _process(result, "sleeper")["exitCode"] == -15  # SIGTERM as the run stopped


def _crasher_run(scratch: Path) -> tuple[Path, list[str]]:
    processes = (
        "[{name: crasher, command: [python, -c, 'import sys; sys.exit(2)'], restart: restart}]"
    )
    return _scenario(scratch, duration="25s", processes=processes), []


_early_run("restart-crasher", _crasher_run)


@pytest.mark.early("restart-crasher")
def test_restart_policy_restarts_with_the_kubelets_crash_loop_backoff() -> None:
    """``restart``: an exited process is started again after the kubelet's container restart
    backoff, 10s doubling to 300s (pkg/kubelet/kubelet.go backOffPeriod, MaxContainerBackOff):
    a process exiting at once in 25s runs at 0s and 10s, and is waiting until 30s."""
    done, result, _ = _early_result("restart-crasher")
    assert done.returncode == 0, done.stdout + done.stderr
    assert result is not None
    crasher = _process(result, "crasher")
    assert crasher["restarts"] == 1 and crasher["exitCode"] == 2


def test_end_of_run_sends_sigterm_then_sigkill_after_the_grace_period(tmp_path: Path) -> None:
    """At the end of the run each process gets SIGTERM, then SIGKILL once
    ``processTerminationGrace`` has passed, as the kubelet stops a container
    (pkg/kubelet/kuberuntime/kuberuntime_container.go killContainer: the stop signal, then
    kill after terminationGracePeriodSeconds, default 30s)."""
    stubborn = _script(tmp_path, "stubborn", STUBBORN)
    done, result = _run(
        _scenario(tmp_path, duration="5s", settings="{processTerminationGrace: 5s}"),
        "--exec", f"stubborn=python {stubborn}",
        "--exec", "polite=sleep 60",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert result is not None
    stubborn_record = _process(result, "stubborn")
    assert stubborn_record["exitCode"] == -9
    assert "ignoring SIGTERM" in stubborn_record["output"]
    assert _process(result, "polite")["exitCode"] == -15


def test_output_is_bounded_to_its_tail(tmp_path: Path) -> None:
    """Only the last ``processOutputKiB`` of stdout and stderr (interleaved) is kept."""
    chatty = _script(
        tmp_path,
        "chatty",
        """
        import sys
        for i in range(20000):
            print(f"line {i:05d}")
        print("the end", file=sys.stderr)
        """,
    )
    done, result = _run(
        _scenario(tmp_path, duration="5s", settings="{processOutputKib: 1}"),
        "--exec", f"chatty=python {chatty}",
    )  # fmt: skip
    assert result is not None, done.stderr
    chatty_record = _process(result, "chatty")
    assert len(chatty_record["output"].encode()) <= 1024
    assert chatty_record["outputTruncated"] is True
    assert chatty_record["output"].endswith("the end\n")
    assert "line 19999" in chatty_record["output"]


def test_process_kill_kills_the_process_and_restarts_it_after_restart_after(
    tmp_path: Path,
) -> None:
    """``process-kill`` sends SIGKILL (no handler runs, the exit is -9, not a failure of the
    run) and, with ``restartAfter``, starts a fresh process that long after, as its
    Deployment's pod would be restarted."""
    stubborn = _script(tmp_path, "stubborn", STUBBORN)
    faults = (
        "[{type: process-kill, name: kill-op, at: 4s, "
        "params: {process: operator, restartAfter: 4s}}]"
    )
    done, result = _run(
        _scenario(tmp_path, duration="15s", faults=faults, settings="{processTerminationGrace: 2s}"),
        "--exec", f"operator=python {stubborn}",
        "-v",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert result is not None
    operator = _process(result, "operator")
    assert operator["restarts"] == 1
    assert operator["output"].count("up") == 2
    started = [line for line in done.stdout.splitlines() if "Process/operator" in line]
    assert [line.split()[2] for line in started] == ["Started", "Killing", "Started"]
    # restarted restartAfter after the kill at 4 s; the run is paced to the wall clock, so the
    # Started event lands once the real process has been spawned (tens of ms on a busy machine)
    restarted_at = float(started[2].split()[0].rstrip("s"))
    assert 8.0 <= restarted_at < 8.5, started


def test_process_kill_of_a_process_the_run_does_not_start_is_refused(tmp_path: Path) -> None:
    """Exit 2 with one line naming the fault, the process and the run's processes."""
    faults = "[{type: process-kill, name: k, at: 1s, params: {process: ghost}}]"
    done, _ = _run(_scenario(tmp_path, faults=faults), "--exec", "op=sleep 5")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: fault k: process-kill of 'ghost', which the run does not start; its processes: op"
    )


def test_a_program_that_cannot_be_started_is_refused_before_the_run(tmp_path: Path) -> None:
    """Exit 2 with one line naming the process and the program, before anything runs."""
    done, result = _run(_scenario(tmp_path), "--exec", "op=no-such-program-kc --flag")
    assert done.returncode == 2 and result is None
    assert done.stderr.strip() == "error: process op: program 'no-such-program-kc' is not on PATH"


def _blind_run(scratch: Path) -> tuple[Path, list[str]]:
    watcher = _script(scratch, "watcher", WATCHER)
    faults = (
        "[{type: watch-drop, name: blindfold, at: 0s, duration: 12s, "
        "params: {component: blind}}, "
        "{type: pod-kill, name: kill, at: 4s, target: {labelSelector: {app: web}, mode: one}}]"
    )
    return _scenario(scratch, duration="12s", faults=faults), [
        "--exec", f"blind=python {watcher}",
        "--exec", f"seer=python {watcher}",
    ]  # fmt: skip


_early_run("watch-drop", _blind_run)


@pytest.mark.early("watch-drop")
def test_watch_drop_for_a_process_drops_only_its_watches() -> None:
    """``watch-drop`` with ``component: <process>`` loses the events of that process's watches
    and no one else's: a pod killed at 4s is seen deleted by ``seer`` but not by ``blind``,
    though both watch the same pods with the same client library."""
    done, result, _ = _early_result("watch-drop")
    assert result is not None, done.stderr
    seer, blind = _process(result, "seer")["output"], _process(result, "blind")["output"]
    assert "DELETED" in seer
    assert "listed" in blind
    assert "DELETED" not in blind and "ADDED" not in blind and "MODIFIED" not in blind


def test_scenario_processes_are_checked_with_located_errors() -> None:
    """``spec.processes``: each entry's name (a DNS label, not a component's, unique), command
    (a list: no shell), env (KUBECONFIG is kubechaos') and restart are checked, every problem
    one located line."""
    text = textwrap.dedent(
        """\
        apiVersion: kubechaos/v1
        kind: Scenario
        metadata: {name: bad}
        spec:
          cluster: {nodeGroups: [{name: worker, count: 1}]}
          processes:
            - {name: Op_1, command: [python, op.py]}
            - {name: op, command: "python op.py"}
            - {name: op, command: [python], env: {KUBECONFIG: /x}, restart: always}
            - {name: kube-scheduler, command: []}
            - {command: [x], rstart: fail}
        """
    )
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "bad.yaml")
    lines = str(caught.value).splitlines()
    expected = [
        "bad.yaml:7:8: spec.processes[0].name: expected a DNS label",
        "bad.yaml:8:18: spec.processes[1].command: expected a list of arguments (no shell)",
        "bad.yaml:9:8: spec.processes[2].name: process 'op' is declared twice",
        "bad.yaml:9:43: spec.processes[2].env.KUBECONFIG: KUBECONFIG is set by kubechaos",
        "bad.yaml:9:60: spec.processes[2].restart: expected one of fail, ignore, restart",
        "bad.yaml:10:8: spec.processes[3].name: 'kube-scheduler' is the name of a component",
        "bad.yaml:10:30: spec.processes[3].command: expected at least the program to run",
        "bad.yaml:11:7: spec.processes[4].name: required field is missing",
        "bad.yaml:11:22: spec.processes[4].rstart: unknown field",
    ]
    for want in expected:
        assert any(line.startswith(want) for line in lines), (want, lines)


def test_exec_values_are_split_without_a_shell() -> None:
    """``--exec`` is split as a POSIX shell splits words (shlex), then run without a shell;
    ``NAME=`` before the command names it, else it is ``exec-<n>``."""
    spec = parse_exec("op=python -m kopf run 'my op.py'", 1, "fail")
    assert (spec.name, spec.command) == ("op", ("python", "-m", "kopf", "run", "my op.py"))
    assert parse_exec("FOO=1 env", 2, "ignore").name == "exec-2"
    with pytest.raises(ValueError, match="cannot split"):
        parse_exec("python 'unterminated", 1, "fail")
    with pytest.raises(ValueError, match="component of the model"):
        parse_exec("kubelet=sleep 1", 1, "fail")


def test_process_kill_is_in_the_catalogue_and_needs_a_process() -> None:
    """``kubechaos faults`` lists it; a scenario must name the process."""
    assert "process-kill" in CATALOGUE
    with pytest.raises(ValueError, match="needs a process"):
        CATALOGUE["process-kill"]()


async def test_the_harness_starts_processes_against_the_cluster(
    kubechaos: Any, tmp_path: Path
) -> None:
    """The pytest harness's ``processes``: started once the API is served on loopback, the
    clock paced to the wall clock, their requests made as their name."""
    lister = _script(tmp_path, "lister", LISTER)
    await kubechaos.boot(nodes=2, processes=[ProcessSpec("lister", ("python", lister))])
    await kubechaos.advance(5)
    outcome = kubechaos.run.processes[0]
    assert outcome.exit_code == 0, outcome.output
    assert outcome.output == "lister sees 0 pods\n"
