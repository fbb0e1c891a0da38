"""apps/v1 workloads: ReplicaSet and Deployment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubechaos.api.fieldreader import FieldReader, Path
from kubechaos.api.objects import (
    Deployment,
    DeploymentSpec,
    DeploymentStrategy,
    ObjectMeta,
    ReplicaSet,
    ReplicaSetSpec,
)
from kubechaos.api.readers.pods import read_workload_common


def read_replicaset(r: FieldReader, doc: Mapping[str, Any], meta: ObjectMeta) -> ReplicaSet:
    spec = r.map(doc.get("spec"), ("spec",))
    selector, template = read_workload_common(r, spec)
    return ReplicaSet(
        meta,
        ReplicaSetSpec(
            selector=selector,
            template=template,
            replicas=r.int_(spec, "replicas", ("spec",), 1),
            min_ready_seconds=r.int_(spec, "minReadySeconds", ("spec",), 0),
        ),
    )


def read_deployment(r: FieldReader, doc: Mapping[str, Any], meta: ObjectMeta) -> Deployment:
    spec = r.map(doc.get("spec"), ("spec",))
    selector, template = read_workload_common(r, spec)
    strategy_raw = r.map(spec.get("strategy"), ("spec", "strategy"))
    strategy_type = r.str_(strategy_raw, "type", ("spec", "strategy"), "RollingUpdate")
    rolling = r.map(strategy_raw.get("rollingUpdate"), ("spec", "strategy", "rollingUpdate"))
    rp: Path = ("spec", "strategy", "rollingUpdate")
    return Deployment(
        meta,
        DeploymentSpec(
            selector=selector,
            template=template,
            replicas=r.int_(spec, "replicas", ("spec",), 1),
            strategy=DeploymentStrategy(
                type=strategy_type,
                max_surge=r.int_or_percent(rolling, "maxSurge", rp, "25%"),
                max_unavailable=r.int_or_percent(rolling, "maxUnavailable", rp, "25%"),
            ),
            min_ready_seconds=r.int_(spec, "minReadySeconds", ("spec",), 0),
            revision_history_limit=r.int_(spec, "revisionHistoryLimit", ("spec",), 10),
            progress_deadline_seconds=r.int_(spec, "progressDeadlineSeconds", ("spec",), 600),
            paused=r.bool_(spec, "paused", ("spec",), False),
        ),
    )
