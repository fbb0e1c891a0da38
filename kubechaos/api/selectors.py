"""Label selectors and the field selectors the model supports.

A :class:`LabelSelector` is the structured form (``matchLabels`` + ``matchExpressions``) used by
workloads; :func:`parse_label_selector` reads the string form used by list/watch requests
(``app=web,tier!=db,env in (a,b),!legacy``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from kubechaos.api import workcount

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class SelectorError(ValueError):
    """A selector that cannot be parsed or is not valid."""


@attrs.frozen(slots=True)
class Requirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op == "In":
            return labels.get(self.key) in self.values
        if op == "NotIn":
            return labels.get(self.key) not in self.values
        if op == "Exists":
            return self.key in labels
        return self.key not in labels  # DoesNotExist


@attrs.frozen(slots=True)
class LabelSelector:
    """``matchLabels`` AND every ``matchExpressions`` requirement. Empty matches everything."""

    match_labels: Mapping[str, str] = attrs.field(factory=dict)
    match_expressions: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        workcount.SELECTOR_MATCHES += 1
        for key, value in self.match_labels.items():
            if labels.get(key) != value:
                return False
        return all(req.matches(labels) for req in self.match_expressions)

    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions

    def sole_pair(self) -> tuple[str, str] | None:
        """The one ``(key, value)`` pair if that is the whole selector (one matchLabels pair,
        no expressions): every object carrying it matches, so an index bucket of that pair is
        the selection without evaluating the selector on each object."""
        if len(self.match_labels) == 1 and not self.match_expressions:
            return next(iter(self.match_labels.items()))
        return None

    def index_key(self) -> tuple[str, str] | None:
        """One (key, value) pair every matching object must carry, for indexing; else None."""
        for key in sorted(self.match_labels):
            return key, self.match_labels[key]
        return None


def selector_from_labels(labels: Mapping[str, str]) -> LabelSelector:
    return LabelSelector(match_labels=dict(labels))


_SET_TERM = re.compile(r"^\s*(?P<key>[^\s!=(),]+)\s+(?P<op>in|notin)\s+\((?P<values>[^)]*)\)\s*$")


def parse_label_selector(text: str) -> LabelSelector:
    """Parse the string form of a label selector."""
    match_labels: dict[str, str] = {}
    expressions: list[Requirement] = []
    for term in _split_terms(text):
        set_match = _SET_TERM.match(term)
        if set_match:
            values = tuple(v.strip() for v in set_match["values"].split(",") if v.strip())
            op = "In" if set_match["op"] == "in" else "NotIn"
            expressions.append(Requirement(set_match["key"], op, values))
        elif "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            expressions.append(Requirement(key, "NotIn", (value,)))
        elif "==" in term or "=" in term:
            key, value = (s.strip() for s in re.split("==?", term, maxsplit=1))
            if not key:
                raise SelectorError(f"label selector term {term!r} has no key")
            match_labels[key] = value
        elif term.startswith("!"):
            expressions.append(Requirement(term[1:].strip(), "DoesNotExist"))
        elif term:
            expressions.append(Requirement(term, "Exists"))
    return LabelSelector(match_labels, tuple(expressions))


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unbalanced ')' in label selector {text!r}")
        if char == "," and depth == 0:
            terms.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if depth:
        raise SelectorError(f"unbalanced '(' in label selector {text!r}")
    terms.append("".join(current).strip())
    return [t for t in terms if t]


@attrs.frozen(slots=True)
class FieldSelector:
    """The field selectors the API server supports here: ``spec.nodeName`` on pods."""

    node_name: str | None = None

    @staticmethod
    def parse(text: str) -> FieldSelector:
        node_name = None
        for term in _split_terms(text):
            key, _, value = term.partition("=")
            key = key.rstrip("=").strip()
            if key != "spec.nodeName":
                raise SelectorError(f"field selector {key!r} is not supported (only spec.nodeName)")
            node_name = value.lstrip("=").strip()
        return FieldSelector(node_name)
