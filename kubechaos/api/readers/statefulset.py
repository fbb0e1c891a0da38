"""apps/v1 StatefulSet (defaults from pkg/apis/apps/v1/defaults.go, SetDefaults_StatefulSet)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubechaos.api.fieldreader import FieldReader, Path
from kubechaos.api.objects import (
    ObjectMeta,
    StatefulSet,
    StatefulSetSpec,
    StatefulSetUpdateStrategy,
)
from kubechaos.api.objects.statefulset import ORDERED_READY, ROLLING_UPDATE
from kubechaos.api.readers.pods import read_workload_common


def read_statefulset(r: FieldReader, doc: Mapping[str, Any], meta: ObjectMeta) -> StatefulSet:
    spec = r.map(doc.get("spec"), ("spec",))
    path: Path = ("spec",)
    selector, template = read_workload_common(r, spec)
    sp: Path = (*path, "updateStrategy")
    strategy = r.map(spec.get("updateStrategy"), sp)
    rolling = r.map(strategy.get("rollingUpdate"), (*sp, "rollingUpdate"))
    strategy_type = r.str_(strategy, "type", sp, ROLLING_UPDATE)
    if strategy_type != ROLLING_UPDATE and "rollingUpdate" in strategy:
        r.error(
            (*sp, "rollingUpdate"),
            "Invalid value: only allowed for updateStrategy 'RollingUpdate'",
        )
    rp: Path = (*path, "persistentVolumeClaimRetentionPolicy")
    retention = r.map(spec.get("persistentVolumeClaimRetentionPolicy"), rp)
    ordinals = r.map(spec.get("ordinals"), (*path, "ordinals"))
    claims = r.seq(spec.get("volumeClaimTemplates"), (*path, "volumeClaimTemplates"))
    return StatefulSet(
        meta,
        StatefulSetSpec(
            selector=selector,
            template=template,
            replicas=r.int_(spec, "replicas", path, 1),
            service_name=r.str_(spec, "serviceName", path, ""),
            pod_management_policy=r.str_(spec, "podManagementPolicy", path, ORDERED_READY),
            update_strategy=StatefulSetUpdateStrategy(
                type=strategy_type,
                partition=r.int_(rolling, "partition", (*sp, "rollingUpdate"), 0),
            ),
            min_ready_seconds=r.int_(spec, "minReadySeconds", path, 0),
            revision_history_limit=r.int_(spec, "revisionHistoryLimit", path, 10),
            ordinals_start=r.int_(ordinals, "start", (*path, "ordinals"), 0),
            pvc_retention=(
                r.str_(retention, "whenDeleted", rp, "Retain"),
                r.str_(retention, "whenScaled", rp, "Retain"),
            ),
            volume_claim_templates=tuple(
                str(meta.get("name", "")) if isinstance(meta, Mapping) else ""
                for meta in (c.get("metadata") if isinstance(c, Mapping) else None for c in claims)
            ),
        ),
    )
