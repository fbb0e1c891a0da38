"""Server-side apply's field ownership, on plain objects (kubechaos/frontdoor/serverside.py).

Upstream: ``sigs.k8s.io/structured-merge-diff`` (``merge/update.go``: Apply, Update, prune;
``typed/tofieldset.go``: which paths a value owns) under the API server's field manager
(``staging/src/k8s.io/apimachinery/pkg/util/managedfields/internal/``: ``conflict.go`` for the
messages, ``skipnonapplied.go`` for ``before-first-apply``, ``stripmeta.go`` for the fields never
tracked, ``capmanagers.go`` for the cap of 10 update managers, ``managedfields.go`` for the
order of the entries). The end-to-end behaviour with kubectl is in
tests/test_frontdoor_apply_kubectl.py."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubechaos.frontdoor import openapi
from kubechaos.frontdoor.fieldsets import SchemaWalker, from_fields_v1, to_fields_v1
from kubechaos.frontdoor.serverside import (
    ANCIENT_CHANGES,
    BEFORE_FIRST_APPLY,
    ApplyConflict,
    Tracker,
    decode_managed_fields,
    encode_managed_fields,
)

T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"


def tracker(api_version: str = "apps/v1", kind: str = "Deployment", sub: str = "") -> Tracker:
    walker = SchemaWalker(openapi.definitions())
    return Tracker(walker, openapi.root_definition(api_version, kind), api_version, sub)


def deployment(replicas: int = 3, image: str = "nginx:1", **extra: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "web", "image": image, "ports": [{"containerPort": 80}]}
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [container]},
        },
    }
    spec.update(extra)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": spec,
    }


def fields(entry_json: dict[str, Any]) -> dict[str, Any]:
    return entry_json["fieldsV1"]


def test_an_apply_owns_exactly_its_configuration_fields() -> None:
    """``ToFieldSet``: scalars and atomic values (the LabelSelector is
    ``x-kubernetes-map-type: atomic``) are leaves, keyed list items are members with ``"."``
    in FieldsV1, a struct's declared fields count only through their leaves; ``apiVersion``,
    ``kind`` and ``metadata.name``/``namespace`` are never tracked (``stripmeta.go``). A
    container port omitting ``protocol`` is keyed by its default TCP (``+default="TCP"``)."""
    obj, managed = tracker().apply(None, deployment(), (), "kubectl", False, T0)
    assert obj["spec"]["replicas"] == 3
    [entry] = encode_managed_fields(managed)
    assert (entry["manager"], entry["operation"], entry["apiVersion"]) == (
        "kubectl",
        "Apply",
        "apps/v1",
    )
    spec = fields(entry)["f:spec"]
    assert spec["f:selector"] == {}
    container = spec["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert set(container) == {".", "f:name", "f:image", "f:ports"}
    assert 'k:{"containerPort":80,"protocol":"TCP"}' in container["f:ports"]
    assert "f:name" not in fields(entry).get("f:metadata", {})
    assert "f:apiVersion" not in fields(entry)


def test_fields_v1_round_trips() -> None:
    _obj, managed = tracker().apply(None, deployment(), (), "kubectl", False, T0)
    encoded = encode_managed_fields(managed)
    assert decode_managed_fields(encoded) == managed
    assert from_fields_v1(to_fields_v1(managed[0].fields)) == set(managed[0].fields)


def test_changing_a_field_another_applier_owns_is_a_conflict_with_upstreams_message() -> None:
    """``update`` in merge/update.go: another manager's fields that the apply modifies are
    conflicts; ``conflict.go``: ``Apply failed with 1 conflict: conflict with "kubectl":
    .spec.replicas`` and a ``FieldManagerConflict`` cause per field."""
    t = tracker()
    obj, managed = t.apply(None, deployment(), (), "kubectl", False, T0)
    with pytest.raises(ApplyConflict) as caught:
        t.apply(obj, deployment(replicas=5), managed, "autoscaler", False, T1)
    assert caught.value.message() == (
        'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas'
    )
    assert caught.value.causes() == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "kubectl"',
            "field": ".spec.replicas",
        }
    ]


def test_several_conflicts_are_listed_per_manager() -> None:
    t = tracker()
    obj, managed = t.apply(None, deployment(), (), "kubectl", False, T0)
    with pytest.raises(ApplyConflict) as caught:
        t.apply(obj, deployment(replicas=5, image="nginx:2"), managed, "ci", False, T1)
    assert caught.value.message() == (
        'Apply failed with 2 conflicts: conflicts with "kubectl":\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="web"].image'
    )


def test_applying_the_same_value_shares_ownership_without_conflict() -> None:
    """Only modified fields conflict: two appliers agreeing on a value both own it."""
    t = tracker()
    obj, managed = t.apply(None, deployment(), (), "kubectl", False, T0)
    obj, managed = t.apply(obj, deployment(), managed, "ci", False, T1)
    owners = [e.manager for e in managed if ("f:spec", "f:replicas") in e.fields]
    assert sorted(owners) == ["ci", "kubectl"]


def test_force_moves_the_field_to_the_applier() -> None:
    """``force``: the conflicting fields leave the other managers' sets."""
    t = tracker()
    obj, managed = t.apply(None, deployment(), (), "kubectl", False, T0)
    obj, managed = t.apply(obj, {**deployment(replicas=5)}, managed, "hpa", True, T1)
    assert obj["spec"]["replicas"] == 5
    by_manager = {e.manager: e.fields for e in managed}
    assert ("f:spec", "f:replicas") in by_manager["hpa"]
    assert ("f:spec", "f:replicas") not in by_manager["kubectl"]


