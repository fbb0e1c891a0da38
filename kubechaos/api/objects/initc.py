"""Init and sidecar containers: what a pod's ``initContainers`` ask of the scheduler and kubelet.

An init container with ``restartPolicy: Always`` is a *sidecar* (upstream
``podutil.IsRestartableInitContainer``; the SidecarContainers feature is on by default since
v1.29): it starts in the init sequence and then runs beside the app containers. The other init
containers run one after another, each to completion, before any app container starts.

:func:`effective_requests` is upstream's ``resource.PodRequests``
(``staging/src/k8s.io/component-helpers/resource/helpers.go``): the pod needs the larger of what
its app containers and sidecars need together and what its init sequence needs at its peak (an
init container plus the sidecars started before it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

SIDECAR_RESTART_POLICY = "Always"


class _Container(Protocol):
    @property
    def restart_policy(self) -> str: ...


C = TypeVar("C", bound=_Container, covariant=True)


class _Spec(Protocol[C]):
    @property
    def containers(self) -> Sequence[C]: ...

    @property
    def init_containers(self) -> Sequence[C]: ...


def is_sidecar(container: _Container) -> bool:
    """A restartable init container (``restartPolicy: Always``)."""
    return container.restart_policy == SIDECAR_RESTART_POLICY


def _add(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(x + y for x, y in zip(a, b, strict=True))


def _max(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(max(x, y) for x, y in zip(a, b, strict=True))


def effective_requests(spec: _Spec[C], request: Callable[[C], tuple[int, ...]]) -> tuple[int, ...]:
    """Upstream ``PodRequests``: per resource, max(sum(app) + sum(sidecars), the init peak),
    where an init container's need is its own request plus the sidecars started before it.
    ``request`` gives one container's vector (e.g. (cpu, memory)); the result has its shape."""
    vectors = [request(c) for c in spec.containers]
    zero = tuple(0 for _ in (vectors[0] if vectors else request(spec.init_containers[0])))
    apps = zero
    for vector in vectors:
        apps = _add(apps, vector)
    sidecars = peak = zero
    for container in spec.init_containers:
        vector = request(container)
        if is_sidecar(container):
            apps = _add(apps, vector)
            sidecars = _add(sidecars, vector)
            need = sidecars
        else:
            need = _add(vector, sidecars)
        peak = _max(peak, need)
    return _max(apps, peak)


__all__ = ["SIDECAR_RESTART_POLICY", "effective_requests", "is_sidecar"]
