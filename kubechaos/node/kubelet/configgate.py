"""Whether a container's ConfigMap and Secret references resolve before it is created.

Upstream's ``generateContainerConfig`` → ``makeEnvironmentVariables``: a missing ConfigMap or
Secret (or key, unless optional) fails the start with CreateContainerConfigError and a
``Failed`` event (``startContainer``: "Error: ..."); the pod workers sync the pod again after
their back-off (see :mod:`.configrefs`). Separate from :mod:`.containers` because it is one
question with its own retry, asked before a start.
"""

from __future__ import annotations

from kubechaos.node.kubelet.config import KubeletEvents
from kubechaos.node.kubelet.configrefs import CONFIG_RETRY_SECONDS, ConfigSource
from kubechaos.node.kubelet.status_manager import PodStatusManager
from kubechaos.node.kubelet.timers import TimerKind, TimerQueue
from kubechaos.node.podstate import WAITING, ContainerRun
from kubechaos.sim.clock import now


class ConfigGate:
    def __init__(
        self,
        config: ConfigSource | None,
        timers: TimerQueue,
        events: KubeletEvents,
        status: PodStatusManager,
    ) -> None:
        self.config = config
        self.timers = timers
        self.events = events
        self.status = status

    def ready(self, run: ContainerRun) -> bool:
        """True if ``run`` may be created now; else it waits (an error recorded, a retry set)."""
        if self.config is None:
            return True
        ps = run.pod
        run.token += 1
        token = run.token
        error = self.config.error(
            ps.pod.metadata.namespace, run.spec.config_refs, lambda: self._retry_now(run, token)
        )
        if error is None:
            return True
        if error:
            run.state, run.reason, run.message = WAITING, "CreateContainerConfigError", error
            self.events.pod(ps, "Failed", f"Error: {error}")
            self.timers.at(now() + CONFIG_RETRY_SECONDS, TimerKind.CONFIG_RETRY, run, run.token)
            self.status.mark_dirty(ps)
        return False

    def _retry_now(self, run: ContainerRun, token: int) -> None:
        self.timers.at(now(), TimerKind.CONFIG_RETRY, run, token)
        if self.config is not None:
            self.config.poke()


__all__ = ["ConfigGate"]
