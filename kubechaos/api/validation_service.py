"""Validation of a Service's routing fields, as upstream's ``ValidateService``
(pkg/apis/core/validation/validation.go: ``supportedSessionAffinityType``,
``validateClientIPAffinityConfig``, ``validateAffinityTimeout``,
``validateServiceInternalTrafficFieldsValue``): one located line per cause."""

from __future__ import annotations

import json

from kubechaos.api.objects.service_routing import (
    AFFINITY_NONE,
    CLIENT_IP,
    CLUSTER,
    LOCAL,
    MAX_AFFINITY_TIMEOUT,
    ServiceRouting,
)

_TIMEOUT = "spec.sessionAffinityConfig.clientIP.timeoutSeconds"


def _unsupported(path: str, value: str, supported: tuple[str, ...]) -> str:
    listed = ", ".join(json.dumps(s) for s in supported)
    return f"{path}: Unsupported value: {json.dumps(value)}: supported values: {listed}"


def validate_service_routing(routing: ServiceRouting) -> list[str]:
    causes: list[str] = []
    if routing.session_affinity not in (CLIENT_IP, AFFINITY_NONE):
        causes.append(
            _unsupported(
                "spec.sessionAffinity", routing.session_affinity, (CLIENT_IP, AFFINITY_NONE)
            )
        )
    elif routing.session_affinity == AFFINITY_NONE and routing.affinity_config_set:
        causes.append(
            "spec.sessionAffinityConfig: Forbidden: must not be set when session affinity is None"
        )
    timeout = routing.affinity_timeout
    if routing.client_ip and timeout is not None and not 0 < timeout <= MAX_AFFINITY_TIMEOUT:
        causes.append(
            f"{_TIMEOUT}: Invalid value: {timeout}: must be greater than 0 and less than "
            f"{MAX_AFFINITY_TIMEOUT}"
        )
    if routing.internal_traffic_policy not in (CLUSTER, LOCAL):
        causes.append(
            _unsupported(
                "spec.internalTrafficPolicy", routing.internal_traffic_policy, (CLUSTER, LOCAL)
            )
        )
    return causes


__all__ = ["validate_service_routing"]
