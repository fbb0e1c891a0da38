"""The kubelet's own work per pod on the node, counted deterministically (issue 16).

What a pod costs its kubelet besides the status writes: admission (upstream's
``pkg/kubelet/lifecycle/predicate.go`` GeneralPredicates: the node selector against the node's
labels, the requests against what is left), and the sandbox's address (the host-local IPAM
plugin hands out the next free address of the node's pod CIDR and takes it back at teardown).
These tests count what that costs and fail if work that decides nothing comes back:

- the node's labels are built only for a pod that has a node selector;
- admission adds no resource vectors of its own (the admitted total grows once, on hold);
- the addresses are handed out and taken back as dotted quads, without :mod:`ipaddress`
  objects, and are the very strings :mod:`ipaddress` would give.
"""

from __future__ import annotations

import enum
import ipaddress
from collections import Counter
from typing import Any

import attrs
import pytest

from kubechaos.api.objects import ObjectMeta, Pod, Resources, copying
from kubechaos.node import network, podstate
from kubechaos.node.kubelet import admission, status_manager
from kubechaos.node.kubelet.config import NodeConfig
from kubechaos.node.kubelet.pod_lifecycle import PodLifecycle
from kubechaos.node.kubelet.timers import TimerKind
from kubechaos.node.network import NodeIPAM
from kubechaos.sim.clock import run_virtual
from tests.factories import pod_spec
from tests.test_cost_node_steady import five_pod_lifecycles


def _counted(into: Counter[str], key: str, fn: Any) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        into[key] += 1
        return fn(*args, **kwargs)

    return call


def test_admission_builds_no_labels_or_sums_for_pods_without_a_selector() -> None:
    """Five pods without a node selector admitted, run and deleted: the node's labels are built
    once, for the Node's registration (kubelet_node_status.go initialNode), never for admission
    (GeneralPredicates' node selector check has nothing to compare), and admission's resource
    check adds no Resources: the only sums are each pod's requests (one container: one sum) and
    the admitted total's (hold), the only differences the total's releases. Admission built the
    labels and a sum once per pod before (6 and 15)."""
    counts: Counter[str] = Counter()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(NodeConfig, "node_labels", _counted(counts, "labels", NodeConfig.node_labels))
        mp.setattr(Resources, "__add__", _counted(counts, "sums", Resources.__add__))
        mp.setattr(Resources, "__sub__", _counted(counts, "differences", Resources.__sub__))
        writes = run_virtual(five_pod_lifecycles, seed=0)
    assert writes == 5 * 4
    assert counts["labels"] == 1
    assert counts["sums"] == 5 + 5  # PodSpec.requests, then Admission.hold, once per pod
    assert counts["differences"] == 5  # Admission.release, once per pod


def test_admission_still_rejects_by_selector_and_by_resources() -> None:
    """The same verdicts as before the cut: a selector the node's labels miss is NodeAffinity,
    requests beyond what is left are OutOf<resource> with upstream's message, in fitsRequest's
    order pods, cpu, memory (pkg/scheduler/framework/plugins/noderesources/fit.go)."""

    def state(selector: dict[str, str], cpu: int, memory: int) -> podstate.PodState:
        spec = pod_spec(cpu=cpu, memory=memory, node_selector=selector)
        return podstate.PodState(Pod(ObjectMeta(name="p"), spec))

    config = NodeConfig("n1", Resources(1000, 2**30, 3), labels={"disk": "ssd"})
    gate = admission.Admission(config, lambda: None)
    gate.used = Resources(600, 2**29, 1)
    check: Any = gate.failure
    assert check(state({"disk": "ssd"}, 100, 1)) is None
    assert check(state({"disk": "hdd"}, 100, 1))[0] == "NodeAffinity"
    assert check(state({}, 500, 1)) == (
        "OutOfcpu",
        "Node didn't have enough resource: cpu, requested: 500, used: 600, capacity: 1000",
    )
    assert check(state({}, 100, 2**30))[0] == "OutOfmemory"
    gate.used = Resources(600, 2**29, 3)
    assert check(state({}, 500, 2**30))[0] == "OutOfpods"


def test_sandbox_addresses_make_no_ipaddress_objects() -> None:
    """Five pods' sandboxes get an address and give it back at teardown: the node's IPAM never
    makes an :mod:`ipaddress` object for them (it made two per pod: one to format the address
    it handed out, one to parse the address it took back)."""
    counts: Counter[str] = Counter()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            network.ipaddress,
            "ip_address",
            _counted(counts, "addresses", ipaddress.ip_address),
        )
        writes = run_virtual(five_pod_lifecycles, seed=0)
    assert writes == 5 * 4
    assert counts["addresses"] == 0


