"""Manifests are checked against upstream's v1.32 schemas, strictly, as
``kubectl apply --validate=strict`` has the API server do (fieldValidation=Strict: an unknown or
duplicate field is an error, see https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation).
The schemas are upstream's OpenAPI, converted to strict JSON Schema by the kubernetes-validate
package."""

from __future__ import annotations

import copy

from kubechaos.api.schema import SchemaError, has_schema, schema_errors

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "nginx:1.27",
                        "ports": [{"containerPort": 8080}],
                        "resources": {"requests": {"cpu": "100m", "memory": 64}},
                        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
                    }
                ]
            },
        },
    },
}


def _with(path: list[str | int], key: str, value: object) -> dict[str, object]:
    doc = copy.deepcopy(DEPLOYMENT)
    node: object = doc
    for part in path:
        node = node[part]  # type: ignore[index]
    node[key] = value  # type: ignore[index]
    return doc


def test_a_valid_production_deployment_has_no_errors() -> None:
    """int-or-string (maxSurge "25%", port "http"), quantities as strings or numbers and
    kubectl's ``creationTimestamp: null`` are all valid upstream."""
    assert schema_errors(DEPLOYMENT) == []


def test_typos_are_unknown_fields_with_a_suggestion() -> None:
    """The issue's three typos: `replcias` (would run 1 replica), `readinesProbe` (no probe),
    `namepsace` (the default namespace)."""
    doc = _with(["spec"], "replcias", 3)
    doc = {**doc, "metadata": {"name": "web", "namepsace": "shop"}}
    container = doc["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    container["readinesProbe"] = container.pop("readinessProbe")
    assert schema_errors(doc) == [
        SchemaError(
            ("metadata", "namepsace"), 'unknown field "namepsace"; did you mean "namespace"?'
        ),
        SchemaError(("spec", "replcias"), 'unknown field "replcias"; did you mean "replicas"?'),
        SchemaError(
            ("spec", "template", "spec", "containers", 0, "readinesProbe"),
            'unknown field "readinesProbe"; did you mean "readinessProbe"?',
        ),
    ]


def test_wrong_types_name_what_was_expected() -> None:
    assert schema_errors(_with(["spec"], "replicas", "three")) == [
        SchemaError(("spec", "replicas"), 'expected an integer, not "three"')
    ]
    assert schema_errors(_with(["spec", "strategy", "rollingUpdate"], "maxSurge", 1.5)) == [
        SchemaError(
            ("spec", "strategy", "rollingUpdate", "maxSurge"),
            "expected a string or an integer, not 1.5",
        )
    ]
    assert schema_errors(_with(["spec"], "selector", ["app"])) == [
        SchemaError(("spec", "selector"), "expected a mapping, not a list")
    ]


def test_a_missing_required_field_is_named() -> None:
    doc = _with(["spec", "template", "spec"], "containers", [{"image": "nginx"}])
    assert schema_errors(doc) == [
        SchemaError(
            ("spec", "template", "spec", "containers", 0, "name"), "required field is missing"
        )
    ]


def test_long_values_are_cut_in_messages() -> None:
    [error] = schema_errors(_with(["spec"], "replicas", "x" * 500))
    assert len(error.message) < 80 and error.message.endswith("…")


def test_kinds_without_an_upstream_schema_are_not_checked() -> None:
    """A custom resource has no upstream schema: nothing to check it against here."""
    assert not has_schema("Widget", "example.com/v1")
    assert schema_errors({"apiVersion": "example.com/v1", "kind": "Widget", "spek": {}}) == []
    assert has_schema("StatefulSet", "apps/v1") and has_schema("PodDisruptionBudget", "policy/v1")
