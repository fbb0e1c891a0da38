"""The structured label selector reader (``matchLabels`` + ``matchExpressions``), shared by the
workload kinds' selectors and the pod template's affinity terms and spread constraints."""

from __future__ import annotations

from typing import Any

from kubechaos.api.fieldreader import FieldReader, Path
from kubechaos.api.selectors import OPERATORS, LabelSelector, Requirement


def read_selector(r: FieldReader, data: Any, path: Path) -> LabelSelector:
    raw = r.map(data, path)
    expressions = []
    for i, expr in enumerate(r.seq(raw.get("matchExpressions"), (*path, "matchExpressions"))):
        ep = (*path, "matchExpressions", i)
        er = r.map(expr, ep)
        op = r.str_(er, "operator", ep, required=True)
        if op and op not in OPERATORS:
            r.error((*ep, "operator"), f"must be one of {', '.join(OPERATORS)}, not {op!r}")
        values = tuple(str(v) for v in r.seq(er.get("values"), (*ep, "values")))
        expressions.append(Requirement(r.str_(er, "key", ep, required=True), op, values))
    return LabelSelector(r.labels(raw, "matchLabels", path), tuple(expressions))


__all__ = ["read_selector"]
