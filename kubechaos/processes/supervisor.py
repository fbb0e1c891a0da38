"""Running a run's external processes: start, capture, restart, kill, stop.

Each process starts once the run's API is served (it is a service of the run, started after the
front door), without a shell (its argv as given; ``python`` is the interpreter running
kubechaos), with ``KUBECONFIG`` naming a kubeconfig of its own, ``KUBECHAOS_CLIENT`` its name
and ``KUBECHAOS_SPEED`` the run's pace (virtual seconds per wall second).
That kubeconfig carries a bearer token the front door maps to the process's name, so every
request it makes is made as that client whatever User-Agent it sends (kopf, kubectl and
client-go all send their own): a fault's ``clients: [NAME]`` picks it.

Its stdout and stderr go into one bounded tail (the last ``processOutputKiB``) for the report.
An early exit (before the end of the run) follows the process's policy: ``fail`` stops the run
with a one-line reason if the code is not 0, ``ignore`` leaves it exited, ``restart`` starts it
again after the kubelet's crash-loop backoff. At the end of the run each process still running
gets SIGTERM and, after ``processTerminationGrace``, SIGKILL, as the kubelet stops a container.

Real processes answer in wall time: a run with processes is paced (1x unless ``--speed``), and
what they did when is not a function of the seed, so the run cannot be replayed exactly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import attrs
import trio

from kubechaos.defaults import Settings
from kubechaos.faults.process import attach_processes
from kubechaos.frontdoor.server import APIService, kubeconfig, new_token, write_config
from kubechaos.scenario.procspec import ProcessOutcome, ProcessSpec
from kubechaos.scenario.runner import Run

_READ_CHUNK = 65536


class ProcessFailed(Exception):
    """A process exited early with a non-zero code under the ``fail`` policy."""


class OutputTail:
    """The last ``limit`` bytes written to a process's stdout and stderr."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.truncated = False

    def write(self, chunk: bytes | bytearray) -> None:
        self.data += chunk
        excess = len(self.data) - self.limit
        if excess > 0:
            del self.data[:excess]
            self.truncated = True

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")

    def last_line(self) -> str:
        lines = [line for line in self.text().splitlines() if line.strip()]
        return lines[-1].strip()[:200] if lines else ""


@attrs.define(eq=False)
class Managed:
    """One process and what its supervisor knows of it."""

    spec: ProcessSpec
    token: str
    config: Path
    outcome: ProcessOutcome
    tail: OutputTail
    process: trio.Process | None = None
    holds: int = 0  # process-kill faults holding it down
    killed: bool = False  # the current exit was a fault's SIGKILL
    released: trio.Event = attrs.field(factory=trio.Event)
    drained: trio.Event = attrs.field(factory=trio.Event)
    pump: trio.CancelScope | None = None  # the task reading its output
    backoff: float = 0.0


