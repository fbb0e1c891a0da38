"""What a new kubelet makes of what it finds: restore after a reboot, adopt after a restart.

A kubelet process that starts on a node where another ran before starts from the runtime:

* after a **reboot** the runtime is empty (the node agent calls
  :meth:`~kubechaos.node.runtime.ContainerRuntime.forget_workloads`): the pods are re-listed and
  started again, continuing their restart counts from the statuses posted before, as upstream
  does from the container log directory (:meth:`Restorer.restore`);
* after a **kubelet restart** the containers kept running: every pod whose sandbox survived is
  *adopted* (:meth:`Restorer.adopt`) without restarting anything, as upstream's kubelet lists the
  runtime and carries on; sandboxes of pods that left the API meanwhile are removed
  (:meth:`Restorer.remove_orphans`, upstream's ``HandlePodCleanups``).

Upstream spreads this over ``kubelet.go``, ``kubelet_pods.go`` and ``kuberuntime``'s
``computePodActions``; it is gathered here because it is the one place where the kubelet's
state is rebuilt rather than evolved, and it runs only when a kubelet starts.
"""

from __future__ import annotations

import ipaddress

import attrs

from kubechaos.api.objects import ContainerStatus
from kubechaos.node.kubelet import init_containers as ic
from kubechaos.node.kubelet.config import KubeletEvents, NodeConfig
from kubechaos.node.kubelet.containers import ContainerLifecycle
from kubechaos.node.kubelet.pod_lifecycle import PodLifecycle
from kubechaos.node.kubelet.timers import TimerKind, TimerQueue
from kubechaos.node.network import PodNetwork, dotted_quad
from kubechaos.node.podstate import RUNNING, TERMINATED, WAITING, ContainerRun, PodState
from kubechaos.node.runtime import KILLED_EXIT_CODE, ContainerRuntime, RuntimeContainer
from kubechaos.sim.clock import now


@attrs.define
class Survivor:
    """A sandbox a previous kubelet left running, with its containers (in the runtime's order)."""

    ip: str
    containers: list[RuntimeContainer] = attrs.Factory(list)


