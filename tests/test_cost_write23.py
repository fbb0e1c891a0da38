"""The server's own work per update, counted (never timed): what the write core checks or
rebuilds again although the request left it as stored.

Upstream's generic store (staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go,
Update) runs the kind's ValidateUpdate on every update; its result is what the model must keep.
What it costs is not: a rule that reads only parts the update leaves as the stored version had
them (which passed the same rule when it was written) has no new cause to find.
"""

from __future__ import annotations

import sys
from types import FrameType, ModuleType
from typing import Any

import attrs
import pytest

from kubechaos.api import errors, validation, validation_endpoints
from kubechaos.api.objects import (
    DeploymentStatus,
    EndpointAddress,
    Endpoints,
    EndpointSubset,
    ObjectMeta,
)
from kubechaos.api.objects.copying import replace
from kubechaos.control.apiserver import APIServer
from kubechaos.control.bootstrap import bootstrap, control_plane
from kubechaos.control.etcd import EtcdStore, KeyValue, TxnResult, WatchEvent
from kubechaos.control.registry import statuswrite, strategy
from kubechaos.defaults import Settings

from .factories import deployment, pod

WRITES = 10


async def _server() -> APIServer:
    _, api, ctx = control_plane(3, Settings())
    await bootstrap(ctx)
    return api


