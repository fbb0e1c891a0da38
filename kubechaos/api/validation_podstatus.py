"""A pod's status update, validated as upstream's ``ValidatePodStatusUpdate`` does
(pkg/apis/core/validation/validation.go, called by podStatusStrategy.ValidateUpdate in
pkg/registry/core/pod/strategy.go) for what the model holds:

- ``validatePodConditions``: a condition type other than PodScheduled, Ready and Initialized is a
  qualified name (its path is upstream's, ``metadata.conditions[i].Type``);
- ``status.nominatedNodeName``, when changed and set, is a node name (a DNS subdomain);
- ``ValidateContainerStateTransition`` / ``ValidateInitContainerStateTransition``: unless the
  pod's restartPolicy is Always, a terminated container (exited 0, or any exit with Never) may
  not leave the terminated state; a sidecar init container may;
- ``validatePodIPs`` / ``validateHostIPs``: each IP a valid IP. The model holds one IP of each
  (``podIP``, ``hostIP``): upstream's conversion makes that IP ``podIPs[0]`` / ``hostIPs[0]``
  (pkg/apis/core/v1/conversion.go), so a bad one is reported at that path, and a one-IP list
  has no duplicate and no second family to check.

There is no rule on ``status.phase``: upstream's API server lets a terminal pod's phase change
(only the kubelet refuses to, in its status manager).

Every rule but the condition types compares the new status with the stored one, or reads only a
field that changed: a stored status passed the same rules, so a field equal to the stored one
cannot fail them. The kubelet's writes pay a few comparisons.
"""

from __future__ import annotations

import functools
import json
import re

from kubechaos.api.objects import ContainerStatus, PodSpec, PodStatus, is_sidecar
from kubechaos.api.validation_endpoints import parse_ip_sloppy, subdomain_messages

# upstream's systemConditions, which it does not check, and the other types its components
# write, which are qualified names: a write of these types alone checks no name
_KNOWN_CONDITIONS = frozenset(
    {
        "PodScheduled",
        "Ready",
        "Initialized",
        "ContainersReady",
        "PodReadyToStartContainers",
        "DisruptionTarget",
    }
)
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_RULE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    f"validation is '{_QUALIFIED_NAME_FMT}')"
)
_QUALIFIED_NAME_PART = re.compile(_QUALIFIED_NAME_FMT)
_IP_RULE = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
_NOT_BACK = "Forbidden: may not be transitioned to non-terminated state"


def _quoted(value: str) -> str:
    """A string value as upstream's field errors print it (Go's %q)."""
    return json.dumps(value, ensure_ascii=False)


@functools.lru_cache(maxsize=1024)
def _qualified_name_messages(value: str) -> tuple[str, ...]:
    """apimachinery's IsQualifiedName: an optional DNS subdomain prefix and "/", then a name of
    at most 63 characters. (A pure function of a string: kept per type.)"""
    parts = value.split("/")
    if len(parts) > 2:
        return (
            f"a qualified name {_QUALIFIED_NAME_RULE} with an optional DNS subdomain prefix "
            "and '/' (e.g. 'example.com/MyName')",
        )
    messages = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            messages.append("prefix part must be non-empty")
        else:
            messages += ["prefix part " + m for m in subdomain_messages(prefix)]
    if not name:
        messages.append("name part must be non-empty")
    elif len(name) > 63:
        messages.append("name part must be no more than 63 characters")
    if not _QUALIFIED_NAME_PART.fullmatch(name):
        messages.append("name part " + _QUALIFIED_NAME_RULE)
    return tuple(messages)


@functools.lru_cache(maxsize=4096)
def is_sloppy_ip(value: str) -> bool:
    """IsValidIP: k8s.io/utils/net ParseIPSloppy reads ``value`` as an address (IPv4 parts may
    carry leading zeros; no IPv6 zone). (A pure function of a string: a node's host IP is
    checked for each of its pods.)"""
    return parse_ip_sloppy(value) is not None


def _condition_causes(status: PodStatus) -> list[str]:
    causes = []
    for i, condition in enumerate(status.conditions):
        if condition.type in _KNOWN_CONDITIONS:
            continue
        for message in _qualified_name_messages(condition.type):
            causes.append(
                f"metadata.conditions[{i}].Type: Invalid value: {_quoted(condition.type)}: "
                f"{message}"
            )
    return causes


def _state_transition_causes(
    new: tuple[ContainerStatus, ...],
    old: tuple[ContainerStatus, ...],
    field: str,
    restart_policy: str,
    sidecars: frozenset[str] = frozenset(),
) -> list[str]:
    """ValidateContainerStateTransition (and, with ``sidecars``, the init containers' one)."""
    causes = []
    for i, was in enumerate(old):
        if was.state != "terminated" or was.name in sidecars:
            continue
        if was.exit_code and restart_policy == "OnFailure":
            continue
        for now in new:
            if now.name == was.name and now.state != "terminated":
                causes.append(f"{field}[{i}].state: {_NOT_BACK}")
    return causes


def pod_status_update_causes(new: PodStatus, old: PodStatus, spec: PodSpec) -> list[str]:
    """The causes ``ValidatePodStatusUpdate`` finds in ``new`` replacing ``old`` (pod ``spec``)."""
    causes = [] if new.conditions is old.conditions else _condition_causes(new)
    nominated = new.nominated_node_name
    if nominated != old.nominated_node_name and nominated:
        causes += [
            f"status.nominatedNodeName: Invalid value: {_quoted(nominated)}: {m}"
            for m in subdomain_messages(nominated)
        ]
    policy = spec.restart_policy
    if policy != "Always":
        if new.container_statuses is not old.container_statuses:
            causes += _state_transition_causes(
                new.container_statuses, old.container_statuses, "status.containerStatuses", policy
            )
        if new.init_container_statuses is not old.init_container_statuses:
            sidecars = frozenset(c.name for c in spec.init_containers if is_sidecar(c))
            causes += _state_transition_causes(
                new.init_container_statuses,
                old.init_container_statuses,
                "status.initContainerStatuses",
                policy,
                sidecars,
            )
    if new.pod_ip != old.pod_ip and new.pod_ip:
        causes += _ip_causes("status.podIPs[0]", new.pod_ip)
    if new.host_ip != old.host_ip and new.host_ip:
        causes += _ip_causes("status.hostIPs[0]", new.host_ip)
    return causes


def _ip_causes(field: str, ip: str) -> list[str]:
    """validation.IsValidIP on the list's one IP."""
    return [] if is_sloppy_ip(ip) else [f"{field}: Invalid value: {_quoted(ip)}: {_IP_RULE}"]


__all__ = ["is_sloppy_ip", "pod_status_update_causes"]
