"""Invariants: rules the real system keeps, checked on every run, failing it the moment the model
breaks one.

A chaos run is only worth trusting if the model under it is sound. :class:`InvariantChecker`
watches etcd's commits and the objects stored, and fails the run (exit code 3, event log kept)
with an ``InvariantViolated`` event naming the rule and the evidence:

``etcd-revision-monotonic``
    every committed write transaction gets a revision above every earlier one; revisions never go
    backwards or repeat.
``etcd-acknowledged-write-durable``
    a write etcd acknowledged is in the store at the revision it was acknowledged with — unless
    a ``silent`` etcd-write-drop fault lost exactly that write (key and revision).
``resource-version-unique``
    each stored version of an object has a resourceVersion (mod revision) above the previous
    version of that object; a resourceVersion is never reused for a key.
``pod-bound-once``
    a pod bound to a node stays on that node: ``spec.nodeName`` never changes from one node to
    another.
``pod-ip-unique``
    two running pods never hold the same IP (the pod network refuses the second one and raises
    :class:`~kubechaos.sim.invariants.InvariantViolation` itself).
``replicaset-surge-bounded``
    a Deployment's ReplicaSets run at most ``replicas + maxSurge`` live pods, except for at most
    ``grace`` seconds (a reconcile, with room for the API round trips); not checked while the
    controller manager is down or a fault on the control plane's view is active (watch faults,
    etcd and API server faults, crashes), and for ``grace`` after such a fault ends — then
    upstream's controllers may legitimately lag too.
"""

from __future__ import annotations

import trio

from kubechaos.api.objects import Deployment, Pod, ReplicaSet
from kubechaos.api.rollout import max_surge
from kubechaos.cluster import Cluster
from kubechaos.control.etcd import KeyValue, Put, TxnResult, WatchEvent
from kubechaos.sim.events import Event
from kubechaos.sim.invariants import InvariantViolation

COMPONENT = "invariant-checker"
SURGE_GRACE = 30.0
SURGE_CHECK_INTERVAL = 5.0
# Faults during which (and for SURGE_GRACE after which) controllers may lag behind the truth.
CONTROL_VIEW_FAULTS = frozenset(
    {
        "watch-drop",
        "watch-delay",
        "controller-manager-crash",
        "etcd-write-drop",
        "etcd-unavailable",
        "etcd-latency",
        "apiserver-unavailable",
        "apiserver-throttle",
        "apiserver-latency",
        "etcd-member-crash",
        "apiserver-crash",
        "control-plane-node-crash",
    }
)

INVARIANTS = (
    "etcd-revision-monotonic",
    "etcd-acknowledged-write-durable",
    "resource-version-unique",
    "pod-bound-once",
    "pod-ip-unique",
    "replicaset-surge-bounded",
)


