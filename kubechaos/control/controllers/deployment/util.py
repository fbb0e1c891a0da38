"""Deployment utilities: the pure functions the Deployment controller's sync is built from.

A model of pkg/controller/deployment/util/deployment_util.go (condition types and reasons,
revisions, the annotations copied onto ReplicaSets, finding the new ReplicaSet, how far it may
grow, proportions for proportional scaling, and the complete / progressing / timed-out tests) plus
the template hash of pkg/controller/controller_utils.go (``ComputeHash``). Nothing here writes to
the API server or reads a cache: every function answers from the objects it is given, so the
sync, rolling, recreate and progress modules can share them without sharing state.

The new ReplicaSet is named ``<deployment>-<hash>``: the hash is FNV-32a over a canonical text of
the pod template, written with apimachinery's SafeEncodeString alphabet, so the same template gives
the same name in every process and every run (Python's ``hash()`` is salted per process).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from kubechaos.api.objects import (
    Deployment,
    DeploymentCondition,
    DeploymentStatus,
    PodTemplate,
    ReplicaSet,
    replace,
)
from kubechaos.api.rollout import is_rolling_update, max_surge, max_unavailable
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
    """A field marked ``omitempty`` in its metadata is left out while empty, so a field added to
    the pod spec does not change the hash of every template that does not use it."""
    if attrs.has(type(value)):
        return {
            f.name: _canonical(getattr(value, f.name))
            for f in attrs.fields(type(value))
            if not (f.metadata.get("omitempty") and not getattr(value, f.name))
        }
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


# ---------------------------------------------------------------------------- ReplicaSets


def int_annotation(rs: ReplicaSet, name: str) -> int | None:
    try:
        return int(rs.metadata.annotations[name])
    except (KeyError, ValueError):
        return None


def revision_of(rs: ReplicaSet) -> int:
    return int_annotation(rs, DEPLOYMENT_REVISION_ANNOTATION) or 0


def by_creation(rs: ReplicaSet) -> tuple[float, str]:
    """Sort key: oldest first, names breaking ties (upstream's ReplicaSetsByCreationTimestamp)."""
    return (rs.metadata.creation_timestamp or 0.0, rs.metadata.name)


def spec_total(rss: list[ReplicaSet]) -> int:
    return sum(rs.spec.replicas for rs in rss)


def active(rss: list[ReplicaSet]) -> list[ReplicaSet]:
    return [rs for rs in rss if rs.spec.replicas > 0]


class TemplateMatches:
    """:func:`equal_ignore_hash` of each ReplicaSet's template and its Deployment's, remembered.

    A Deployment syncs on nearly every status change of its ReplicaSets, and each sync asks which
    ReplicaSet is the new one (FindNewReplicaSet): comparing whole pod templates, each copied
    without its hash label, every time. The API objects are immutable and a status write keeps
    the spec object, so while both template objects are the same ones the answer is too; a new
    object (a rollout, a spec write) is compared again. Forget a ReplicaSet when it is deleted.
    """

    def __init__(self) -> None:
        # ReplicaSet UID -> (its template, the Deployment's template, equal ignoring the hash)
        self._memo: dict[str, tuple[PodTemplate, PodTemplate, bool]] = {}
        self.compared = 0  # templates compared in full (for tests that count work)

    def same(self, d: Deployment, rs: ReplicaSet) -> bool:
        ours, theirs = d.spec.template, rs.spec.template
        uid = rs.metadata.uid
        hit = self._memo.get(uid)
        if hit is not None and hit[0] is theirs and hit[1] is ours:
            return hit[2]
        self.compared += 1
        equal = equal_ignore_hash(theirs, ours)
        self._memo[uid] = (theirs, ours, equal)
        return equal

    def forget(self, uid: str) -> None:
        self._memo.pop(uid, None)


def find_new_replica_set(
    d: Deployment, rss: list[ReplicaSet], matches: TemplateMatches | None = None
) -> ReplicaSet | None:
    """The oldest ReplicaSet whose template is the Deployment's (there should be one at most).

    Upstream sorts by creation and takes the first match; the oldest of the matches is the same
    ReplicaSet (``min`` keeps the first of equal keys, as the stable sort does) without sorting
    every ReplicaSet on every sync, and with the one match there nearly always is, no sort key."""
    found = [
        rs
        for rs in rss
        if (
            matches.same(d, rs)
            if matches is not None
            else equal_ignore_hash(rs.spec.template, d.spec.template)
        )
    ]
    if len(found) > 1:
        return min(found, key=by_creation)
    return found[0] if found else None


def new_rs_new_replicas(d: Deployment, all_rss: list[ReplicaSet], new_rs: ReplicaSet) -> int:
    """How far the new ReplicaSet may grow now (NewRSNewReplicas)."""
    if not is_rolling_update(d):
        return d.spec.replicas
    max_total = d.spec.replicas + max_surge(d)
    current = spec_total(all_rss)
    if current >= max_total:
        return new_rs.spec.replicas
    grow = min(max_total - current, d.spec.replicas - new_rs.spec.replicas)
    return new_rs.spec.replicas + grow


def is_saturated(d: Deployment, rs: ReplicaSet) -> bool:
    """IsSaturated: the ReplicaSet is sized for, and has available, all of ``spec.replicas``."""
    replicas = d.spec.replicas
    return (
        rs.spec.replicas == replicas
        and int_annotation(rs, DEPLOYMENT_DESIRED_REPLICAS_ANNOTATION) == replicas
        and rs.status.available_replicas == replicas
    )


def replica_set_proportion(d: Deployment, rs: ReplicaSet, to_add: int, added: int) -> int:
    """GetReplicaSetProportion: this ReplicaSet's share of ``to_add``, within what is left."""
    if rs.spec.replicas == 0 or to_add == added:
        return 0
    if d.spec.replicas == 0:
        fraction = -rs.spec.replicas
    else:
        max_replicas = d.spec.replicas + max_surge(d)
        before = int_annotation(rs, DEPLOYMENT_MAX_REPLICAS_ANNOTATION)
        if not before:
            before = d.status.replicas
        size = rs.spec.replicas * max_replicas / before if before else 0.0
        fraction = round_half_away(size) - rs.spec.replicas
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def round_half_away(x: float) -> int:
    """Go's math.Round (integer.RoundToInt32): halves away from zero, unlike Python's round()."""
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


# ---------------------------------------------------------------------------- annotations


def set_replicas_annotations(annotations: dict[str, str], desired: int, maximum: int) -> bool:
    """SetReplicasAnnotations, in place on ``annotations``; True if anything changed."""
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
) -> tuple[Mapping[str, str], bool]:
    """SetNewReplicaSetAnnotations: the Deployment's annotations, the revision, replica counts.

    The ReplicaSet's annotations are copied only once something is to change (an existing new
    ReplicaSet is checked on every sync and is nearly always up to date already): unchanged, the
    ReplicaSet's own mapping comes back."""
    source = rs.metadata.annotations
    copy: dict[str, str] | None = None if exists else dict(source)
    changed = False
    for name, value in d.metadata.annotations.items():
        if name not in _NOT_COPIED and source.get(name) != value:
            copy = dict(source) if copy is None else copy
            copy[name] = value
            changed = True
    # (the copy differs from the source only in keys the loop set, never the revision's)
    old = source.get(DEPLOYMENT_REVISION_ANNOTATION, "")
    try:
        old_revision = int(old) if old else 0
    except ValueError:
        return (source if copy is None else copy), False
    if old_revision < new_revision:
        copy = dict(source) if copy is None else copy
        copy[DEPLOYMENT_REVISION_ANNOTATION] = str(new_revision)
        changed = True
    if copy is not None and not exists:
        maximum = d.spec.replicas + max_surge(d)
        changed = set_replicas_annotations(copy, d.spec.replicas, maximum) or changed
    return (source if copy is None else copy), changed


