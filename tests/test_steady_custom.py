"""Custom objects in steady state, judged by kstatus (kubechaos/observe/kstatus.py,
kubechaos/observe/customsteady.py), with CustomResourceDefinitions created at run time through
the model's API, as an operator installs its own.

kstatus is sigs.k8s.io/cli-utils/pkg/kstatus/status: generic.go (checkGenericProperties,
checkGeneration), status.go (Compute, checkReadyCondition); ``kubectl wait``, Flux and Argo CD
read custom resources' health the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import jsonschema
import pytest

from kubechaos.observe import kstatus
from kubechaos.report.html.custom import not_current_seconds
from kubechaos.report.html.page import render_html
from kubechaos.report.result import result_of, schema
from kubechaos.scenario.runner import Run
from tests.steadyruns import ROOT, run_with, scenario

GROUP = "example.com"
CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"gadgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    }
                },
            }
        ],
    },
}

# a fault that disturbs nothing of the model's: throttling a client that does not exist
BODY = f"""\
  duration: 4m
  workloads: [{{path: {ROOT / "scenarios" / "manifests" / "web.yaml"}}}]
  faults:
    - name: poke
      type: apiserver-throttle
      at: 2m
      duration: 5s
      params: {{fraction: "50%", clients: [gadget-operator]}}
"""

Act = Callable[[Run], Awaitable[None]]


def _served(run: Run, group: str = GROUP, plural: str = "gadgets") -> Any:
    return run.cluster.api.custom.resolve(group, "v1", plural)


async def install(run: Run) -> None:
    crds = _served(run, "apiextensions.k8s.io", "customresourcedefinitions")
    await run.cluster.api.custom.create(crds, CRD, "")


def create(name: str, status: dict[str, Any] | None = None) -> Act:
    async def act(run: Run) -> None:
        body = {"apiVersion": f"{GROUP}/v1", "kind": "Gadget", "metadata": {"name": name},
                "spec": {"size": 1}}  # fmt: skip
        await run.cluster.api.custom.create(_served(run), body, "default")
        if status is not None:
            await set_status(name, status)(run)

    return act


def set_status(name: str, status: dict[str, Any]) -> Act:
    async def act(run: Run) -> None:
        await run.cluster.api.custom.patch(
            _served(run), "default", name, lambda obj: {**obj, "status": status}, "status"
        )

    return act


def bump(name: str) -> Act:
    """A spec change (the API server bumps ``metadata.generation``)."""

    async def act(run: Run) -> None:
        def change(obj: dict[str, Any]) -> dict[str, Any]:
            return {**obj, "spec": {"size": obj["spec"]["size"] + 1}}

        await run.cluster.api.custom.patch(_served(run), "default", name, change)

    return act


def observed(name: str, generation: int) -> Act:
    return set_status(name, {"observedGeneration": generation})


def ready(status: str) -> dict[str, Any]:
    return {"conditions": [{"type": "Ready", "status": status, "message": f"Ready={status}"}]}


def the_recovery(run: Run) -> float:
    (rec,) = run.steady.recoveries
    assert rec.known and rec.seconds is not None, rec
    return rec.seconds


def test_an_unobserved_generation_bump_reads_as_recovery() -> None:
    """kstatus checkGeneration (generic.go): ``status.observedGeneration`` present and not
    ``metadata.generation`` is InProgress, "generation is 2, but latest observed generation is
    1". The spec changes as the fault is injected; the controller observes it 20 s later: the
    fault's recovery reads those 20 s (to the event that made the object Current)."""
    run = run_with(
        scenario(BODY),
        [(10, install), (20, create("g", {"observedGeneration": 1})),
         (120, bump("g")), (140, observed("g", 2))],
    )  # fmt: skip
    assert the_recovery(run) == pytest.approx(20, abs=0.1)
    assert run.steady.record.counts().get(f"Gadget.{GROUP}") == 1


def test_a_ready_false_stretch_is_out_of_steady_state() -> None:
    """kstatus checkReadyCondition (status.go): for a kind without a type-specific rule (every
    custom kind), ``Ready=False`` is InProgress and ``Ready=True`` Current. Ready False for
    15 s from the injection reads 15 s of recovery; the 1 s samples give the reason."""
    reasons: list[str] = []

    async def look(run: Run) -> None:
        reasons.extend(run.steady.unsteady_reasons(125.0))

    run = run_with(
        scenario(BODY),
        [(10, install), (20, create("g", ready("True"))), (120, set_status("g", ready("False"))),
         (125, look), (135, set_status("g", ready("True")))],
    )  # fmt: skip
    assert the_recovery(run) == pytest.approx(15, abs=0.1)
    assert f"Gadget.{GROUP} default/g is InProgress: Ready=False" in reasons