class Restorer:
    """Rebuilds the kubelet's pod state from the API's statuses and the runtime's survivors."""

    def __init__(
        self,
        config: NodeConfig,
        network: PodNetwork,
        runtime: ContainerRuntime,
        timers: TimerQueue,
        pod_lifecycle: PodLifecycle,
        containers: ContainerLifecycle,
        events: KubeletEvents,
    ) -> None:
        self.config = config
        self.name = config.name
        self.network = network
        self.runtime = runtime
        self.timers = timers
        self.pod_lifecycle = pod_lifecycle
        self.containers = containers
        self.events = events
        # sandboxes a previous kubelet left running, by pod UID, until adopted
        self.adoptable: dict[str, Survivor] = {}

    # ------------------------------------------------------------------ at start-up
    def find_survivors(self) -> None:
        """Note the sandboxes (and their containers) a previous kubelet left in the runtime."""
        self.adoptable = {}
        if not self.runtime.sandboxes:
            return
        found = {uid: Survivor(ip) for uid, ip in self.runtime.sandboxes.items()}
        for container in self.runtime.containers.values():
            entry = found.get(container.pod_uid)
            if entry is not None:
                entry.containers.append(container)
        self.adoptable = found

    def clear_stale_endpoints(self) -> None:
        """A previous incarnation's endpoints died with it: nothing answers at their IPs.

        Endpoints of sandboxes still in the runtime (a kubelet restart) are kept for adoption.
        """
        if not self.config.pod_cidr or not len(self.network):
            return
        kept = {survivor.ip for survivor in self.adoptable.values()}
        net = ipaddress.ip_network(self.config.pod_cidr)
        if net.version != 4:
            candidates = [str(a) for a in net.hosts()]
        else:  # a few hundred lookups per boot; build the strings cheaply
            first = int(net.network_address)
            candidates = [dotted_quad(a) for a in range(first + 1, first + net.num_addresses - 1)]
        for ip in candidates:
            endpoint = self.network.lookup(ip)
            if endpoint is not None and endpoint.node == self.name and ip not in kept:
                self.network.detach(ip)

    def take(self, uid: str) -> Survivor | None:
        """The surviving sandbox of pod ``uid``, if any; it is no longer an orphan."""
        return self.adoptable.pop(uid, None) if self.adoptable else None

    def remove_orphans(self) -> None:
        """Sandboxes of pods that left the API while no kubelet ran: kill and remove them
        (upstream's HandlePodCleanups)."""
        orphans, self.adoptable = self.adoptable, {}
        for uid, survivor in orphans.items():
            for container in survivor.containers:
                self.runtime.remove_container(container.container_id)
            self.runtime.remove_pod_sandbox(uid)
            endpoint = self.network.lookup(survivor.ip)
            if endpoint is not None and endpoint.node == self.name:
                self.network.detach(survivor.ip)

    # ------------------------------------------------------------------ after a reboot
    def restore(self, ps: PodState) -> None:
        """Set each container up to start, continuing from the status a previous boot posted.

        After a reboot the runtime is empty but the API still has the old statuses. As upstream
        (restart count from the container log directory; ``ContainerStatusUnknown`` for a
        container that was running and is gone), a container that ran before starts again with
        its restart count + 1; one that was running is first recorded as terminated with 137; one
        that had terminated for good under the restart policy stays terminated.
        """
        status = ps.pod.status
        old_statuses = {
            s.name: s for s in (*status.init_container_statuses, *status.container_statuses)
        }
        for run in ps.runs:
            self._restore_run(ps, run, old_statuses.get(run.name))
        ic.rerun_after_sandbox_loss(ps)

    def _restore_run(self, ps: PodState, run: ContainerRun, old: ContainerStatus | None) -> None:
        """:meth:`restore` for one container (also used for one the runtime does not have)."""
        if old is not None:
            run.restart_count = old.restart_count
            run.ever_ran = (
                old.state != WAITING or old.started_at is not None or old.restart_count > 0
            )
            run.started_at = old.started_at
            if old.state == RUNNING:  # it vanished with the reboot
                run.term_reason = old.last_termination_reason
                run.record_exit(KILLED_EXIT_CODE, "ContainerStatusUnknown", now())
            elif old.state == TERMINATED:
                run.state = TERMINATED
                run.exit_code, run.finished_at = old.exit_code, old.finished_at
                run.term_reason, run.prev_term_reason = old.reason, old.last_termination_reason
            elif old.exit_code is not None:  # waiting after an exit (CrashLoopBackOff)
                run.exit_code, run.finished_at = old.exit_code, old.finished_at
                run.term_reason = old.last_termination_reason
        if run.state == TERMINATED:
            if not self.containers.should_restart(ps, run):
                return
            run.pending_restart = True
        ps.start_queue.append(run.index)

    # ------------------------------------------------------------------ after a kubelet restart
    def adopt(self, ps: PodState, survivor: Survivor) -> None:
        """Take over a pod whose sandbox survived the previous kubelet (a kubelet restart).

        Upstream a restarted kubelet lists the runtime and carries on: running containers are
        not touched. The runtime here keeps each container's ID, attempt, state, start time and
        exit, so the kubelet recovers all of that; what only the old kubelet knew comes from the
        pod's posted status (readiness, whether the startup probe had passed, the reason of the
        previous termination). Limits, from the runtime not running scripts by itself: a
        scripted exit due while no kubelet ran is recorded at adoption, and probe results due
        meanwhile are caught up only from now on. CrashLoopBackOff starts afresh, as upstream
        keeps its backoff in memory.
        """
        self.pod_lifecycle.adopt_sandbox(ps, survivor.ip)
        latest: dict[str, RuntimeContainer] = {}
        for candidate in survivor.containers:
            seen = latest.get(candidate.name)
            if seen is None or candidate.attempt >= seen.attempt:
                latest[candidate.name] = candidate
        status = ps.pod.status
        old_statuses = {
            s.name: s for s in (*status.init_container_statuses, *status.container_statuses)
        }
        restart: list[ContainerRun] = []
        t = now()
        for run in ps.runs:
            old = old_statuses.get(run.name)
            container = latest.get(run.name)
            if container is None or container.state == "created" or run.behaviour is None:
                # never created, or its start was in flight: start it (again)
                if container is not None:
                    run.container_id = container.container_id
                self._restore_run(ps, run, old)
                continue
            run.container_id = container.container_id
            run.restart_count = container.attempt
            run.ever_ran = True
            run.started_at = container.started_at
            if container.state == "running":
                self._adopt_running(run, old, t)
                continue
            self._adopt_exited(ps, run, container, old, t)
            if self.containers.should_restart(ps, run):
                restart.append(run)
        if ps.pod.metadata.deletion_timestamp is not None:
            return  # the caller terminates it: nothing starts again
        ic.note_adopted(ps)
        for run in restart:
            self.containers.restart(run)
        self.containers.advance_start(ps)

    def _adopt_exited(
        self,
        ps: PodState,
        run: ContainerRun,
        container: RuntimeContainer,
        old: ContainerStatus | None,
        t: float,
    ) -> None:
        """A container found exited: record its exit, unless the previous kubelet had."""
        code = KILLED_EXIT_CODE if container.exit_code is None else container.exit_code
        finished = container.finished_at if container.finished_at is not None else t
        if old is not None and old.state != RUNNING and old.finished_at == finished:
            # an exit the previous kubelet had already reported
            run.state = TERMINATED
            run.exit_code, run.finished_at = code, finished
            if old.state == TERMINATED:
                run.term_reason = old.reason
                run.prev_term_reason = old.last_termination_reason
            else:
                run.term_reason = old.last_termination_reason
        else:  # it exited while no kubelet was watching
            run.term_reason = old.last_termination_reason if old is not None else ""
            run.record_exit(code, "Completed" if code == 0 else "Error", finished)
            self.events.pod(ps, "ContainerDied", f"Container {run.name} exited with code {code}")

    def _adopt_running(self, run: ContainerRun, old: ContainerStatus | None, t: float) -> None:
        """A container found running: pick up its script and probes where they are."""
        assert run.behaviour is not None and run.started_at is not None
        run.state, run.reason = RUNNING, ""
        run.term_reason = old.last_termination_reason if old is not None else ""
        run.pending_restart = run.kill_restart = False
        run.stop_at = None
        run.term_at = None
        exits = ic.process_exit(run)
        if exits is not None:
            self.timers.at(
                max(t, run.started_at + exits[0]), TimerKind.EXITED, run, run.token, exits[1]
            )
        at = t - run.started_at
        startup = run.spec.startup_probe
        if startup is not None and not (old is not None and old.started):
            run.started = False
            self.containers.schedule_probe(run, "startup", startup, None, at)
            return
        run.started = True
        readiness = run.spec.readiness_probe
        if readiness is None:
            run.ready = True
        else:
            # a new kubelet's prober starts each readiness result at Failure (prober/worker.go
            # initialValue): not Ready until its first successful probe(s)
            run.ready = False
            self.containers.schedule_probe(run, "readiness", readiness, False, at)
        liveness = run.spec.liveness_probe
        if liveness is not None:
            self.containers.schedule_probe(run, "liveness", liveness, True, at)
