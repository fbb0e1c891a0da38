"""The StatefulSet controller's process side (pkg/controller/statefulset/stateful_set.go, v1.32):
informers, event handlers, claiming pods, revisions and the status write.

Pods are indexed by their controller's UID (only pods a StatefulSet controls, and orphans that
one might adopt), StatefulSets by one label of their selector: a pod event for a pod some other
controller owns costs a dict lookup, and a sync reads only its own set's pods.

Revisions: the update revision is the set's current template; the current revision is the one
status names. Upstream keeps every revision's template as a ControllerRevision; the model keeps
the templates it has seen in memory (a replica below the partition that is recreated gets the
current revision's template). A controller started after the template changed has not seen the
old template: it recreates such a replica from the update template, labelled with the current
revision's name (documented as a deviation; ControllerRevisions are not served).
"""

from __future__ import annotations

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.objects import OwnerReference, Pod, PodTemplate, StatefulSet, key_of
from kubechaos.api.selectors import LabelSelector
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.controller import Controller
from kubechaos.control.controllers.ownership import (
    OwnedIndex,
    SelectorIndex,
    claim,
    recheck_deletion,
)
from kubechaos.control.controllers.statefulset.control import (
    StatefulPodControl,
    StatefulSetControl,
)
from kubechaos.control.controllers.statefulset.utils import (
    complete_rolling_update,
    is_member_of,
    revision_name,
)