def test_an_object_without_the_status_convention_never_counts() -> None:
    """An object whose status has neither ``observedGeneration`` nor conditions is one kstatus
    can only call Current ("the absence of any known conditions means the resource is
    current"): it tells nothing, so it is not judged at all, and its generation bump leaves the
    fault's recovery at 0 s."""
    run = run_with(
        scenario(BODY),
        [(10, install), (20, create("g", {"phase": "Broken"})), (120, bump("g"))],
    )
    assert the_recovery(run) == 0
    assert f"Gadget.{GROUP}" not in run.steady.record.counts()


def test_a_deleted_definition_stops_its_objects_counting() -> None:
    """A definition deleted takes its objects with it (upstream's customresourcecleanup
    finalizer): the feed of the kind is stopped and an object left InProgress no longer
    keeps the run out of steady state."""

    async def uninstall(run: Run) -> None:
        crds = _served(run, "apiextensions.k8s.io", "customresourcedefinitions")
        await run.cluster.api.custom.delete(crds, "", f"gadgets.{GROUP}")

    run = run_with(
        scenario(BODY),
        [(10, install), (20, create("g", ready("True"))), (120, set_status("g", ready("False"))),
         (130, uninstall)],
    )  # fmt: skip
    assert the_recovery(run) == pytest.approx(10, abs=0.2)
    assert not run.custom.feeds and not run.custom.kinds


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"metadata": {"generation": 3}, "status": {"observedGeneration": 3}}, kstatus.CURRENT),
        ({"metadata": {"generation": 3}, "status": {"observedGeneration": 4}}, kstatus.IN_PROGRESS),
        ({"status": {"conditions": [{"type": "Reconciling", "status": "True"}]}}, kstatus.IN_PROGRESS),
        ({"status": {"conditions": [{"type": "Stalled", "status": "True"}]}}, kstatus.FAILED),
        ({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}, kstatus.IN_PROGRESS),
        ({"status": {"conditions": [{"type": "Synced", "status": "False"}]}}, kstatus.CURRENT),
    ],
)  # fmt: skip
def test_kstatus_rules(content: dict[str, Any], expected: str) -> None:
    """generic.go checkGeneration compares with ``!=`` (an observedGeneration ahead is not
    Current either); Reconciling=True is InProgress, Stalled=True Failed (checkGenericProperties);
    Ready=Unknown is InProgress (checkReadyCondition); other conditions say nothing."""
    assert kstatus.compute(content)[0] == expected


def test_an_object_being_deleted_is_terminating() -> None:
    """checkGenericProperties (generic.go): deletionTimestamp set is Terminating, whatever the
    rest of its status says; an object following the convention is then out of steady state."""
    content = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert kstatus.compute(content, deleting=True)[0] == kstatus.TERMINATING
    assert kstatus.unsteady_reason(content, deleting=True) == (
        "is Terminating: Resource scheduled for deletion"
    )


def test_the_report_shows_custom_objects_steady_state() -> None:
    """The result (its JSON schema) lists each judged custom object with its kstatus at every
    change; the HTML report has a section with how long each was not Current. An object without
    the status convention is not listed."""
    run = run_with(
        scenario(BODY),
        [(10, install), (20, create("g", ready("True"))), (21, create("plain", {"x": 1})),
         (120, set_status("g", ready("False"))), (135, set_status("g", ready("True")))],
    )  # fmt: skip
    result = result_of(run)
    jsonschema.validate(result, schema())
    (record,) = result["customObjects"]
    assert (record["kind"], record["name"], record["status"]) == ("Gadget", "g", "Current")
    assert [row[1] for row in record["history"]] == ["Current", "InProgress", "Current"]
    assert not_current_seconds(record, 240.0) == pytest.approx(15, abs=0.1)
    page = render_html(result, run.events)
    assert 'id="custom-objects"' in page and "default/g" in page and "default/plain" not in page
