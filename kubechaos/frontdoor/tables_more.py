"""Server-side printing for the rest of the served kinds (StatefulSets to PriorityClasses).

Columns and cells as upstream's ``pkg/printers/internalversion/printers.go`` defines them
(printStatefulSet, printDaemonSet, printJob, printHorizontalPodAutoscaler,
printPodDisruptionBudget, printLease, printConfigMap, printSecret, printServiceAccount,
printPriorityClass); :mod:`.tables` holds the common ones and the Table itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubechaos.frontdoor.ages import age, human_duration

Column = tuple[str, str, int]
Cells = list[Any]
Printer = tuple[list[Column], Callable[[Any, float], Cells]]


def _images(template: Any) -> tuple[str, str]:
    containers = template.spec.containers
    return ",".join(c.name for c in containers), ",".join(c.image for c in containers)


def statefulset(s: Any, now: float) -> Cells:
    names, images = _images(s.spec.template)
    ready = f"{s.status.ready_replicas}/{s.spec.replicas}"
    return [s.metadata.name, ready, age(s, now), names, images]


def daemonset(d: Any, now: float) -> Cells:
    st = d.status
    selector = d.spec.template.spec.node_selector
    names, images = _images(d.spec.template)
    return [
        d.metadata.name,
        st.desired_number_scheduled,
        st.current_number_scheduled,
        st.number_ready,
        st.updated_number_scheduled,
        st.number_available,
        ",".join(f"{k}={v}" for k, v in selector.items()) or "<none>",
        age(d, now),
        names,
        images,
    ]


def job(j: Any, now: float) -> Cells:
    status = j.status
    done = {c.type for c in status.conditions if c.status == "True"}
    state = "Running"
    if "Complete" in done:
        state = "Complete"
    elif "Failed" in done:
        state = "Failed"
    elif j.spec.suspend:
        state = "Suspended"
    completions = j.spec.completions
    shown = (
        f"{status.succeeded}/{completions}"
        if completions is not None
        else (f"{status.succeeded}/1 of {j.spec.parallelism}")
    )
    length = ""
    if status.start_time is not None:
        end = status.completion_time if status.completion_time is not None else now
        length = human_duration(end - status.start_time)
    names, images = _images(j.spec.template)
    return [j.metadata.name, state, shown, length, age(j, now), names, images]


def hpa(h: Any, now: float) -> Cells:
    ref = h.spec.scale_target_ref
    targets = []
    for spec in h.spec.metrics:
        current = next(
            (m for m in h.status.current_metrics if m.resource_name == spec.resource_name),
            None,
        )
        wanted = spec.target.average_utilization if spec.target is not None else None
        have = current.average_utilization if current is not None else None
        shown = "<unknown>" if have is None else f"{have}%"
        targets.append(f"{spec.resource_name}: {shown}/{wanted}%")
    return [
        h.metadata.name,
        f"{ref.kind}/{ref.name}",
        ", ".join(targets) or "<none>",
        h.spec.min_replicas,
        h.spec.max_replicas,
        h.status.current_replicas,
        age(h, now),
    ]


def pdb(p: Any, now: float) -> Cells:
    spec = p.spec
    return [
        p.metadata.name,
        "N/A" if spec.min_available is None else spec.min_available,
        "N/A" if spec.max_unavailable is None else spec.max_unavailable,
        p.status.disruptions_allowed,
        age(p, now),
    ]


def lease(lease_: Any, now: float) -> Cells:
    return [lease_.metadata.name, lease_.spec.holder_identity or "<none>", age(lease_, now)]


def configmap(c: Any, now: float) -> Cells:
    return [c.metadata.name, len(c.data) + len(c.binary_data), age(c, now)]


def secret(s: Any, now: float) -> Cells:
    return [s.metadata.name, s.type, len(s.data) + len(s.string_data), age(s, now)]


def serviceaccount(sa: Any, now: float) -> Cells:
    return [sa.metadata.name, 0, age(sa, now)]


def priorityclass(pc: Any, now: float) -> Cells:
    default = "true" if pc.global_default else "false"
    return [pc.metadata.name, pc.value, default, age(pc, now), pc.preemption_policy]


MORE_PRINTERS: dict[str, Printer] = {
    "statefulsets": (
        [
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
        ],
        statefulset,
    ),
    "daemonsets": (
        [
            ("Name", "string", 0),
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            ("Node Selector", "string", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
        ],
        daemonset,
    ),
    "jobs": (
        [
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Completions", "string", 0),
            ("Duration", "string", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
        ],
        job,
    ),
    "horizontalpodautoscalers": (
        [
            ("Name", "string", 0),
            ("Reference", "string", 0),
            ("Targets", "string", 0),
            ("MinPods", "string", 0),
            ("MaxPods", "integer", 0),
            ("Replicas", "integer", 0),
            ("Age", "string", 0),
        ],
        hpa,
    ),
    "poddisruptionbudgets": (
        [
            ("Name", "string", 0),
            ("Min Available", "string", 0),
            ("Max Unavailable", "string", 0),
            ("Allowed Disruptions", "integer", 0),
            ("Age", "string", 0),
        ],
        pdb,
    ),
    "leases": ([("Name", "string", 0), ("Holder", "string", 0), ("Age", "string", 0)], lease),
    "configmaps": (
        [("Name", "string", 0), ("Data", "string", 0), ("Age", "string", 0)],
        configmap,
    ),
    "secrets": (
        [
            ("Name", "string", 0),
            ("Type", "string", 0),
            ("Data", "string", 0),
            ("Age", "string", 0),
        ],
        secret,
    ),
    "serviceaccounts": (
        [("Name", "string", 0), ("Secrets", "string", 0), ("Age", "string", 0)],
        serviceaccount,
    ),
    "priorityclasses": (
        [
            ("Name", "string", 0),
            ("Value", "integer", 0),
            ("Global-Default", "boolean", 0),
            ("Age", "string", 0),
            ("PreemptionPolicy", "string", 0),
        ],
        priorityclass,
    ),
}


__all__ = ["MORE_PRINTERS"]
