"""Anything the model does not model is loud (issue 13, point 7).

A realistic production manifest set (tests/data/production/prod.yaml: a Deployment with
initContainers, preStop, affinity, topology spread, volumes, securityContext, resources and
probes; a Service; a ConfigMap; a StatefulSet; a PodDisruptionBudget; an HPA; a node-agent
DaemonSet with host access; a migration Job; a CronJob and an Ingress) used to pass
``kubechaos validate`` with a bare "ok", and its pod-spec fields the model ignores were dropped
without a word by ``run`` too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubechaos.api.modelled import MODELLED_FIELDS, NOT_MODELLED, Default, unmodelled_fields
from kubechaos.api.schema import definition_properties
from kubechaos.cli import main
from kubechaos.scenario.loader import load_scenario
from kubechaos.scenario.runner import Run
from kubechaos.scenario.yamlfile import load_all

DATA = Path(__file__).resolve().parent / "data" / "production"
SCENARIO = DATA / "scenario.yaml"
PROD = str(DATA / "prod.yaml")
T = "spec.template.spec"
# priorityClassName (lines 30, 179) is read since the priority and preemption work (issue 14)
IGNORED = [
    (31, f"{T}.securityContext"),
    # node affinity (the DaemonSet work), pod anti-affinity and topology spread (line 35, 42),
    # initContainers (line 50) and containers' lifecycle hooks (line 77) are read since issue 14
    (80, f"{T}.containers[0].securityContext"),
    (82, f"{T}.containers[0].volumeMounts"),
    # the StatefulSet is served since issue 13 point 1; its volumes are not modelled
    (127, "spec.volumeClaimTemplates"),
    # the HPA is served since issue 13 point 5; only cpu resource metrics are computed
    (160, "spec.metrics[1].resource.name"),
    # the DaemonSet is served since issue 13 point 2: a node agent's host access is not modelled
    (180, f"{T}.hostNetwork"),
    (193, f"{T}.containers[0].volumeMounts"),
    (197, f"{T}.volumes[0].hostPath"),
    # the Job is served since issue 13 point 3; a pod failure policy is not modelled
    (208, "spec.podFailurePolicy"),
]
# The ConfigMap (line 102) and the configMap volume (line 85) are modelled since issue 13
# point 6: they used to be skipped and warned about.
SKIPPED: list[tuple[int, str]] = [
    # StatefulSet 'db' (line 110) is served and read since the StatefulSet work: no warning
    # PodDisruptionBudget 'shop' (line 134) is served and read since the PDB work: no warning;
    # HorizontalPodAutoscaler 'shop' (line 144) likewise since the HPA work, and the DaemonSet
    # (line 163) and the Job (line 199) since theirs; these two kinds are still not modelled:
    (224, "CronJob 'nightly-report'"),
    (240, "Ingress 'shop'"),
]
EXPECTED = [  # in document order
    text
    for _, text in sorted(
        [(line, f"{PROD}:{line}: {path}: {NOT_MODELLED}") for line, path in IGNORED]
        + [(line, f"{PROD}:{line}: {what} is not modelled; skipped") for line, what in SKIPPED]
    )
]


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_loader_warns_exactly_the_kinds_skipped_and_the_fields_ignored() -> None:
    """Modelled fields (probes, resources, tolerations, terminationGracePeriodSeconds, the
    behaviour annotation, strategy...) and upstream defaults (dnsPolicy: ClusterFirst,
    serviceAccountName: default, sessionAffinity: None) give no warning; commands, args, env
    values and other annotations are deliberately silent."""
    scenario = load_scenario(SCENARIO)
    assert list(scenario.warnings) == EXPECTED
    assert {type(o).__name__ for o in scenario.workloads} == {
        "Deployment",
        "Service",
        "ConfigMap",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "PriorityClass",
    }


def test_validate_prints_the_same_warnings_as_run() -> None:
    """validate used to say "ok" and nothing else for fields the model drops."""
    code, out, err = _cli("validate", str(SCENARIO))
    assert code == 0 and "ok (production-manifests)" in out
    assert err.splitlines() == [f"warning: {w}" for w in EXPECTED]


@pytest.mark.parametrize("command", ["validate", "run"])
def test_strict_makes_each_one_an_error_and_exits_2(command: str) -> None:
    code, out, err = _cli(command, "--strict", str(SCENARIO))
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == len(EXPECTED), lines
    prefix = "error: " if command == "run" else ""
    ignored = [line for line in lines if NOT_MODELLED in line]
    skipped = [line for line in lines if NOT_MODELLED not in line]
    for line, (at, path) in zip(ignored, IGNORED, strict=True):
        assert re.fullmatch(
            rf"{re.escape(prefix + PROD)}:{at}:\d+: {re.escape(path)}: document \d+: "
            rf"{re.escape(NOT_MODELLED)} \(an error with --strict\)",
            line,
        ), line
    for line, (at, what) in zip(skipped, SKIPPED, strict=True):
        assert f"{PROD}:{at}:1: " in line and f"{what} is not modelled" in line
    assert "Timeline" not in out  # nothing ran


def test_run_shows_each_warning_without_verbose_once_per_manifest_field() -> None:
    """Four replicas share one template: one warning per field path of the manifest, recorded
    once as a Warning event, shown in the header and in the warnings block."""
    code, out, _ = _cli("run", "--no-progress", str(SCENARIO))
    assert code == 0
    for warning in EXPECTED:
        assert out.count(warning) == 2, warning  # the header, then the warnings block
    the_run = Run(load_scenario(SCENARIO))
    the_run.run()
    messages = [e.message for e in the_run.events if e.reason == "Warning"]
    assert messages == EXPECTED


def test_an_inline_manifest_is_warned_about_at_its_own_path(tmp_path: Path) -> None:
    text = SCENARIO.read_text().replace(
        "    - path: prod.yaml\n",
        "    - manifest:\n"
        "        apiVersion: v1\n"
        "        kind: Pod\n"
        "        metadata: {name: solo}\n"
        "        spec:\n"
        "          activeDeadlineSeconds: 60\n"
        "          containers: [{name: c, image: busybox}]\n"
        "    - path: prod.yaml\n",
    )
    (tmp_path / "prod.yaml").write_text((DATA / "prod.yaml").read_text())
    (tmp_path / "s.yaml").write_text(text)
    warnings = load_scenario(tmp_path / "s.yaml").warnings
    assert warnings[0] == (
        f"{tmp_path / 's.yaml'}:25: spec.workloads[0].manifest.spec.activeDeadlineSeconds: "
        f"{NOT_MODELLED}"
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"hostNetwork": False, "priority": 0, "securityContext": {}}, []),
        ({"hostNetwork": True}, [("spec", "hostNetwork")]),
        ({"initContainers": [], "volumes": None, "priorityClassName": ""}, []),
        ({"enableServiceLinks": False}, [("spec", "enableServiceLinks")]),
    ],
)
def test_defaults_and_empty_values_are_silent(fields: dict, expected: list) -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "uid": "x", "ownerReferences": []},
        "spec": {"containers": [{"name": "c", "image": "i"}], **fields},
        "status": {"phase": "Running"},
    }
    assert unmodelled_fields(doc) == expected


def test_metadata_that_changes_deletion_is_warned_about() -> None:
    (doc,) = load_all(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n  finalizers: [x/y]\n"
        "spec: {finalizers: [kubernetes]}\n"
    )
    assert unmodelled_fields(doc) == [("metadata", "finalizers")]


def test_every_field_the_trees_name_is_one_upstream_knows() -> None:
    """A misspelt field in the trees would silently warn about the real one."""
    definitions = {
        "Pod": "io.k8s.api.core.v1.PodSpec",
        "Service": "io.k8s.api.core.v1.ServiceSpec",
        "Deployment": "io.k8s.api.apps.v1.DeploymentSpec",
        "ReplicaSet": "io.k8s.api.apps.v1.ReplicaSetSpec",
        "Namespace": "io.k8s.api.core.v1.NamespaceSpec",
    }

    def check(tree: dict, definition: str) -> None:
        known = definition_properties(definition)
        for field, what in tree.items():
            assert field in known, f"{definition} has no field {field}"
            held = known[field][0]
            if isinstance(what, dict) and held is not None and not isinstance(what, Default):
                check(what, held)

    for kind, definition in definitions.items():
        check(dict(MODELLED_FIELDS[kind]["spec"]), definition)
        check(
            dict(MODELLED_FIELDS[kind]["metadata"]),
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        )
