"""Validation of a Service, as upstream's v1.32 ``ValidateService``, ``validateServicePort`` and
``ValidateServiceUpdate`` (pkg/apis/core/validation/validation.go): the rules that read a field
the model reads (ports, selector, clusterIP, type, session affinity, internal traffic policy), in
the order upstream reports them, one located line per cause in upstream's words.

The model's ``clusterIP`` stands for upstream's ``clusterIPs`` (one IP family: the API server
fills ``clusterIPs`` from ``clusterIP``), so its causes name ``spec.clusterIPs``. A port's
``targetPort`` of 0 (or "") is upstream's defaulted one: the port's own number."""

from __future__ import annotations

import json
import re

from kubechaos.api.objects import Service, ServicePort
from kubechaos.api.objects.service_routing import (
    AFFINITY_NONE,
    CLIENT_IP,
    CLUSTER,
    LOCAL,
    MAX_AFFINITY_TIMEOUT,
    ServiceRouting,
)
from kubechaos.api.validation import labels_causes, validate_meta
from kubechaos.api.validation_endpoints import (
    PORT_RANGE,
    SUPPORTED_PROTOCOLS,
    label_causes,
    unsupported,
)

_TIMEOUT = "spec.sessionAffinityConfig.clientIP.timeoutSeconds"
HEADLESS = "None"  # core.ClusterIPNone
EXTERNAL_NAME = "ExternalName"
SUPPORTED_TYPES = ("ClusterIP", EXTERNAL_NAME, "LoadBalancer", "NodePort")  # sorted, as sets.List
_PORT_NAME_CHARSET = re.compile(r"[-a-z0-9]+")


def validate_service(obj: Service) -> list[str]:
    """Every cause that makes ``obj`` invalid (empty: valid): ``ValidateService``."""
    spec = obj.spec
    causes = validate_meta(obj.metadata, True, "dns1035")
    headless = spec.cluster_ip == HEADLESS
    if not spec.ports and not headless and spec.type != EXTERNAL_NAME:
        causes.append("spec.ports: Required value")
    if headless and spec.type in ("LoadBalancer", "NodePort"):
        causes.append(
            f"spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for "
            f"{spec.type} services"
        )
    elif spec.type == EXTERNAL_NAME and spec.cluster_ip:
        causes.append("spec.clusterIPs: Forbidden: may not be set for ExternalName services")
    names: set[str] = set()
    for i, port in enumerate(spec.ports):
        causes += _port_causes(f"spec.ports[{i}]", port, len(spec.ports) > 1, names)
    causes += labels_causes("spec.selector", spec.selector)
    causes += _affinity_causes(spec.routing)
    if spec.type not in SUPPORTED_TYPES:
        causes.append(unsupported("spec.type", spec.type, SUPPORTED_TYPES))
    causes += _duplicate_port_causes(spec.ports)
    policy = spec.routing.internal_traffic_policy
    if policy not in (CLUSTER, LOCAL):
        causes.append(unsupported("spec.internalTrafficPolicy", policy, (CLUSTER, LOCAL)))
    return causes


def service_update_causes(old: Service, new: Service) -> list[str]:
    """``ValidateServiceUpdate``'s own rule on what the model reads
    (``validateUpgradeDowngradeClusterIPs``): the cluster IP may not change once set (but to or
    from an ExternalName Service); then :func:`validate_service`."""
    was, now = old.spec, new.spec
    causes = []
    if now.cluster_ip != was.cluster_ip and EXTERNAL_NAME not in (now.type, was.type):
        causes.append(
            f"spec.clusterIPs[0]: Invalid value: []string{{{json.dumps(now.cluster_ip)}}}: "
            "may not change once set"
        )
    return causes + validate_service(new)


def _port_causes(path: str, port: ServicePort, require_name: bool, names: set[str]) -> list[str]:
    """``validateServicePort``: name, number, protocol, then target port."""
    causes = []
    if require_name and not port.name:
        causes.append(f"{path}.name: Required value")
    elif port.name:
        causes += label_causes(f"{path}.name", port.name)
        if port.name in names:
            causes.append(f"{path}.name: Duplicate value: {json.dumps(port.name)}")
        names.add(port.name)
    if not 1 <= port.port <= 65535:
        causes.append(f"{path}.port: Invalid value: {port.port}: {PORT_RANGE}")
    if port.protocol not in SUPPORTED_PROTOCOLS:
        causes.append(unsupported(f"{path}.protocol", port.protocol, SUPPORTED_PROTOCOLS))
    target = port.target_port or port.port  # SetDefaults_Service: an unset targetPort is port
    if isinstance(target, int):
        if not 1 <= target <= 65535:
            causes.append(f"{path}.targetPort: Invalid value: {target}: {PORT_RANGE}")
    else:
        shown = json.dumps(target)
        causes += [
            f"{path}.targetPort: Invalid value: {shown}: {m}" for m in _port_name_rules(target)
        ]
    return causes


def _port_name_rules(name: str) -> list[str]:
    """apimachinery ``IsValidPortName`` (an IANA_SVC_NAME): the rules ``name`` breaks."""
    broken = []
    if len(name) > 15:
        broken.append("must be no more than 15 characters")
    if not _PORT_NAME_CHARSET.fullmatch(name):
        broken.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", name):
        broken.append("must contain at least one letter (a-z)")
    if "--" in name:
        broken.append("must not contain consecutive hyphens (--)")
    if name.startswith("-") or name.endswith("-"):
        broken.append("must not begin or end with a hyphen (-)")
    return broken


def _duplicate_port_causes(ports: tuple[ServicePort, ...]) -> list[str]:
    """Two ports with one (protocol, port) pair: upstream shows the key it compares, a
    ``core.ServicePort`` with only those two fields set, as Go's ``%#v`` prints it."""
    causes = []
    seen: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        key = (port.protocol, port.port)
        if key in seen:
            causes.append(
                f'spec.ports[{i}]: Duplicate value: core.ServicePort{{Name:"", '
                f"Protocol:{json.dumps(port.protocol)}, AppProtocol:(*string)(nil), "
                f"Port:{port.port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, "
                'StrVal:""}, NodePort:0}'
            )
        seen.add(key)
    return causes


def _affinity_causes(routing: ServiceRouting) -> list[str]:
    """``supportedSessionAffinityType``, ``validateClientIPAffinityConfig`` and
    ``validateAffinityTimeout``."""
    causes: list[str] = []
    if routing.session_affinity not in (CLIENT_IP, AFFINITY_NONE):
        causes.append(
            unsupported(
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
    return causes


__all__ = ["service_update_causes", "validate_service"]
