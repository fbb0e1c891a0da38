"""Property: whatever a scenario file holds, loading it gives a valid scenario or a clean,
located error — never a crash. Hypothesis mutates the ready-made scenarios and invents documents
from the format's own vocabulary."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubechaos.faults import CATALOGUE
from kubechaos.scenario.loader import Scenario, ScenarioError, parse_scenario

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
SEEDS = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(SCENARIO_DIR.glob("*.yaml"))]
WORDS = [
    "apiVersion", "kind", "metadata", "spec", "name", "description", "seed", "duration",
    "cluster", "nodeGroups", "count", "capacity", "cpu", "memory", "pods", "labels", "taints",
    "settings", "workloads", "path", "manifest", "traffic", "service", "rate", "from",
    "nodeGroup", "nodes", "faults", "type", "at", "every", "target", "params", "namespace",
    "labelSelector", "names", "mode", "value", "gracePeriod", "probability", "latency",
    "nodeMonitorGracePeriod", "Deployment", "Service", "replicas", *CATALOGUE,
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.sampled_from(["10s", "-1m", "1h2m", "5%", "150%", "0", "4Gi", "250m", "worker-0", ""]),
    st.text(max_size=12),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(WORDS), st.text(max_size=6)), children, max_size=5
        ),
    ),
    max_leaves=30,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _paths(v, (*prefix, i))
    return found


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return doc


def _check(text: str) -> None:
    try:
        scenario = parse_scenario(text, "fuzz.yaml", base_dir=SCENARIO_DIR)
    except ScenarioError as exc:
        assert exc.errors, "an error names at least one problem"
        for error in exc.errors:
            assert error.file and error.line >= 1 and error.column >= 1, error
            assert "\n" not in str(error) and "Traceback" not in error.message
        return
    assert isinstance(scenario, Scenario)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(SEEDS), data=st.data(), value=documents)
def test_mutated_scenarios_load_or_fail_cleanly(base: Any, data: st.DataObject, value: Any) -> None:
    doc = copy.deepcopy(base)
    path = data.draw(st.sampled_from(_paths(doc)))
    action = data.draw(st.sampled_from(["replace", "delete", "rename"]))
    if action == "replace" or not path:
        doc = _set(doc, path, value)
    else:
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(st.sampled_from(WORDS))] = parent.pop(path[-1])
    _check(yaml.safe_dump(doc, sort_keys=False))


@settings(max_examples=200, deadline=None)
@given(doc=documents)
def test_invented_documents_load_or_fail_cleanly(doc: Any) -> None:
    _check(yaml.safe_dump(doc))


@settings(max_examples=200, deadline=None)
@given(base=st.sampled_from(sorted(SCENARIO_DIR.glob("*.yaml"))), data=st.data())
def test_garbled_text_loads_or_fails_cleanly(base: Path, data: st.DataObject) -> None:
    text = base.read_text(encoding="utf-8")
    at = data.draw(st.integers(min_value=0, max_value=len(text)))
    junk = data.draw(st.text(alphabet=":{}[]-'\"\t #&*!|>%@`\n ", max_size=5))
    cut = data.draw(st.integers(min_value=0, max_value=5))
    _check(text[:at] + junk + text[at + cut :])
