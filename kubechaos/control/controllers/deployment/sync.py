"""One sync of one Deployment: its ReplicaSets, scaling, cleanup and status.

A model of pkg/controller/deployment/sync.go: getAllReplicaSetsAndSyncRevision (find or create
the new ReplicaSet, bring its annotations up to date), isScalingEvent and sync (scale without a
rollout: one active ReplicaSet takes the new count, or, mid-rollout, every active ReplicaSet grows
or shrinks in proportion to its size), scaleReplicaSet, cleanupDeployment (delete the oldest empty
ReplicaSets beyond ``revisionHistoryLimit``), checkPausedConditions and calculateStatus.

:class:`DeploymentSync` carries what upstream passes from function to function (the Deployment
and the ReplicaSets it owns); the rolling, recreate and progress modules are functions over it, as
upstream's rolling.go, recreate.go and progress.go are methods over the same controller. It knows
its controller only through :class:`ControllerView`, so this module imports none of the others.
"""

from __future__ import annotations

import contextlib
from typing import Protocol

import attrs

from kubechaos.api import errors
from kubechaos.api.objects import (
    Deployment,
    DeploymentStatus,
    ObjectMeta,
    OwnerReference,
    Pod,
    ReplicaSet,
    ReplicaSetSpec,
    key_of,
    replace,
)
from kubechaos.api.rollout import is_rolling_update, max_surge
from kubechaos.client.informer import Informer
from kubechaos.client.interface import APIClient
from kubechaos.client.workqueue import WorkQueue
from kubechaos.control.controllers.deployment.util import (
    AVAILABLE,
    FAILED_RS_CREATE,
    FOUND_NEW_RS,
    MINIMUM_REPLICAS_AVAILABLE,
    MINIMUM_REPLICAS_UNAVAILABLE,
    NEW_RS_CREATED,
    PAUSED,
    PROGRESSING,
    RESUMED,
    TIMED_OUT,
    StatusCounts,
    TemplateMatches,
    active,
    available_condition_kept,
    by_creation,
    current_counts,
    equal_ignore_hash,
    find_new_replica_set,
    has_progress_deadline,
    int_annotation,
    is_saturated,
    minimum_available,
    new_condition,
    new_rs_annotations,
    new_rs_new_replicas,
    pod_template_hash,
    replica_set_proportion,
    revision_of,
    set_condition,
    set_replicas_annotations,
    spec_total,
    status_counts,
    with_condition,
)
from kubechaos.defaults import (
    DEPLOYMENT_DESIRED_REPLICAS_ANNOTATION,
    DEPLOYMENT_REVISION_ANNOTATION,
    POD_TEMPLATE_HASH_LABEL,
)
from kubechaos.sim.events import EventLog


class ControllerView(Protocol):
    """What a sync uses of the Deployment controller running it: its client, event log and work
    queue, and its caches of ReplicaSets and of pods by owning ReplicaSet."""

    name: str
    api: APIClient
    events: EventLog
    queue: WorkQueue
    replicasets: Informer[ReplicaSet]
    template_matches: TemplateMatches

    def pods_of(self, rs: ReplicaSet) -> list[Pod]: ...


def _new_replica_set(d: Deployment, template_hash: str) -> ReplicaSet:
    """The Deployment's template as a ReplicaSet of zero replicas, labelled with its hash."""
    template = d.spec.template
    labels = {**template.metadata.labels, POD_TEMPLATE_HASH_LABEL: template_hash}
    selector = d.spec.selector
    return ReplicaSet(
        ObjectMeta(
            name=f"{d.metadata.name}-{template_hash}",
            namespace=d.metadata.namespace,
            labels=labels,
            owner_references=(
                OwnerReference(Deployment.KIND, d.metadata.name, d.metadata.uid, True),
            ),
        ),
        ReplicaSetSpec(
            selector=attrs.evolve(
                selector,
                match_labels={**selector.match_labels, POD_TEMPLATE_HASH_LABEL: template_hash},
            ),
            template=attrs.evolve(
                template, metadata=attrs.evolve(template.metadata, labels=labels)
            ),
            replicas=0,
            min_ready_seconds=d.spec.min_ready_seconds,
        ),
    )