# ---------------------------------------------------------------------------- status

StatusCounts = tuple[int, int, int, int, int, int]  # DeploymentStatus's counts, in field order


def status_counts(
    d: Deployment, all_rss: list[ReplicaSet], new_rs: ReplicaSet | None
) -> StatusCounts:
    """calculateStatus's numbers: observedGeneration, replicas, updated, ready, available and
    unavailable replicas (DeploymentStatus's fields in order)."""
    replicas = ready = available = wanted = 0
    for rs in all_rss:
        status = rs.status
        replicas += status.replicas
        ready += status.ready_replicas
        available += status.available_replicas
        wanted += rs.spec.replicas
    updated = new_rs.status.replicas if new_rs is not None else 0
    return (
        d.metadata.generation,
        replicas,
        updated,
        ready,
        available,
        max(0, wanted - available),
    )


def current_counts(status: DeploymentStatus) -> StatusCounts:
    return (
        status.observed_generation,
        status.replicas,
        status.updated_replicas,
        status.ready_replicas,
        status.available_replicas,
        status.unavailable_replicas,
    )


def minimum_available(d: Deployment, available: int) -> bool:
    """The Available condition's test: at least ``replicas - maxUnavailable`` available."""
    return available >= d.spec.replicas - max_unavailable(d)


def available_condition_kept(d: Deployment, meets_minimum: bool) -> bool:
    """Whether the Available condition calculateStatus sets (``meets_minimum``: what
    :func:`minimum_available` says) is already the Deployment's (same status and reason:
    SetDeploymentCondition then changes nothing)."""
    current = d.status.condition(AVAILABLE)
    if current is None:
        return False
    if meets_minimum:
        return current.status == "True" and current.reason == MINIMUM_REPLICAS_AVAILABLE
    return current.status == "False" and current.reason == MINIMUM_REPLICAS_UNAVAILABLE


# ---------------------------------------------------------------------------- conditions


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


def new_condition(
    type_: str, status: str, reason: str, message: str, since: float | None = None
) -> DeploymentCondition:
    """NewDeploymentCondition: updated now, and transitioned now unless ``since`` says when."""
    t = now()
    return DeploymentCondition(type_, status, reason, message, t, t if since is None else since)


def with_condition(
    conditions: tuple[DeploymentCondition, ...], cond: DeploymentCondition
) -> tuple[DeploymentCondition, ...]:
    """SetDeploymentCondition over a conditions tuple: same status and reason is no change (the
    very tuple back); same status keeps the transition time; the condition goes last."""
    for current in conditions:
        if current.type == cond.type:
            if current.status == cond.status:
                if current.reason == cond.reason:
                    return conditions
                cond = replace(cond, last_transition_time=current.last_transition_time)
            break
    return without_condition(conditions, cond.type, append=cond)


def set_condition(status: DeploymentStatus, cond: DeploymentCondition) -> DeploymentStatus:
    """SetDeploymentCondition (:func:`with_condition`) on a status; unchanged, the status itself."""
    conditions = with_condition(status.conditions, cond)
    return status if conditions is status.conditions else replace(status, conditions=conditions)


def without_condition(
    conditions: tuple[DeploymentCondition, ...],
    type_: str,
    append: DeploymentCondition | None = None,
) -> tuple[DeploymentCondition, ...]:
    kept = tuple(c for c in conditions if c.type != type_)
    return kept if append is None else (*kept, append)


def remove_condition(
    status: DeploymentStatus, type_: str, append: DeploymentCondition | None = None
) -> DeploymentStatus:
    return replace(status, conditions=without_condition(status.conditions, type_, append))
