"""policy/v1 PodDisruptionBudget."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubechaos.api.fieldreader import FieldReader, Path
from kubechaos.api.objects import ObjectMeta, PodDisruptionBudget, PodDisruptionBudgetSpec
from kubechaos.api.readers.pods import read_selector


def read_pdb(r: FieldReader, doc: Mapping[str, Any], meta: ObjectMeta) -> PodDisruptionBudget:
    spec = r.map(doc.get("spec"), ("spec",))
    path: Path = ("spec",)
    selector = (
        read_selector(r, spec["selector"], (*path, "selector")) if "selector" in spec else None
    )
    bounds = [
        r.int_or_percent(spec, key, path, 0) if key in spec else None
        for key in ("minAvailable", "maxUnavailable")
    ]
    return PodDisruptionBudget(
        meta,
        PodDisruptionBudgetSpec(
            selector=selector,
            min_available=bounds[0],
            max_unavailable=bounds[1],
            unhealthy_pod_eviction_policy=r.str_(
                spec, "unhealthyPodEvictionPolicy", path, "IfHealthyBudget"
            ),
        ),
    )