def test_a_field_dropped_from_the_configuration_is_removed_unless_another_applier_owns_it() -> None:
    """``prune``: an item the applier applied last time and no longer applies is removed,
    unless another applier claims it (addBackOwnedItems)."""
    t = tracker()
    config = deployment()
    config["metadata"]["labels"]["tier"] = "front"
    obj, managed = t.apply(None, config, (), "kubectl", False, T0)
    obj, managed = t.apply(obj, deployment(), managed, "kubectl", False, T1)
    assert obj["metadata"]["labels"] == {"app": "web"}

    obj, managed = t.apply(None, config, (), "kubectl", False, T0)
    shared = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}
    shared["metadata"]["labels"] = {"tier": "front"}
    obj, managed = t.apply(obj, shared, managed, "ci", False, T1)
    obj, managed = t.apply(obj, deployment(), managed, "kubectl", False, T2)
    assert obj["metadata"]["labels"] == {"app": "web", "tier": "front"}


def test_keyed_lists_merge_by_key_and_atomic_lists_are_replaced() -> None:
    """Containers are ``x-kubernetes-list-type: map`` keyed by name: a sidecar applied by a
    second manager joins the list; ``args`` is atomic and replaced whole."""
    t = tracker()
    config = deployment()
    config["spec"]["template"]["spec"]["containers"][0]["args"] = ["--a", "--b"]
    obj, managed = t.apply(None, config, (), "kubectl", False, T0)
    sidecar = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy"}]}}},
    }
    obj, managed = t.apply(obj, sidecar, managed, "mesh", False, T1)
    names = [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]]
    assert names == ["web", "proxy"]
    config["spec"]["template"]["spec"]["containers"][0]["args"] = ["--c"]
    obj, managed = t.apply(obj, config, managed, "kubectl", False, T2)
    web, proxy = obj["spec"]["template"]["spec"]["containers"]
    assert web["args"] == ["--c"] and proxy["image"] == "envoy"


def test_an_untracked_object_is_first_owned_by_before_first_apply() -> None:
    """``skipnonapplied.go``: applying to an object without managed fields first records its
    existing fields under the update manager ``before-first-apply``, so changing them
    conflicts with it."""
    t = tracker()
    live = deployment()
    with pytest.raises(ApplyConflict) as caught:
        t.apply(live, deployment(replicas=7), (), "kubectl", False, T0)
    assert caught.value.message() == (
        'Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: '
        ".spec.replicas"
    )
    _obj, managed = t.apply(live, deployment(), (), "kubectl", False, T0)
    assert {e.manager for e in managed} == {BEFORE_FIRST_APPLY, "kubectl"}


