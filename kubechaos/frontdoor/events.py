"""The run's event log served as core/v1 Events (``kubectl get events``, ``describe``'s Events).

The model records events in its :class:`~kubechaos.sim.events.EventLog`, not in etcd, so the
front door serves them from the log: event number *n* is an Event named
``<object>.<n in hex>`` in the object's namespace (cluster-scoped objects' events live in
``default``, as upstream's node events do), with ``resourceVersion`` *n*: a list's version is
the log's length, and a watch from it delivers every event recorded afterwards.
"""

from __future__ import annotations

from typing import Any

from kubechaos.frontdoor.encoding import api_version_of
from kubechaos.frontdoor.fields import Getter
from kubechaos.frontdoor.paths import EVENTS
from kubechaos.frontdoor.timefmt import Anchor
from kubechaos.sim.events import Event

# Reasons upstream records with type Warning (the model's event log does not keep the type).
WARNING_REASONS = frozenset(
    {
        "BackOff",
        "Failed",
        "FailedScheduling",
        "FailedCreate",
        "FailedDelete",
        "FailedMount",
        "FailedKillPod",
        "FailedPreStopHook",
        "FailedPostStartHook",
        "FailedSync",
        "FailedToUpdateEndpoint",
        "FailedGetResourceMetric",
        "FailedComputeMetricsReplicas",
        "Unhealthy",
        "Evicted",
        "NetworkNotReady",
        "Rebooted",
        "ProbeWarning",
        "Warning",
        "FaultFailed",
        "ApplyFailed",
        "ReplicaSetCreateError",
        "ProgressDeadlineExceeded",
        "CalculateExpectedPodCountFailed",
    }
)


class EventView:
    """One logged event as an Event object (field selectors read these attributes)."""

    __slots__ = ("event", "index", "name", "namespace", "object_name", "uid")

    def __init__(self, index: int, event: Event, uid: str = "") -> None:
        self.index = index
        self.event = event
        self.uid = uid  # the involved object's, when it was recorded
        namespace, _, name = event.object.rpartition("/")
        self.object_name = name or event.kind
        self.namespace = namespace or "default"
        self.name = f"{self.object_name}.{index:016x}"

    @property
    def type(self) -> str:
        return "Warning" if self.event.reason in WARNING_REASONS else "Normal"

    def involved_namespace(self) -> str:
        return self.event.object.rpartition("/")[0]


# fieldSelector support (pkg/registry/core/event/strategy.go ToSelectableFields).
EVENT_FIELDS: dict[str, Getter] = {
    "metadata.name": lambda v: v.name,
    "metadata.namespace": lambda v: v.namespace,
    "involvedObject.kind": lambda v: v.event.kind,
    "involvedObject.name": lambda v: v.object_name,
    "involvedObject.namespace": lambda v: v.involved_namespace(),
    "involvedObject.uid": lambda v: v.uid,
    "involvedObject.apiVersion": lambda v: api_version_of(v.event.kind),
    "involvedObject.resourceVersion": lambda v: "",
    "involvedObject.fieldPath": lambda v: "",
    "reason": lambda v: v.event.reason,
    "reportingComponent": lambda v: v.event.component,
    "source": lambda v: v.event.component,
    "type": lambda v: v.type,
}


def event_json(view: EventView, anchor: Anchor) -> dict[str, Any]:
    event = view.event
    involved: dict[str, Any] = {
        "kind": event.kind,
        "name": view.object_name,
        "apiVersion": api_version_of(event.kind),
    }
    if view.involved_namespace():
        involved["namespace"] = view.involved_namespace()
    if view.uid:
        involved["uid"] = view.uid
    when = anchor.time(event.time)
    component, _, host = event.component.partition("/")
    source: dict[str, Any] = {"component": component}
    if host:
        source["host"] = host
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": view.name,
            "namespace": view.namespace,
            "resourceVersion": str(view.index + 1),
            "creationTimestamp": when,
        },
        "involvedObject": involved,
        "reason": event.reason,
        "message": event.message,
        "source": source,
        "firstTimestamp": when,
        "lastTimestamp": when,
        "count": 1,
        "type": view.type,
        "eventTime": None,
        "reportingComponent": component,
        "reportingInstance": host,
    }


__all__ = ["EVENTS", "EVENT_FIELDS", "WARNING_REASONS", "EventView", "event_json"]