def _counting_validate_meta(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> list[int]:
    """Counts the calls of validate_meta made by ``module``'s validators."""
    calls = [0]
    validate_meta = validation.validate_meta

    def counting(*args: object, **kwargs: object) -> list[str]:
        calls[0] += 1
        return validate_meta(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "validate_meta", counting)
    return calls


def _counting_meta_fields(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the metadata fields the update merges set (``replace`` of an ObjectMeta in the
    generic strategy and the status strategies)."""
    fields = [0]

    def counting(obj: Any, **changes: Any) -> Any:
        if type(obj) is ObjectMeta:
            fields[0] += len(changes)
        return replace(obj, **changes)

    monkeypatch.setattr(strategy, "replace", counting)
    monkeypatch.setattr(statuswrite, "replace", counting)
    return fields


def _subsets(i: int) -> tuple[EndpointSubset, ...]:
    return (EndpointSubset((EndpointAddress(f"10.0.0.{i}"),)),)


async def test_an_endpoints_update_keeping_name_and_labels_validates_no_metadata(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The endpoints controller's write (pkg/controller/endpoint/endpoints_controller.go
    syncService: new subsets, the Service's labels): ValidateEndpointsUpdate
    (pkg/apis/core/validation/validation.go) of what the model holds is the metadata rules,
    which read the name, namespace and labels; when those read as the stored version's they are
    not run again. A label change runs them, and an invalid label is still refused (422) with
    the cause a full validation gives."""
    api = await _server()
    labels = {"app": "web"}
    current = await api.create(
        Endpoints(ObjectMeta(name="web", namespace="default", labels=labels))
    )
    calls = _counting_validate_meta(monkeypatch, validation_endpoints)
    for i in range(WRITES):
        meta = replace(current.metadata, labels=dict(labels))  # equal, not the same dict
        current = await api.update(Endpoints(meta, _subsets(i)))
    assert calls[0] == 0
    assert current.subsets == _subsets(WRITES - 1)

    relabelled = replace(current.metadata, labels={"app": "web", "tier": "front"})
    current = await api.update(Endpoints(relabelled, _subsets(0)))
    assert calls[0] == 1
    bad = replace(current.metadata, labels={"app": "-bad-"})
    with pytest.raises(errors.Invalid) as refused:
        await api.update(Endpoints(bad, _subsets(1)))
    assert calls[0] == 2
    assert refused.value.causes == validation_endpoints.validate_endpoints(
        Endpoints(bad, _subsets(1))
    )


async def test_an_update_sending_back_the_served_metadata_sets_only_version_and_generation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """rest.BeforeUpdate (staging/src/k8s.io/apiserver/pkg/registry/rest/update.go) keeps the
    server's metadata fields (identity, timestamps) over the request's. A client that sends back
    the metadata it was served (the controllers' writes) already holds them: the merge sets the
    resourceVersion and generation alone, and stores the same object (the generation bumped by
    a spec change, as upstream's deploymentStrategy.PrepareForUpdate)."""
    api = await _server()
    current = await api.create(deployment("web", replicas=1))
    fields = _counting_meta_fields(monkeypatch)
    for replicas in range(2, 2 + WRITES):
        spec = attrs.evolve(current.spec, replicas=replicas)
        current = await api.update(attrs.evolve(current, spec=spec))
    assert fields[0] == 2 * WRITES
    assert current.metadata.generation == 1 + WRITES
    assert current.spec.replicas == 1 + WRITES
    # metadata the client changed takes the full merge: its labels, the server's identity
    relabelled = replace(current.metadata, labels={"app": "web"}, uid="forged")
    with pytest.raises(errors.Conflict):  # a uid naming another object is refused
        await api.update(attrs.evolve(current, metadata=relabelled))
    unconditional = replace(relabelled, uid="", resource_version="")
    written = await api.update(attrs.evolve(current, metadata=unconditional))
    assert written.metadata.labels == {"app": "web"}
    assert written.metadata.uid == current.metadata.uid
    assert written.metadata.creation_timestamp == current.metadata.creation_timestamp


async def test_a_deployment_status_write_with_the_served_metadata_sets_only_the_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The deployment controller's status write (pkg/controller/deployment/sync.go
    syncDeploymentStatus) through deploymentStatusStrategy (pkg/registry/apps/deployment/
    strategy.go), which takes the annotations, finalizers and owner references of the
    request: sent back as served, they are the stored ones, and the metadata gets its new
    resourceVersion only. An annotation the request changes is still taken."""
    api = await _server()
    current = await api.create(deployment("web", replicas=1))
    fields = _counting_meta_fields(monkeypatch)
    for replicas in range(1, 1 + WRITES):
        status = DeploymentStatus(observed_generation=1, replicas=replicas)
        current = await api.update_status(attrs.evolve(current, status=status))
    assert fields[0] == WRITES
    assert current.status.replicas == WRITES
    annotated = replace(current.metadata, annotations={"deployment.kubernetes.io/revision": "1"})
    written = await api.update_status(attrs.evolve(current, metadata=annotated))
    assert written.metadata.annotations == {"deployment.kubernetes.io/revision": "1"}


def _opcodes_per_commit(store: EtcdStore, commits: int) -> tuple[float, float]:
    """Bytecodes executed per compare-and-swap of one watched key (a count, never a time): in
    all, and in the constructors of the commit's records (KeyValue, WatchEvent, TxnResult)."""
    key = "/registry/pods/default/p"
    revision = store.put_if_mod(key, 0, "v0").revision
    executed = [0, 0]
    constructors = {
        getattr(getattr(record, method), "__code__", None)
        for record in (KeyValue, WatchEvent, TxnResult)
        for method in ("__new__", "__init__")
    }

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        if event == "opcode":
            executed[0] += 1
            if frame.f_code in constructors:
                executed[1] += 1
        return trace

    previous = sys.gettrace()  # a coverage tool's or debugger's, put back after
    sys.settrace(trace)
    try:
        for i in range(commits):
            revision = store.put_if_mod(key, revision, f"v{i + 1}").revision
    finally:
        sys.settrace(previous)
    return executed[0] / commits, executed[1] / commits


def test_a_commit_makes_its_three_records_as_one_tuple_each() -> None:
    """Every write's commit (etcd's mvcc put: the key's new KeyValue, the watch event, the
    transaction's response; go.etcd.io/etcd/server/v3/mvcc/kvstore_txn.go) builds three
    immutable records. Each is one tuple allocation (a few bytecodes: its fields loaded, one
    tuple built), not one checked attribute store per field as a frozen attrs class makes
    them (6 + 3 + 3 stores: 105 bytecodes per commit, now 30; the whole commit 236, now 161
    on CPython 3.11). The records compare, read and are immutable as before."""
    store = EtcdStore()
    store.watch("/registry/pods/", 1, lambda events: None)
    total, records = _opcodes_per_commit(store, WRITES)
    assert records <= 3 * 12
    assert total <= 170
    kv = store.get("/registry/pods/default/p")
    assert kv == KeyValue("/registry/pods/default/p", f"v{WRITES}", 2, 2 + WRITES, 1 + WRITES)
    with pytest.raises(AttributeError):
        kv.value = "changed"  # type: ignore[misc]
    assert TxnResult(True, 3, (kv,)).results[0] is kv
    assert WatchEvent("PUT", kv, None).revision == kv.mod_revision


def _own_opcodes(fn: Any, *args: Any, **kwargs: Any) -> int:
    """Bytecodes executed in ``fn``'s own frame by one call (a count, never a time)."""
    executed = [0]
    code = fn.__code__

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code is code:
            frame.f_trace_opcodes = True
            if event == "opcode":
                executed[0] += 1
            return trace
        return None

    previous = sys.gettrace()  # a coverage tool's or debugger's, put back after
    sys.settrace(trace)
    try:
        fn(*args, **kwargs)
    finally:
        sys.settrace(previous)
    return executed[0]


def test_a_copy_looks_its_class_and_each_change_up_once() -> None:
    """``copying.replace``, the write path's copy (every merge, stamp and binding: hundreds of
    thousands per virtual minute), looks its class's layout up once and writes each change at
    its position with one subscript: an update's metadata merge (9 changes) executes 138
    bytecodes of its own (on CPython 3.11), not 193 (a membership test before the layout's
    lookup, a ``get`` call and a None test per change). It copies as ``attrs.evolve`` does,
    and an unknown field still fails as there."""
    meta = ObjectMeta(name="a", namespace="default", uid="u", labels={"app": "web"})
    replace(meta)  # the class's layout made
    merge = {
        "name": "a",
        "namespace": "default",
        "uid": "u",
        "resource_version": "7",
        "creation_timestamp": 1.0,
        "deletion_timestamp": None,
        "deletion_grace_period_seconds": None,
        "generation": 2,
        "generate_name": "",
    }
    assert _own_opcodes(replace, meta, **merge) <= 150
    assert replace(meta, **merge) == attrs.evolve(meta, **merge)
    with pytest.raises(TypeError):
        replace(meta, nope=1)


async def test_a_graceful_delete_marks_the_object_without_attrs_evolve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A graceful deletion's mark (the generic store's updateForGracefulDeletionAndFinalizers,
    staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go: deletionTimestamp and
    the grace period set, the object written back) is the write path's copy
    (``copying.replace``), as every other server-side write: no ``attrs.evolve``, which reads
    the class's fields anew on every call (two per mark, before)."""
    api = await _server()
    pods = [await api.create(pod(f"p-{i}", node_name="node-a")) for i in range(WRITES)]
    evolved = [0]
    evolve = attrs.evolve

    def counting_evolve(*args: Any, **kwargs: Any) -> Any:
        evolved[0] += 1
        return evolve(*args, **kwargs)

    monkeypatch.setattr(attrs, "evolve", counting_evolve)
    for p in pods:
        marked = await api.delete("pods", "default", p.metadata.name, grace_period_seconds=30)
        assert marked.metadata.deletion_grace_period_seconds == 30
        assert marked.metadata.deletion_timestamp is not None
        assert marked.metadata.resource_version != p.metadata.resource_version
    assert evolved[0] == 0