class StatefulSetController(Controller):
    name = "statefulset-controller"
    queue_name = "statefulset"  # upstream's workqueue name

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.workers = ctx.settings.concurrent_statefulset_syncs
        self.sets: Informer[StatefulSet] = ctx.informer("statefulsets", self.name)
        self.pods: Informer[Pod] = ctx.informer("pods", self.name)
        self.control = StatefulSetControl(StatefulPodControl(ctx, self.name))
        self._pods: OwnedIndex[Pod] = OwnedIndex()
        self._selectors = SelectorIndex()
        self._templates: dict[str, dict[str, PodTemplate]] = {}  # set UID -> revision -> template
        self._latest: dict[str, tuple[PodTemplate, str]] = {}  # set UID -> its template, revision
        # set UID -> keys of its pods changed since its last sync; set UID -> (the selector and
        # deletion it claimed under, its claimed pods by key): a sync claims only what changed
        self._changed: dict[str, dict[str, None]] = {}
        self._claimed: dict[str, tuple[tuple[LabelSelector, bool], dict[str, Pod]]] = {}
        self.sets.add_handler(Handler(self._on_set, self._on_set_update, self._on_set_delete))
        self.pods.add_handler(Handler(self._on_pod_add, self._on_pod_update, self._on_pod_delete))

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.sets.run)
            nursery.start_soon(self.pods.run)
            await super().run()

    async def wait_synced(self) -> None:
        await self.sets.synced.wait()
        await self.pods.synced.wait()

    # ------------------------------------------------------------------ set handlers
    def _on_set(self, sts: StatefulSet) -> None:
        key = key_of(sts)
        self._selectors.put(key, sts.metadata.namespace, sts.spec.selector)
        self._update_revision(sts)
        self.enqueue(key)

    def _update_revision(self, sts: StatefulSet) -> str:
        """The revision of the set's template (hashed once per template, not per event), kept
        with its template."""
        uid, template = sts.metadata.uid, sts.spec.template
        latest = self._latest.get(uid)
        if latest is not None and latest[0] == template:
            return latest[1]
        name = revision_name(sts, template)
        self._latest[uid] = (template, name)
        self._templates.setdefault(uid, {}).setdefault(name, template)
        return name

    def _on_set_update(self, old: StatefulSet, sts: StatefulSet) -> None:
        if old.metadata.uid != sts.metadata.uid:
            self._on_set_delete(old)
        self._on_set(sts)

    def _on_set_delete(self, sts: StatefulSet) -> None:
        self._selectors.discard(key_of(sts))
        self._templates.pop(sts.metadata.uid, None)
        self._latest.pop(sts.metadata.uid, None)
        self._changed.pop(sts.metadata.uid, None)
        self._claimed.pop(sts.metadata.uid, None)
        self.enqueue(key_of(sts))

    # ------------------------------------------------------------------ pod handlers
    @staticmethod
    def _tracked(pod: Pod) -> bool:
        ref = pod.metadata.controller_ref()
        return ref is None or ref.kind == StatefulSet.KIND

    def _owner_of(self, pod: Pod, ref: OwnerReference | None) -> StatefulSet | None:
        if ref is None or ref.kind != StatefulSet.KIND:
            return None
        sts = self.sets.get(f"{pod.metadata.namespace}/{ref.name}")
        return sts if sts is not None and sts.metadata.uid == ref.uid else None

    def _enqueue_owner_or_adopters(self, pod: Pod) -> None:
        ref = pod.metadata.controller_ref()
        if ref is not None:
            sts = self._owner_of(pod, ref)
            if sts is not None:
                self.enqueue(key_of(sts))
            return
        if pod.metadata.deletion_timestamp is None:
            for key in self._selectors.matching(pod.metadata.namespace, pod.metadata.labels):
                self.enqueue(key)

    def _changed_pod(self, pod: Pod) -> None:
        """Note a change to a set's pod for its next sync (a set not claimed yet claims all)."""
        ref = pod.metadata.controller_ref()
        if ref is not None and ref.kind == StatefulSet.KIND and ref.uid in self._claimed:
            self._changed.setdefault(ref.uid, {})[key_of(pod)] = None

    def _on_pod_add(self, pod: Pod) -> None:
        if not self._tracked(pod):
            return
        self._changed_pod(pod)
        self._pods.put(pod)
        self._enqueue_owner_or_adopters(pod)

    def _on_pod_update(self, old: Pod, pod: Pod) -> None:
        refs = pod.metadata.owner_references
        if refs is old.metadata.owner_references:
            # the same controller reference as before (nearly every update): one kind check
            if not self._tracked(pod):
                return
        elif not self._tracked(pod) and not self._tracked(old):
            return
        if old.metadata.resource_version == pod.metadata.resource_version:
            return
        self._changed_pod(old)
        self._changed_pod(pod)
        if self._tracked(pod):
            self._pods.put(pod)
        else:
            self._pods.discard(old)
            self.control.facts.forget(old)
        if old.metadata.controller_ref() != pod.metadata.controller_ref():
            self._enqueue_owner_or_adopters(old)
        self._enqueue_owner_or_adopters(pod)
        sts = self._owner_of(pod, pod.metadata.controller_ref())
        ready_now = not old.is_ready() and pod.is_ready()
        if sts is not None and sts.spec.min_ready_seconds > 0 and ready_now:
            # come back once the pod has been ready for minReadySeconds (upstream: +1 s)
            self.queue.add_after(key_of(sts), sts.spec.min_ready_seconds + 1.0)

    def _on_pod_delete(self, pod: Pod) -> None:
        if not self._tracked(pod):
            return
        self._changed_pod(pod)
        self._pods.discard(pod)
        self.control.facts.forget(pod)
        sts = self._owner_of(pod, pod.metadata.controller_ref())
        if sts is not None:
            self.enqueue(key_of(sts))

    # ------------------------------------------------------------------ sync
    async def _claim_pods(self, sts: StatefulSet) -> list[Pod]:
        """getPodsForStatefulSet: ClaimPods over the set's members. A pod the set claimed and
        that has not changed since, under the same selector, would be kept again: only the
        pods changed since the last sync (and the orphans) are offered to claim."""
        uid = sts.metadata.uid
        token = (sts.spec.selector, sts.metadata.deletion_timestamp is not None)
        changed = self._changed.pop(uid, {})
        cached = self._claimed.get(uid)
        if cached is None or cached[0] != token:
            kept: dict[str, Pod] = {}
            self._claimed[uid] = (token, kept)  # from here on, changes are noted
            owned = self._pods.owned_by(uid)
        else:
            kept = cached[1]
            owned = []
            for key in changed:
                kept.pop(key, None)
                pod = self.pods.get(key)
                ref = pod.metadata.controller_ref() if pod is not None else None
                if pod is not None and ref is not None and ref.uid == uid:
                    owned.append(pod)
        candidates = [
            pod
            for pod in (*owned, *self._pods.orphans(sts.metadata.namespace))
            if is_member_of(sts, pod)
        ]
        try:
            claimed = await claim(
                self.api, "pods", sts, candidates, recheck_deletion(self.api, "statefulsets", sts)
            )
        except BaseException:
            self._claimed.pop(uid, None)  # claim them all again next time
            raise
        kept.update((key_of(pod), pod) for pod in claimed)
        self._claimed[uid] = (token, kept)
        return list(kept.values())

    async def sync(self, key: str) -> None:
        sts = self.sets.get(key)
        if sts is None:
            return
        pods = await self._claim_pods(sts)
        update_name = self._update_revision(sts)
        revisions = self._templates[sts.metadata.uid]
        current_name = sts.status.current_revision or update_name
        current = (current_name, revisions.get(current_name, sts.spec.template))
        try:
            status, failure = await self.control.update(
                sts, pods, current, (update_name, sts.spec.template)
            )
        except errors.AlreadyExists:
            # The informer has not seen a pod this controller created: look again later.
            self.queue.add_rate_limited(key)
            return
        status = complete_rolling_update(sts, status)
        if status != sts.status:
            try:
                await self.api.update_status(attrs.evolve(sts, status=status))
            except errors.NotFound:
                return
        if failure is not None:
            raise failure
        if sts.spec.min_ready_seconds > 0 and status.available_replicas != sts.spec.replicas:
            # one more sync once minReadySeconds have passed (stateful_set.go syncStatefulSet)
            self.queue.add_after(key, float(sts.spec.min_ready_seconds))
