"""The node heartbeat's cost per renewal and per status check, counted (issue 16): never time.

Every node renews its Lease every leaseDurationSeconds/4 = 10 s and checks its node status
every nodeStatusUpdateFrequency = 10 s, so at 1,000 nodes these are the largest single item of
a steady cluster. What upstream does for each (and so what the model must still do) is cited in
each test; the counts fail if the generic paths the model took before come back:

- the Lease strategy's merge of a renewal (pkg/registry/coordination/lease/strategy.go has no
  update rule of its own, only rest.BeforeUpdate's server-owned metadata) is the stored
  metadata with the new resourceVersion, and the new spec: one copy, no generic merge, no
  second check of the metadata the stored Lease was validated with;
- the node lifecycle controller hears of a renewal in one call (upstream keeps only a lister of
  Leases, pkg/controller/nodelifecycle/node_lifecycle_controller.go ``tryUpdateNodeHealth``);
- a node status check that finds nothing changed asks the clock once and builds nothing
  (``tryUpdateNodeStatus``, pkg/kubelet/kubelet_node_status.go).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import pytest
import trio

from kubechaos.api import errors
from kubechaos.api.objects import Lease, LeaseSpec, ObjectMeta
from kubechaos.api.objects.copying import replace
from kubechaos.control.apiserver import APIServer
from kubechaos.control.bootstrap import bootstrap, control_plane, new_control_plane
from kubechaos.control.controllers.nodelifecycle import NodeLifecycleController
from kubechaos.control.registry.strategy import Strategy
from kubechaos.defaults import NODE_LEASE_NAMESPACE, Settings
from kubechaos.node.boot import BootTimeline
from kubechaos.node.kubelet import Kubelet, node_status
from kubechaos.node.kubelet.node_status import NodeHeartbeat
from kubechaos.node.runtime import ContainerRuntime
from kubechaos.sim.clock import now, run_virtual
from tests.test_kubelet import node_config, plane

NODES = 20

# the modules a Lease update's strategy part runs in (the generic request path is not counted)
STRATEGY_FILES = (
    "/kubechaos/control/registry/lease.py",
    "/kubechaos/control/registry/strategy.py",
    "/kubechaos/api/validation.py",
    "/kubechaos/api/objects/copying.py",
)


@contextmanager
def _calls(files: tuple[str, ...]) -> Iterator[Counter[str]]:
    """Count the Python function calls made in ``files`` meanwhile, by function name."""
    calls: Counter[str] = Counter()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_filename.endswith(files):
            calls[frame.f_code.co_name] += 1

    sys.setprofile(profile)
    try:
        yield calls
    finally:
        sys.setprofile(None)


async def _server() -> APIServer:
    _, api, ctx = control_plane(3, Settings())
    await bootstrap(ctx)
    return api


async def _node_leases(api: APIServer) -> list[Lease]:
    leases = []
    for i in range(NODES):
        meta = ObjectMeta(name=f"node-{i}", namespace=NODE_LEASE_NAMESPACE)
        leases.append(await api.create(Lease(meta, LeaseSpec(f"node-{i}", 40, 0.0, 0.0))))
    return leases


def _renewed(lease: Lease, at: float) -> Lease:
    """The kubelet's renewal: the Lease as last served, ``renewTime`` moved on
    (component-helpers/apimachinery/lease/controller.go ``newLease``)."""
    spec = lease.spec
    return Lease(lease.metadata, LeaseSpec(spec.holder_identity, 40, spec.acquire_time, at))


async def test_a_renewal_is_the_stored_metadata_restamped_with_no_generic_merge() -> None:
    """A node Lease renewal (the metadata sent back as served, ``spec.renewTime`` moved on):
    the strategy's part is four calls, the Lease strategy's merge, its one metadata copy with
    the new resourceVersion, the validation hook, which finds the metadata the stored Lease was
    validated with (ValidateLeaseUpdate's metadata part, ValidateObjectMetaUpdate in
    staging/src/k8s.io/apimachinery/pkg/api/validation/objectmeta.go, checks what a client may
    change), and the spec's validation (ValidateLeaseSpec,
    pkg/apis/coordination/validation/validation.go). The stored result is what the generic
    merge (rest.BeforeUpdate: server-owned metadata from the stored object) gives. Before: the
    generic merge, two copies, the update preparation hook and the whole metadata validation,
    eleven calls."""
    api = await _server()
    strategy = api._strategies["leases"]
    leases = await _node_leases(api)
    renewals = [_renewed(lease, 10.0) for lease in leases]
    with _calls(STRATEGY_FILES) as calls:
        stored = [await api.update(lease) for lease in renewals]
    # the generic request path's reads of the resource table (``name``, ``namespaced``) aside
    strategy_calls = {f: n for f, n in calls.items() if f not in ("name", "namespaced")}
    assert strategy_calls == {
        "update": NODES,
        "replace": NODES,
        "validate_update": NODES,
        "validate_lease_spec": NODES,
    }
    for old, new, written in zip(leases, renewals, stored, strict=True):
        version = written.metadata.resource_version
        assert written == Strategy.update(strategy, old, new, version)
        assert written.spec.renew_time == 10.0
        assert version != old.metadata.resource_version


async def test_a_client_that_changes_the_metadata_gets_the_generic_merge_and_validation() -> None:
    """A Lease update whose metadata is not the one served (another client's, or one changing
    labels) keeps the server's metadata as rest.BeforeUpdate does
    (staging/src/k8s.io/apiserver/pkg/registry/rest/update.go: creationTimestamp and generation
    from the stored object) and has its labels validated (ValidateObjectMetaUpdate validates the
    new labels): 422 Invalid for a bad label key."""
    api = await _server()
    lease = (await _node_leases(api))[0]
    bad = replace(lease.metadata, labels={"not a key!": "x"})
    with pytest.raises(errors.Invalid, match="not a valid label key"):
        await api.update(Lease(bad, lease.spec))
    changed = replace(lease.metadata, labels={"zone": "a"}, creation_timestamp=99.0, generation=7)
    written = await api.update(Lease(changed, LeaseSpec("node-0", 40, 0.0, 20.0)))
    assert written.metadata.labels == {"zone": "a"}
    assert written.metadata.creation_timestamp == lease.metadata.creation_timestamp
    assert written.metadata.generation == lease.metadata.generation
    assert written.spec.renew_time == 20.0


async def test_the_node_lifecycle_controller_hears_of_a_renewal_in_one_call() -> None:
    """The controller's lease handler: a renewal whose renewTime moved on makes the node's
    probe timestamp now, one that did not leaves it (tryUpdateNodeHealth in
    pkg/controller/nodelifecycle/node_lifecycle_controller.go compares the observed lease's
    renewTime with the saved one's); each is one Python call, the handler itself (before: a
    lambda, then the handler)."""
    _, ctx = new_control_plane(0)
    controller = NodeLifecycleController(ctx)
    (handler,) = controller.leases._handlers
    assert handler.on_add is not None and handler.on_update is not None
    lease = Lease(ObjectMeta(name="n1", namespace=NODE_LEASE_NAMESPACE), LeaseSpec("n1", 40, 0, 5))
    handler.on_add(lease)
    await trio.sleep(10)
    renewed = _renewed(lease, 15.0)
    with _calls(("/kubechaos/control/controllers/nodelifecycle.py",)) as calls:
        handler.on_update(lease, renewed)
    assert sum(calls.values()) == 1
    assert controller.health["n1"].probe_timestamp == now()
    assert controller.health["n1"].renew_time == 15.0
    await trio.sleep(10)
    handler.on_update(renewed, Lease(renewed.metadata, LeaseSpec("other", 40, 0, 15.0)))
    assert controller.health["n1"].probe_timestamp == now() - 10


def _counting(into: Counter[str], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        into[name] += 1
        return fn(*args, **kwargs)

    return counted


def test_a_status_check_that_finds_nothing_changed_asks_the_clock_once() -> None:
    """Ten idle minutes of one kubelet: 60 node status checks (nodeStatusUpdateFrequency =
    10 s; ``tryUpdateNodeStatus`` in pkg/kubelet/kubelet_node_status.go GETs the node and posts
    only a change or a due report every nodeStatusReportFrequency = 5 min). Each check reads
    the clock once and the desired status's inputs once; only the few that post build a
    status; and the loop asks a boot that is over for its next readiness change once (the
    fastNodeStatusUpdate path, pkg/kubelet/kubelet_node_status.go, only matters until the node
    is Ready). Before: the inputs read the clock a second time, and every wakeup asked the boot."""
    counts: Counter[str] = Counter()
    clock_calls: Counter[str] = Counter()

    def counted_now() -> float:
        clock_calls[sys._getframe(1).f_code.co_name] += 1
        return now()

    async def idle() -> None:
        ctx, net = await plane()
        runtime = ContainerRuntime(ctx.settings, ctx.stream("runtime"), "n1")
        booted = BootTimeline(0.0, 0.0, 0.0, 0.0, 0.0)  # a node whose boot is over, as in a cluster
        kubelet = Kubelet(ctx, node_config(), net, runtime, boot=booted)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(kubelet.run)
            await trio.sleep(600)
            nursery.cancel_scope.cancel()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(node_status, "now", counted_now)
        mp.setattr(NodeHeartbeat, "_inputs", _counting(counts, "inputs", NodeHeartbeat._inputs))
        mp.setattr(BootTimeline, "next_change", _counting(counts, "boot", BootTimeline.next_change))
        mp.setattr(
            NodeHeartbeat, "_node_status", _counting(counts, "built", NodeHeartbeat._node_status)
        )
        run_virtual(idle, seed=0)
    checks = counts["inputs"]
    assert 54 <= checks <= 60
    # one read per check, and one more after each status it posts (the report's time)
    assert checks <= clock_calls["_sync_node_status"] <= checks + counts["built"]
    assert "_inputs" not in clock_calls
    assert counts["built"] <= 4, dict(counts)  # registration, the first check, due reports
    # the boot is over: its next readiness change is asked once, not at every wakeup
    assert counts["boot"] == 1
