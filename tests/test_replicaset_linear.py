"""The ReplicaSet controller's syncs cost what changed, not what the ReplicaSet holds (issue 16).

Upstream's sync (pkg/controller/replicaset/replica_set.go syncReplicaSet) lists the namespace's
pods, claims them (pkg/controller/controller_ref_manager.go ClaimPods: keep the owned ones the
selector matches, release the owned ones it no longer matches, adopt the orphans it matches,
ignore the rest), manages replicas (manageReplicas: create in slow-start batches or delete the
pods getPodsToDelete ranks first) and writes calculateStatus (replica_set_utils.go: replicas,
fullyLabeled, ready, available after minReadySeconds). The model gives the same answers from
counts kept by pod events (rstally.py), so a sync reads no pod it does not act on:

- claim is offered only the strays and the orphans the selector matches, found through a label
  index, never the namespace's pods (an unrelated bare pod must not make every sync slow);
- with minReadySeconds, the available count and the next moment a pod turns available come from
  the sorted Ready times of the kept pods;
- scale-down reads each pod object's ranking facts once, and the per-node count of related
  pods (getPodsRankedByRelatedPodsOnSameNode) is kept as pods come and go.

Work is counted deterministically (pod condition/phase reads, selector evaluations and claim
candidates inside the ReplicaSet controller's syncs), never timed.
"""

from __future__ import annotations

import contextvars
import functools
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
import trio

from kubechaos.api.objects import (
    ContainerStatus,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodCondition,
    PodStatus,
)
from kubechaos.api.selectors import LabelSelector, Requirement
from kubechaos.control.controllers import replicaset as replicaset_module
from kubechaos.control.controllers.deployment import controller as deployment_module
from kubechaos.control.controllers.deployment.controller import DeploymentController
from kubechaos.control.controllers.ownership import OwnedIndex
from kubechaos.control.controllers.replicaset import ReplicaSetController, is_pod_available
from kubechaos.control.controllers.rstally import (
    TalliedIndex,
    available_count,
    next_available,
)
from kubechaos.defaults import POD_DELETION_COST_ANNOTATION

from .factories import PodReadier, deployment, pod, pod_spec, replicaset
from .test_replicaset import control_plane, owned_pods, scale

GROWTH = 2.2  # doubling the replicas may at most double the work (10 % slack)

_in_sync: contextvars.ContextVar[bool] = contextvars.ContextVar("in_sync", default=False)


@attrs.define
class Work:
    syncs: int = 0
    pod_reads: int = 0  # a pod's conditions or phase looked at inside a sync
    selector_evaluations: int = 0  # inside a sync
    claim_candidates: int = 0


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> Iterator[Work]:
    """Count the ReplicaSet controller's work inside its syncs (test-side wrappers)."""
    counted = Work()

    def reading(method: Callable[..., Any], field: str) -> Callable[..., Any]:
        @functools.wraps(method)
        def read(*args: Any) -> Any:
            if _in_sync.get():
                setattr(counted, field, getattr(counted, field) + 1)
            return method(*args)

        return read

    original_sync = ReplicaSetController.sync

    async def sync(self: ReplicaSetController, key: str) -> None:
        counted.syncs += 1
        token = _in_sync.set(True)
        try:
            await original_sync(self, key)
        finally:
            _in_sync.reset(token)

    original_claim = replicaset_module.claim

    async def claim(api: Any, resource: str, owner: Any, candidates: Any, recheck: Any) -> Any:
        candidates = list(candidates)
        counted.claim_candidates += len(candidates)
        return await original_claim(api, resource, owner, candidates, recheck)

    monkeypatch.setattr(ReplicaSetController, "sync", sync)
    monkeypatch.setattr(replicaset_module, "claim", claim)
    monkeypatch.setattr(PodStatus, "condition", reading(PodStatus.condition, "pod_reads"))
    monkeypatch.setattr(Pod, "is_terminal", reading(Pod.is_terminal, "pod_reads"))
    for cls in (LabelSelector, Requirement):
        monkeypatch.setattr(cls, "matches", reading(cls.matches, "selector_evaluations"))
    yield counted


