"""Readers for a pod template's placement constraints between pods: ``affinity.podAffinity``,
``affinity.podAntiAffinity`` and ``topologySpreadConstraints`` (core/v1 field names).

Values are read as written; their semantics (topologyKey required, weights 1..100, maxSkew > 0,
the enums, minDomains only with DoNotSchedule, ...) are checked by
:mod:`kubechaos.api.validation_podaffinity`, as upstream's API validation does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubechaos.api.fieldreader import FieldReader, Path, type_name
from kubechaos.api.objects import (
    PodAffinityRules,
    PodAffinityTerm,
    TopologySpreadConstraint,
    WeightedPodAffinityTerm,
)
from kubechaos.api.readers.selectors import read_selector
from kubechaos.api.selectors import LabelSelector

_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
_PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def _strings(r: FieldReader, raw: Mapping[str, Any], key: str, path: Path) -> tuple[str, ...]:
    out = []
    for i, value in enumerate(r.seq(raw.get(key), (*path, key))):
        if isinstance(value, str):
            out.append(value)
        else:
            r.error((*path, key, i), f"expected a string, got {type_name(value)}")
    return tuple(out)


def _optional_selector(
    r: FieldReader, raw: Mapping[str, Any], key: str, path: Path
) -> LabelSelector | None:
    if raw.get(key) is None:
        return None
    return read_selector(r, raw.get(key), (*path, key))


def _term(r: FieldReader, data: Any, path: Path) -> PodAffinityTerm:
    raw = r.map(data, path)
    return PodAffinityTerm(
        topology_key=r.str_(raw, "topologyKey", path),
        label_selector=_optional_selector(r, raw, "labelSelector", path),
        namespaces=_strings(r, raw, "namespaces", path),
        namespace_selector=_optional_selector(r, raw, "namespaceSelector", path),
        match_label_keys=_strings(r, raw, "matchLabelKeys", path),
        mismatch_label_keys=_strings(r, raw, "mismatchLabelKeys", path),
    )


def _rules(r: FieldReader, data: Any, path: Path) -> PodAffinityRules:
    raw = r.map(data, path)
    required = tuple(
        _term(r, t, (*path, _REQUIRED, i))
        for i, t in enumerate(r.seq(raw.get(_REQUIRED), (*path, _REQUIRED)))
    )
    preferred = []
    for i, w in enumerate(r.seq(raw.get(_PREFERRED), (*path, _PREFERRED))):
        wp = (*path, _PREFERRED, i)
        wr = r.map(w, wp)
        if "podAffinityTerm" not in wr:
            r.error((*wp, "podAffinityTerm"), "Required value")
        preferred.append(
            WeightedPodAffinityTerm(
                r.int_(wr, "weight", wp, 0),
                _term(r, wr.get("podAffinityTerm"), (*wp, "podAffinityTerm")),
            )
        )
    return PodAffinityRules(required, tuple(preferred))


def _constraint(r: FieldReader, data: Any, path: Path) -> TopologySpreadConstraint:
    raw = r.map(data, path)
    min_domains = raw.get("minDomains")
    if min_domains is not None:
        min_domains = r.int_(raw, "minDomains", path, 0)
    return TopologySpreadConstraint(
        max_skew=r.int_(raw, "maxSkew", path, 0),
        topology_key=r.str_(raw, "topologyKey", path),
        when_unsatisfiable=r.str_(raw, "whenUnsatisfiable", path),
        label_selector=_optional_selector(r, raw, "labelSelector", path),
        min_domains=min_domains,
        node_affinity_policy=r.str_(raw, "nodeAffinityPolicy", path, "Honor"),
        node_taints_policy=r.str_(raw, "nodeTaintsPolicy", path, "Ignore"),
        match_label_keys=_strings(r, raw, "matchLabelKeys", path),
    )


def read_pod_placement(r: FieldReader, raw: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The PodSpec keyword arguments for pod (anti-)affinity and topology spread."""
    ap = (*path, "affinity")
    affinity = raw.get("affinity")
    if not isinstance(affinity, Mapping):  # the node affinity reader reports a bad one
        affinity = {}
    spread = tuple(
        _constraint(r, c, (*path, "topologySpreadConstraints", i))
        for i, c in enumerate(
            r.seq(raw.get("topologySpreadConstraints"), (*path, "topologySpreadConstraints"))
        )
    )
    return {
        "pod_affinity": _rules(r, affinity.get("podAffinity"), (*ap, "podAffinity")),
        "pod_anti_affinity": _rules(r, affinity.get("podAntiAffinity"), (*ap, "podAntiAffinity")),
        "topology_spread": spread,
    }


__all__ = ["read_pod_placement"]