class Supervisor:
    """The external processes of one run (a service of the run, and the seam of its process
    faults)."""

    def __init__(self, the_run: Run, service: APIService, specs: Sequence[ProcessSpec]) -> None:
        self.the_run = the_run
        self.service = service
        self.settings: Settings = the_run.cluster.spec.settings
        self.events = the_run.events
        self._dir = tempfile.TemporaryDirectory(prefix="kubechaos-processes-")
        limit = max(1, int(self.settings.process_output_kib * 1024))
        self.managed: dict[str, Managed] = {}
        self._pumps: trio.Nursery | None = None
        for spec in specs:
            outcome = ProcessOutcome(spec.name, spec.command)
            token = new_token()
            config = Path(self._dir.name) / f"{spec.name}.kubeconfig"
            self.managed[spec.name] = Managed(spec, token, config, outcome, OutputTail(limit))
            service.client_tokens[token] = spec.name
            the_run.processes.append(outcome)
        attach_processes(the_run.cluster, self)
        the_run.services.append(self.run)

    # ---------------------------------------------------------------- the seam of the faults
    def names(self) -> Sequence[str]:
        return tuple(self.managed)

    def kill(self, name: str, reason: str) -> None:
        managed = self.managed[name]
        managed.holds += 1
        if managed.holds == 1:
            managed.released = trio.Event()
        if managed.process is not None and managed.process.returncode is None:
            managed.killed = True
            _signal(managed.process, signal.SIGKILL)
        self._record(managed, "Killing", reason)

    def release(self, name: str) -> None:
        managed = self.managed[name]
        if managed.holds > 0:
            managed.holds -= 1
            if managed.holds == 0:
                managed.released.set()

    # ---------------------------------------------------------------- running
    async def run(self) -> None:
        """Start every process and keep each to its policy until cancelled (the end of the
        run), then stop them: SIGTERM, then SIGKILL after the grace period."""
        try:
            for managed in self.managed.values():
                self._write_config(managed)
            # Output is read by tasks shielded from the end of the run: a process writing as it
            # shuts down must not die of a closed pipe. They end at EOF, once it has exited.
            async with trio.open_nursery() as pumps:
                self._pumps = pumps
                try:
                    async with trio.open_nursery() as nursery:
                        for managed in self.managed.values():
                            name = f"process/{managed.spec.name}"
                            nursery.start_soon(self._keep, managed, name=name)
                finally:
                    with trio.CancelScope(shield=True):
                        await self._stop_all()
                        for managed in self.managed.values():
                            await self._drain(managed)
        finally:
            self._finish()

    def _write_config(self, managed: Managed) -> None:
        config = kubeconfig(self.service.endpoint, self.service.context_name)
        config["users"][0]["user"] = {"token": managed.token}
        write_config(managed.config, config)

    async def _keep(self, managed: Managed) -> None:
        while True:
            if managed.holds:
                await managed.released.wait()
            started = trio.current_time()
            code = await self._run_once(managed)
            if managed.killed:
                managed.killed = False
                continue  # held down by the fault until it lets go
            if not await self._after_exit(managed, code, trio.current_time() - started):
                return

    async def _run_once(self, managed: Managed) -> int:
        spec = managed.spec
        argv = list(spec.command)
        if argv[0] in ("python", "python3"):
            argv[0] = sys.executable
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            **spec.env,
            "KUBECONFIG": str(managed.config),
            "KUBECHAOS_CLIENT": spec.name,
            "KUBECHAOS_SPEED": f"{self.service.speed:g}",  # virtual seconds per wall second
        }
        try:
            process = await trio.lowlevel.open_process(
                argv,
                env=env,
                cwd=spec.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise ProcessFailed(
                f"process {spec.name}: cannot start {argv[0]!r}: {exc.strerror or exc}"
            ) from None
        if managed.process is not None:
            managed.outcome.restarts += 1  # every start after the first
        managed.process = process
        self._record(managed, "Started", f"pid {process.pid}: {' '.join(spec.command)}")
        assert process.stdout is not None and self._pumps is not None
        managed.drained = trio.Event()
        managed.pump = trio.CancelScope(shield=True)
        self._pumps.start_soon(self._pump, process.stdout, managed)
        code = await process.wait()
        await self._drain(managed)
        managed.outcome.exit_code = code
        managed.outcome.output = managed.tail.text()
        managed.outcome.truncated = managed.tail.truncated
        return code

    async def _pump(self, stream: trio.abc.ReceiveStream, managed: Managed) -> None:
        assert managed.pump is not None
        with managed.pump:
            try:
                async with stream:
                    while chunk := await stream.receive_some(_READ_CHUNK):
                        managed.tail.write(chunk)
            finally:
                managed.drained.set()

    async def _drain(self, managed: Managed) -> None:
        """Let the exited process's output be read to its end: a (wall) second at most, since a
        grandchild may hold the pipe open."""
        if managed.pump is None:
            return  # never started
        with trio.move_on_after(self.service.speed):
            await managed.drained.wait()
        managed.pump.cancel()

    async def _after_exit(self, managed: Managed, code: int, ran: float) -> bool:
        """What an exit before the end of the run does; whether to run the process again."""
        spec = managed.spec
        self._record(managed, "Exited", f"exit code {code}")
        if spec.restart == "fail" and code != 0:
            last = managed.tail.last_line()
            raise ProcessFailed(
                f"process {spec.name} exited with code {code} at "
                f"{trio.current_time():.1f}s (policy fail)"
                + (f"; last output: {last}" if last else "")
            )
        if spec.restart != "restart":
            return False
        settings = self.settings
        if ran >= settings.crash_loop_backoff_reset:
            managed.backoff = 0.0
        managed.backoff = min(
            settings.crash_loop_backoff_max,
            managed.backoff * 2 if managed.backoff else settings.crash_loop_backoff_initial,
        )
        self._record(managed, "BackOff", f"restarting in {managed.backoff:g}s")
        await trio.sleep(managed.backoff)
        return True

    async def _stop_all(self) -> None:
        running = [
            m
            for m in self.managed.values()
            if m.process is not None and m.process.returncode is None
        ]
        for managed in running:
            assert managed.process is not None
            _signal(managed.process, signal.SIGTERM)
        with trio.move_on_after(self.settings.process_termination_grace):
            for managed in running:
                assert managed.process is not None
                await managed.process.wait()
        for managed in running:
            assert managed.process is not None
            if managed.process.returncode is None:
                _signal(managed.process, signal.SIGKILL)
                await managed.process.wait()
            managed.outcome.exit_code = managed.process.returncode

    def _finish(self) -> None:
        for managed in self.managed.values():
            managed.outcome.output = managed.tail.text()
            managed.outcome.truncated = managed.tail.truncated
        self._dir.cleanup()

    def _record(self, managed: Managed, reason: str, message: str) -> None:
        if self.the_run.finished_at is None:
            self.events.record("kubechaos", "Process", managed.spec.name, reason, message)


def _signal(process: trio.Process, sig: int) -> None:
    """Signal the process's whole session (a shell's or kopf's children go with it)."""
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        process.send_signal(sig)


__all__ = ["OutputTail", "ProcessFailed", "Supervisor"]