class DeploymentSync:
    """One reconcile of one Deployment.

    Upstream passes the Deployment through its functions and mutates it; here ``self.d`` is
    replaced by what the API server returns after each write, so the next write carries the
    right resourceVersion.
    """

    def __init__(self, ctrl: ControllerView, d: Deployment, rs_list: list[ReplicaSet]) -> None:
        self.ctrl = ctrl
        self.api = ctrl.api
        self.d = d
        self.rs_list = rs_list
        self._found_new: tuple[object, ReplicaSet | None] | None = None
        # (the Deployment object, the new ReplicaSet, the old ones): see get_all
        self._all: tuple[Deployment, ReplicaSet, list[ReplicaSet]] | None = None

    # ------------------------------------------------------------------ writes
    async def write_status(self, status: DeploymentStatus) -> None:
        self.d = await self.api.update_status(replace(self.d, status=status))

    async def _set_revision(self, revision: str, status: DeploymentStatus | None) -> None:
        """SetDeploymentRevision and the Progressing condition ``status`` holds (None: none to
        set), in one ``UpdateStatus`` as getNewReplicaSet writes them: the Deployment's status
        strategy stores the annotation without bumping the generation
        (registry/deployment.py). Nothing is written if neither changes."""
        meta = self.d.metadata
        if meta.annotations.get(DEPLOYMENT_REVISION_ANNOTATION, "") != revision:
            annotations = {**meta.annotations, DEPLOYMENT_REVISION_ANNOTATION: revision}
            meta = attrs.evolve(meta, annotations=annotations)
        elif status is None:
            return
        written = attrs.evolve(
            self.d, metadata=meta, status=self.d.status if status is None else status
        )
        self.d = await self.api.update_status(written)

    def _record_scaling(self, rs: ReplicaSet, old: int, new: int) -> None:
        direction = "up" if old < new else "down"
        self.ctrl.events.record(
            self.ctrl.name,
            Deployment.KIND,
            key_of(self.d),
            "ScalingReplicaSet",
            f"Scaled {direction} replica set {rs.metadata.name} from {old} to {new}",
        )

    async def scale_rs(self, rs: ReplicaSet, new_scale: int) -> tuple[bool, ReplicaSet]:
        """scaleReplicaSet: set replicas and the desired/max annotations; True if resized."""
        d = self.d
        resize = rs.spec.replicas != new_scale
        annotations = dict(rs.metadata.annotations)
        relabel = set_replicas_annotations(
            annotations, d.spec.replicas, d.spec.replicas + max_surge(d)
        )
        if not resize and not relabel:
            return False, rs
        updated = await self.api.update(
            attrs.evolve(
                rs,
                metadata=attrs.evolve(rs.metadata, annotations=annotations),
                spec=attrs.evolve(rs.spec, replicas=new_scale),
            )
        )
        if resize:
            self._record_scaling(rs, rs.spec.replicas, new_scale)
        return resize, updated

    async def scale_rs_if_needed(self, rs: ReplicaSet, new_scale: int) -> tuple[bool, ReplicaSet]:
        """scaleReplicaSetAndRecordEvent."""
        if rs.spec.replicas == new_scale:
            return False, rs
        return await self.scale_rs(rs, new_scale)

    # ------------------------------------------------------------------ new and old ReplicaSets
    async def get_all(self, create: bool) -> tuple[ReplicaSet | None, list[ReplicaSet]]:
        """getAllReplicaSetsAndSyncRevision: the new ReplicaSet (made if asked) and the old.

        A sync asks twice (is_scaling_event, then the rollout). When the first answer found the
        new ReplicaSet and wrote nothing (``self.d`` is the same object: nearly every sync), the
        second has the very same inputs (the Deployment, the fixed ``rs_list``, the same
        template object) and would again write nothing and return the same: it is kept. Any
        write replaces ``self.d``, so a kept answer is never used past one. The no-write path
        has no checkpoint, so keeping it removes no task step."""
        d = self.d
        kept = self._all
        if kept is not None and kept[0] is d:
            return kept[1], list(kept[2])
        existing = self._find_new()
        old = [rs for rs in self.rs_list if rs is not existing]
        new_rs = await self.get_new_rs(existing, old, create)
        if existing is not None and new_rs is existing and self.d is d:
            self._all = (d, existing, old)
            return existing, list(old)
        return new_rs, old

    def _find_new(self) -> ReplicaSet | None:
        """find_new_replica_set over this sync's ReplicaSets, once per template object: a sync
        asks twice (is_scaling_event, then the rollout), each time comparing every ReplicaSet's
        template; ``rs_list`` is fixed for the sync, so only a new template (a write that
        returned a changed Deployment) asks again."""
        template = self.d.spec.template
        if self._found_new is None or self._found_new[0] is not template:
            found = find_new_replica_set(self.d, self.rs_list, self.ctrl.template_matches)
            self._found_new = (template, found)
        return self._found_new[1]

    async def get_new_rs(
        self, existing: ReplicaSet | None, old: list[ReplicaSet], create: bool
    ) -> ReplicaSet | None:
        new_revision = max((revision_of(rs) for rs in old), default=0) + 1
        if existing is not None:
            annotations, changed = new_rs_annotations(self.d, existing, new_revision, exists=True)
            if changed or existing.spec.min_ready_seconds != self.d.spec.min_ready_seconds:
                return await self.api.update(
                    attrs.evolve(
                        existing,
                        metadata=attrs.evolve(existing.metadata, annotations=annotations),
                        spec=attrs.evolve(
                            existing.spec, min_ready_seconds=self.d.spec.min_ready_seconds
                        ),
                    )
                )
            status = None
            if has_progress_deadline(self.d) and self.d.status.condition(PROGRESSING) is None:
                message = f'Found new replica set "{existing.metadata.name}"'
                cond = new_condition(PROGRESSING, "True", FOUND_NEW_RS, message)
                status = set_condition(self.d.status, cond)
            await self._set_revision(
                existing.metadata.annotations.get(DEPLOYMENT_REVISION_ANNOTATION, ""), status
            )
            return existing
        if not create:
            return None
        return await self._create_new_rs(old, new_revision)

    async def _create_new_rs(self, old: list[ReplicaSet], new_revision: int) -> ReplicaSet:
        d = self.d
        rs = _new_replica_set(d, pod_template_hash(d.spec.template))
        replicas = new_rs_new_replicas(d, [*old, rs], rs)
        annotations, _ = new_rs_annotations(d, rs, new_revision, exists=False)
        rs = attrs.evolve(
            rs,
            metadata=attrs.evolve(rs.metadata, annotations=annotations),
            spec=attrs.evolve(rs.spec, replicas=replicas),
        )
        already_existed = False
        try:
            created: ReplicaSet = await self.api.create(rs)
        except errors.AlreadyExists:
            found = self._ours_already(rs)
            if found is None:
                raise  # a hash collision: see _ours_already
            created, already_existed = found, True
        except errors.APIError as exc:
            await self._report_create_failure(rs, exc)
            raise
        if not already_existed and replicas > 0:
            self._record_scaling(created, 0, replicas)
        status = None
        if not already_existed and has_progress_deadline(self.d):
            message = f'Created new replica set "{created.metadata.name}"'
            cond = new_condition(PROGRESSING, "True", NEW_RS_CREATED, message)
            status = set_condition(self.d.status, cond)
        await self._set_revision(str(new_revision), status)
        return created

    def _ours_already(self, rs: ReplicaSet) -> ReplicaSet | None:
        """The cached ReplicaSet of ``rs``'s name, when creating it found it there already.

        A slow cache or a fast resync: it is ours if we own it and the template matches.
        Anything else (None) is a hash collision; upstream bumps status.collisionCount, which the
        model does not keep, so the sync fails and is retried with backoff.
        """
        d = self.d
        found = self.ctrl.replicasets.get(key_of(rs))
        ref = found.metadata.controller_ref() if found is not None else None
        if (
            found is None
            or ref is None
            or ref.uid != d.metadata.uid
            or not equal_ignore_hash(d.spec.template, found.spec.template)
        ):
            return None
        return found

    async def _report_create_failure(self, rs: ReplicaSet, exc: errors.APIError) -> None:
        d = self.d
        message = f'Failed to create new replica set "{rs.metadata.name}": {exc}'
        if has_progress_deadline(d):
            cond = new_condition(PROGRESSING, "False", FAILED_RS_CREATE, message)
            # the failure to create is the thing to report, not a failure to say so
            with contextlib.suppress(errors.APIError):
                await self.write_status(set_condition(self.d.status, cond))
        self.ctrl.events.record(
            self.ctrl.name, Deployment.KIND, key_of(d), FAILED_RS_CREATE, message
        )

    # ------------------------------------------------------------------ status
    def calculate_status(
        self,
        all_rss: list[ReplicaSet],
        new_rs: ReplicaSet | None,
        counts: StatusCounts | None = None,
    ) -> DeploymentStatus:
        """calculateStatus: the counts from the ReplicaSets (``counts``: status_counts of these,
        if the caller has them already), the Available condition."""
        d = self.d
        if counts is None:
            counts = status_counts(d, all_rss, new_rs)
        return self._status_of(counts, minimum_available(d, counts[4]))

    def _status_of(self, counts: StatusCounts, meets_minimum: bool) -> DeploymentStatus:
        """The status of these counts and the Available condition ``meets_minimum`` calls for,
        built once: the conditions are settled first (the Deployment's own tuple while the
        Available condition stands, SetDeploymentCondition changing nothing then), so no status
        is built only to be copied, and no condition only to be found already there."""
        d = self.d
        conditions = d.status.conditions
        if not available_condition_kept(d, meets_minimum):
            if meets_minimum:
                cond = new_condition(
                    AVAILABLE,
                    "True",
                    MINIMUM_REPLICAS_AVAILABLE,
                    "Deployment has minimum availability.",
                )
            else:
                cond = new_condition(
                    AVAILABLE,
                    "False",
                    MINIMUM_REPLICAS_UNAVAILABLE,
                    "Deployment does not have minimum availability.",
                )
            conditions = with_condition(conditions, cond)
        return DeploymentStatus(*counts, conditions=conditions)

    def current_or_calculated(
        self, all_rss: list[ReplicaSet], new_rs: ReplicaSet | None
    ) -> DeploymentStatus:
        """:meth:`calculate_status`, or the Deployment's own status object when that is what it
        would compute: the counts are compared first, so a sync that changes nothing (most of
        them) builds no status and no condition. Must agree with ``calculate_status(...) ==
        d.status``: equal counts keep the conditions, and set_condition keeps an Available
        condition of the same status and reason."""
        d = self.d
        counts = status_counts(d, all_rss, new_rs)
        meets_minimum = minimum_available(d, counts[4])
        if counts == current_counts(d.status) and available_condition_kept(d, meets_minimum):
            return d.status
        return self._status_of(counts, meets_minimum)

    async def sync_deployment_status(
        self, all_rss: list[ReplicaSet], new_rs: ReplicaSet | None
    ) -> None:
        status = self.current_or_calculated(all_rss, new_rs)
        if status is not self.d.status and status != self.d.status:
            await self.write_status(status)

    async def sync_status_only(self) -> None:
        """syncStatusOnly: a Deployment being deleted gets its status written, nothing more."""
        new_rs, old = await self.get_all(create=False)
        await self.sync_deployment_status([*old, *([new_rs] if new_rs else [])], new_rs)

    async def check_paused_conditions(self) -> None:
        """Progressing=Unknown while paused, so a resumed Deployment does not time out at once."""
        d = self.d
        if not has_progress_deadline(d):
            return
        current = d.status.condition(PROGRESSING)
        if current is not None and current.reason == TIMED_OUT:
            return
        paused_shown = current is not None and current.reason == PAUSED
        if d.spec.paused and not paused_shown:
            cond = new_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused")
        elif not d.spec.paused and paused_shown:
            cond = new_condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed")
        else:
            return
        await self.write_status(set_condition(d.status, cond))

    # ------------------------------------------------------------------ scaling
    async def is_scaling_event(self) -> bool:
        """Some active ReplicaSet was sized for a different ``spec.replicas``."""
        new_rs, old = await self.get_all(create=False)
        for rs in active([*old, *([new_rs] if new_rs else [])]):
            desired = int_annotation(rs, DEPLOYMENT_DESIRED_REPLICAS_ANNOTATION)
            if desired is not None and desired != self.d.spec.replicas:
                return True
        return False

    async def sync_scale(self) -> None:
        """``sync``: scale (no rollout), clean up if paused, and write status."""
        new_rs, old = await self.get_all(create=False)
        await self.scale(new_rs, old)
        if self.d.spec.paused:
            await self.cleanup(old)
        await self.sync_deployment_status([*old, *([new_rs] if new_rs else [])], new_rs)

    async def scale(self, new_rs: ReplicaSet | None, old: list[ReplicaSet]) -> None:
        d = self.d
        replicas = d.spec.replicas
        newest_first = sorted(old, key=by_creation, reverse=True)
        all_active = active([*newest_first, *([new_rs] if new_rs else [])])
        if len(all_active) <= 1 and (new_rs is not None or old):
            # One active ReplicaSet takes the whole count; with none, the newest one does.
            target = all_active[0] if all_active else (new_rs or newest_first[0])
            if target.spec.replicas != replicas:
                await self.scale_rs_if_needed(target, replicas)
            return
        if new_rs is not None and is_saturated(d, new_rs):
            for rs in active(old):
                await self.scale_rs_if_needed(rs, 0)
            return
        if not is_rolling_update(d):
            return
        await self._scale_proportionally(all_active)

    async def _scale_proportionally(self, all_active: list[ReplicaSet]) -> None:
        """Mid-rollout: spread the difference over the active ReplicaSets in proportion to size."""
        d = self.d
        replicas = d.spec.replicas
        allowed = replicas + max_surge(d) if replicas > 0 else 0
        to_add = allowed - spec_total(all_active)
        if to_add > 0:  # larger first; among equals, newer first when growing
            all_active.sort(key=by_creation, reverse=True)
            all_active.sort(key=lambda rs: rs.spec.replicas, reverse=True)
        elif to_add < 0:  # larger first; among equals, older first when shrinking
            all_active.sort(key=by_creation)
            all_active.sort(key=lambda rs: rs.spec.replicas, reverse=True)
        sizes: list[int] = []
        added = 0
        for rs in all_active:
            share = replica_set_proportion(d, rs, to_add, added) if to_add else 0
            sizes.append(rs.spec.replicas + share)
            added += share
        if to_add and sizes:
            sizes[0] = max(0, sizes[0] + to_add - added)  # leftovers go to the largest
        for rs, size in zip(all_active, sizes, strict=True):
            await self.scale_rs(rs, size)

    # ------------------------------------------------------------------ history
    async def cleanup(self, old: list[ReplicaSet]) -> None:
        """Delete the oldest empty ReplicaSets beyond revisionHistoryLimit."""
        alive = [rs for rs in old if rs.metadata.deletion_timestamp is None]
        surplus = len(alive) - self.d.spec.revision_history_limit
        if surplus <= 0:
            return
        alive.sort(key=lambda rs: (revision_of(rs), *by_creation(rs)))
        for rs in alive[:surplus]:
            if (
                rs.status.replicas != 0
                or rs.spec.replicas != 0
                or rs.metadata.generation > rs.status.observed_generation
            ):
                continue
            with contextlib.suppress(errors.NotFound):
                await self.api.delete("replicasets", rs.metadata.namespace, rs.metadata.name)
