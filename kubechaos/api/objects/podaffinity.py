"""Pod placement constraints between pods: pod (anti-)affinity and topology spread constraints.

core/v1 ``PodAffinityTerm``, ``WeightedPodAffinityTerm``, ``PodAffinity``/``PodAntiAffinity``
and ``TopologySpreadConstraint`` (k8s.io/api/core/v1/types.go), the fields the scheduler's
InterPodAffinity and PodTopologySpread plugins read. Kept out of ``core`` so that module stays
small; :class:`~kubechaos.api.objects.core.PodSpec` holds them.
"""

from __future__ import annotations

import attrs

from kubechaos.api.selectors import LabelSelector


@attrs.frozen(slots=True)
class PodAffinityTerm:
    """Pods matching ``label_selector`` in ``namespaces`` (and in the namespaces whose labels
    match ``namespace_selector``; neither set: the pod's own namespace) running in the same
    ``topology_key`` domain. ``label_selector`` None selects no pod."""

    topology_key: str
    label_selector: LabelSelector | None = None
    namespaces: tuple[str, ...] = ()
    namespace_selector: LabelSelector | None = None
    match_label_keys: tuple[str, ...] = ()
    mismatch_label_keys: tuple[str, ...] = ()


@attrs.frozen(slots=True)
class WeightedPodAffinityTerm:
    """A preferred term: ``weight`` (1..100) added for each matching pod's domain."""

    weight: int
    term: PodAffinityTerm


@attrs.frozen(slots=True)
class PodAffinityRules:
    """``affinity.podAffinity`` or ``affinity.podAntiAffinity``: the required terms (ANDed) and
    the preferred ones (summed)."""

    required: tuple[PodAffinityTerm, ...] = ()
    preferred: tuple[WeightedPodAffinityTerm, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.required or self.preferred)


@attrs.frozen(slots=True)
class TopologySpreadConstraint:
    """One ``topologySpreadConstraints`` entry; policies default as upstream (Honor, Ignore)."""

    max_skew: int
    topology_key: str
    when_unsatisfiable: str  # DoNotSchedule | ScheduleAnyway
    label_selector: LabelSelector | None = None
    min_domains: int | None = None
    node_affinity_policy: str = "Honor"  # Honor | Ignore
    node_taints_policy: str = "Ignore"  # Honor | Ignore
    match_label_keys: tuple[str, ...] = ()


NO_POD_AFFINITY = PodAffinityRules()

__all__ = [
    "NO_POD_AFFINITY",
    "PodAffinityRules",
    "PodAffinityTerm",
    "TopologySpreadConstraint",
    "WeightedPodAffinityTerm",
]