def test_ipam_hands_out_what_ipaddress_would() -> None:
    """The next free address after the last one given, skipping the network address and the
    gateway (.1), wrapping around; reserved and released addresses as :mod:`ipaddress` reads
    them."""
    ipam = NodeIPAM("10.244.7.0/24")
    net = ipaddress.ip_network("10.244.7.0/24")
    given = [ipam.allocate() for _ in range(253)]
    assert given == [str(net.network_address + 2 + i) for i in range(253)]
    with pytest.raises(RuntimeError):
        ipam.allocate()
    ipam.release("10.244.7.9")
    ipam.release("10.244.7.200")
    assert ipam.allocate() == "10.244.7.9"
    ipam.reserve("10.244.7.200")
    with pytest.raises(RuntimeError):
        ipam.allocate()
    with pytest.raises(ValueError):
        ipam.release("10.244.7.256")


class _CountedRuns(list):  # type: ignore[type-arg]
    """A pod's container list counting the passes made over it."""

    passes = 0

    def __iter__(self) -> Any:
        _CountedRuns.passes += 1
        return super().__iter__()


def test_a_container_change_reads_the_pods_containers_once() -> None:
    """Each container change rolls up into its pod (PodLifecycle.refresh: the endpoint's running
    and ready flags, the pod's Ready, upstream's generateAPIPodStatus deriving ContainersReady
    from the container statuses, pkg/kubelet/status/generate.go): with the sandbox up, one pass
    over the pod's containers answers both whether all run and whether all are ready (two
    passes before); with no sandbox, none."""
    passes: list[int] = []
    init = podstate.PodState.__init__
    refresh = PodLifecycle.refresh

    def counted_init(self: podstate.PodState, pod: Any) -> None:
        init(self, pod)
        self.runs = _CountedRuns()

    def counted_refresh(self: PodLifecycle, ps: podstate.PodState) -> None:
        before = _CountedRuns.passes
        refresh(self, ps)
        passes.append(_CountedRuns.passes - before)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(podstate.PodState, "__init__", counted_init)
        mp.setattr(PodLifecycle, "refresh", counted_refresh)
        writes = run_virtual(five_pod_lifecycles, seed=0)
    assert writes == 5 * 4
    # per pod: with the sandbox up, running and Ready; without, added (none yet), finished and
    # the container's exit (both after the sandbox's teardown)
    assert Counter(passes) == Counter({1: 5 * 2, 0: 5 * 3})


def test_a_container_timer_finds_its_handler_without_a_python_hash() -> None:
    """Every container timer of five pod lifecycles (created, started, the readiness probe's
    flip, the stop) is handed to its handler by a dict lookup on its kind, like the switch of
    upstream's pod worker over its work types (pkg/kubelet/pod_workers.go); the kind's hash is
    identity's, computed in C: Enum's own ``__hash__`` (a Python call hashing the member's name)
    runs for no timer kind (it ran once per container timer)."""
    hashes: Counter[str] = Counter()
    enum_hash = enum.Enum.__hash__

    def counted(member: enum.Enum) -> int:
        hashes[type(member).__name__] += 1
        return enum_hash(member)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(enum.Enum, "__hash__", counted)
        writes = run_virtual(five_pod_lifecycles, seed=0)
    assert writes == 5 * 4
    assert hashes[TimerKind.__name__] == 0


def test_status_writes_copy_a_pods_metadata_once_per_metadata_change() -> None:
    """Upstream's status manager sends a pod's status with no resourceVersion precondition
    (pkg/kubelet/status/status_manager.go syncPod: a patch of the status, the UID its only
    precondition); here each write sends the pod with its metadata's resourceVersion cleared.
    Five pods' lifecycles make twenty writes, but a status write changes nothing of the pod's
    metadata except its resourceVersion: the metadata is copied once per pod for its first
    write, and once more for the final write, after the deletion set its deletionTimestamp
    (ten copies; it was copied for every write, twenty). What is sent is unchanged: the pod's
    metadata with an empty resourceVersion."""
    copies: Counter[str] = Counter()
    sent: list[tuple[Any, Any]] = []

    def counted(obj: Any, **changes: Any) -> Any:
        copied = copying.replace(obj, **changes)
        if isinstance(obj, ObjectMeta):
            copies["metadata"] += 1
        elif isinstance(obj, Pod):
            sent.append((obj.metadata, copied.metadata))
        return copied

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(status_manager, "replace", counted)
        writes = run_virtual(five_pod_lifecycles, seed=0)
    assert writes == 5 * 4
    assert copies["metadata"] == 5 * 2
    assert len(sent) == writes
    for current, request in sent:
        assert request == attrs.evolve(current, resource_version="")
