"""Validation of a pod spec's pod (anti-)affinity and topology spread constraints.

Upstream's pkg/apis/core/validation/validation.go (validatePodAffinityTerm,
validateWeightedPodAffinityTerms, validateTopologySpreadConstraints,
validateMatchLabelKeysInTopologySpread and the pod affinity matchLabelKeys checks), with its
messages. The label-key rule is passed in by :mod:`kubechaos.api.validation`, which calls this.
"""

from __future__ import annotations

from collections.abc import Callable

from kubechaos.api.objects import (
    PodAffinityRules,
    PodAffinityTerm,
    PodSpec,
    TopologySpreadConstraint,
)
from kubechaos.api.selectors import LabelSelector

DO_NOT_SCHEDULE, SCHEDULE_ANYWAY = "DoNotSchedule", "ScheduleAnyway"
_POLICIES = ("Honor", "Ignore")
_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
_PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"

KeyCheck = Callable[[str], bool]


def _selector_keys(selector: LabelSelector | None) -> set[str]:
    if selector is None:
        return set()
    return set(selector.match_labels) | {r.key for r in selector.match_expressions}


def _term_causes(field: str, term: PodAffinityTerm, key_ok: KeyCheck) -> list[str]:
    causes: list[str] = []
    if not term.topology_key:
        causes.append(f"{field}.topologyKey: Required value: can not be empty")
    elif not key_ok(term.topology_key):
        causes.append(f"{field}.topologyKey: Invalid value: {term.topology_key!r}: name part must "
                      "consist of alphanumeric characters, '-', '_' or '.'")  # fmt: skip
    in_selector = _selector_keys(term.label_selector)
    for kind, keys in (("matchLabelKeys", term.match_label_keys),
                       ("mismatchLabelKeys", term.mismatch_label_keys)):  # fmt: skip
        for i, key in enumerate(keys):
            if term.label_selector is None:
                causes.append(f"{field}.{kind}: Forbidden: must not be specified when "
                              "labelSelector is not set")  # fmt: skip
                break
            if not key_ok(key):
                causes.append(f"{field}.{kind}[{i}]: Invalid value: {key!r}: not a valid label key")
            elif key in in_selector:
                causes.append(f"{field}.{kind}[{i}]: Invalid value: {key!r}: exists in both "
                              f"{kind} and labelSelector")  # fmt: skip
    for key in set(term.match_label_keys) & set(term.mismatch_label_keys):
        causes.append(f"{field}.matchLabelKeys: Invalid value: {key!r}: exists in both "
                      "matchLabelKeys and mismatchLabelKeys")  # fmt: skip
    return causes


def _rules_causes(field: str, rules: PodAffinityRules, key_ok: KeyCheck) -> list[str]:
    causes: list[str] = []
    for i, term in enumerate(rules.required):
        causes += _term_causes(f"{field}.{_REQUIRED}[{i}]", term, key_ok)
    for i, weighted in enumerate(rules.preferred):
        wf = f"{field}.{_PREFERRED}[{i}]"
        if not 1 <= weighted.weight <= 100:
            causes.append(
                f"{wf}.weight: Invalid value: {weighted.weight}: must be in the range 1-100"
            )
        causes += _term_causes(f"{wf}.podAffinityTerm", weighted.term, key_ok)
    return causes


def _constraint_causes(field: str, c: TopologySpreadConstraint, key_ok: KeyCheck) -> list[str]:
    causes: list[str] = []
    if c.max_skew <= 0:
        causes.append(f"{field}.maxSkew: Invalid value: {c.max_skew}: must be greater than zero")
    if not c.topology_key:
        causes.append(f"{field}.topologyKey: Required value: can not be empty")
    elif not key_ok(c.topology_key):
        causes.append(
            f"{field}.topologyKey: Invalid value: {c.topology_key!r}: not a valid label key"
        )
    if c.when_unsatisfiable not in (DO_NOT_SCHEDULE, SCHEDULE_ANYWAY):
        causes.append(f"{field}.whenUnsatisfiable: Unsupported value: {c.when_unsatisfiable!r}: "
                      f'supported values: "{DO_NOT_SCHEDULE}", "{SCHEDULE_ANYWAY}"')  # fmt: skip
    if c.min_domains is not None:
        if c.min_domains <= 0:
            causes.append(f"{field}.minDomains: Invalid value: {c.min_domains}: "
                          "must be greater than zero")  # fmt: skip
        elif c.when_unsatisfiable != DO_NOT_SCHEDULE:
            causes.append(f"{field}.minDomains: Invalid value: {c.min_domains}: can only use "
                          f"minDomains if whenUnsatisfiable={DO_NOT_SCHEDULE}, not "
                          f"{c.when_unsatisfiable}")  # fmt: skip
    for name, value in (("nodeAffinityPolicy", c.node_affinity_policy),
                        ("nodeTaintsPolicy", c.node_taints_policy)):  # fmt: skip
        if value not in _POLICIES:
            causes.append(f'{field}.{name}: Unsupported value: {value!r}: supported values: '
                          '"Honor", "Ignore"')  # fmt: skip
    in_selector = _selector_keys(c.label_selector)
    for i, key in enumerate(c.match_label_keys):
        if c.label_selector is None:
            causes.append(f"{field}.matchLabelKeys: Forbidden: must not be specified when "
                          "labelSelector is not set")  # fmt: skip
            break
        if key in in_selector:
            causes.append(f"{field}.matchLabelKeys[{i}]: Invalid value: {key!r}: exists in both "
                          "matchLabelKeys and labelSelector")  # fmt: skip
    return causes


def pod_placement_causes(field: str, spec: PodSpec, key_ok: KeyCheck) -> list[str]:
    """Every cause that makes the spec's pod (anti-)affinity or spread constraints invalid."""
    causes = _rules_causes(f"{field}.affinity.podAffinity", spec.pod_affinity, key_ok)
    causes += _rules_causes(f"{field}.affinity.podAntiAffinity", spec.pod_anti_affinity, key_ok)
    seen: set[tuple[str, str]] = set()
    for i, c in enumerate(spec.topology_spread):
        cf = f"{field}.topologySpreadConstraints[{i}]"
        causes += _constraint_causes(cf, c, key_ok)
        pair = (c.topology_key, c.when_unsatisfiable)
        if pair in seen:
            causes.append(f'{cf}: Duplicate value: "{{{pair[0]}, {pair[1]}}}"')
        seen.add(pair)
    return causes


__all__ = ["DO_NOT_SCHEDULE", "SCHEDULE_ANYWAY", "pod_placement_causes"]
