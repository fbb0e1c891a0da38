"""A machine's boot: when its kubelet starts, and when its container runtime and network are ready.

A node that reboots (a ``node-crash`` reverted, ``node-reboot``) is not back the moment it powers
on. Upstream's steps, each a setting (see :class:`~kubechaos.defaults.Settings`):

1. **OS boot** (``nodeBootDuration``): firmware, kernel and systemd until ``kubelet.service``
   starts. Nothing of the node runs; it is dark.
2. **kubelet start** (``kubeletStartupDuration``): the kubelet process ("Starting kubelet.")
   loads its configuration and certificates and starts its managers before its first request:
   registration (the Node's status, its Lease) and the pod informer.
3. **container runtime** (``containerRuntimeStartupDuration``): until containerd answers CRI
   ``Status`` the kubelet's ``runtimeState`` has never synced and PLEG has never relisted
   (pkg/kubelet/runtime.go ``runtimeErrors``, pkg/kubelet/pleg/generic.go ``Healthy``), its
   network state is unknown (``ErrNetworkUnknown``): the Node is posted ``Ready=False``,
   ``KubeletNotReady``, with those errors aggregated; the sync loop starts no pod
   (kubelet.go ``syncLoop``: "Skipping pod synchronization").
4. **CNI** (``cniStartupDuration``): the runtime is up but reports
   ``NetworkReady=false reason:NetworkPluginNotReady`` until the network plugin's agent (a
   DaemonSet such as Calico or Cilium, host-networked) has written its configuration: the Node
   stays ``Ready=False`` with "container runtime network not ready: ...", and every pod's sync
   fails before its sandbox with the ``NetworkNotReady`` event "network is not ready: ..."
   (kubelet.go ``SyncPod``), retried after the pod workers' back-off.

Then the kubelet's fast status update (kubelet_node_status.go ``fastNodeStatusUpdate``, every
100 ms from its start until the node is ready) posts ``Ready=True``. So a reboot of duration D is
Ready again D + boot + kubelet + runtime + CNI after it began. A cluster's nodes at the start of a
run are already booted, and a kubelet restarted without a reboot finds the runtime and the
network up.
"""

from __future__ import annotations

import attrs

from kubechaos.defaults import Settings

# pkg/kubelet/runtime.go runtimeErrors and networkErrors, pleg/generic.go Healthy, aggregated by
# the Ready condition setter (pkg/kubelet/nodestatus/setters.go ReadyCondition) into one message
RUNTIME_NOT_READY = (
    "[container runtime status check may not have completed yet, "
    "PLEG is not healthy: pleg has yet to be successful, network state unknown]"
)
# kubelet.go updateRuntimeUp: the CRI Status's NetworkReady condition, as containerd reports it
# before a CNI configuration exists
NETWORK_NOT_READY = (
    "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
    "message:Network plugin returns error: cni plugin not initialized"
)
# kubelet.go SyncPod: NetworkNotReadyErrorMsg, before a (non host-network) pod's sandbox
POD_NETWORK_NOT_READY = f"network is not ready: {NETWORK_NOT_READY}"


@attrs.frozen
class BootTimeline:
    """When each step of one boot ends (virtual seconds)."""

    powered_on: float
    kubelet_at: float  # the kubelet process starts
    api_at: float  # the kubelet has started: its first requests
    runtime_at: float  # the container runtime is ready
    network_at: float  # the network plugin is ready: the node can be Ready

    @classmethod
    def after_power_on(cls, settings: Settings, t: float) -> BootTimeline:
        kubelet_at = t + settings.node_boot_duration
        api_at = kubelet_at + settings.kubelet_startup_duration
        runtime_at = api_at + settings.container_runtime_startup_duration
        return cls(t, kubelet_at, api_at, runtime_at, runtime_at + settings.cni_startup_duration)

    def not_ready(self, t: float) -> str | None:
        """Why the node is not Ready at ``t`` (the Ready condition's message), None if it is."""
        if t < self.runtime_at:
            return RUNTIME_NOT_READY
        if t < self.network_at:
            return NETWORK_NOT_READY
        return None

    def next_change(self, t: float) -> float | None:
        """The next moment after ``t`` the node's readiness changes (None: no more)."""
        for at in (self.runtime_at, self.network_at):
            if at > t:
                return at
        return None


__all__ = ["NETWORK_NOT_READY", "POD_NETWORK_NOT_READY", "RUNTIME_NOT_READY", "BootTimeline"]
