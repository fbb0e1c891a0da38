"""A CRI-like container runtime for one node: image cache, sandboxes, containers, latencies.

Upstream the kubelet calls containerd over CRI (RunPodSandbox, PullImage, CreateContainer,
StartContainer, StopContainer) and each call takes real time. Here the runtime *prices* each
operation instead of sleeping through it: the kubelet asks how long an operation takes and
schedules its completion on its own per-node timer heap, so 30 pods starting on a node cost no
task per pod. The runtime keeps what a real runtime keeps: the images on the node's disk (pulled
once, then cached), the sandboxes and containers that exist, and the serial image puller
(``serializeImagePulls: true``, the kubelet default: one pull at a time per node; a second
request for an image already being pulled waits for that pull).

The runtime outlives its kubelet: when the kubelet process stops, containers keep running, and
a new kubelet adopts what it finds here (see :meth:`Restorer.adopt
<kubechaos.node.kubelet.restore.Restorer.adopt>`). A node reboot is :meth:`forget_workloads`: sandboxes,
containers and pulls in flight are gone, images on disk stay.

Seams for faults (plain attributes; each costs one truth test when no fault is active):

* :attr:`ContainerRuntime.slow_factors` -- factors stretching every operation's latency (a loaded
  or throttled node). Add and remove them with :meth:`add_slow_factor` /
  :meth:`remove_slow_factor`; :attr:`slow_factor` is their product, recomputed from the list so
  removing one factor restores exactly the product of the others.
* :attr:`ContainerRuntime.pull_failures` -- one entry per active registry outage: a tuple of
  images (empty: every image). A pull fails when any entry covers its image, decided when the
  pull is requested (a pull already under way finishes as it started).
  :attr:`image_pull_fails` is a plain switch failing every pull (for direct use in tests).
* :meth:`ContainerRuntime.kill` -- something outside the kubelet kills containers (a chaos
  tool, ``kill -9``, the OOM killer). The process is gone at once; its container ID is queued in
  :attr:`unseen_exits` and :attr:`listener` (the running kubelet's wake-up) is called, so the
  kubelet learns of the exit the way PLEG tells it of any exit, without a task per container.
* :attr:`ContainerRuntime.failing` -- pod UID -> holds: every container of such a pod crashes
  as soon as it starts (exit code :data:`FAILED_START_EXIT_CODE`); :meth:`fail_pods` also kills
  the ones running, :meth:`heal_pods` lets go of one hold.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection, Iterable

import attrs

from kubechaos.defaults import Settings
from kubechaos.sim.rand import jitter

# What a container's process exits with when a fault makes it fail on start (pod-failure): a
# generic application error, as Chaos Mesh's pod-failure leaves containers that cannot run.
FAILED_START_EXIT_CODE = 1
# SIGKILL: 128 + 9, what a container killed from outside shows as its exit code.
KILLED_EXIT_CODE = 137


@attrs.frozen(slots=True)
class PullTicket:
    """The outcome of asking for an image: when it is there (or the pull has failed)."""

    done_at: float
    ok: bool
    pulled: bool  # False: the image was already on the node
    pull_seconds: float  # the pull itself, excluding the wait behind other pulls


@attrs.define(slots=True)
class RuntimeContainer:
    container_id: str
    pod_uid: str
    name: str
    image: str
    attempt: int
    state: str = "created"  # created | running | exited
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None


class ContainerRuntime:
    """One node's container runtime (containerd behind CRI, priced rather than slept)."""

    def __init__(self, settings: Settings, rng_stream: random.Random, node_name: str) -> None:
        self.settings = settings
        self.node_name = node_name
        self._rng = rng_stream
        self.slow_factor = 1.0  # the product of slow_factors
        self.slow_factors: list[float] = []
        self.image_pull_fails = False
        self.pull_failures: list[tuple[str, ...]] = []
        self.failing: dict[str, int] = {}  # pod UID -> faults holding its containers failing
        self.unseen_exits: list[str] = []  # container IDs killed behind the kubelet's back
        self.listener: Callable[[], None] | None = None  # the kubelet's wake-up
        self._images: dict[str, float] = {}  # image -> when it landed on disk
        self.images_version = 0  # bumped when an image lands: the heartbeat's cheap change check
        self._pulling: dict[str, PullTicket] = {}
        self._puller_free_at = 0.0
        self.sandboxes: dict[str, str] = {}  # pod uid -> pod IP
        self.containers: dict[str, RuntimeContainer] = {}
        self._next_id = 0
        self.pulls_total = 0

    # ------------------------------------------------------------------ latencies
    def _draw(self, mean: float) -> float:
        return jitter(self._rng, mean) * self.slow_factor

    def add_slow_factor(self, factor: float) -> None:
        """A fault slows every operation by ``factor`` (on top of the others in force)."""
        self.slow_factors.append(factor)
        self.slow_factor = math.prod(self.slow_factors)

    def remove_slow_factor(self, factor: float) -> None:
        """Take back one :meth:`add_slow_factor` of ``factor``."""
        if factor in self.slow_factors:
            self.slow_factors.remove(factor)
        self.slow_factor = math.prod(self.slow_factors)

    def sandbox_duration(self) -> float:
        """RunPodSandbox, CNI ADD included."""
        return self._draw(self.settings.sandbox_create_seconds)

    def create_duration(self) -> float:
        return self._draw(self.settings.container_create_seconds)

    def start_duration(self) -> float:
        return self._draw(self.settings.container_start_seconds)

    def pull_duration(self, image: str) -> float:
        """How long pulling ``image`` takes by itself; 0 when it is already on the node."""
        if image in self._images:
            return 0.0
        return self._draw(self.settings.image_pull_seconds)

    # ------------------------------------------------------------------ images
    def has_image(self, image: str) -> bool:
        return image in self._images

    def images(self) -> list[str]:
        return list(self._images)

    def request_pull(self, image: str, at: float) -> PullTicket:
        """Ask for ``image`` at time ``at``: join a running pull, or queue a new one."""
        self._settle(at)
        if image in self._images:
            return PullTicket(at, True, False, 0.0)
        ticket = self._pulling.get(image)
        if ticket is not None:
            return ticket
        seconds = self.pull_duration(image)
        done = max(at, self._puller_free_at) + seconds
        self._puller_free_at = done
        ticket = PullTicket(done, not self._pull_blocked(image), True, seconds)
        self._pulling[image] = ticket
        self.pulls_total += 1
        return ticket

    def _pull_blocked(self, image: str) -> bool:
        if self.image_pull_fails:
            return True
        return bool(self.pull_failures) and any(
            not images or image in images for images in self.pull_failures
        )

    def finish_pull(self, image: str, at: float) -> bool:
        """The pull of ``image`` has come due at ``at``; is the image on the node now?"""
        self._settle(at)
        return image in self._images

    def _settle(self, at: float) -> None:
        if not self._pulling:
            return
        for image, ticket in list(self._pulling.items()):
            if ticket.done_at <= at:
                del self._pulling[image]
                if ticket.ok:
                    self._images[image] = ticket.done_at
                    self.images_version += 1

    # ------------------------------------------------------------------ sandboxes & containers
    def run_pod_sandbox(self, pod_uid: str, ip: str) -> None:
        self.sandboxes[pod_uid] = ip

    def remove_pod_sandbox(self, pod_uid: str) -> None:
        self.sandboxes.pop(pod_uid, None)

    def create_container(self, pod_uid: str, name: str, image: str, attempt: int) -> str:
        self._next_id += 1
        container_id = f"containerd://{self.node_name}-{self._next_id:08x}"
        self.containers[container_id] = RuntimeContainer(
            container_id, pod_uid, name, image, attempt
        )
        return container_id

    def start_container(self, container_id: str, at: float) -> None:
        container = self.containers.get(container_id)
        if container is not None:
            container.state = "running"
            container.started_at = at

    def container_exited(self, container_id: str, at: float, exit_code: int) -> None:
        container = self.containers.get(container_id)
        if container is not None:
            container.state = "exited"
            container.finished_at = at
            container.exit_code = exit_code

    def remove_container(self, container_id: str) -> None:
        self.containers.pop(container_id, None)

    def running_containers(self) -> int:
        return sum(1 for c in self.containers.values() if c.state == "running")

    def kill(
        self,
        pod_uids: Collection[str],
        at: float,
        container: str | None = None,
        exit_code: int = KILLED_EXIT_CODE,
    ) -> list[RuntimeContainer]:
        """Kill the running containers of ``pod_uids`` (only those named ``container`` if given)
        from outside the kubelet; the kubelet hears of each exit through :attr:`unseen_exits`.

        One pass over the node's containers, however many pods are named.
        """
        killed = []
        for c in self.containers.values():
            if c.state == "running" and c.pod_uid in pod_uids:
                if container is not None and c.name != container:
                    continue
                self.container_exited(c.container_id, at, exit_code)
                self.unseen_exits.append(c.container_id)
                killed.append(c)
        if killed and self.listener is not None:
            self.listener()
        return killed

    def fail_pods(self, pod_uids: Iterable[str], at: float) -> list[RuntimeContainer]:
        """Hold the containers of ``pod_uids`` failing: the running ones die now, every start
        crashes until :meth:`heal_pods`."""
        uids = list(pod_uids)
        for uid in uids:
            self.failing[uid] = self.failing.get(uid, 0) + 1
        return self.kill(set(uids), at, exit_code=FAILED_START_EXIT_CODE)

    def heal_pods(self, pod_uids: Iterable[str]) -> None:
        """Let go of one :meth:`fail_pods` hold on each of ``pod_uids``."""
        for uid in pod_uids:
            held = self.failing.get(uid, 0) - 1
            if held > 0:
                self.failing[uid] = held
            else:
                self.failing.pop(uid, None)

    def fails_on_start(self, pod_uid: str) -> bool:
        return bool(self.failing) and pod_uid in self.failing

    def forget_workloads(self) -> None:
        """Drop every sandbox and container: what a node reboot leaves (images stay on disk).

        Fault seams stay: they describe the node's surroundings (a slow disk, a registry
        outage, a failing pod), which a reboot does not change.
        """
        self.sandboxes.clear()
        self.containers.clear()
        self.unseen_exits.clear()
        self._pulling.clear()
        self._puller_free_at = 0.0


__all__ = [
    "FAILED_START_EXIT_CODE",
    "KILLED_EXIT_CODE",
    "ContainerRuntime",
    "PullTicket",
    "RuntimeContainer",
]
