"""Server-side printing: the ``meta.k8s.io/v1`` Tables ``kubectl get`` shows.

kubectl asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the columns the
server sends, so a real cluster's ``kubectl get pods`` look (NAME READY STATUS RESTARTS AGE, and
with ``-o wide`` IP NODE ...) comes from the server. The columns and the cell rules follow
upstream's ``pkg/printers/internalversion/printers.go`` (printPod, printNode, printDeployment,
...); ``priority`` 1 columns are the ``-o wide`` ones. Ages are computed at the moment the table
is served, in the run's virtual time, as upstream computes them from its clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kubechaos.api.objects import (
    Deployment,
    Endpoints,
    Namespace,
    Node,
    Pod,
    ReplicaSet,
    Service,
)
from kubechaos.frontdoor.ages import age, human_duration
from kubechaos.frontdoor.encoding import KUBELET_VERSION
from kubechaos.frontdoor.tables_more import MORE_PRINTERS

JSON = dict[str, Any]
Column = tuple[str, str, int]  # name, type, priority (1: -o wide only)
Cells = list[Any]


# ------------------------------------------------------------------ pods
def pod_status_reason(pod: Pod) -> tuple[str, int, int]:
    """(STATUS, ready containers, restarts) as printPod computes them."""
    status = pod.status
    reason = status.reason or status.phase
    ready = restarts = 0
    has_running = False
    for cs in reversed(status.container_statuses):
        restarts += cs.restart_count
        if (cs.state == "waiting" and cs.reason) or (cs.state == "terminated" and cs.reason):
            reason = cs.reason
        elif cs.state == "terminated":
            reason = f"ExitCode:{cs.exit_code or 0}"
        elif cs.state == "running" and cs.ready:
            has_running = True
            ready += 1
    if reason == "Completed" and has_running:
        reason = "Running" if pod.is_ready() else "NotReady"
    if pod.metadata.deletion_timestamp is not None:
        reason = "Unknown" if status.reason == "NodeLost" else "Terminating"
    return reason, ready, restarts


def _pod(pod: Pod, now: float) -> Cells:
    reason, ready, restarts = pod_status_reason(pod)
    return [
        pod.metadata.name,
        f"{ready}/{len(pod.spec.containers)}",
        reason,
        str(restarts),
        age(pod, now),
        pod.status.pod_ip or "<none>",
        pod.spec.node_name or "<none>",
        "<none>",
        "<none>",
    ]


_POD_COLUMNS: list[Column] = [
    ("Name", "string", 0),
    ("Ready", "string", 0),
    ("Status", "string", 0),
    ("Restarts", "string", 0),
    ("Age", "string", 0),
    ("IP", "string", 1),
    ("Node", "string", 1),
    ("Nominated Node", "string", 1),
    ("Readiness Gates", "string", 1),
]


# ------------------------------------------------------------------ nodes
def _node(node: Node, now: float) -> Cells:
    ready = node.status.condition("Ready")
    state = "Unknown"
    if ready is not None:
        state = "Ready" if ready.status == "True" else "NotReady"
    if node.spec.unschedulable:
        state += ",SchedulingDisabled"
    prefix = "node-role.kubernetes.io/"
    roles = sorted(k[len(prefix) :] for k in node.metadata.labels if k.startswith(prefix))
    return [
        node.metadata.name,
        state,
        ",".join(roles) or "<none>",
        age(node, now),
        KUBELET_VERSION,
        node.status.address or "<none>",
        "<none>",
        "kubechaos model node",
        "6.1.0-kubechaos",
        "containerd://1.7.24",
    ]


_NODE_COLUMNS: list[Column] = [
    ("Name", "string", 0),
    ("Status", "string", 0),
    ("Roles", "string", 0),
    ("Age", "string", 0),
    ("Version", "string", 0),
    ("Internal-IP", "string", 1),
    ("External-IP", "string", 1),
    ("OS-Image", "string", 1),
    ("Kernel-Version", "string", 1),
    ("Container-Runtime", "string", 1),
]


# ------------------------------------------------------------------ workloads
def _images(template: Any) -> tuple[str, str]:
    containers = template.spec.containers
    return ",".join(c.name for c in containers), ",".join(c.image for c in containers)


def _selector_text(selector: Any) -> str:
    terms = [f"{k}={v}" for k, v in selector.match_labels.items()]
    terms += [
        f"{r.key} {r.operator.lower()} ({','.join(r.values)})" for r in selector.match_expressions
    ]
    return ",".join(terms) or "<none>"


def _deployment(d: Deployment, now: float) -> Cells:
    names, images = _images(d.spec.template)
    status = d.status
    return [
        d.metadata.name,
        f"{status.ready_replicas}/{d.spec.replicas}",
        status.updated_replicas,
        status.available_replicas,
        age(d, now),
        names,
        images,
        _selector_text(d.spec.selector),
    ]


_DEPLOYMENT_COLUMNS: list[Column] = [
    ("Name", "string", 0),
    ("Ready", "string", 0),
    ("Up-to-date", "integer", 0),
    ("Available", "integer", 0),
    ("Age", "string", 0),
    ("Containers", "string", 1),
    ("Images", "string", 1),
    ("Selector", "string", 1),
]


def _replicaset(rs: ReplicaSet, now: float) -> Cells:
    names, images = _images(rs.spec.template)
    return [
        rs.metadata.name,
        rs.spec.replicas,
        rs.status.replicas,
        rs.status.ready_replicas,
        age(rs, now),
        names,
        images,
        _selector_text(rs.spec.selector),
    ]


_REPLICASET_COLUMNS: list[Column] = [
    ("Name", "string", 0),
    ("Desired", "integer", 0),
    ("Current", "integer", 0),
    ("Ready", "integer", 0),
    ("Age", "string", 0),
    ("Containers", "string", 1),
    ("Images", "string", 1),
    ("Selector", "string", 1),
]


# ------------------------------------------------------------------ networking, namespaces
def _service(svc: Service, now: float) -> Cells:
    ports = ",".join(f"{p.port}/{p.protocol}" for p in svc.spec.ports) or "<none>"
    selector = ",".join(f"{k}={v}" for k, v in svc.spec.selector.items()) or "<none>"
    return [
        svc.metadata.name,
        svc.spec.type,
        svc.spec.cluster_ip or "<none>",
        "<none>",
        ports,
        age(svc, now),
        selector,
    ]


_SERVICE_COLUMNS: list[Column] = [
    ("Name", "string", 0),
    ("Type", "string", 0),
    ("Cluster-IP", "string", 0),
    ("External-IP", "string", 0),
    ("Port(s)", "string", 0),
    ("Age", "string", 0),
    ("Selector", "string", 1),
]

_MAX_ENDPOINTS_SHOWN = 3  # formatEndpoints' max


def _endpoint_port(port: Any) -> int | str:
    """An endpoint's port is the pod's: the Service port's target (its number when given)."""
    return port.target_port or port.port


