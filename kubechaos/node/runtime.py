"""A CRI-like container runtime for one node: image cache, sandboxes, containers, latencies.

Upstream the kubelet calls containerd over CRI (RunPodSandbox, PullImage, CreateContainer,
StartContainer, StopContainer) and each call takes real time. Here the runtime *prices* each
operation instead of sleeping through it: the kubelet asks how long an operation takes and
schedules its completion on its own per-node timer heap, so 30 pods starting on a node cost no
task per pod. The runtime keeps what a real runtime keeps: the images on the node's disk (pulled
once, then cached), the sandboxes and containers that exist, and the serial image puller
(``serializeImagePulls: true``, the kubelet default: one pull at a time per node; a second
request for an image already being pulled waits for that pull).

Fault hooks for later: :attr:`ContainerRuntime.slow_factor` stretches every latency (a loaded
or throttled node) and :attr:`ContainerRuntime.image_pull_fails` makes pulls fail (a registry
outage).
"""

from __future__ import annotations

import random

import attrs

from kubechaos.defaults import Settings
from kubechaos.sim.rand import jitter


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
        self.slow_factor = 1.0
        self.image_pull_fails = False
        self._images: dict[str, float] = {}  # image -> when it landed on disk
        self._pulling: dict[str, PullTicket] = {}
        self._puller_free_at = 0.0
        self.sandboxes: dict[str, str] = {}  # pod uid -> pod IP
        self.containers: dict[str, RuntimeContainer] = {}
        self._next_id = 0
        self.pulls_total = 0

    # ------------------------------------------------------------------ latencies
    def _draw(self, mean: float) -> float:
        return jitter(self._rng, mean) * self.slow_factor

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
        ticket = PullTicket(done, not self.image_pull_fails, True, seconds)
        self._pulling[image] = ticket
        self.pulls_total += 1
        return ticket

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

    def remove_image(self, image: str) -> None:
        """Image garbage collection (or a fault wiping the disk)."""
        self._images.pop(image, None)

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

    def forget_workloads(self) -> None:
        """Drop every sandbox and container: what a node reboot leaves (images stay on disk)."""
        self.sandboxes.clear()
        self.containers.clear()
        self._pulling.clear()
        self._puller_free_at = 0.0


__all__ = ["ContainerRuntime", "PullTicket", "RuntimeContainer"]
