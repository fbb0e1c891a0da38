"""The Deployment controller: roll a pod template out through ReplicaSets, one revision each.

A model of kube-controller-manager's pkg/controller/deployment (v1.32). A Deployment owns one
ReplicaSet per pod template it has had. The **new** ReplicaSet is the one whose template equals the
Deployment's (ignoring the ``pod-template-hash`` label); all others are **old**. A sync:

- claims the ReplicaSets the selector matches (adopt orphans, release strays), like the
  ReplicaSet controller claims pods;
- if ``spec.replicas`` changed (the ReplicaSets' desired-replicas annotation disagrees), only
  scales: the one active ReplicaSet takes the new count, or, mid-rollout, every active ReplicaSet
  grows or shrinks in proportion to its size;
- otherwise rolls out. **RollingUpdate** scales the new ReplicaSet up while the total stays within
  ``replicas + maxSurge`` and scales old ones down while the available count stays at or above
  ``replicas - maxUnavailable`` (unhealthy old replicas go first: losing them costs nothing).
  **Recreate** scales every old ReplicaSet to zero, waits until none of their pods is left
  running, and only then creates and scales up the new one;
- writes status and the Available / Progressing conditions, and deletes the oldest empty
  ReplicaSets beyond ``revisionHistoryLimit``.

The new ReplicaSet is named ``<deployment>-<hash>``: the hash is FNV-32a over a canonical text of
the pod template, written with apimachinery's SafeEncodeString alphabet, so the same template gives
the same name in every process and every run (Python's ``hash()`` is salted per process).

All decisions read the informers' caches, which lag; upstream tolerates that by re-reading on every
ReplicaSet event, and so does the model. Like upstream, the controller keeps no state of its own
beyond indexes, so a fresh one after a crash simply relists.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.objects import (
    Deployment,
    DeploymentCondition,
    DeploymentStatus,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodTemplate,
    ReplicaSet,
    ReplicaSetSpec,
    key_of,
)
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.controller import Controller
from kubechaos.control.controllers.ownership import (
    OwnedIndex,
    SelectorIndex,
    claim,
    recheck_deletion,
)
from kubechaos.defaults import (
    DEPLOYMENT_DESIRED_REPLICAS_ANNOTATION,
    DEPLOYMENT_MAX_REPLICAS_ANNOTATION,
    DEPLOYMENT_REVISION_ANNOTATION,
    KUBECTL_LAST_APPLIED_ANNOTATION,
    POD_TEMPLATE_HASH_LABEL,
)
from kubechaos.sim.clock import now
from kubechaos.sim.rand import SAFE_ENCODE_ALPHABET

# Condition types and reasons (pkg/controller/deployment/util/deployment_util.go).
AVAILABLE = "Available"
PROGRESSING = "Progressing"
MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
FAILED_RS_CREATE = "ReplicaSetCreateError"

NO_DEADLINE = 2**31 - 1  # progressDeadlineSeconds of MaxInt32 means "never time out"

# Deployment annotations that are not copied onto its ReplicaSets (annotationsToSkip).
_NOT_COPIED = frozenset(
    {
        KUBECTL_LAST_APPLIED_ANNOTATION,
        DEPLOYMENT_REVISION_ANNOTATION,
        DEPLOYMENT_DESIRED_REPLICAS_ANNOTATION,
        DEPLOYMENT_MAX_REPLICAS_ANNOTATION,
    }
)

# ---------------------------------------------------------------------------- template hash


def fnv32a(data: bytes) -> int:
    """The 32-bit FNV-1a hash (Go's hash/fnv New32a), which upstream's ComputeHash uses."""
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """apimachinery's rand.SafeEncodeString: each byte to a letter that cannot spell words."""
    alphabet = SAFE_ENCODE_ALPHABET
    return "".join(alphabet[b % len(alphabet)] for b in text.encode())


def _canonical(value: Any) -> Any:
    if attrs.has(type(value)):
        return {f.name: _canonical(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def pod_template_hash(template: PodTemplate) -> str:
    """A stable short hash of ``template`` (upstream: spew dump + FNV-32a; here: sorted JSON)."""
    text = json.dumps(_canonical(template), sort_keys=True, separators=(",", ":"))
    return safe_encode(str(fnv32a(text.encode())))


def _without_hash(template: PodTemplate) -> PodTemplate:
    labels = template.metadata.labels
    if POD_TEMPLATE_HASH_LABEL not in labels:
        return template
    stripped = {k: v for k, v in labels.items() if k != POD_TEMPLATE_HASH_LABEL}
    return attrs.evolve(template, metadata=attrs.evolve(template.metadata, labels=stripped))


def equal_ignore_hash(a: PodTemplate, b: PodTemplate) -> bool:
    return _without_hash(a) == _without_hash(b)


# ---------------------------------------------------------------------------- rollout arithmetic


def scaled_value(value: int | str, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int as is, ``"N%"`` of ``total`` rounded."""
    if isinstance(value, int):
        return value
    percent = int(value.rstrip("%"))
    return -(-percent * total // 100) if round_up else percent * total // 100


def resolve_fenceposts(surge: int | str, unavailable: int | str, desired: int) -> tuple[int, int]:
    """maxSurge rounds up, maxUnavailable down; both zero would deadlock, so unavailable is 1."""
    max_surge = scaled_value(surge, desired, True)
    max_unavailable = scaled_value(unavailable, desired, False)
    if max_surge == 0 and max_unavailable == 0:
        max_unavailable = 1
    return max_surge, max_unavailable


def _rolling(d: Deployment) -> bool:
    return d.spec.strategy.type == "RollingUpdate"


def max_surge(d: Deployment) -> int:
    if not _rolling(d):
        return 0
    strategy = d.spec.strategy
    return resolve_fenceposts(strategy.max_surge, strategy.max_unavailable, d.spec.replicas)[0]


def max_unavailable(d: Deployment) -> int:
    if not _rolling(d) or d.spec.replicas == 0:
        return 0
    strategy = d.spec.strategy
    unavailable = resolve_fenceposts(strategy.max_surge, strategy.max_unavailable, d.spec.replicas)[
        1
    ]
    return min(unavailable, d.spec.replicas)


def _int_annotation(rs: ReplicaSet, name: str) -> int | None:
    try:
        return int(rs.metadata.annotations[name])
    except (KeyError, ValueError):
        return None


def revision_of(rs: ReplicaSet) -> int:
    return _int_annotation(rs, DEPLOYMENT_REVISION_ANNOTATION) or 0


def _by_creation(rs: ReplicaSet) -> tuple[float, str]:
    return (rs.metadata.creation_timestamp or 0.0, rs.metadata.name)


def _spec_total(rss: list[ReplicaSet]) -> int:
    return sum(rs.spec.replicas for rs in rss)


def _active(rss: list[ReplicaSet]) -> list[ReplicaSet]:
    return [rs for rs in rss if rs.spec.replicas > 0]


def find_new_replica_set(d: Deployment, rss: list[ReplicaSet]) -> ReplicaSet | None:
    """The oldest ReplicaSet whose template is the Deployment's (there should be one at most)."""
    for rs in sorted(rss, key=_by_creation):
        if equal_ignore_hash(rs.spec.template, d.spec.template):
            return rs
    return None


def new_rs_new_replicas(d: Deployment, all_rss: list[ReplicaSet], new_rs: ReplicaSet) -> int:
    """How far the new ReplicaSet may grow now (NewRSNewReplicas)."""
    if not _rolling(d):
        return d.spec.replicas
    max_total = d.spec.replicas + max_surge(d)
    current = _spec_total(all_rss)
    if current >= max_total:
        return new_rs.spec.replicas
    grow = min(max_total - current, d.spec.replicas - new_rs.spec.replicas)
    return new_rs.spec.replicas + grow


def _set_replicas_annotations(annotations: dict[str, str], desired: int, maximum: int) -> bool:
    changed = False
    for name, value in (
        (DEPLOYMENT_DESIRED_REPLICAS_ANNOTATION, str(desired)),
        (DEPLOYMENT_MAX_REPLICAS_ANNOTATION, str(maximum)),
    ):
        if annotations.get(name) != value:
            annotations[name] = value
            changed = True
    return changed


def new_rs_annotations(
    d: Deployment, rs: ReplicaSet, new_revision: int, exists: bool
) -> tuple[dict[str, str], bool]:
    """SetNewReplicaSetAnnotations: the Deployment's annotations, the revision, replica counts."""
    annotations = dict(rs.metadata.annotations)
    changed = False
    for name, value in d.metadata.annotations.items():
        if name not in _NOT_COPIED and annotations.get(name) != value:
            annotations[name] = value
            changed = True
    old = annotations.get(DEPLOYMENT_REVISION_ANNOTATION, "")
    try:
        old_revision = int(old) if old else 0
    except ValueError:
        return annotations, False
    if old_revision < new_revision:
        annotations[DEPLOYMENT_REVISION_ANNOTATION] = str(new_revision)
        changed = True
    if not exists and _set_replicas_annotations(
        annotations, d.spec.replicas, d.spec.replicas + max_surge(d)
    ):
        changed = True
    return annotations, changed


def has_progress_deadline(d: Deployment) -> bool:
    return d.spec.progress_deadline_seconds != NO_DEADLINE


def deployment_complete(d: Deployment, status: DeploymentStatus) -> bool:
    replicas = d.spec.replicas
    return (
        status.updated_replicas == replicas
        and status.replicas == replicas
        and status.available_replicas == replicas
        and status.observed_generation >= d.metadata.generation
    )


def deployment_progressing(d: Deployment, status: DeploymentStatus) -> bool:
    old = d.status
    return (
        status.updated_replicas > old.updated_replicas
        or status.replicas - status.updated_replicas < old.replicas - old.updated_replicas
        or status.ready_replicas > old.ready_replicas
        or status.available_replicas > old.available_replicas
    )


def deployment_timed_out(d: Deployment, status: DeploymentStatus) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = status.condition(PROGRESSING)
    if cond is None or cond.reason == NEW_RS_AVAILABLE:
        return False
    if cond.reason == TIMED_OUT:
        return True
    return cond.last_update_time + d.spec.progress_deadline_seconds < now()


def new_condition(type_: str, status: str, reason: str, message: str) -> DeploymentCondition:
    t = now()
    return DeploymentCondition(type_, status, reason, message, t, t)


def set_condition(status: DeploymentStatus, cond: DeploymentCondition) -> DeploymentStatus:
    """SetDeploymentCondition: same status and reason is no change; same status keeps the
    transition time."""
    current = status.condition(cond.type)
    if current is not None and current.status == cond.status:
        if current.reason == cond.reason:
            return status
        cond = attrs.evolve(cond, last_transition_time=current.last_transition_time)
    return remove_condition(status, cond.type, append=cond)


def remove_condition(
    status: DeploymentStatus, type_: str, append: DeploymentCondition | None = None
) -> DeploymentStatus:
    kept = tuple(c for c in status.conditions if c.type != type_)
    return attrs.evolve(status, conditions=kept if append is None else (*kept, append))


class _InvalidScale(Exception):
    """A computed scale-down that would grow a ReplicaSet (stale status); upstream gives up."""


# ---------------------------------------------------------------------------- one sync


class _Sync:
    """One reconcile of one Deployment.

    Upstream passes the Deployment through its functions and mutates it; here ``self.d`` is
    replaced by what the API server returns after each write, so the next write carries the
    right resourceVersion.
    """

    def __init__(
        self, ctrl: DeploymentController, d: Deployment, rs_list: list[ReplicaSet]
    ) -> None:
        self.ctrl = ctrl
        self.api = ctrl.api
        self.d = d
        self.rs_list = rs_list

    # ------------------------------------------------------------------ writes
    async def _write_status(self, status: DeploymentStatus) -> None:
        self.d = await self.api.update_status(attrs.evolve(self.d, status=status))

    async def _set_revision(self, revision: str) -> None:
        """SetDeploymentRevision: the Deployment shows the revision of its new ReplicaSet."""
        meta = self.d.metadata
        if not revision or meta.annotations.get(DEPLOYMENT_REVISION_ANNOTATION) == revision:
            return
        annotations = {**meta.annotations, DEPLOYMENT_REVISION_ANNOTATION: revision}
        self.d = await self.api.update(
            attrs.evolve(self.d, metadata=attrs.evolve(meta, annotations=annotations))
        )

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
        relabel = _set_replicas_annotations(
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
        """getAllReplicaSetsAndSyncRevision: the new ReplicaSet (made if asked) and the old."""
        existing = find_new_replica_set(self.d, self.rs_list)
        old = [rs for rs in self.rs_list if rs is not existing]
        return await self.get_new_rs(existing, old, create), old

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
            await self._set_revision(
                existing.metadata.annotations.get(DEPLOYMENT_REVISION_ANNOTATION, "")
            )
            if has_progress_deadline(self.d) and self.d.status.condition(PROGRESSING) is None:
                message = f'Found new replica set "{existing.metadata.name}"'
                cond = new_condition(PROGRESSING, "True", FOUND_NEW_RS, message)
                await self._write_status(set_condition(self.d.status, cond))
            return existing
        if not create:
            return None
        return await self._create_new_rs(old, new_revision)

    async def _create_new_rs(self, old: list[ReplicaSet], new_revision: int) -> ReplicaSet:
        d = self.d
        template_hash = pod_template_hash(d.spec.template)
        template = d.spec.template
        labels = {**template.metadata.labels, POD_TEMPLATE_HASH_LABEL: template_hash}
        selector = d.spec.selector
        rs = ReplicaSet(
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
            # A slow cache or a fast resync: it is ours if we own it and the template matches.
            # Anything else is a hash collision; upstream bumps status.collisionCount, which the
            # model does not keep, so the sync fails and is retried with backoff.
            found = self.ctrl.replicasets.get(key_of(rs))
            ref = found.metadata.controller_ref() if found is not None else None
            if (
                found is None
                or ref is None
                or ref.uid != d.metadata.uid
                or not equal_ignore_hash(d.spec.template, found.spec.template)
            ):
                raise
            created, already_existed = found, True
        except errors.APIError as exc:
            message = f'Failed to create new replica set "{rs.metadata.name}": {exc}'
            if has_progress_deadline(d):
                cond = new_condition(PROGRESSING, "False", FAILED_RS_CREATE, message)
                # the failure to create is the thing to report, not a failure to say so
                with contextlib.suppress(errors.APIError):
                    await self._write_status(set_condition(self.d.status, cond))
            self.ctrl.events.record(
                self.ctrl.name, Deployment.KIND, key_of(d), FAILED_RS_CREATE, message
            )
            raise
        if not already_existed and replicas > 0:
            self._record_scaling(created, 0, replicas)
        await self._set_revision(str(new_revision))
        if not already_existed and has_progress_deadline(self.d):
            message = f'Created new replica set "{created.metadata.name}"'
            cond = new_condition(PROGRESSING, "True", NEW_RS_CREATED, message)
            await self._write_status(set_condition(self.d.status, cond))
        return created

    # ------------------------------------------------------------------ status
    def calculate_status(
        self, all_rss: list[ReplicaSet], new_rs: ReplicaSet | None
    ) -> DeploymentStatus:
        d = self.d
        available = sum(rs.status.available_replicas for rs in all_rss)
        status = DeploymentStatus(
            observed_generation=d.metadata.generation,
            replicas=sum(rs.status.replicas for rs in all_rss),
            updated_replicas=new_rs.status.replicas if new_rs is not None else 0,
            ready_replicas=sum(rs.status.ready_replicas for rs in all_rss),
            available_replicas=available,
            unavailable_replicas=max(0, _spec_total(all_rss) - available),
            conditions=d.status.conditions,
        )
        if available >= d.spec.replicas - max_unavailable(d):
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
        return set_condition(status, cond)

    async def sync_deployment_status(
        self, all_rss: list[ReplicaSet], new_rs: ReplicaSet | None
    ) -> None:
        status = self.calculate_status(all_rss, new_rs)
        if status != self.d.status:
            await self._write_status(status)

    async def sync_rollout_status(
        self, all_rss: list[ReplicaSet], new_rs: ReplicaSet | None
    ) -> None:
        """Status plus the Progressing condition: complete, progressing, or timed out."""
        d = self.d
        status = self.calculate_status(all_rss, new_rs)
        if not has_progress_deadline(d):
            status = remove_condition(status, PROGRESSING)
        current = d.status.condition(PROGRESSING)
        complete_before = (
            status.replicas == status.updated_replicas
            and current is not None
            and current.reason == NEW_RS_AVAILABLE
        )
        if has_progress_deadline(d) and not complete_before:
            subject = (
                f'ReplicaSet "{new_rs.metadata.name}"'
                if new_rs is not None
                else f'Deployment "{d.metadata.name}"'
            )
            if deployment_complete(d, status):
                cond = new_condition(
                    PROGRESSING, "True", NEW_RS_AVAILABLE, f"{subject} has successfully progressed."
                )
                status = set_condition(status, cond)
            elif deployment_progressing(d, status):
                # Progress refreshes lastUpdateTime even with an unchanged reason (which
                # set_condition would ignore), and keeps the transition time while True.
                cond = new_condition(PROGRESSING, "True", RS_UPDATED, f"{subject} is progressing.")
                if current is not None and current.status == "True":
                    cond = attrs.evolve(cond, last_transition_time=current.last_transition_time)
                status = remove_condition(status, PROGRESSING, append=cond)
            elif deployment_timed_out(d, status):
                cond = new_condition(
                    PROGRESSING, "False", TIMED_OUT, f"{subject} has timed out progressing."
                )
                status = set_condition(status, cond)
        if status == d.status:
            self._requeue_stuck(status)
            return
        await self._write_status(status)

    def _requeue_stuck(self, status: DeploymentStatus) -> None:
        """Come back when the progress deadline passes: no event would mark that moment."""
        d = self.d
        current = d.status.condition(PROGRESSING)
        if not has_progress_deadline(d) or current is None:
            return
        if deployment_complete(d, status) or current.reason == TIMED_OUT:
            return
        after = current.last_update_time + d.spec.progress_deadline_seconds - now()
        key = key_of(d)
        if after < 1.0:
            self.ctrl.queue.add_rate_limited(key)
        else:
            self.ctrl.queue.add_after(key, after + 1.0)

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
        await self._write_status(set_condition(d.status, cond))

    # ------------------------------------------------------------------ scaling
    async def is_scaling_event(self) -> bool:
        """Some active ReplicaSet was sized for a different ``spec.replicas``."""
        new_rs, old = await self.get_all(create=False)
        for rs in _active([*old, *([new_rs] if new_rs else [])]):
            desired = _int_annotation(rs, DEPLOYMENT_DESIRED_REPLICAS_ANNOTATION)
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
        newest_first = sorted(old, key=_by_creation, reverse=True)
        all_active = _active([*newest_first, *([new_rs] if new_rs else [])])
        if len(all_active) <= 1 and (new_rs is not None or old):
            # One active ReplicaSet takes the whole count; with none, the newest one does.
            target = all_active[0] if all_active else (new_rs or newest_first[0])
            if target.spec.replicas != replicas:
                await self.scale_rs_if_needed(target, replicas)
            return
        if new_rs is not None and self._saturated(new_rs):
            for rs in _active(old):
                await self.scale_rs_if_needed(rs, 0)
            return
        if not _rolling(d):
            return
        # Mid-rollout: spread the difference over the active ReplicaSets in proportion to size.
        allowed = replicas + max_surge(d) if replicas > 0 else 0
        to_add = allowed - _spec_total(all_active)
        if to_add > 0:  # larger first; among equals, newer first when growing
            all_active.sort(key=_by_creation, reverse=True)
            all_active.sort(key=lambda rs: rs.spec.replicas, reverse=True)
        elif to_add < 0:  # larger first; among equals, older first when shrinking
            all_active.sort(key=_by_creation)
            all_active.sort(key=lambda rs: rs.spec.replicas, reverse=True)
        sizes: list[int] = []
        added = 0
        for rs in all_active:
            share = self._proportion(rs, to_add, added) if to_add else 0
            sizes.append(rs.spec.replicas + share)
            added += share
        if to_add and sizes:
            sizes[0] = max(0, sizes[0] + to_add - added)  # leftovers go to the largest
        for rs, size in zip(all_active, sizes, strict=True):
            await self.scale_rs(rs, size)

    def _saturated(self, rs: ReplicaSet) -> bool:
        replicas = self.d.spec.replicas
        return (
            rs.spec.replicas == replicas
            and _int_annotation(rs, DEPLOYMENT_DESIRED_REPLICAS_ANNOTATION) == replicas
            and rs.status.available_replicas == replicas
        )

    def _proportion(self, rs: ReplicaSet, to_add: int, added: int) -> int:
        """GetReplicaSetProportion: this ReplicaSet's share of ``to_add``, within what is left."""
        if rs.spec.replicas == 0 or to_add == added:
            return 0
        d = self.d
        if d.spec.replicas == 0:
            fraction = -rs.spec.replicas
        else:
            max_replicas = d.spec.replicas + max_surge(d)
            before = _int_annotation(rs, DEPLOYMENT_MAX_REPLICAS_ANNOTATION)
            if not before:
                before = d.status.replicas
            size = rs.spec.replicas * max_replicas / before if before else 0.0
            fraction = _round_half_away(size) - rs.spec.replicas
        allowed = to_add - added
        return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)

    # ------------------------------------------------------------------ rollouts
    async def rollout_rolling(self) -> None:
        new_rs, old = await self.get_all(create=True)
        assert new_rs is not None  # created when missing
        all_rss = [*old, new_rs]
        if await self.reconcile_new_rs(all_rss, new_rs):
            await self.sync_rollout_status(all_rss, new_rs)
            return
        if await self.reconcile_old_rss(all_rss, _active(old), new_rs):
            await self.sync_rollout_status(all_rss, new_rs)
            return
        if deployment_complete(self.d, self.d.status):
            await self.cleanup(old)
        await self.sync_rollout_status(all_rss, new_rs)

    async def reconcile_new_rs(self, all_rss: list[ReplicaSet], new_rs: ReplicaSet) -> bool:
        replicas = self.d.spec.replicas
        if new_rs.spec.replicas == replicas:
            return False
        if new_rs.spec.replicas > replicas:
            return (await self.scale_rs_if_needed(new_rs, replicas))[0]
        target = new_rs_new_replicas(self.d, all_rss, new_rs)
        return (await self.scale_rs_if_needed(new_rs, target))[0]

    async def reconcile_old_rss(
        self, all_rss: list[ReplicaSet], old: list[ReplicaSet], new_rs: ReplicaSet
    ) -> bool:
        if _spec_total(old) == 0:
            return False
        min_available = self.d.spec.replicas - max_unavailable(self.d)
        new_unavailable = new_rs.spec.replicas - new_rs.status.available_replicas
        # Count the new ReplicaSet's unavailable pods against the budget, so a broken new
        # template does not let old, working pods be scaled away.
        max_scaled_down = _spec_total(all_rss) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        try:
            old, cleaned = await self._cleanup_unhealthy(old, max_scaled_down)
            scaled_down = await self._scale_down_old_rolling([*old, new_rs], old)
        except (errors.APIError, _InvalidScale):
            return False  # as upstream: give up this pass; the ReplicaSet events bring us back
        return cleaned + scaled_down > 0

    async def _cleanup_unhealthy(
        self, old: list[ReplicaSet], limit: int
    ) -> tuple[list[ReplicaSet], int]:
        """Scale old ReplicaSets down by their unavailable replicas first: that loses nothing."""
        old = sorted(old, key=_by_creation)
        total = 0
        for i, rs in enumerate(old):
            if total >= limit:
                break
            if rs.spec.replicas == 0 or rs.spec.replicas == rs.status.available_replicas:
                continue
            count = min(limit - total, rs.spec.replicas - rs.status.available_replicas)
            if count < 0:
                raise _InvalidScale(rs.metadata.name)
            _, old[i] = await self.scale_rs_if_needed(rs, rs.spec.replicas - count)
            total += count
        return old, total

    async def _scale_down_old_rolling(
        self, all_rss: list[ReplicaSet], old: list[ReplicaSet]
    ) -> int:
        min_available = self.d.spec.replicas - max_unavailable(self.d)
        available = sum(rs.status.available_replicas for rs in all_rss)
        if available <= min_available:
            return 0
        budget = available - min_available
        total = 0
        for rs in sorted(old, key=_by_creation):
            if total >= budget:
                break
            if rs.spec.replicas == 0:
                continue
            count = min(rs.spec.replicas, budget - total)
            await self.scale_rs_if_needed(rs, rs.spec.replicas - count)
            total += count
        return total

    async def rollout_recreate(self) -> None:
        # No new ReplicaSet yet: never scale up before the old pods are gone.
        new_rs, old = await self.get_all(create=False)
        all_rss = [*old, *([new_rs] if new_rs else [])]
        scaled_down = False
        for rs in _active(old):
            scaled, _ = await self.scale_rs_if_needed(rs, 0)
            scaled_down = scaled_down or scaled
        if scaled_down or self._old_pods_running(new_rs, old):
            await self.sync_rollout_status(all_rss, new_rs)
            return
        if new_rs is None:
            new_rs, old = await self.get_all(create=True)
            assert new_rs is not None
            all_rss = [*old, new_rs]
        await self.scale_rs_if_needed(new_rs, self.d.spec.replicas)
        if deployment_complete(self.d, self.d.status):
            await self.cleanup(old)
        await self.sync_rollout_status(all_rss, new_rs)

    def _old_pods_running(self, new_rs: ReplicaSet | None, old: list[ReplicaSet]) -> bool:
        if sum(rs.status.replicas for rs in old) > 0:
            return True
        for rs in self.rs_list:
            if new_rs is not None and rs.metadata.uid == new_rs.metadata.uid:
                continue
            for pod in self.ctrl.pods_of(rs):
                if pod.status.phase not in ("Failed", "Succeeded"):
                    return True  # Unknown counts: it may still be running
        return False

    async def cleanup(self, old: list[ReplicaSet]) -> None:
        """Delete the oldest empty ReplicaSets beyond revisionHistoryLimit."""
        alive = [rs for rs in old if rs.metadata.deletion_timestamp is None]
        surplus = len(alive) - self.d.spec.revision_history_limit
        if surplus <= 0:
            return
        alive.sort(key=lambda rs: (revision_of(rs), *_by_creation(rs)))
        for rs in alive[:surplus]:
            if (
                rs.status.replicas != 0
                or rs.spec.replicas != 0
                or rs.metadata.generation > rs.status.observed_generation
            ):
                continue
            with contextlib.suppress(errors.NotFound):
                await self.api.delete("replicasets", rs.metadata.namespace, rs.metadata.name)


def _round_half_away(x: float) -> int:
    """Go's math.Round (integer.RoundToInt32): halves away from zero, unlike Python's round()."""
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


# ---------------------------------------------------------------------------- the controller


class DeploymentController(Controller):
    name = "deployment-controller"
    queue_name = "deployment"  # upstream's workqueue name

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.workers = ctx.settings.concurrent_deployment_syncs
        self.deployments: Informer[Deployment] = ctx.informer("deployments", self.name)
        self.replicasets: Informer[ReplicaSet] = ctx.informer("replicasets", self.name)
        self.pods: Informer[Pod] = ctx.informer("pods", self.name)
        self._selectors = SelectorIndex()
        self._rs_by_owner: OwnedIndex[ReplicaSet] = OwnedIndex()
        self._pods_by_owner: OwnedIndex[Pod] = OwnedIndex()
        self.deployments.add_handler(Handler(self._on_d_add, self._on_d_update, self._on_d_delete))
        self.replicasets.add_handler(
            Handler(self._on_rs_add, self._on_rs_update, self._on_rs_delete)
        )
        self.pods.add_handler(
            Handler(self._pods_by_owner.put, self._on_pod_update, self._on_pod_delete)
        )

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.deployments.run)
            nursery.start_soon(self.replicasets.run)
            nursery.start_soon(self.pods.run)
            await super().run()

    async def wait_synced(self) -> None:
        await self.deployments.synced.wait()
        await self.replicasets.synced.wait()
        await self.pods.synced.wait()

    def pods_of(self, rs: ReplicaSet) -> list[Pod]:
        return self._pods_by_owner.owned_by(rs.metadata.uid)

    # ------------------------------------------------------------------ event handlers
    def _on_d_add(self, d: Deployment) -> None:
        self._selectors.put(key_of(d), d.metadata.namespace, d.spec.selector)
        self.enqueue(key_of(d))

    def _on_d_update(self, old: Deployment, d: Deployment) -> None:
        self._on_d_add(d)

    def _on_d_delete(self, d: Deployment) -> None:
        self._selectors.discard(key_of(d))
        self.enqueue(key_of(d))

    def _owner_of(self, namespace: str, ref: OwnerReference | None) -> Deployment | None:
        if ref is None or ref.kind != Deployment.KIND:
            return None
        d = self.deployments.get(f"{namespace}/{ref.name}")
        return d if d is not None and d.metadata.uid == ref.uid else None

    def _enqueue_owner(self, namespace: str, ref: OwnerReference | None) -> None:
        d = self._owner_of(namespace, ref)
        if d is not None:
            self.enqueue(key_of(d))

    def _enqueue_adopters(self, rs: ReplicaSet) -> None:
        for key in self._selectors.matching(rs.metadata.namespace, rs.metadata.labels):
            self.enqueue(key)

    def _on_rs_add(self, rs: ReplicaSet) -> None:
        self._rs_by_owner.put(rs)
        ref = rs.metadata.controller_ref()
        if ref is None and rs.metadata.deletion_timestamp is None:
            self._enqueue_adopters(rs)
        else:
            self._enqueue_owner(rs.metadata.namespace, ref)

    def _on_rs_update(self, old: ReplicaSet, rs: ReplicaSet) -> None:
        if old.metadata.uid != rs.metadata.uid:  # re-created behind a relist
            self._on_rs_delete(old)
            self._on_rs_add(rs)
            return
        self._rs_by_owner.put(rs)
        if old.metadata.resource_version == rs.metadata.resource_version:
            return
        ref, old_ref = rs.metadata.controller_ref(), old.metadata.controller_ref()
        if ref != old_ref and old_ref is not None:
            self._enqueue_owner(old.metadata.namespace, old_ref)
        if ref is not None:
            self._enqueue_owner(rs.metadata.namespace, ref)
        elif ref != old_ref or old.metadata.labels != rs.metadata.labels:
            self._enqueue_adopters(rs)

    def _on_rs_delete(self, rs: ReplicaSet) -> None:
        self._rs_by_owner.discard(rs)
        self._enqueue_owner(rs.metadata.namespace, rs.metadata.controller_ref())

    def _on_pod_update(self, old: Pod, pod: Pod) -> None:
        if old.metadata.uid != pod.metadata.uid:  # re-created behind a relist
            self._on_pod_delete(old)
        self._pods_by_owner.put(pod)

    def _on_pod_delete(self, pod: Pod) -> None:
        """A Recreate rollout waits for old pods to go; their deletion is its cue to go on."""
        self._pods_by_owner.discard(pod)
        ref = pod.metadata.controller_ref()
        if ref is None or ref.kind != ReplicaSet.KIND:
            return
        rs = self.replicasets.get(f"{pod.metadata.namespace}/{ref.name}")
        if rs is None or rs.metadata.uid != ref.uid:
            return
        d = self._owner_of(rs.metadata.namespace, rs.metadata.controller_ref())
        if d is not None and d.spec.strategy.type == "Recreate":
            self.enqueue(key_of(d))

    # ------------------------------------------------------------------ sync
    async def sync(self, key: str) -> None:
        d = self.deployments.get(key)
        if d is None:
            return  # deleted; the garbage collector removes what it owned
        candidates = [
            *self._rs_by_owner.owned_by(d.metadata.uid),
            *self._rs_by_owner.orphans(d.metadata.namespace),
        ]
        rs_list = await claim(
            self.api, "replicasets", d, candidates, recheck_deletion(self.api, "deployments", d)
        )
        run = _Sync(self, d, rs_list)
        if d.metadata.deletion_timestamp is not None:
            new_rs, old = await run.get_all(create=False)
            await run.sync_deployment_status([*old, *([new_rs] if new_rs else [])], new_rs)
            return
        await run.check_paused_conditions()
        if d.spec.paused or await run.is_scaling_event():
            await run.sync_scale()
        elif d.spec.strategy.type == "Recreate":
            await run.rollout_recreate()
        else:
            await run.rollout_rolling()


__all__ = [
    "DeploymentController",
    "equal_ignore_hash",
    "fnv32a",
    "max_surge",
    "max_unavailable",
    "pod_template_hash",
    "resolve_fenceposts",
    "safe_encode",
]