class InvariantChecker:
    def __init__(self, cluster: Cluster, grace: float = SURGE_GRACE) -> None:
        self.cluster = cluster
        self.grace = grace
        self.violations: list[InvariantViolation] = []
        self._broken = trio.Event()
        self._last_revision = cluster.etcd.store.revision
        self._surging_since: dict[str, float] = {}
        self._control_faults: dict[str, int] = {}
        self._control_quiet_since = 0.0
        cluster.etcd.txn_observers.append(self._on_txn)
        cluster.etcd.store.watch("/registry/", cluster.etcd.store.revision + 1, self._on_events)
        for event in cluster.events:
            self._on_event(event)
        cluster.events.subscribe(self._on_event)

    # ------------------------------------------------------------------ failing the run
    def violate(self, invariant: str, message: str) -> None:
        if any(v.invariant == invariant for v in self.violations):
            return  # the first piece of evidence is the one to read
        violation = InvariantViolation(invariant, message)
        self.violations.append(violation)
        self.cluster.events.record(COMPONENT, "Invariant", invariant, "InvariantViolated", message)
        self._broken.set()

    async def run(self) -> None:
        """Raise the first violation into the run (checks run in callbacks: etcd's commits,
        its watch, and :meth:`check_surge` on the run's ticker every SURGE_CHECK_INTERVAL)."""
        await self._broken.wait()
        raise self.violations[0]

    # ------------------------------------------------------------------ etcd
    def _on_txn(self, result: TxnResult, ops: tuple[object, ...]) -> None:
        wrote = any(
            kv is not None and kv.mod_revision == result.revision
            for kv in result.results
            if kv is not None
        )
        if not wrote:
            return
        if result.revision <= self._last_revision:
            self.violate(
                "etcd-revision-monotonic",
                f"a write transaction committed at revision {result.revision}, "
                f"not above the previous {self._last_revision}",
            )
        self._last_revision = max(self._last_revision, result.revision)
        store = self.cluster.etcd.store
        dropped = self.cluster.etcd.silent_drops
        for op, kv in zip(ops, result.results, strict=False):
            if not isinstance(op, Put) or kv is None or kv.mod_revision != result.revision:
                continue
            stored = store.get(op.key)
            if (stored is None or stored.mod_revision != kv.mod_revision) and (
                op.key,
                kv.mod_revision,
            ) not in dropped:
                self.violate(
                    "etcd-acknowledged-write-durable",
                    f"etcd acknowledged {op.key} at revision {kv.mod_revision} but stores "
                    + (f"revision {stored.mod_revision}" if stored else "nothing")
                    + " (no silent etcd-write-drop lost it)",
                )

    def _on_events(self, events: list[WatchEvent]) -> None:
        for event in events:
            kv, prev = event.kv, event.prev_kv
            if prev is not None and event.type == "PUT" and kv.mod_revision <= prev.mod_revision:
                self.violate(
                    "resource-version-unique",
                    f"{kv.key} was stored at resourceVersion {kv.mod_revision}, "
                    f"not above its previous {prev.mod_revision}",
                )
            if kv.key.startswith("/registry/pods/") and event.type == "PUT" and prev is not None:
                self._check_binding(kv, prev)

    def _check_binding(self, kv: KeyValue, prev: KeyValue) -> None:
        old, new = prev.value, kv.value
        if not isinstance(old, Pod) or not isinstance(new, Pod):
            return
        if old.metadata.uid != new.metadata.uid:
            return  # a new pod of the same name
        before, after = old.spec.node_name, new.spec.node_name
        if before and after != before:
            self.violate(
                "pod-bound-once",
                f"pod {old.metadata.namespace}/{old.metadata.name} was bound to {before} and is "
                f"now on {after or 'no node'}",
            )

    # ------------------------------------------------------------------ controllers
    def _on_event(self, event: Event) -> None:
        if event.kind != "Fault" or event.reason not in ("FaultInjected", "FaultReverted"):
            return
        fields = event.fields or {}
        if fields.get("type") not in CONTROL_VIEW_FAULTS:
            return
        held = self._control_faults.get(event.object, 0)
        if event.reason == "FaultInjected" and fields.get("lasting", True):
            self._control_faults[event.object] = held + 1
        elif event.reason == "FaultReverted":
            self._control_faults[event.object] = max(0, held - 1)
        self._control_quiet_since = event.time

    def _controllers_trusted(self, now: float) -> bool:
        manager = self.cluster.controller_manager
        if not manager.acting or any(self._control_faults.values()):
            self._control_quiet_since = now
            return False
        return now - self._control_quiet_since >= self.grace

    def check_surge(self, now: float) -> None:
        if not self._controllers_trusted(now):
            self._surging_since.clear()
            return
        api = self.cluster.api
        deployments: dict[str, Deployment] = {
            d.metadata.uid: d for d in api.cache("deployments").list()
        }
        owner_of_rs: dict[str, str] = {}
        for rs in api.cache("replicasets").list():
            assert isinstance(rs, ReplicaSet)
            ref = rs.metadata.controller_ref()
            if ref is not None and ref.uid in deployments:
                owner_of_rs[rs.metadata.uid] = ref.uid
        live: dict[str, int] = {}
        for pod in api.cache("pods").list():
            ref = pod.metadata.controller_ref()
            if ref is None or ref.uid not in owner_of_rs:
                continue
            if pod.metadata.deletion_timestamp is not None or pod.status.phase in (
                "Succeeded",
                "Failed",
            ):
                continue
            owner = owner_of_rs[ref.uid]
            live[owner] = live.get(owner, 0) + 1
        surging = {}
        for uid, count in live.items():
            d = deployments[uid]
            limit = d.spec.replicas + max_surge(d)
            if count > limit:
                since = self._surging_since.get(uid, now)
                surging[uid] = since
                if now - since > self.grace:
                    self.violate(
                        "replicaset-surge-bounded",
                        f"deployment {d.metadata.namespace}/{d.metadata.name} has run {count} live "
                        f"pods (limit replicas {d.spec.replicas} + maxSurge {max_surge(d)}) for "
                        f"{now - since:.0f}s",
                    )
        self._surging_since = surging
