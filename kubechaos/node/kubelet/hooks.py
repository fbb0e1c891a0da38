"""Container lifecycle hooks: how long ``postStart`` and ``preStop`` take, and whether they fail.

Upstream (v1.32) ``pkg/kubelet/lifecycle/handlers.go`` runs a hook (``HandlerRunner.Run``) and
``pkg/kubelet/kuberuntime/kuberuntime_container.go`` decides what it does to the container:

* ``postStart`` runs right after the runtime started the container (``startContainer`` step 4);
  the pod worker's sync waits for it, so the container is not reported running, not probed and
  not Ready until it returns. A failed hook records ``FailedPostStartHook`` and kills the
  container (``killContainer`` with reason ``FailedPostStartHook``, its preStop hook included);
  the restart policy restarts it.
* ``preStop`` runs inside ``killContainer`` before ``StopContainer`` (SIGTERM), while the
  container keeps running (and serving). ``executePreStopHook`` waits at most the grace period
  and returns the whole seconds it took; the rest of the grace period (at least
  ``minimumGracePeriodInSeconds``, 2 s) is the SIGTERM-to-SIGKILL window. A pod being deleted
  is killed with the pod workers' grace period as ``gracePeriodOverride`` (pod_workers.go
  ``UpdatePod``: "always set the grace period for syncTerminatingPod"), which
  ``killContainer`` applies *after* the subtraction: its containers get the whole grace period
  again after the hook. A failed hook records ``FailedPreStopHook``; the container is stopped
  regardless.

How long an action takes: ``sleep`` its seconds; an ``exec`` of ``sleep N`` (directly or as
``sh -c "sleep N ..."``) N seconds; any other command :data:`EXEC_HOOK_SECONDS` (the CRI exec
round trip, negligible); ``httpGet`` returns at once. The container's behaviour annotation
(``prestop=D``, ``poststart=D``, ``prestop-fail``, ``poststart-fail``;
:mod:`kubechaos.node.behaviour`) overrides both. ``tcpSocket`` is deprecated and "not supported
as a LifecycleHandler": the runner fails it at once ("Cannot run handler: invalid handler").
"""

from __future__ import annotations

import re

import attrs

from kubechaos.api.objects import LifecycleHandler
from kubechaos.node.podstate import ContainerRun

# A command other than ``sleep N``: the CRI ExecSync round trip, taken as instantaneous.
EXEC_HOOK_SECONDS = 0.0
# kuberuntime_manager.go minimumGracePeriodInSeconds: the least SIGTERM-to-SIGKILL window.
MINIMUM_GRACE_PERIOD_SECONDS = 2

_SHELLS = ("sh", "bash", "ash", "dash", "zsh", "busybox")
_SLEEP = re.compile(r"^\s*(?:exec\s+)?sleep\s+(\d+(?:\.\d*)?|\.\d+)([smhd]?)\s*(?:$|[;&|\n])")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@attrs.frozen(slots=True)
class HookRun:
    """One run of a hook: how long it takes, and the failure event's message (empty: success)."""

    seconds: float
    failure: str = ""


def command_seconds(command: tuple[str, ...]) -> float:
    """How long an ``exec`` hook's command runs: ``sleep N`` N s, else :data:`EXEC_HOOK_SECONDS`."""
    if not command:
        return EXEC_HOOK_SECONDS
    program = command[0].rsplit("/", 1)[-1]
    script = ""
    if program == "sleep":
        script = " ".join(("sleep", *command[1:]))
    elif program in _SHELLS and len(command) >= 3 and command[1] == "-c":
        script = command[2]
    elif program == "busybox" and len(command) >= 2 and command[1] == "sleep":
        script = " ".join(command[1:])
    match = _SLEEP.match(script)
    if match is None:
        return EXEC_HOOK_SECONDS
    return float(match.group(1)) * _UNITS[match.group(2)]


def _pod_name(run: ContainerRun) -> str:
    meta = run.pod.pod.metadata
    return f"{meta.name}_{meta.namespace}({run.pod.uid})"


def _run(
    run: ContainerRun, handler: LifecycleHandler, override: float | None, fail: bool
) -> HookRun:
    where = f'for Container "{run.name}" in Pod "{_pod_name(run)}"'
    if handler.action == "tcpSocket":
        return HookRun(0.0, "Cannot run handler: invalid handler: tcpSocket is not supported")
    if handler.action == "exec":
        seconds = command_seconds(handler.command) if override is None else override
        words = " ".join(handler.command)
        failure = (
            f"Exec lifecycle hook ([{words}]) {where} failed - error: command '{words}' "
            'exited with 1: , message: ""'
        )
    elif handler.action == "sleep":
        seconds = float(handler.seconds) if override is None else override
        failure = f"Sleep lifecycle hook ({handler.seconds}) {where} failed"
    else:  # httpGet
        seconds = 0.0 if override is None else override
        failure = f"HTTP lifecycle hook () {where} failed - error: received status code 500"
    return HookRun(seconds, failure if fail else "")


def post_start(run: ContainerRun) -> HookRun | None:
    """The container's postStart hook run, or None without one."""
    lifecycle, behaviour = run.spec.lifecycle, run.behaviour
    if lifecycle is None or lifecycle.post_start is None or behaviour is None:
        return None
    return _run(run, lifecycle.post_start, behaviour.poststart, behaviour.poststart_fail)


def pre_stop(run: ContainerRun, grace: float) -> HookRun | None:
    """The preStop hook run before SIGTERM with ``grace`` seconds (None: no hook runs, as
    upstream runs none with a grace period of 0); its ``seconds`` are what
    ``executePreStopHook`` waits: at most ``grace``."""
    lifecycle, behaviour = run.spec.lifecycle, run.behaviour
    if lifecycle is None or lifecycle.pre_stop is None or behaviour is None or grace <= 0:
        return None
    hook = _run(run, lifecycle.pre_stop, behaviour.prestop, behaviour.prestop_fail)
    if hook.seconds >= grace:  # abandoned: "PreStop hook not completed in grace period"
        return HookRun(float(grace), "")
    return hook


def grace_after_pre_stop(grace: float, hook_seconds: float, override: bool) -> float:
    """The SIGTERM-to-SIGKILL window after a preStop hook of ``hook_seconds`` (killContainer):
    ``grace`` less the whole seconds the hook took, at least 2 s; the whole ``grace`` again when
    the pod workers passed it as an override (a pod being deleted)."""
    if override:
        return grace
    return max(grace - int(hook_seconds), MINIMUM_GRACE_PERIOD_SECONDS)


__all__ = [
    "EXEC_HOOK_SECONDS",
    "MINIMUM_GRACE_PERIOD_SECONDS",
    "HookRun",
    "command_seconds",
    "grace_after_pre_stop",
    "post_start",
    "pre_stop",
]
