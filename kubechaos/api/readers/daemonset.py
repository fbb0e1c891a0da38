"""apps/v1 DaemonSet."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubechaos.api.fieldreader import FieldReader, Path
from kubechaos.api.objects import (
    DaemonSet,
    DaemonSetSpec,
    DaemonSetUpdateStrategy,
    ObjectMeta,
)
from kubechaos.api.readers.pods import read_workload_common


def read_daemonset(r: FieldReader, doc: Mapping[str, Any], meta: ObjectMeta) -> DaemonSet:
    spec = r.map(doc.get("spec"), ("spec",))
    selector, template = read_workload_common(r, spec)
    sp: Path = ("spec", "updateStrategy")
    strategy = r.map(spec.get("updateStrategy"), sp)
    rolling = r.map(strategy.get("rollingUpdate"), (*sp, "rollingUpdate"))
    rp: Path = (*sp, "rollingUpdate")
    return DaemonSet(
        meta,
        DaemonSetSpec(
            selector=selector,
            template=template,
            update_strategy=DaemonSetUpdateStrategy(
                type=r.str_(strategy, "type", sp, "RollingUpdate"),
                max_unavailable=r.int_or_percent(rolling, "maxUnavailable", rp, 1),
                max_surge=r.int_or_percent(rolling, "maxSurge", rp, 0),
            ),
            min_ready_seconds=r.int_(spec, "minReadySeconds", ("spec",), 0),
            revision_history_limit=r.int_(spec, "revisionHistoryLimit", ("spec",), 10),
        ),
    )
