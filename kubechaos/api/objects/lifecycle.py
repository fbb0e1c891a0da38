"""A container's lifecycle hooks (``containers[].lifecycle``): ``postStart`` and ``preStop``.

Upstream ``core/v1`` ``Lifecycle`` and ``LifecycleHandler``: each hook has exactly one action,
``exec`` (a command run in the container), ``httpGet`` (a request to the container), ``sleep``
(the kubelet waits; PodLifecycleSleepAction, beta and on by default since v1.30) or the
deprecated ``tcpSocket`` (kept for compatibility; the kubelet cannot run it and the hook fails).
What a hook costs in time is the kubelet's business (:mod:`kubechaos.node.kubelet.hooks`).
"""

from __future__ import annotations

import attrs

HOOK_ACTIONS = ("exec", "httpGet", "tcpSocket", "sleep")


@attrs.frozen(slots=True)
class LifecycleHandler:
    """One hook: its ``action`` (one of :data:`HOOK_ACTIONS`) and what the action needs."""

    action: str
    command: tuple[str, ...] = ()  # exec
    seconds: int = 0  # sleep
    actions: int = 1  # how many actions the manifest gave (validation wants exactly one)


@attrs.frozen(slots=True)
class Lifecycle:
    post_start: LifecycleHandler | None = None
    pre_stop: LifecycleHandler | None = None


__all__ = ["HOOK_ACTIONS", "Lifecycle", "LifecycleHandler"]
