"""Required node affinity: does a node match a pod's ``nodeSelector`` and
``affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution``?

Upstream's component-helpers/scheduling/corev1/nodeaffinity (``GetRequiredNodeAffinity(pod)
.Match(node)``), which both the scheduler's NodeAffinity filter and the DaemonSet controller use:
every ``nodeSelector`` pair must be a node label, and at least one node selector term must
match. A term's requirements are ANDed (``matchExpressions`` on node labels, ``matchFields`` on
``metadata.name``, the only node field upstream allows); a term with no requirement matches no
node. Operators: ``In``, ``NotIn`` (also true when the label is absent), ``Exists``,
``DoesNotExist``, ``Gt`` and ``Lt`` (the label and the one value compared as integers; a
label that is not an integer does not match).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from kubechaos.api.objects import (
    NodeSelectorRequirement,
    NodeSelectorTerm,
    PodSpec,
    PreferredSchedulingTerm,
)

NODE_NAME_FIELD = "metadata.name"  # metav1.ObjectNameField
NODE_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")
FIELD_SELECTOR_OPERATORS = ("In", "NotIn")  # what validation allows in matchFields


def _requirement_matches(req: NodeSelectorRequirement, value: str | None) -> bool:
    op = req.operator
    if op == "In":
        return value is not None and value in req.values
    if op == "NotIn":
        return value is None or value not in req.values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(req.values) == 1:
        have, bound = parse_int64(value), parse_int64(req.values[0])
        if have is None or bound is None:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


_INT64 = re.compile(r"[+-]?[0-9]+")


def parse_int64(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64), as upstream reads Gt/Lt values and labels: an optional
    sign and decimal digits only (no spaces, no underscores), within int64; None otherwise."""
    if not _INT64.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def term_matches(term: NodeSelectorTerm, labels: Mapping[str, str], name: str) -> bool:
    """One node selector term: every requirement holds (an empty term matches nothing)."""
    if not term.match_expressions and not term.match_fields:
        return False
    for req in term.match_expressions:
        if not _requirement_matches(req, labels.get(req.key)):
            return False
    for req in term.match_fields:
        value = name if req.key == NODE_NAME_FIELD else None
        if not _requirement_matches(req, value):
            return False
    return True


def terms_match(terms: tuple[NodeSelectorTerm, ...], labels: Mapping[str, str], name: str) -> bool:
    """The terms ORed; no terms at all means no required node affinity (every node)."""
    return not terms or any(term_matches(t, labels, name) for t in terms)


def matches_node(spec: PodSpec, labels: Mapping[str, str], name: str) -> bool:
    """``GetRequiredNodeAffinity(pod).Match(node)``: nodeSelector and required node affinity."""
    for key, value in spec.node_selector.items():
        if labels.get(key) != value:
            return False
    return terms_match(spec.node_affinity, labels, name)


def preferred_score(
    terms: tuple[PreferredSchedulingTerm, ...], labels: Mapping[str, str], name: str
) -> int:
    """PreferredSchedulingTerms.Score: the sum of the weights of the terms the node matches (a
    term with no requirement matches nothing, as upstream skips it)."""
    score = 0
    for term in terms:
        if term_matches(term.preference, labels, name):
            score += term.weight
    return score


def required_node_names(terms: tuple[NodeSelectorTerm, ...]) -> frozenset[str] | None:
    """The NodeAffinity PreFilter's node name set: the nodes ``matchFields metadata.name In``
    allows, when every term names its nodes (terms ORed: union; requirements ANDed:
    intersection); None when some term (or none) leaves every node eligible."""
    if not terms:
        return None
    names: set[str] = set()
    for term in terms:
        term_names: set[str] | None = None
        for req in term.match_fields:
            if req.key == NODE_NAME_FIELD and req.operator == "In":
                values = set(req.values)
                term_names = values if term_names is None else term_names & values
        if term_names is None:
            return None
        names |= term_names
    return frozenset(names)


