"""The DaemonSet controller (pkg/controller/daemon/daemon_controller.go, v1.32).

One sync of a DaemonSet claims its pods (adopting orphans its selector matches), groups them by
the node each is for (its ``spec.nodeName``, or the node its ``metadata.name`` affinity names),
and, once earlier creates and deletes have been observed (expectations):

- **manage**: a node that should run the daemon pod and has none gets one; on a node where it
  may continue running, failed pods are deleted (with a per-node back-off) and surplus pods
  beyond the oldest; a node where it may not continue (untolerated NoExecute taint, or the
  selector or affinity no longer matches) loses its pods. Pods are created in slow-start
  batches, at most 250 creates and 250 deletes per sync.
- **update**: RollingUpdate replaces old pods within ``maxUnavailable`` / ``maxSurge``
  (:mod:`.update`); OnDelete leaves them until someone deletes them.
- **status**: desired / current / misscheduled / ready / updated / available / unavailable
  counts per node, and ``observedGeneration``.

The pods are created with the daemon tolerations and a ``metadata.name`` node affinity, and the
default scheduler binds them, as upstream since 1.12. A crashed node's daemon pod tolerates the
not-ready and unreachable NoExecute taints without limit, so taint eviction never removes it.

Cost: pods are indexed by (DaemonSet UID, node), so a pod event costs O(1) and a pod the
controller does not own costs one dict lookup; a node event costs O(DaemonSets) (each one's
``shouldRun`` on the old and new node). Upstream's sync costs O(nodes + the DaemonSet's pods);
here a DaemonSet's pods by node, the manage pass's to-do list and the status counts are kept
between syncs (:mod:`.nodestate`), so a sync costs the nodes whose pods or verdict changed since
the previous one (and, during a rollout, the nodes with pods), with the same outcome.
"""

from __future__ import annotations

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.objects import DaemonSet, DaemonSetStatus, Node, Pod, key_of
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.client.interface import APIClient
from kubechaos.control.controller import Controller
from kubechaos.control.controllers.daemon.index import DaemonPods, FailedBackoff
from kubechaos.control.controllers.daemon.nodestate import DaemonState, state_key
from kubechaos.control.controllers.daemon.update import pods_should_be_on_node, rolling_update
from kubechaos.control.controllers.daemon.util import (
    daemon_tolerations,
    new_daemon_pod,
    node_should_run,
    should_ignore_node_update,
)
from kubechaos.control.controllers.expectations import Expectations
from kubechaos.control.controllers.ownership import (
    claim,
    recheck_deletion,
    still_owned_by_other_kind,
)
from kubechaos.defaults import (
    DAEMONSET_BURST_REPLICAS,
    DAEMONSET_CONCURRENT_SYNCS,
    SLOW_START_INITIAL_BATCH_SIZE,
)
from kubechaos.sim.clock import now