def test_an_update_takes_the_fields_it_changes_without_conflict() -> None:
    """Update (``merge/update.go``): the manager's set gains the added and modified fields,
    which leave every other manager's set, and loses the removed ones; no conflicts."""
    t = tracker()
    obj, managed = t.apply(None, deployment(), (), "kubectl", False, T0)
    scaled = copy.deepcopy(obj)
    scaled["spec"]["replicas"] = 10
    managed = t.update(obj, scaled, managed, "kubectl-scale", T1)
    by_manager = {e.manager: e for e in managed}
    assert by_manager["kubectl-scale"].fields == {("f:spec", "f:replicas")}
    assert by_manager["kubectl-scale"].operation == "Update"
    assert ("f:spec", "f:replicas") not in by_manager["kubectl"].fields
    # the applier re-applying its old value now conflicts with the updater
    with pytest.raises(ApplyConflict, match='conflict with "kubectl-scale" using apps/v1'):
        t.apply(scaled, deployment(), managed, "kubectl", False, T2)


def test_updates_do_not_start_tracking_an_untracked_object_but_creates_do() -> None:
    """``skipnonapplied.go``: an update of an object without managed fields stays untracked;
    ``DefaultTrackOnCreateProbability`` 1: a create is tracked."""
    t = tracker()
    assert t.update(deployment(), deployment(replicas=4), (), "kubectl-edit", T0) == ()
    [entry] = t.update(None, deployment(), (), "kubectl-create", T0)
    assert entry.manager == "kubectl-create" and ("f:spec", "f:replicas") in entry.fields


def test_the_main_resource_does_not_own_status_and_the_status_subresource_only_status() -> None:
    """The workload strategies' reset fields: writes to the main resource ignore ``status``,
    writes to ``/status`` own only ``status``."""
    obj = deployment()
    obj["status"] = {"replicas": 3}
    [entry] = tracker().update(None, obj, (), "creator", T0)
    assert not any(p[0] == "f:status" for p in entry.fields)
    changed = copy.deepcopy(obj)
    changed["status"] = {"replicas": 4}
    changed["spec"]["replicas"] = 9
    [_, status_entry] = tracker(sub="status").update(obj, changed, [entry], "controller", T1)
    assert status_entry.fields == {("f:status", "f:replicas")}
    assert status_entry.subresource == "status"


def test_at_most_ten_update_managers_the_oldest_merged_into_ancient_changes() -> None:
    """``capmanagers.go``: DefaultMaxUpdateManagers 10; the oldest entries merge into
    ``ancient-changes``."""
    t = tracker()
    obj = deployment()
    managed = t.update(None, obj, (), "creator", "2026-01-01T00:00:00Z")
    for i in range(12):
        new = copy.deepcopy(obj)
        new["metadata"]["labels"][f"l{i}"] = "x"
        managed = t.update(obj, new, managed, f"m{i}", f"2026-01-01T00:01:{i:02d}Z")
        obj = new
    updates = [e for e in managed if e.operation == "Update"]
    assert len(updates) == 10
    assert ANCIENT_CHANGES in {e.manager for e in updates}


def test_managed_fields_are_sorted_as_upstream_encodes_them() -> None:
    """``sortEncodedManagedFields``: by operation (Apply before Update), then time, then
    manager."""
    t = tracker()
    obj, managed = t.apply(None, deployment(), (), "z-applier", False, T1)
    new = copy.deepcopy(obj)
    new["spec"]["paused"] = True
    managed = t.update(obj, new, managed, "a-updater", T0)
    assert [e["manager"] for e in encode_managed_fields(managed)] == ["z-applier", "a-updater"]


def test_bad_managed_fields_from_a_client_are_named() -> None:
    with pytest.raises(ValueError, match=r"managedFields\[0\]\.fieldsType"):
        decode_managed_fields([{"manager": "x", "operation": "Apply", "apiVersion": "v1"}])
    with pytest.raises(ValueError, match=r"managedFields\[0\]\.operation"):
        decode_managed_fields(
            [{"manager": "x", "operation": "Merge", "apiVersion": "v1", "fieldsType": "FieldsV1"}]
        )