def _endpoints(ep: Endpoints, now: float) -> Cells:
    shown: list[str] = []
    total = 0
    for subset in ep.subsets:
        ports: list[int | str | None] = [_endpoint_port(p) for p in subset.ports] or [None]
        for address in subset.addresses:
            for port in ports:
                total += 1
                if len(shown) < _MAX_ENDPOINTS_SHOWN:
                    shown.append(address.ip if port is None else f"{address.ip}:{port}")
    text = ",".join(shown) or "<none>"
    if total > len(shown):
        text += f" + {total - len(shown)} more..."
    return [ep.metadata.name, text, age(ep, now)]


_ENDPOINTS_COLUMNS: list[Column] = [
    ("Name", "string", 0),
    ("Endpoints", "string", 0),
    ("Age", "string", 0),
]


def _namespace(ns: Namespace, now: float) -> Cells:
    return [ns.metadata.name, ns.phase, age(ns, now)]


_NAMESPACE_COLUMNS: list[Column] = [
    ("Name", "string", 0),
    ("Status", "string", 0),
    ("Age", "string", 0),
]


def _default(obj: Any, now: float) -> Cells:
    return [obj.metadata.name, age(obj, now)]


_DEFAULT_COLUMNS: list[Column] = [("Name", "string", 0), ("Age", "string", 0)]

Printer = tuple[list[Column], Callable[[Any, float], Cells]]
PRINTERS: dict[str, Printer] = {
    "pods": (_POD_COLUMNS, _pod),
    "nodes": (_NODE_COLUMNS, _node),
    "deployments": (_DEPLOYMENT_COLUMNS, _deployment),
    "replicasets": (_REPLICASET_COLUMNS, _replicaset),
    "services": (_SERVICE_COLUMNS, _service),
    "endpoints": (_ENDPOINTS_COLUMNS, _endpoints),
    "namespaces": (_NAMESPACE_COLUMNS, _namespace),
    **MORE_PRINTERS,
}


def printer_for(resource: str) -> Printer:
    return PRINTERS.get(resource, (_DEFAULT_COLUMNS, _default))


def table(
    resource: str,
    objects: Sequence[Any],
    now: float,
    row_object: Callable[[Any], JSON],
    resource_version: str,
    continue_token: str = "",
) -> JSON:
    """A Table of ``objects``; each row carries ``row_object(obj)`` (the object's metadata, or
    the whole object with ``includeObject=Object``)."""
    columns, cells = printer_for(resource)
    metadata: JSON = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [
            {
                "name": name,
                "type": type_,
                "format": "name" if name == "Name" else "",
                "description": "",
                "priority": priority,
            }
            for name, type_, priority in columns
        ],
        "rows": [{"cells": cells(obj, now), "object": row_object(obj)} for obj in objects],
    }


__all__ = ["PRINTERS", "human_duration", "pod_status_reason", "printer_for", "table"]