class DaemonSetController(Controller):
    name = "daemonset-controller"
    queue_name = "daemonset"  # upstream's workqueue name
    workers = DAEMONSET_CONCURRENT_SYNCS

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.daemonsets: Informer[DaemonSet] = ctx.informer("daemonsets", self.name)
        self.pods: Informer[Pod] = ctx.informer("pods", self.name)
        self.nodes: Informer[Node] = ctx.informer("nodes", self.name)
        self.index = DaemonPods()
        self.expectations = Expectations()
        self.backoff = FailedBackoff()
        self._states: dict[str, DaemonState] = {}  # ds key -> its pods by node between syncs
        # ds key -> (uid, generation, the daemon pod's tolerations, node name -> (labels,
        # spec, NodeShouldRunDaemonPod)): a node's eligibility is recomputed only when its
        # labels or spec, or the DaemonSet's spec, change (not on every heartbeat)
        self._eligibility: dict[str, tuple[str, int, tuple, dict[str, tuple]]] = {}
        self.daemonsets.add_handler(Handler(self._ds_event, self._ds_update, self._ds_delete))
        self.pods.add_handler(Handler(self._pod_add, self._pod_update, self._pod_delete))
        self.nodes.add_handler(Handler(self._node_add, self._node_update, self._node_delete))

    async def wait_synced(self) -> None:
        for informer in (self.daemonsets, self.pods, self.nodes):
            await informer.synced.wait()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            for informer in (self.daemonsets, self.pods, self.nodes):
                nursery.start_soon(informer.run)
            await super().run()

    def _cached(self, ds: DaemonSet) -> tuple[str, int, tuple, dict[str, tuple]]:
        key, meta = key_of(ds), ds.metadata
        entry = self._eligibility.get(key)
        if entry is None or entry[:2] != (meta.uid, meta.generation):
            tolerations = daemon_tolerations(ds.spec.template.spec.tolerations)
            entry = self._eligibility[key] = (meta.uid, meta.generation, tolerations, {})
        return entry

    def daemon_tolerations_of(self, ds: DaemonSet) -> tuple:
        return self._cached(ds)[2]

    def should_run(self, node: Node, ds: DaemonSet) -> tuple[bool, bool]:
        """NodeShouldRunDaemonPod, remembered per node until its labels or spec change."""
        _, _, tolerations, per_node = self._cached(ds)
        name, labels, spec = node.metadata.name, node.metadata.labels, node.spec
        hit = per_node.get(name)
        if hit is not None and hit[1] == spec and hit[0] == labels:
            return hit[2]
        result = node_should_run(node, ds, tolerations)
        per_node[name] = (labels, spec, result)
        return result

    # ------------------------------------------------------------------ DaemonSet events
    def _ds_event(self, ds: DaemonSet) -> None:
        self.index.watch_selector(ds)
        self.enqueue(key_of(ds))

    def _ds_update(self, old: DaemonSet, new: DaemonSet) -> None:
        if old.metadata.uid != new.metadata.uid:
            self._ds_delete(old)
        self._ds_event(new)

    def _ds_delete(self, ds: DaemonSet) -> None:
        key = key_of(ds)
        self.index.forget_selector(key)
        self.expectations.forget(key)
        self._eligibility.pop(key, None)
        self._states.pop(key, None)
        self.index.forget_dirty(ds.metadata.uid)
        self.enqueue(key)

    def _owner(self, pod: Pod) -> DaemonSet | None:
        """resolveControllerRef: the cached DaemonSet the pod's controller reference names."""
        ref = pod.metadata.controller_ref()
        if ref is None or ref.kind != DaemonSet.KIND:
            return None
        ds = self.daemonsets.get(f"{pod.metadata.namespace}/{ref.name}")
        return ds if ds is not None and ds.metadata.uid == ref.uid else None

    # ------------------------------------------------------------------ pod events
    def _pod_add(self, pod: Pod) -> None:
        self.index.put(pod)
        if pod.metadata.deletion_timestamp is not None:
            self._pod_gone(pod)
            return
        if pod.metadata.controller_ref() is None:
            for key in self.index.adopters(pod):
                self.enqueue(key)
            return
        ds = self._owner(pod)
        if ds is not None:
            self.expectations.creation_observed(key_of(ds))
            self.enqueue(key_of(ds))

    def _pod_update(self, old: Pod, pod: Pod) -> None:
        if still_owned_by_other_kind(old, pod, DaemonSet.KIND):  # (DaemonPods never held it)
            return
        if old.metadata.uid != pod.metadata.uid:
            self._pod_delete(old)
            self._pod_add(pod)
            return
        if old.metadata.resource_version == pod.metadata.resource_version:
            return
        self.index.put(pod)
        if pod.metadata.deletion_timestamp is not None:
            if old.metadata.deletion_timestamp is None:
                self._pod_gone(pod)
            return
        ref, old_ref = pod.metadata.controller_ref(), old.metadata.controller_ref()
        if ref != old_ref and old_ref is not None:
            previous = self._owner(old)
            if previous is not None:
                self.enqueue(key_of(previous))
        if ref is not None:
            ds = self._owner(pod)
            if ds is not None:
                self.enqueue(key_of(ds))
                minimum = ds.spec.min_ready_seconds
                if minimum > 0 and not old.is_ready() and pod.is_ready():
                    self.queue.add_after(key_of(ds), minimum + 1.0)
        elif old.metadata.labels != pod.metadata.labels or ref != old_ref:
            for key in self.index.adopters(pod):
                self.enqueue(key)

    def _pod_delete(self, pod: Pod) -> None:
        """deletePod. A pod seen terminating was counted as deleted then (upstream counts it
        again here; the model counts each deletion once), but the DaemonSet syncs again: the
        node's status may change now that the pod is gone."""
        self.index.discard(pod)
        if pod.metadata.deletion_timestamp is None:
            self._pod_gone(pod)
            return
        ds = self._owner(pod)
        if ds is not None:
            self.enqueue(key_of(ds))

    def _pod_gone(self, pod: Pod) -> None:
        ds = self._owner(pod)
        if ds is not None:
            self.expectations.deletion_observed(key_of(ds))
            self.enqueue(key_of(ds))

    # ------------------------------------------------------------------ node events
    def _node_add(self, node: Node) -> None:
        self._node_delete(node)  # the DaemonSets' next syncs look at it
        for ds in self.daemonsets.store.values():
            if self.should_run(node, ds)[0]:
                self.enqueue(key_of(ds))

    def _node_update(self, old: Node, new: Node) -> None:
        if should_ignore_node_update(old, new):
            return
        for ds in self.daemonsets.store.values():
            if self.should_run(old, ds) != self.should_run(new, ds):
                if (state := self._states.get(key_of(ds))) is not None:
                    state.touch(new.metadata.name)
                self.enqueue(key_of(ds))

    def _node_delete(self, node: Node) -> None:
        """Upstream has no deleteNode handler: the node drops out at the DaemonSet's next sync."""
        for state in self._states.values():
            state.touch(node.metadata.name)

    # ------------------------------------------------------------------ sync
    async def sync(self, key: str) -> None:
        ds = self.daemonsets.get(key)
        if ds is None:
            self.expectations.forget(key)
            return
        if ds.spec.selector.is_empty():
            self.events.record(
                self.name,
                DaemonSet.KIND,
                key,
                "SelectingAll",
                "This daemon set is selecting all pods. A non-empty selector is required.",
            )
            return
        if ds.metadata.deletion_timestamp is not None:
            return
        state = self._states.get(key)
        if state is None or state.key != state_key(ds):
            state = self._states[key] = DaemonState(ds)
        await self._node_to_pods(ds, state)
        if not self.expectations.satisfied(key):
            self.queue.add_after(key, self.expectations.expires_in(key) + 1.0)
            await self._update_status(ds, state, False)
            return
        failure: errors.APIError | None = None
        acted = True
        try:
            acted = await self._manage(key, ds, state)
            # the rolling update runs once expectations are satisfied: when manage did nothing
            if not acted and ds.spec.update_strategy.type == "RollingUpdate":
                acted = await self._rolling_update(key, ds, state)
        except errors.APIError as exc:
            failure = exc
        if acted:  # the status counts what the informer holds after the creates and deletes
            await self._node_to_pods(ds, state)
        await self._update_status(ds, state, True)
        if failure is not None:
            raise failure

    async def _node_to_pods(self, ds: DaemonSet, state: DaemonState) -> None:
        """getNodesToDaemonPods: the claimed pods grouped by the node each is for, claimed again
        only on the nodes whose pods changed since the last sync (:mod:`.nodestate`)."""
        uid = ds.metadata.uid
        nodes, candidates = state.candidates(self.index, uid, ds.metadata.namespace)
        try:
            claimed = await claim(
                self.api, "pods", ds, candidates, recheck_deletion(self.api, "daemonsets", ds)
            )
        except BaseException:
            self.index.mark_dirty(uid, nodes)  # read them again next time
            raise
        state.refresh(nodes, claimed)

    async def _manage(
        self,
        key: str,
        ds: DaemonSet,
        state: DaemonState,
    ) -> bool:
        """manage over the nodes that changed, by name (:meth:`DaemonState.take_todo`)."""
        creates: list[str] = []
        deletes: list[Pod] = []
        unscheduled: list[Pod] = []
        for name in state.take_todo(self.nodes.store):
            node = self.nodes.get(name)
            if node is None:  # getUnscheduledPodsWithoutNode
                gone = [p for p in state.pods.get(name, ()) if not p.spec.node_name]
                if gone:
                    unscheduled += gone
                    state.todo[name] = None
                continue
            need, delete = self._pods_should_be_on_node(
                key, name, state, ds, self.should_run(node, ds)
            )
            creates += need
            deletes += delete
        return await self._sync_nodes(key, ds, deletes + unscheduled, creates, state.hash)

    def _pods_should_be_on_node(
        self, key: str, name: str, state: DaemonState, ds: DaemonSet, verdict: tuple[bool, bool]
    ) -> tuple[list[str], list[Pod]]:
        """podsShouldBeOnNode for one node; remembered as stable when it found nothing to do
        without a failed or succeeded pod or a second pod (whose outcome may depend on time)."""
        touched = False

        def succeeded(pod: Pod) -> None:
            nonlocal touched
            touched = True
            message = (
                f"Found succeeded daemon pod {key_of(pod)} on node {name}, will try to delete it"
            )
            self.events.record(self.name, DaemonSet.KIND, key, "SucceededDaemonPod", message)

        def failed(pod: Pod) -> bool:
            nonlocal touched
            touched = True
            return self._failed_pod_backoff(ds, name, pod)

        pods = state.pods.get(name)
        need, delete = pods_should_be_on_node(
            ds, name, pods, verdict, state.hash, failed, succeeded, now()
        )
        if need or delete or touched or len(pods or ()) > 1:
            state.todo[name] = None  # look again next time
        return need, delete

    def _failed_pod_backoff(self, ds: DaemonSet, node: str, pod: Pod) -> bool:
        """True if the failed pod may be deleted now; else come back when the back-off ends."""
        backoff_key = f"{ds.metadata.uid}/{ds.status.observed_generation}/{node}"
        at = now()
        delay = self.backoff.in_backoff(backoff_key, at)
        if delay is not None:
            self.queue.add_after(key_of(ds), delay)
            return False
        self.backoff.next(backoff_key, at)
        self.events.record(
            self.name,
            DaemonSet.KIND,
            key_of(ds),
            "FailedDaemonPod",
            f"Found failed daemon pod {key_of(pod)} on node {node}, will try to kill it",
        )
        return True

    async def _rolling_update(
        self,
        key: str,
        ds: DaemonSet,
        state: DaemonState,
    ) -> bool:
        """rollingUpdate, over the nodes with pods while one has an old pod."""
        if not state.with_old:
            return False  # every pod is new: nothing to replace

        def runs(name: str) -> bool:
            node = self.nodes.get(name)
            return node is not None and self.should_run(node, ds)[0]

        state.recount(self.nodes.store, lambda n: self.should_run(n, ds), now())  # desired now
        desired = state.totals[0]
        names = sorted(state.pods)
        deletes, creates = rolling_update(ds, names, state.facts, desired, runs, now())
        return await self._sync_nodes(key, ds, deletes, creates, state.hash)

    async def _sync_nodes(
        self, key: str, ds: DaemonSet, deletes: list[Pod], creates: list[str], hash_: str
    ) -> bool:
        """syncNodes: set expectations, create in slow-start batches, delete in parallel; False
        if there was nothing to do."""
        creates = creates[:DAEMONSET_BURST_REPLICAS]
        deletes = deletes[:DAEMONSET_BURST_REPLICAS]
        if not creates and not deletes:
            return False
        self.expectations.expect(key, len(creates), len(deletes))
        failures: list[errors.APIError] = []
        tolerations = self.daemon_tolerations_of(ds)
        position, batch = 0, min(len(creates), SLOW_START_INITIAL_BATCH_SIZE)
        while batch > 0:
            before = len(failures)
            async with trio.open_nursery() as nursery:
                for node in creates[position : position + batch]:
                    nursery.start_soon(self._create, key, ds, node, hash_, tolerations, failures)
            position += batch
            if len(failures) > before:
                for _ in creates[position:]:  # never attempted: not expected
                    self.expectations.creation_observed(key)
                break
            batch = min(2 * batch, len(creates) - position)
        async with trio.open_nursery() as nursery:
            for pod in deletes:
                nursery.start_soon(self._delete, key, pod, failures)
        if failures:
            raise failures[0]
        return True

    async def _create(
        self,
        key: str,
        ds: DaemonSet,
        node: str,
        hash_: str,
        tolerations: tuple,
        failures: list[errors.APIError],
    ) -> None:
        try:
            created = await self.api.create(new_daemon_pod(ds, node, hash_, tolerations))
        except errors.APIError as exc:
            self.expectations.creation_observed(key)
            self.events.record(
                self.name, DaemonSet.KIND, key, "FailedCreate", f"Error creating: {exc}"
            )
            failures.append(exc)
            return
        self.events.record(
            self.name,
            DaemonSet.KIND,
            key,
            "SuccessfulCreate",
            f"Created pod: {created.metadata.name}",
        )

    async def _delete(self, key: str, pod: Pod, failures: list[errors.APIError]) -> None:
        meta = pod.metadata
        try:
            await self.api.delete("pods", meta.namespace, meta.name)
        except errors.APIError as exc:
            self.expectations.deletion_observed(key)
            if not isinstance(exc, errors.NotFound):
                self.events.record(
                    self.name, DaemonSet.KIND, key, "FailedDelete", f"Error deleting: {exc}"
                )
                failures.append(exc)
            return
        self.events.record(
            self.name, DaemonSet.KIND, key, "SuccessfulDelete", f"Deleted pod: {meta.name}"
        )

    # ------------------------------------------------------------------ status
    async def _update_status(
        self,
        ds: DaemonSet,
        state: DaemonState,
        observe_generation: bool,
    ) -> None:
        """updateDaemonSetStatus, and a resync after minReadySeconds while ready pods wait to
        count as available."""
        state.recount(self.nodes.store, lambda n: self.should_run(n, ds), now())
        status = state.status(ds)
        if not observe_generation:
            status = attrs.evolve(status, observed_generation=ds.status.observed_generation)
        if status != ds.status:
            await store_status(self.api, ds, status)
        if ds.spec.min_ready_seconds > 0 and status.number_ready != status.number_available:
            self.queue.add_after(key_of(ds), float(ds.spec.min_ready_seconds))


async def store_status(api: APIClient, ds: DaemonSet, status: DaemonSetStatus) -> None:
    """storeDaemonSetStatus: one retry on a fresh read."""
    for attempt in range(2):
        try:
            await api.update_status(attrs.evolve(ds, status=status))
            return
        except errors.NotFound:
            return
        except errors.APIError:
            if attempt == 1:
                raise
            ds = await api.get("daemonsets", ds.metadata.namespace, ds.metadata.name)


__all__ = ["DaemonSetController"]
