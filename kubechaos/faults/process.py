"""Faults on the external processes of a run (``kubechaos run --exec``, ``spec.processes``): the
controller under test, not the model.

The processes are real programs supervised outside the model (:mod:`kubechaos.processes`); the
supervisor attaches itself to the run's cluster as a :class:`ProcessControl`, the one seam these
faults act through. A run without processes has none, and a fault aimed at one fails to inject
(a FaultFailed event, so the run does not pass), naming what exists.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Protocol

import attrs

from kubechaos.cluster import Cluster
from kubechaos.faults.base import Fault, FaultEnv, FaultError, fault_type, param
from kubechaos.sim import timers


class ProcessControl(Protocol):
    """What a fault may do to a run's external processes."""

    def names(self) -> Sequence[str]:
        """The processes of the run, by name."""

    def kill(self, name: str, reason: str) -> None:
        """SIGKILL the process and hold it down (no restart policy applies) until released."""

    def release(self, name: str) -> None:
        """Let go of one hold; the last one starts the process again."""


# Keyed by the cluster (weakly: a finished run takes its supervisor with it).
_CONTROLS: weakref.WeakKeyDictionary[Cluster, ProcessControl] = weakref.WeakKeyDictionary()


def attach_processes(cluster: Cluster, control: ProcessControl) -> None:
    """Make ``control`` the seam process faults act through in ``cluster``'s run."""
    _CONTROLS[cluster] = control


def control_of(cluster: Cluster, name: str) -> ProcessControl:
    control = _CONTROLS.get(cluster)
    known = tuple(control.names()) if control is not None else ()
    if control is None or name not in known:
        have = ", ".join(known) if known else "none (give --exec or spec.processes)"
        raise FaultError(f"no external process named {name!r}; the run's processes: {have}")
    return control


@fault_type(
    "process-kill",
    target="none",
    summary="SIGKILL an external process of the run (the controller under test); with "
    "restartAfter it is started again after that long, as its Deployment's pod would be",
    lasting=False,
)
@attrs.define(kw_only=True)
class ProcessKill(Fault):
    """The process gets SIGKILL at once: no shutdown handler runs, its memory (caches, queues,
    leases it meant to release) is lost, as when the kubelet kills a container (OOM, a failed
    liveness probe, a node losing power). With ``restartAfter`` a fresh process starts after that
    long (a pod restarted with its backoff, or rescheduled); without, it stays down to the end of
    the run, whatever its own restart policy (a kill is the fault's, not an exit to react to)."""

    process: str | None = param(
        None, "process", "string", "the external process to kill, by name (required)"
    )
    restart_after: float | None = param(
        None,
        "restartAfter",
        "duration",
        "start it again after this long (as its pod's restart would); omitted: stays down",
    )

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if not self.process:
            raise ValueError("process-kill needs a process (the name given to --exec or in "
                             "spec.processes)")  # fmt: skip

    def held(self) -> bool:
        """With ``restartAfter``, the process is down (the fault in force) until its restart,
        which is recorded as the revert."""
        return self.restart_after is not None

    async def inject(self, env: FaultEnv) -> list[str]:
        name = self.process or ""
        control = control_of(env.cluster, name)
        control.kill(name, f"killed by fault {self.name}")
        if self.restart_after is not None:
            env.nursery.start_soon(_release_after, env, self, name, self.restart_after)
        return [name]


async def _release_after(env: FaultEnv, fault: ProcessKill, name: str, delay: float) -> None:
    """Start the process again after ``delay``; the restart is on the record as the fault's
    revert, so a ``from: revert`` SLO measures from the moment the controller is back, and a
    disturbance while it was down (a change it missed) counts as the kill's."""
    await timers.sleep(delay)
    control_of(env.cluster, name).release(name)
    env.cluster.events.record(
        "kubechaos", "Fault", fault.name, "FaultReverted",
        f"{fault.type} reverted: {name} started again after {delay:g}s",
        type=fault.type, restarted=True,
    )  # fmt: skip


__all__ = ["ProcessControl", "ProcessKill", "attach_processes", "control_of"]