def node_name_affinity(node_name: str) -> tuple[NodeSelectorTerm, ...]:
    """The one term ``matchFields metadata.name In [node]`` (util.ReplaceDaemonSetPodNodeName
    NodeAffinity puts it in place of a DaemonSet pod's required node affinity terms)."""
    req = NodeSelectorRequirement(NODE_NAME_FIELD, "In", (node_name,))
    return (NodeSelectorTerm(match_fields=(req,)),)


def target_node_name(spec: PodSpec) -> str | None:
    """util.GetTargetNodeName: the pod's node, or the one node its affinity names."""
    if spec.node_name:
        return spec.node_name
    for term in spec.node_affinity:
        for req in term.match_fields:
            if req.key == NODE_NAME_FIELD and req.operator == "In" and len(req.values) == 1:
                return req.values[0]
    return None


def node_affinity_causes(field: str, terms: tuple[NodeSelectorTerm, ...]) -> list[str]:
    """ValidateNodeSelector (pkg/apis/core/validation): operators and their value counts;
    ``matchFields`` only on ``metadata.name`` with ``In``/``NotIn`` and one value."""
    causes: list[str] = []
    for i, term in enumerate(terms):
        causes += _term_causes(f"{field}.nodeSelectorTerms[{i}]", term)
    return causes


def _term_causes(tp: str, term: NodeSelectorTerm) -> list[str]:
    causes: list[str] = []
    for j, req in enumerate(term.match_expressions):
        causes += _expression_causes(f"{tp}.matchExpressions[{j}]", req)
    for j, req in enumerate(term.match_fields):
        rp = f"{tp}.matchFields[{j}]"
        if req.key != NODE_NAME_FIELD:
            causes.append(f"{rp}.key: Invalid value: {req.key!r}: not a valid field selector key")
        if req.operator not in FIELD_SELECTOR_OPERATORS:
            causes.append(
                f"{rp}.operator: Invalid value: {req.operator!r}: not a valid selector operator"
            )
        elif len(req.values) != 1:
            causes.append(
                f"{rp}.values: Required value: must be only one value when `operator` is "
                "'In' or 'NotIn' for node field selector"
            )
    return causes


def preferred_affinity_causes(field: str, terms: tuple[PreferredSchedulingTerm, ...]) -> list[str]:
    """ValidatePreferredSchedulingTerms: each weight in 1..100, each preference a valid term."""
    causes: list[str] = []
    for i, term in enumerate(terms):
        tp = f"{field}[{i}]"
        if not 1 <= term.weight <= 100:
            causes.append(f"{tp}.weight: Invalid value: {term.weight}: must be in the range 1-100")
        causes += _term_causes(f"{tp}.preference", term.preference)
    return causes


def _expression_causes(rp: str, req: NodeSelectorRequirement) -> list[str]:
    op, n = req.operator, len(req.values)
    if op not in NODE_SELECTOR_OPERATORS:
        return [f"{rp}.operator: Invalid value: {op!r}: not a valid selector operator"]
    if op in ("In", "NotIn") and n == 0:
        return [
            f"{rp}.values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
        ]
    if op in ("Exists", "DoesNotExist") and n:
        return [
            f"{rp}.values: Forbidden: may not be specified when `operator` is 'Exists' or "
            "'DoesNotExist'"
        ]
    if op in ("Gt", "Lt"):
        if n != 1:
            return [
                f"{rp}.values: Required value: must be specified single value when `operator` is 'Lt' or 'Gt'"
            ]
        if parse_int64(req.values[0]) is None:
            return [f"{rp}.values[0]: Invalid value: {req.values[0]!r}: must be an integer"]
    return []


__all__ = [
    "FIELD_SELECTOR_OPERATORS",
    "NODE_NAME_FIELD",
    "NODE_SELECTOR_OPERATORS",
    "matches_node",
    "node_affinity_causes",
    "node_name_affinity",
    "parse_int64",
    "preferred_affinity_causes",
    "preferred_score",
    "required_node_names",
    "target_node_name",
    "term_matches",
    "terms_match",
]
