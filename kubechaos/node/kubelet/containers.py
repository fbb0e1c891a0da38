"""The container half of the pod lifecycle: start, probe, stop, exit, restart.

Mirrors upstream's ``pkg/kubelet/kuberuntime`` (``SyncPod`` starting a pod's containers one after
another: pull the image, create, start; ``doBackOff`` for CrashLoopBackOff and
ImagePullBackOff; ``killContainer`` with its grace period) and the wiring of
``pkg/kubelet/prober`` (startup, then readiness and liveness; a failed liveness or startup probe
restarts the container). Each step is a timer on the node's heap (:mod:`.timers`) rather than a
goroutine: the runtime's durations say when it completes, and a container's scripted behaviour
(:mod:`kubechaos.node.behaviour`) says ahead of time when it exits and when a probe flips.

Every container change is rolled up into its pod by :class:`~.pod_lifecycle.PodLifecycle`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubechaos.api.objects import Probe
from kubechaos.defaults import Settings
from kubechaos.node.behaviour import ProbeKind
from kubechaos.node.kubelet import hooks
from kubechaos.node.kubelet import init_containers as ic
from kubechaos.node.kubelet.config import KubeletEvents
from kubechaos.node.kubelet.configgate import ConfigGate
from kubechaos.node.kubelet.configrefs import ConfigSource
from kubechaos.node.kubelet.pod_lifecycle import PodLifecycle
from kubechaos.node.kubelet.status_manager import PodStatusManager
from kubechaos.node.kubelet.timers import Timer, TimerKind, TimerQueue
from kubechaos.node.kubelet.timing import KubeletTiming
from kubechaos.node.podstate import (
    RUNNING,
    SANDBOX_READY,
    WAITING,
    Backoff,
    ContainerRun,
    PodState,
)
from kubechaos.node.probes import failure_message, next_flip
from kubechaos.node.runtime import FAILED_START_EXIT_CODE, ContainerRuntime, PullTicket
from kubechaos.sim.clock import now


class ContainerLifecycle:
    """Runs each container of the node's pods through its states, on the node's timers."""

    def __init__(
        self,
        settings: Settings,
        runtime: ContainerRuntime,
        timers: TimerQueue,
        pod_lifecycle: PodLifecycle,
        status: PodStatusManager,
        events: KubeletEvents,
        timing: KubeletTiming,
        config: ConfigSource | None = None,
    ) -> None:
        self.runtime = runtime
        self.timing = timing
        self.config = config
        self.timers = timers
        self.pod_lifecycle = pod_lifecycle
        self.status = status
        self.events = events
        self.config_gate = ConfigGate(config, timers, events, status)
        s = settings
        self.crash_backoff = Backoff(
            s.crash_loop_backoff_initial, s.crash_loop_backoff_max, s.crash_loop_backoff_reset
        )
        self.image_backoff = Backoff(
            s.crash_loop_backoff_initial, s.crash_loop_backoff_max, s.crash_loop_backoff_reset
        )
        # the handler for each timer kind that targets a container
        self._handlers: dict[TimerKind, Callable[[ContainerRun, Any], None]] = {
            TimerKind.PULLED: self._pulled,
            TimerKind.CREATED: self._created,
            TimerKind.STARTED: self._started,
            TimerKind.EXITED: self._process_exited,
            TimerKind.RELISTED: self._relisted,
            TimerKind.STOPPED: self.exited,
            TimerKind.PROBE: self._probe,
            TimerKind.RESTART: self.restart,
            TimerKind.PULL_RETRY: self._pull_retry,
            TimerKind.CONFIG_RETRY: self._pull_retry,
            TimerKind.POST_STARTED: self._post_started,
            TimerKind.PRE_STOP_FAILED: self._pre_stop_failed,
        }

    def handle(self, timer: Timer, run: ContainerRun) -> None:
        """A timer for ``run`` (the timer's target, still current) came due."""
        self._handlers[timer.kind](run, timer.arg)

    # ------------------------------------------------------------------ starting
    def advance_start(self, ps: PodState) -> None:
        """Start the next queued container; upstream SyncPod starts them one after another."""
        if ps.starting is not None or ps.sandbox != SANDBOX_READY or ps.terminating:
            return
        while ps.start_queue:
            index = ic.next_startable(ps)
            if index is None:
                return  # the init sequence holds the rest back
            run = ps.runs[index]
            if run.behaviour is None:
                run.state, run.reason = WAITING, "CreateContainerConfigError"
                self.status.mark_dirty(ps)
                continue
            if run.spec.config_refs and not self.config_gate.ready(run):
                continue
            run.message = ""
            image = run.spec.image
            run.token += 1
            # imagePullPolicy Always is treated as IfNotPresent: its registry round trip for a
            # cached image is not modelled
            if self.runtime.has_image(image):
                self.events.pod(
                    ps, "Pulled", f'Container image "{image}" already present on machine'
                )
                self.timers.at(
                    now() + self.runtime.create_duration(), TimerKind.CREATED, run, run.token
                )
            elif run.spec.image_pull_policy == "Never":
                run.state, run.reason = WAITING, "ErrImageNeverPull"
                self.events.pod(
                    ps,
                    "ErrImageNeverPull",
                    f'Container image "{image}" is not present with pull policy of Never',
                )
                self.status.mark_dirty(ps)
                continue
            else:
                self.events.pod(ps, "Pulling", f'Pulling image "{image}"')
                ticket = self.runtime.request_pull(image, now())
                self.timers.at(ticket.done_at, TimerKind.PULLED, run, run.token, (ticket, now()))
            ps.starting = run.index
            return

    def _pulled(self, run: ContainerRun, arg: tuple[PullTicket, float]) -> None:
        ps = run.pod
        ticket, asked_at = arg
        image = run.spec.image
        if self.runtime.finish_pull(image, now()):
            self.events.pod(
                ps,
                "Pulled",
                f'Successfully pulled image "{image}" in {ticket.pull_seconds:.3f}s '
                f"({now() - asked_at:.3f}s including waiting)",
            )
            self.timers.at(
                now() + self.runtime.create_duration(), TimerKind.CREATED, run, run.token
            )
            return
        key = (ps.uid, image)
        self.image_backoff.next(key, now(), now())
        self.events.pod(
            ps,
            "Failed",
            f'Failed to pull image "{image}": failed to pull and unpack image: '
            "failed to resolve reference: registry unavailable",
        )
        self.events.pod(ps, "BackOff", f'Back-off pulling image "{image}"')
        run.state, run.reason = WAITING, "ImagePullBackOff"
        run.token += 1
        self.timers.at(now() + self.image_backoff.get(key), TimerKind.PULL_RETRY, run, run.token)
        ps.starting = None
        self.status.mark_dirty(ps)
        self.advance_start(ps)

    def _pull_retry(self, run: ContainerRun, arg: Any) -> None:
        ps = run.pod
        ps.start_queue.insert(0, run.index)
        self.advance_start(ps)

    def _created(self, run: ContainerRun, arg: Any) -> None:
        ps = run.pod
        if run.ever_ran:
            run.restart_count += 1
        if run.container_id:
            self.runtime.remove_container(run.container_id)
        run.container_id = self.runtime.create_container(
            ps.uid, run.name, run.spec.image, run.restart_count
        )
        self.events.pod(ps, "Created", f"Created container {run.name}")
        self.timers.at(now() + self.runtime.start_duration(), TimerKind.STARTED, run, run.token)

    def _started(self, run: ContainerRun, arg: Any) -> None:
        ps = run.pod
        t = now()
        self.runtime.start_container(run.container_id, t)
        run.started_at = t
        run.ever_ran = True
        run.pending_restart = run.kill_restart = False
        run.stop_at = None
        run.term_at = None
        run.ready = False
        self.events.pod(ps, "Started", f"Started container {run.name}")
        assert run.behaviour is not None
        if self.runtime.failing and self.runtime.fails_on_start(ps.uid):
            exits: tuple[float, int] | None = (0.0, FAILED_START_EXIT_CODE)  # a pod-failure fault
        else:
            exits = ic.process_exit(run)
        if exits is not None:
            self.timers.at(t + exits[0], TimerKind.EXITED, run, run.token, exits[1])
        hook = hooks.post_start(run)
        if hook is not None:  # the sync waits for it: not running, not probed, next one waits
            run.in_post_start = True
            self.timers.at(t + hook.seconds, TimerKind.POST_STARTED, run, run.token, hook)
            return
        self._running(run, 0.0)

    def _running(self, run: ContainerRun, at: float) -> None:
        """The container is running (its postStart hook, if any, returned ``at`` s after start):
        its probes begin and the next container may start."""
        ps = run.pod
        ps.starting = None
        run.state, run.reason = RUNNING, ""
        run.in_post_start = False
        startup = run.spec.startup_probe
        if startup is not None:
            run.started = False
            self.schedule_probe(run, "startup", startup, None, at)
        else:
            self._container_started(run, at)
        self.pod_lifecycle.refresh(ps)
        self.advance_start(ps)

    def _post_started(self, run: ContainerRun, hook: hooks.HookRun) -> None:
        """The postStart hook returned; a failure kills the container (killContainer with reason
        FailedPostStartHook, no grace override) and the restart policy decides the rest."""
        assert run.started_at is not None
        if not hook.failure:
            self._running(run, now() - run.started_at)
            return
        ps = run.pod
        self.events.pod(ps, "FailedPostStartHook", hook.failure)
        self.abort_post_start(run)
        self.events.pod(ps, "Killing", "FailedPostStartHook")
        self.stop(run, ps.pod.spec.termination_grace_period_seconds)
        self.pod_lifecycle.refresh(ps)
        self.advance_start(ps)

    def abort_post_start(self, run: ContainerRun) -> None:
        """A container whose postStart hook has not returned is to be stopped: it is a running
        process to the kill (not started, not Ready); the next container may start."""
        if run.in_post_start:
            run.in_post_start = False
            run.state, run.reason = RUNNING, ""
            run.started = run.ready = False
            if run.pod.starting == run.index:
                run.pod.starting = None

    # ------------------------------------------------------------------ probes
    def _container_started(self, run: ContainerRun, at: float) -> None:
        """The startup probe passed (or there is none): readiness and liveness begin."""
        run.started = True
        readiness = run.spec.readiness_probe
        if readiness is None:
            run.ready = True
        else:
            self.schedule_probe(run, "readiness", readiness, False, at)
        liveness = run.spec.liveness_probe
        if liveness is not None:
            self.schedule_probe(run, "liveness", liveness, True, at)

    def schedule_probe(
        self, run: ContainerRun, kind: ProbeKind, probe: Probe, current: bool | None, at: float
    ) -> None:
        """Set a timer for the next flip of ``run``'s ``kind`` probe from ``current``, looking
        from ``at`` seconds after the container started."""
        assert run.behaviour is not None and run.started_at is not None
        flip = next_flip(probe, run.behaviour, kind, current, at)
        if flip is not None:
            when, value = flip
            self.timers.at(
                run.started_at + when, TimerKind.PROBE, run, run.token, (kind, value, when, probe)
            )

    def _probe(self, run: ContainerRun, arg: tuple[ProbeKind, bool, float, Probe]) -> None:
        kind, value, when, probe = arg
        ps = run.pod
        if kind == "readiness":
            run.ready = value
            if not value:
                self.events.pod(ps, "Unhealthy", failure_message(kind, probe))
            self.schedule_probe(run, kind, probe, value, when + probe.period_seconds)
            self.pod_lifecycle.refresh(ps)
            return
        if ps.terminating or run.stop_at is not None:
            return  # upstream stops liveness and startup probes of a terminating pod
        if kind == "startup" and value:
            self._container_started(run, when)
            self.pod_lifecycle.refresh(ps)
            if run.kind:
                self.advance_start(ps)  # a started sidecar lets the init sequence go on
            return
        self.events.pod(ps, "Unhealthy", failure_message(kind, probe))
        self.events.pod(
            ps, "Killing", f"Container {run.name} failed {kind} probe, will be restarted"
        )
        run.kill_restart = True
        # killContainer's setTerminationGracePeriod: a liveness or startup probe's own
        # terminationGracePeriodSeconds wins over the pod's for the kill it causes
        grace = probe.termination_grace_period_seconds
        if grace is None:
            grace = ps.pod.spec.termination_grace_period_seconds
        self.stop(run, grace)

    # ------------------------------------------------------------------ stopping and exits
    def stop(self, run: ContainerRun, grace: float, override: bool = False) -> None:
        """killContainer: the preStop hook (the process keeps running), then SIGTERM; the process
        is gone after its shutdown time, or SIGKILLed when the window runs out. ``override``:
        ``grace`` is the pod workers' override for a pod being deleted (see :mod:`.hooks`)."""
        assert run.behaviour is not None
        hook = hooks.pre_stop(run, grace) if run.stop_at is None else None
        hook_seconds = 0.0 if hook is None else hook.seconds
        window = hooks.grace_after_pre_stop(grace, hook_seconds, override)
        seconds, code = run.behaviour.stop_seconds(window)
        exit_at = now() + hook_seconds + seconds
        if run.stop_at is not None and run.stop_at <= exit_at:
            return
        run.stop_at = exit_at
        if run.term_at is None:
            run.term_at = now() + hook_seconds
        if run.pod.endpoint is not None:
            run.pod.endpoint.changed()  # SIGTERM ahead: what answers may change (closes-on-term)
        if hook is not None and hook.failure:
            self.timers.at(
                now() + hook_seconds, TimerKind.PRE_STOP_FAILED, run, run.token, hook.failure
            )
        self.timers.at(exit_at, TimerKind.STOPPED, run, run.token, code)

    def _pre_stop_failed(self, run: ContainerRun, message: str) -> None:
        self.events.pod(run.pod, "FailedPreStopHook", message)

    def _process_exited(self, run: ContainerRun, code: int) -> None:
        """The process ended on its own: nothing answers at once; the kubelet sees it at PLEG's
        next relist (:mod:`.timing`)."""
        t = now()
        self.runtime.container_exited(run.container_id, t, code)
        self.unseen_exit(run, code, t)

    def unseen_exit(self, run: ContainerRun, code: int, t: float) -> None:
        """``run``'s process died at ``t`` without the kubelet's doing: PLEG reports it at the
        next relist; until then nothing the kubelet had in flight for it happens."""
        seen = self.timing.relist_after(t)
        if seen <= now():
            self.exited(run, code, t)
            return
        endpoint = run.pod.endpoint
        if endpoint is not None:
            endpoint.running = endpoint.ready = False
        run.token += 1
        self.timers.at(seen, TimerKind.RELISTED, run, run.token, (code, t))

    def _relisted(self, run: ContainerRun, arg: tuple[int, float]) -> None:
        self.exited(run, *arg)

    def exited(self, run: ContainerRun, code: int, finished: float | None = None) -> None:
        """The process ended (on its own or stopped) at ``finished`` (default now), and the
        kubelet knows it: record it, then restart or settle."""
        ps = run.pod
        t = now() if finished is None else finished
        run.token += 1
        if run.in_post_start and ps.starting == run.index:
            ps.starting = None  # it died before its postStart hook returned
        run.record_exit(code, "Completed" if code == 0 else "Error", t)
        self.runtime.container_exited(run.container_id, t, code)
        self.events.pod(ps, "ContainerDied", f"Container {run.name} exited with code {code}")
        if ps.terminating:
            self.stop_next_sidecar(ps)
            self.pod_lifecycle.check_terminated(ps)
        elif self.should_restart(ps, run):
            self.restart(run)
        elif ps.all_done() or ic.init_failed(ps, run):
            self.complete(ps)
        elif run.kind:
            self.advance_start(ps)  # the next init container, or the app containers
        run.kill_restart = False
        self.pod_lifecycle.refresh(ps)

    def complete(self, ps: PodState) -> None:
        """The app containers are done (or an init container failed for good): stop the
        sidecars, last first, then the pod is Succeeded or Failed."""
        ic.cancel_sidecar_restarts(ps)
        if ic.sidecars_running(ps):
            assert ps.init is not None
            if not ps.init.completing:
                ps.init.completing = True
                ps.start_queue.clear()
                ic.begin_stop(ps, ps.pod.spec.termination_grace_period_seconds)
            self.stop_next_sidecar(ps)
            return
        self.pod_lifecycle.completed(ps)

    def stop_next_sidecar(self, ps: PodState) -> None:
        """Sidecars stop after the app containers, one at a time in reverse order."""
        found = ic.next_sidecar_to_stop(ps)
        if found is not None:
            run, grace = found
            self.events.pod(ps, "Killing", f"Stopping container {run.name}")
            self.stop(run, grace)

    def kill_all(self, ps: PodState) -> None:
        """The pod is gone from the API: kill its containers at once and forget their backoffs."""
        for run in ps.runs:
            if run.state == RUNNING:
                self.events.pod(ps, "Killing", f"Stopping container {run.name}")
            run.token += 1
            if run.container_id:
                self.runtime.remove_container(run.container_id)
            self.crash_backoff.forget((ps.uid, run.name))
            self.image_backoff.forget((ps.uid, run.spec.image))

    # ------------------------------------------------------------------ restarts
    should_restart = staticmethod(ic.restarts_after_exit)

    def restart(self, run: ContainerRun, arg: Any = None) -> None:
        """doBackOff: restart now, or wait out CrashLoopBackOff counted from the exit."""
        ps = run.pod
        key = (ps.uid, run.name)
        finished = run.finished_at if run.finished_at is not None else now()
        run.pending_restart = True
        if self.crash_backoff.is_in_backoff_since(key, finished, now()):
            again = run.reason == "CrashLoopBackOff"
            run.state, run.reason = WAITING, "CrashLoopBackOff"
            run.token += 1
            delay = self.timing.resync_delay()  # the pod workers retry the sync
            retry = finished + self.crash_backoff.get(key) if delay is None else now() + delay
            self.timers.at(retry, TimerKind.RESTART, run, run.token)
            if again:
                return  # upstream's recorder folds repeats into the first event's count
            self.events.pod(
                ps,
                "BackOff",
                f"Back-off restarting failed container {run.name} in pod "
                f"{ps.pod.metadata.name}_{ps.pod.metadata.namespace}({ps.uid})",
            )
            self.status.mark_dirty(ps)
            return
        self.crash_backoff.next(key, finished, now())
        ps.start_queue.append(run.index)
        self.advance_start(ps)
