"""Validation of a pod spec's ``initContainers`` and of container ``restartPolicy``.

Upstream ``pkg/apis/core/validation/validation.go`` (``validateInitContainers``,
``validateContainers``, ``validateInitContainerRestartPolicy``), with the SidecarContainers
feature on (v1.32 default): names are unique across init and app containers; a container's
``restartPolicy`` may be set on init containers only, and only to ``Always`` (a sidecar); an
init container that is not a sidecar runs to completion, so it may have no probes.
"""

from __future__ import annotations

from collections.abc import Callable

from kubechaos.api.objects import SIDECAR_RESTART_POLICY, Container, PodSpec, is_sidecar

_PROBES = (
    ("livenessProbe", "liveness_probe"),
    ("readinessProbe", "readiness_probe"),
    ("startupProbe", "startup_probe"),
)


def init_container_causes(
    field: str, spec: PodSpec, container_causes: Callable[[str, Container], list[str]]
) -> list[str]:
    """What is wrong with ``spec``'s init containers (each checked as any container is, by
    ``container_causes``) and with a ``restartPolicy`` on its app containers."""
    causes = []
    for i, container in enumerate(spec.containers):
        if container.restart_policy:
            causes.append(
                f"{field}.containers[{i}].restartPolicy: Forbidden: may not be set for "
                "non-init containers"
            )
    seen = {c.name for c in spec.containers}
    for i, container in enumerate(spec.init_containers):
        path = f"{field}.initContainers[{i}]"
        causes += container_causes(path, container)
        if container.name in seen:
            causes.append(f"{path}.name: Duplicate value: {container.name!r}")
        seen.add(container.name)
        policy = container.restart_policy
        if policy and policy != SIDECAR_RESTART_POLICY:
            causes.append(
                f'{path}.restartPolicy: Unsupported value: {policy!r}: supported values: "Always"'
            )
        if is_sidecar(container):
            continue
        for name, attr in _PROBES:
            if getattr(container, attr) is not None:
                causes.append(
                    f"{path}.{name}: Forbidden: may not be set for init containers without "
                    "restartPolicy=Always"
                )
    return causes


__all__ = ["init_container_causes"]
