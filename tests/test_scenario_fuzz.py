"""Property: whatever a scenario file holds, loading it gives a valid scenario or a clean,
located error — never a crash. Hypothesis mutates the ready-made scenarios and the manifests
inside their workloads, invents documents from the format's own vocabulary, and hands
`kubechaos run` random flag values."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubechaos.cli import main
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
    "nodeMonitorGracePeriod", "Deployment", "Service", "replicas", "affinity", "nodeAffinity",
    "preferredDuringSchedulingIgnoredDuringExecution", "weight", "preference",
    "matchExpressions", "matchFields", "Gt", "Lt", "PreferNoSchedule", *CATALOGUE,
    "leaderElect", "leaderElectionLeaseDuration", "leaderElectionRenewDeadline",
    "leaderElectionRetryPeriod", "controlPlaneRestartDelay", "publishNotReadyAddresses",
    "nodeHeartbeatJitterFactor", "nodeBootDuration", "cniStartupDuration",
    "EndpointSlice", "maxSurge",
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


# ------------------------------------------------------------------ manifests inside workloads
MANIFEST_FILES = sorted((SCENARIO_DIR / "manifests").glob("*.yaml"))
MANIFESTS = [doc for p in MANIFEST_FILES for doc in yaml.safe_load_all(p.read_text()) if doc]
MANIFEST_WORDS = [
    "replicas", "selector", "matchLabels", "template", "spec", "containers", "image", "ports",
    "containerPort", "readinessProbe", "livenessProbe", "httpGet", "port", "targetPort",
    "resources", "requests", "limits", "cpu", "memory", "labels", "annotations", "namespace",
    "strategy", "rollingUpdate", "maxSurge", "maxUnavailable", "restartPolicy", "tolerations",
    "nodeSelector", "terminationGracePeriodSeconds", "env", "name", "value", "apiVersion",
    "kind", "Deployment", "Pod", "ReplicaSet", "Service", "Namespace", "StatefulSet",
    "initContainers", "startupProbe", "Never",
    "replcias", "readinesProbe", "namepsace", "kubechaos.io/behaviour",
    "sessionAffinity", "ClientIP", "sessionAffinityConfig", "clientIP", "timeoutSeconds",
    "internalTrafficPolicy", "Local", "Cluster", "externalTrafficPolicy",
    "lifecycle", "preStop", "postStart", "exec", "command", "sleep", "seconds", "tcpSocket",
    "priorityClassName", "priority", "preemptionPolicy", "PreemptLowerPriority", "Never",
    "PriorityClass", "globalDefault", "value",
    "affinity", "podAffinity", "podAntiAffinity", "topologyKey", "labelSelector", "weight",
    "requiredDuringSchedulingIgnoredDuringExecution", "podAffinityTerm", "namespaceSelector",
    "preferredDuringSchedulingIgnoredDuringExecution", "matchLabelKeys", "mismatchLabelKeys",
    "namespaces", "topologySpreadConstraints", "maxSkew", "whenUnsatisfiable", "minDomains",
    "nodeAffinityPolicy", "nodeTaintsPolicy", "DoNotSchedule", "ScheduleAnyway", "Honor",
]  # fmt: skip
manifest_values = st.recursive(
    st.one_of(
        scalars,
        st.sampled_from(MANIFEST_WORDS),
        st.sampled_from(
            ["25%", "100m", "128Mi", "http", "startup=5s", "Always", "-1", "1e400", "86401"]
        ),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(MANIFEST_WORDS), children, max_size=4),
    ),
    max_leaves=12,
)


def _with_manifests(manifests: list[Any]) -> str:
    """The quickstart scenario with ``manifests`` written inline as its workloads."""
    doc = copy.deepcopy(next(s for s in SEEDS if s["metadata"]["name"] == "quickstart"))
    doc["spec"]["workloads"] = [{"manifest": m} for m in manifests]
    return yaml.safe_dump(doc, sort_keys=False)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), value=manifest_values)
def test_mutated_manifests_load_or_fail_cleanly(data: st.DataObject, value: Any) -> None:
    """Random fields and values anywhere inside the workloads' manifests: checked against the
    upstream schema and the model, the scenario loads or every error is one located line."""
    manifests = copy.deepcopy(MANIFESTS)
    index = data.draw(st.integers(0, len(manifests) - 1))
    path = data.draw(st.sampled_from(_paths(manifests[index])))
    action = data.draw(st.sampled_from(["replace", "delete", "rename", "add"]))
    parent: Any = manifests[index]
    for step in path[:-1]:
        parent = parent[step]
    if action == "replace" or not path:
        manifests[index] = _set(manifests[index], path, value)
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        key = data.draw(st.sampled_from(MANIFEST_WORDS))
        if action == "rename":
            parent[key] = parent.pop(path[-1])
        else:
            parent[key] = value
    # the mutated manifest with the definitions custom objects need: loading every other
    # manifest again each time checks nothing new (they are unchanged) and would cost most of it
    needed = [
        m
        for i, m in enumerate(manifests)
        if i == index or (isinstance(m, dict) and m.get("kind") == "CustomResourceDefinition")
    ]
    _check(_with_manifests(needed))


# ------------------------------------------------------------------ command-line flags
TINY = """\
apiVersion: kubechaos/v1
kind: Scenario
metadata: {name: tiny}
spec:
  duration: 3s
  cluster: {nodeGroups: [{name: worker, count: 1}]}
"""
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "0", "-0", "1e309", "nan", "inf", "-inf", "0x10", "1_000", "max"]),
    st.text(max_size=10),
)
durations = st.one_of(
    numbers, st.sampled_from(["15s", "1ms", "0s", "1h", "-5s", "9" * 400 + "s", "1.5s", "5m"])
)
times = st.one_of(
    numbers,
    st.sampled_from(
        ["2026-01-01T00:00:00Z", "0001-01-01", "9999-12-31T23:59:59+14:00", "1970-01-01", "Z"]
    ),
)
speeds = st.one_of(
    st.floats(min_value=50, max_value=1e300).map(repr),  # fast enough to finish at once
    st.floats(max_value=0, allow_infinity=True).map(repr),
    st.sampled_from(["max", "nan", "inf", "-1", "0", "fast", ""]),
)
FLAGS = {
    "--seed": numbers,
    "--scrape-interval": durations,
    "--start-time": times,
    "--speed": speeds,
    "--max-nodes": numbers,
    "--max-rate": numbers,
    "--max-duration": durations,
    "--max-injections": numbers,
    "--sed": numbers,  # not a flag: a usage error
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flags=st.dictionaries(
        st.sampled_from(sorted(FLAGS)), st.just(None), min_size=1, max_size=4
    ).flatmap(lambda keys: st.fixed_dictionaries({k: FLAGS[k] for k in keys}))
)
def test_random_flags_never_crash(tmp_path_factory: Any, flags: dict[str, str]) -> None:
    """Random values for `kubechaos run`'s flags (recording on, so --scrape-interval and
    --start-time are used): exit 0, 1 or 2, never a traceback; a refused flag is one line."""
    tmp = tmp_path_factory.mktemp("flags")
    scenario = tmp / "tiny.yaml"
    scenario.write_text(TINY)
    args = ["run", str(scenario), "--no-progress", "--openmetrics", str(tmp / "r.om")]
    for flag, value in flags.items():
        args += [flag, value]
    result = CliRunner().invoke(main, args, prog_name="kubechaos")
    assert result.exit_code in (0, 1, 2), (args, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args,
        result.exception,
    )
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        errors = result.stderr.splitlines()
        assert len(errors) == 1 and errors[0].startswith("error: "), (args, errors)
