"""A Service's routing policy fields: ``internalTrafficPolicy``, ``sessionAffinity`` and
``sessionAffinityConfig.clientIP.timeoutSeconds`` (validated in
:mod:`kubechaos.api.validation_service` as ``ValidateService`` does)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubechaos.api.fieldreader import FieldReader, Path
from kubechaos.api.objects.service_routing import (
    AFFINITY_NONE,
    CLUSTER,
    DEFAULT_ROUTING,
    ServiceRouting,
)


def read_service_routing(r: FieldReader, spec: Mapping[str, Any]) -> ServiceRouting:
    """The routing fields of a Service's ``spec`` (API-server defaults where absent)."""
    path: Path = ("spec",)
    policy = r.str_(spec, "internalTrafficPolicy", path, CLUSTER)
    # SetDefaults_Service (pkg/apis/core/v1/defaults.go): an empty sessionAffinity is None
    affinity = r.str_(spec, "sessionAffinity", path, AFFINITY_NONE) or AFFINITY_NONE
    raw_config = spec.get("sessionAffinityConfig")
    timeout: int | None = None
    if raw_config is not None:
        config = r.map(raw_config, (*path, "sessionAffinityConfig"))
        cpath: Path = (*path, "sessionAffinityConfig", "clientIP")
        client = r.map(config.get("clientIP"), cpath)
        if client.get("timeoutSeconds") is not None:
            timeout = r.int_(client, "timeoutSeconds", cpath, 0)
    config_set = raw_config is not None
    if affinity == AFFINITY_NONE:
        # ... and a Service without affinity has its sessionAffinityConfig cleared (read above
        # only for its shape, which decoding checks), so validation never sees it
        timeout, config_set = None, False
    routing = ServiceRouting(policy, affinity, timeout, config_set)
    return DEFAULT_ROUTING if routing == DEFAULT_ROUTING else routing


__all__ = ["read_service_routing"]