def _grows_linearly(small: int, large: int, what: str) -> None:
    assert small > 0, f"{what}: nothing counted (the counter is not wired)"
    assert large <= GROWTH * small, f"{what}: {small} -> {large} for twice the replicas"


async def _status(ctx: Any, name: str = "web") -> tuple[int, int, int, int]:
    s = (await ctx.api.get("replicasets", "default", name)).status
    return s.replicas, s.fully_labeled_replicas, s.ready_replicas, s.available_replicas


# ---------------------------------------------------------------------------- claims


async def test_a_sync_offers_claim_only_the_orphans_its_selector_matches(work: Work) -> None:
    """ClaimPods (controller_ref_manager.go) adopts an orphan the selector matches and ignores
    the others; the model never offers the others, so 30 bare client pods in the namespace
    cost the ReplicaSet's syncs no selector evaluation and no claim candidate: only the one
    orphan it adopts is ever offered, and its status counts it at once."""
    ctx = await control_plane()
    for i in range(30):
        await ctx.api.create(pod(f"client-{i}", labels={"app": "client", "n": str(i)}))
    orphan = await ctx.api.create(pod("stray", labels={"app": "web"}))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ReplicaSetController(ctx).run)
        nursery.start_soon(PodReadier(ctx).run)
        rs = await ctx.api.create(replicaset("web", replicas=4))
        await trio.sleep(10)
        adopted = await ctx.api.get("pods", "default", "stray")
        assert adopted.metadata.uid == orphan.metadata.uid
        assert adopted.metadata.controller_ref() == OwnerReference(
            "ReplicaSet", "web", rs.metadata.uid, True
        )
        assert len(await owned_pods(ctx)) == 4
        assert len(ctx.events.find(reason="SuccessfulCreate")) == 3
        assert await _status(ctx) == (4, 4, 4, 4)
        client = await ctx.api.get("pods", "default", "client-0")
        assert client.metadata.owner_references == ()
        nursery.cancel_scope.cancel()
    assert work.syncs > 3
    assert work.claim_candidates == 1
    # the adoption's own check of the one orphan, and the tally's of each web pod it files
    assert work.selector_evaluations <= 2 + 4


async def test_a_stray_is_released_without_reading_the_pods_kept(work: Work) -> None:
    """An owned pod whose labels stop matching is released (ClaimPods' release) and replaced;
    the sync that releases it is offered that pod alone and reads none of the 40 others."""
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ReplicaSetController(ctx).run)
        nursery.start_soon(PodReadier(ctx).run)
        await ctx.api.create(replicaset("web", replicas=40))
        await trio.sleep(20)
        assert await _status(ctx) == (40, 40, 40, 40)
        name = sorted(p.metadata.name for p in await owned_pods(ctx))[0]
        reads_before = work.pod_reads
        await ctx.api.patch(
            "pods",
            "default",
            name,
            lambda p: attrs.evolve(p, metadata=attrs.evolve(p.metadata, labels={"app": "debug"})),
        )
        await trio.sleep(10)
        released = await ctx.api.get("pods", "default", name)
        assert released.metadata.owner_references == ()
        assert await _status(ctx) == (40, 40, 40, 40)
        nursery.cancel_scope.cancel()
    assert work.claim_candidates == 1
    # the replacement's creation and readiness are pod events: each sync reads no pod at all
    assert work.pod_reads - reads_before <= 2


def _labelled(rs: Any) -> Any:
    """The ReplicaSet labelled as its template (what a Deployment's selector is matched with)."""
    labels = dict(rs.spec.template.metadata.labels)
    return attrs.evolve(rs, metadata=attrs.evolve(rs.metadata, labels=labels))


async def test_a_deployment_sync_offers_claim_only_the_orphans_it_selects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ClaimReplicaSets (deployment/sync.go getReplicaSetsForDeployment, the same
    ControllerRefManager) adopts an orphan ReplicaSet the Deployment's selector matches and
    ignores the others: 12 unrelated orphan ReplicaSets in the namespace are never offered
    to claim, however many times the Deployment syncs."""
    offered: list[str] = []
    original = deployment_module.claim

    async def claim(api: Any, resource: str, owner: Any, candidates: Any, recheck: Any) -> Any:
        candidates = list(candidates)
        offered.extend(c.metadata.name for c in candidates)
        return await original(api, resource, owner, candidates, recheck)

    monkeypatch.setattr(deployment_module, "claim", claim)
    ctx = await control_plane()
    for i in range(12):
        await ctx.api.create(_labelled(replicaset(f"other-{i}", replicas=0, labels={"app": "o"})))
    await ctx.api.create(_labelled(replicaset("web-old", replicas=0, labels={"app": "web"})))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(DeploymentController(ctx).run)
        d = await ctx.api.create(deployment("web", replicas=2))
        await trio.sleep(10)
        old = await ctx.api.get("replicasets", "default", "web-old")
        assert old.metadata.controller_ref() == OwnerReference(
            "Deployment", "web", d.metadata.uid, True
        )
        other = await ctx.api.get("replicasets", "default", "other-0")
        assert other.metadata.owner_references == ()
        nursery.cancel_scope.cancel()
    assert "web-old" in offered
    assert not [name for name in offered if name.startswith("other-")]


def test_orphans_matching_a_selector_come_in_the_namespace_s_orphan_order() -> None:
    """The orphan label index answers as a walk of the namespace's orphans filtered by the
    selector would (ClaimPods' order is the lister's): a pod joining the orphans goes last, a
    relabelled orphan keeps its place, an adopted one leaves; a selector without matchLabels
    looks at every orphan of the namespace."""
    index: OwnedIndex[Pod] = OwnedIndex()
    ref = OwnerReference("ReplicaSet", "web", "rs-uid", True)

    def put(name: str, labels: dict[str, str], owned: bool = False, ns: str = "default") -> Pod:
        p = pod(name, namespace=ns, labels=labels)
        if owned:
            p = attrs.evolve(p, metadata=attrs.evolve(p.metadata, owner_references=(ref,)))
        index.put(p)
        return p

    web = LabelSelector({"app": "web"})
    put("a", {"app": "web"})
    put("b", {"app": "db"})
    put("c", {"app": "web", "tier": "fe"}, owned=True)
    put("d", {"app": "web"})
    put("e", {"app": "web"}, ns="other")

    def names(selector: LabelSelector, ns: str = "default") -> list[str]:
        found = index.matching_orphans(ns, selector)
        walked = [p for p in index.orphans(ns) if selector.matches(p.metadata.labels)]
        assert found == walked
        return [p.metadata.name for p in found]

    assert names(web) == ["a", "d"] and names(web, "other") == ["e"]
    put("c", {"app": "web", "tier": "fe"})  # released: joins the orphans last
    put("a", {"app": "web", "v": "2"})  # relabelled, stays first
    assert names(web) == ["a", "d", "c"]
    assert names(LabelSelector({"tier": "fe"})) == ["c"]
    put("d", {"app": "web"}, owned=True)  # adopted
    put("b", {"app": "web"})  # now matches, keeps its place
    assert names(web) == ["a", "b", "c"]
    expressions = LabelSelector({}, (Requirement("app", "In", ("web",)),))
    assert names(expressions) == ["a", "b", "c"]
    index.discard(pod("a"))
    assert names(web) == ["b", "c"] and names(LabelSelector({"app": "db"})) == []
    assert index.matching_orphans("empty", web) == []


# ---------------------------------------------------------------------------- minReadySeconds


def test_available_counts_from_sorted_ready_times_equal_is_pod_available() -> None:
    """calculateStatus' available count (IsPodAvailable for each kept pod, here with a ready
    time plus minReadySeconds not after now) and the next moment one turns available, from the
    sorted Ready times: equal to asking every pod, including ready times that tie and times
    whose sum with minReadySeconds rounds."""
    rng = random.Random(16)
    for _ in range(300):
        times = sorted(
            rng.choice([rng.uniform(0, 100), 0.1 * rng.randrange(1000)]) for _ in range(8)
        )
        min_ready = rng.randrange(1, 40)
        at = rng.choice([rng.uniform(0, 150), times[rng.randrange(8)] + min_ready])
        pods = [
            Pod(
                ObjectMeta(name=f"p{i}"),
                pod_spec(),
                PodStatus(conditions=(PodCondition("Ready", "True", t),)),
            )
            for i, t in enumerate(times)
        ]
        assert available_count(times, min_ready, at) == sum(
            is_pod_available(p, min_ready, at) for p in pods
        )
        due = [t + min_ready for t in times if not is_pod_available(_ready(t), min_ready, at)]
        assert next_available(times, min_ready, at) == (min(due) if due else None)


def _ready(since: float) -> Pod:
    return Pod(
        ObjectMeta(name="p"),
        pod_spec(),
        PodStatus(conditions=(PodCondition("Ready", "True", since),)),
    )


async def _timed_run(replicas: int, work: Work) -> tuple[int, int, list[float]]:
    """A ReplicaSet with minReadySeconds 20 whose pods turn Ready a second after creation;
    returns the pods its syncs read, the syncs, and when (to the second) its status first
    counted each more pod available (seconds after its creation)."""
    ctx = await control_plane()
    seen: list[float] = []
    reads_before, syncs_before = work.pod_reads, work.syncs
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ReplicaSetController(ctx).run)
        nursery.start_soon(PodReadier(ctx, delay=1.0).run)
        rs = replicaset("web", replicas=replicas)
        await ctx.api.create(attrs.evolve(rs, spec=attrs.evolve(rs.spec, min_ready_seconds=20)))
        start = trio.current_time()
        for _ in range(60):
            await trio.sleep(1)
            available = (await _status(ctx))[3]
            seen.extend([trio.current_time() - start] * (available - len(seen)))
        nursery.cancel_scope.cancel()
    return work.pod_reads - reads_before, work.syncs - syncs_before, seen


async def test_min_ready_seconds_counts_available_pods_without_rereading_them(work: Work) -> None:
    """minReadySeconds: a pod counts as available once Ready for that long, and the
    ReplicaSet syncs again when the next one does (no pod event marks it); its syncs read no
    pod more than once however often they run (each sync used to read them all)."""
    for replicas in (20, 40):
        reads, syncs, seen = await _timed_run(replicas, work)
        assert len(seen) == replicas
        assert min(seen) >= 21 and max(seen) <= 40
        assert syncs >= 10
        assert reads <= replicas, f"{reads} pods read by {syncs} syncs of {replicas} replicas"


# ---------------------------------------------------------------------------- scale-down


async def _scale_down_run(replicas: int, work: Work) -> int:
    """Scale a Ready ReplicaSet down one pod at a time to half; the pods its syncs read."""
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ReplicaSetController(ctx).run)
        nursery.start_soon(PodReadier(ctx).run)
        await ctx.api.create(replicaset("web", replicas=replicas))
        await trio.sleep(20)
        before = work.pod_reads
        for n in range(replicas - 1, replicas // 2 - 1, -1):
            await scale(ctx, "web", n)
            await trio.sleep(2)
        assert len(await owned_pods(ctx)) == replicas // 2
        assert len(ctx.events.find(reason="SuccessfulDelete")) == replicas - replicas // 2
        nursery.cancel_scope.cancel()
    return work.pod_reads - before


async def test_scale_down_reads_each_pod_once_however_often_it_ranks(work: Work) -> None:
    """getPodsToDelete sorts the candidates on every scale-down (n log n comparisons, each
    reading two pods); the model reads a pod object's facts once, so scaling down one pod at a
    time from 2n to n reads O(n) pods, not O(n^2 log n)."""
    small = await _scale_down_run(24, work)
    large = await _scale_down_run(48, work)
    _grows_linearly(small, large, "pods read by scale-down syncs")


def _rs_pod(rng: random.Random, name: str, owner: str) -> Pod:
    ready = rng.random() < 0.7
    since = float(rng.choice([10, 20, 1000, rng.randrange(5000)]))
    conditions = (PodCondition("Ready", "True", since),) if ready else ()
    phase = rng.choice(["Running", "Running", "Pending", "Unknown", "Succeeded"])
    meta = ObjectMeta(
        name=name,
        namespace="default",
        uid=name,
        creation_timestamp=float(rng.randrange(5000)),
        annotations={POD_DELETION_COST_ANNOTATION: str(rng.choice([0, 0, -5, 7]))},
        labels=rng.choice([{"app": "web", "v": "1"}, {"app": "web"}, {"app": "db"}]),
        owner_references=(OwnerReference("ReplicaSet", owner, owner, True),),
        deletion_timestamp=5.0 if rng.random() < 0.1 else None,
    )
    return Pod(
        meta,
        pod_spec(node_name=rng.choice(["", "n1", "n2", "n3"])),
        PodStatus(
            phase=phase,
            conditions=conditions,
            container_statuses=(ContainerStatus("app", restart_count=rng.choice([0, 0, 3])),),
        ),
    )


def test_related_pods_per_node_are_counted_as_pods_come_and_go() -> None:
    """getPodsRankedByRelatedPodsOnSameNode ranks a pod by the active pods of every
    ReplicaSet of the same controller on its node; the counts kept by the index equal a fresh
    count after any sequence of pod events, and the victims chosen from the index's facts are
    those :func:`pods_to_delete` picks from the pods themselves. The tally of a ReplicaSet
    with minReadySeconds (calculateStatus' counts and its kept pods' Ready times, sorted)
    equals a fresh count too."""
    rng = random.Random(7)
    index = TalliedIndex()
    live: dict[str, Pod] = {}
    selector, template_labels = LabelSelector({"app": "web"}), {"app": "web", "v": "1"}
    tally = index.tally("old", selector, template_labels, timed=True)
    for step in range(400):
        name = f"p{rng.randrange(60)}"
        if name in live and rng.random() < 0.3:
            index.discard(live.pop(name))
        else:
            live[name] = _rs_pod(rng, name, rng.choice(["old", "new", "other"]))
            index.put(live[name])
        if step % 40:
            continue
        related = [p for p in live.values() if p.metadata.owner_references[0].uid in ("old", "new")]
        fresh = Counter(p.spec.node_name for p in related if p.is_active())
        related_on = index.related_on(["old", "new"])
        assert {node: related_on(node) for node in ("", "n1", "n2", "n3")} == {
            node: fresh[node] for node in ("", "n1", "n2", "n3")
        }
        mine = [p for p in live.values() if p.metadata.owner_references[0].uid == "old"]
        kept = [p for p in mine if p.is_active() and selector.matches(p.metadata.labels)]
        times = sorted(t for p in kept if (t := p.ready_since()) is not None)
        assert (tally.kept, tally.ready, tally.ready_times) == (len(kept), len(times), times)
        assert tally.fully_labeled == sum(p.metadata.labels == template_labels for p in kept)
        assert tally.strays == sum(p.is_active() for p in mine) - len(kept)
        owned = [(key, p) for key, p in index.owned_items("old") if p.is_active()]
        pods = [p for _, p in owned]
        count = max(1, len(pods) // 3)
        if count < len(pods):
            via_index = replicaset_module.rank_victims(
                [(p, index.rank_facts(key, p)) for key, p in owned], related_on, count, 6000.0
            )
            assert via_index == replicaset_module.pods_to_delete(pods, related, count, 6000.0)


def _upstream_less(a: Pod, rank_a: int, b: Pod, rank_b: int, at: float) -> bool:
    """ActivePodsWithRanks.Less (pkg/controller/controller_utils.go, v1.32, with
    LogarithmicScaleDown and PodDeletionCost on), transcribed over pod objects."""

    def log_age(t: float) -> int:
        age = (at - t) * 1e9
        return int(math.log2(age)) if age > 0 else -1

    def cost(p: Pod) -> int:
        try:
            return int(p.metadata.annotations.get(POD_DELETION_COST_ANNOTATION, "0"))
        except ValueError:
            return 0

    phase = {"Pending": 0, "Unknown": 1, "Running": 2}
    if a.spec.node_name != b.spec.node_name and not (a.spec.node_name and b.spec.node_name):
        return not a.spec.node_name
    if phase.get(a.status.phase, 0) != phase.get(b.status.phase, 0):
        return phase.get(a.status.phase, 0) < phase.get(b.status.phase, 0)
    if a.is_ready() != b.is_ready():
        return not a.is_ready()
    if cost(a) != cost(b):
        return cost(a) < cost(b)
    if rank_a != rank_b:
        return rank_a > rank_b
    since_a, since_b = a.ready_since(), b.ready_since()
    if since_a is not None and since_b is not None and since_a != since_b:
        diff = log_age(since_a) - log_age(since_b)
        return a.metadata.uid < b.metadata.uid if diff == 0 else diff < 0
    restarts_a = max(c.restart_count for c in a.status.container_statuses)
    restarts_b = max(c.restart_count for c in b.status.container_statuses)
    if restarts_a != restarts_b:
        return restarts_a > restarts_b
    created_a, created_b = a.metadata.creation_timestamp, b.metadata.creation_timestamp
    if created_a != created_b:
        if created_a is None or created_b is None:
            return created_a is None
        diff = log_age(created_a) - log_age(created_b)
        return a.metadata.uid < b.metadata.uid if diff == 0 else diff < 0
    return False


def test_victims_are_those_a_sort_with_upstream_s_comparator_picks() -> None:
    """getPodsToDelete sorts by ActivePodsWithRanks.Less; the model sorts by a key for its
    steps 1-5 and the comparator for 6-8 (which no key can express: within one log2 bucket of
    Ready time, different times are ordered by UID, equal times by restarts and creation), and
    picks the same victims as a stable sort with the comparator itself, over random pods full
    of ties (same Ready or creation times, same buckets, missing timestamps)."""
    rng = random.Random(16)
    at = 200.0
    for _ in range(300):
        pods = []
        for i in range(rng.randrange(2, 30)):
            pod_ = _rs_pod(rng, f"p{i}", "rs")
            since = rng.choice([100.0, 100.0, 101.0, 150.0, 199.9])
            created = rng.choice([None, 50.0, 50.0, 60.0, 99.0])
            meta = attrs.evolve(
                pod_.metadata,
                uid=rng.choice("abcdef") + str(i),
                creation_timestamp=created,
                deletion_timestamp=None,
            )
            ready = (PodCondition("Ready", "True", since),) if pod_.is_ready() else ()
            pods.append(
                attrs.evolve(
                    pod_, metadata=meta, status=attrs.evolve(pod_.status, conditions=ready)
                )
            )
        related = pods[: rng.randrange(len(pods) + 1)]
        per_node = Counter(p.spec.node_name for p in related if p.is_active())
        count = rng.randrange(1, len(pods))

        def compare(x: Pod, y: Pod, per_node: Counter[str] = per_node) -> int:
            rx, ry = per_node[x.spec.node_name], per_node[y.spec.node_name]
            if _upstream_less(x, rx, y, ry, at):
                return -1
            return 1 if _upstream_less(y, ry, x, rx, at) else 0

        expected = sorted(pods, key=functools.cmp_to_key(compare))[:count]
        assert replicaset_module.pods_to_delete(pods, related, count, at) == expected
