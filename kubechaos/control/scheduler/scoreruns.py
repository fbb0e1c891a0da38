"""Resource scores of a run of nodes, with no Python step per node.

NodeResourcesFit (LeastAllocated) and NodeResourcesBalancedAllocation score a node from its
requested totals and allocatable and the pod's requests alone (noderesources/
resource_allocation.go); :func:`.scoring.resource_scores` already reuses a node's score while
neither changed (``NodeInfo.scored_for``), but still reads that memo node by node. Most
attempts' feasible nodes are a *run* of the node list (schedule_one.go
findNodesThatPassFilters from the rotating start, no node rejected: :meth:`.layout.NodeLayout.
run_of`), so here each request signature in repeated use gets a vector of every offered node's
score in list order, twice over: the run's scores are one slice of it.

The vector must agree with the per-node formula on every node: the scheduler cache reports
every node whose requested totals or allocatable may have changed (:meth:`ScoreRuns.touched`:
its place, unplace and node updates, the same places that reset ``scored_for``), and a vector
re-scores those nodes before its next use. A new node list (a node added or removed) drops
every vector. Preemption's simulated NodeInfo copies are never a run (not the listed objects).

A pod with a hard zone spread constraint (podtopologyspread/filtering.go: Filter rejects whole
domains) is filtered over the nodes of the allowed zones only (:meth:`.layout.NodeLayout.subset`,
in list order), so its feasible nodes are a run of that :class:`~.layout.Subset`, not of the
node list. Its verdicts and scores are the same vectors' entries at the subset's layout
positions (``Subset.positions_twice``), gathered at C speed (``map`` of the vector's
``__getitem__``, :class:`Verdicts`): no vector per subset, so nothing more to keep in step. A
verdict vector counts its nodes that do not fit (``zeros``): while there are none, no verdict is
read at all. :meth:`ScoreRuns.fit_window` remembers the subset the Filter phase scanned, for
:meth:`ScoreRuns.scores` to find the run in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from kubechaos.control.scheduler.framework import NodeInfo, resource_signature
from kubechaos.control.scheduler.layout import NodeLayout, Subset

Requests = tuple[int, int, int, int]
Score = Callable[[NodeInfo], int]
Fit = Callable[[NodeInfo], bool]
Key = tuple[str, Requests]  # ("score" | "fit", the interned requests)

# A signature gets a vector on its BUILD_AFTER-th attempt over a run (a vector costs one score
# per distinct node signature plus a pass over the nodes; a pod template's first pods, or a
# StatefulSet's one-off requests, keep the per-node memo); at most MAX_VECTORS are kept.
BUILD_AFTER = 3
MAX_VECTORS = 16


class _Vector:
    __slots__ = ("score", "scores", "synced", "zeros")

    def __init__(self, score: Score | Fit, scores: list[int], synced: int) -> None:
        self.score = score  # the pod's score on one node (the signature's formula)
        self.scores = scores  # per position of NodeLayout.twice
        self.synced = synced  # the journal entries already applied
        # the nodes whose entry is 0 (False: of a "fit" vector, the nodes that do not fit)
        self.zeros = scores.count(0) // 2


class Verdicts:
    """A fit vector's entries at a subset's positions, read a slice at a time (at C speed):
    ``verdicts[a:b]`` is the verdict of each node of ``subset.twice[a:b]``."""

    __slots__ = ("_positions", "_verdicts")

    def __init__(self, verdicts: list[bool], positions: list[int]) -> None:
        self._verdicts = verdicts
        self._positions = positions

    def __getitem__(self, window: slice) -> list[bool]:
        return list(map(self._verdicts.__getitem__, self._positions[window]))


class ScoreRuns:
    """The vectors of the current node layout, and the journal of nodes changed since."""

    __slots__ = (
        "_journal", "_layout", "_limit", "_seen", "_subset", "_vectors", "built", "gathered",
        "rescored",
    )  # fmt: skip

    def __init__(self) -> None:
        self._layout: NodeLayout | None = None
        self._journal: list[NodeInfo] = []
        self._limit = 0  # a journal longer than the node list drops the vectors (rebuilt)
        self._vectors: dict[Key, _Vector] = {}
        self._seen: dict[Key, int] = {}
        self._subset: Subset | None = None  # the subset the last spread Filter scanned
        self.built = self.rescored = 0  # vectors built, nodes re-scored (read by cost tests)
        self.gathered = 0  # windows read from a subset's positions (read by cost tests)

    def touched(self, info: NodeInfo) -> None:
        """The node's requested totals or allocatable may have changed."""
        if self._vectors:
            self._journal.append(info)
            if len(self._journal) > self._limit:
                # cheaper to rebuild each vector when next used than to re-score node by node
                self._vectors.clear()
                self._journal.clear()

    def scores(
        self, feasible: list[NodeInfo], requests: Requests, layout: NodeLayout, score: Score
    ) -> list[int] | None:
        """The resource scores of ``feasible`` if it is a run of ``layout`` and ``requests``
        has (or now gets) a vector; else None (the caller scores node by node)."""
        self._use(layout)
        begin = layout.run_of(feasible)
        subset = self._subset
        if begin is None and subset is not None:
            # a spread pod's run of the allowed zones' nodes: its entries gathered
            begin = subset.run_of(feasible)
            if begin is None:
                return None
            vector = self._vector(("score", requests), layout, score)
            if vector is None:
                return None
            self.gathered += 1
            window = subset.positions_twice[begin : begin + len(feasible)]
            return list(map(vector.scores.__getitem__, window))
        if begin is None:
            return None
        vector = self._vector(("score", requests), layout, score)
        return None if vector is None else vector.scores[begin : begin + len(feasible)]

    def fit_window(
        self, requests: Requests, layout: NodeLayout, fit: Fit, subset: Subset
    ) -> Verdicts | bool | None:
        """Per position of ``subset.twice``: does the node pass the node-local filters for a
        simple pod of ``requests`` (as :meth:`fits`)? True when every offered node does (nothing
        to read), else the signature's verdicts read at those positions on demand; None while
        the signature has no vector (the caller checks node by node)."""
        self._use(layout)
        self._subset = subset
        vector = self._vector(("fit", requests), layout, fit)
        if vector is None:
            return None
        if not vector.zeros:
            return True
        self.gathered += 1
        return Verdicts(cast(list[bool], vector.scores), subset.positions_twice)

    def fits(self, requests: Requests, layout: NodeLayout, fit: Fit) -> list[bool] | None:
        """Per position of ``layout.twice``: does the node pass the node-local filters for a
        simple pod of ``requests`` (``fit``: :func:`.fastfilter.fits`); None while the
        signature has no vector (the caller checks node by node)."""
        self._use(layout)
        self._subset = None
        vector = self._vector(("fit", requests), layout, fit)
        return None if vector is None else cast(list[bool], vector.scores)

    def _use(self, layout: NodeLayout) -> None:
        if layout is not self._layout:
            self._layout = layout
            self._vectors.clear()
            self._journal.clear()
            self._seen.clear()
            self._subset = None
            self._limit = len(layout.nodes)

    def _vector(self, key: Key, layout: NodeLayout, score: Score | Fit) -> _Vector | None:
        vector = self._vectors.get(key)
        if vector is None:
            seen = self._seen[key] = self._seen.get(key, 0) + 1
            if seen < BUILD_AFTER:
                return None
            if key[0] == "fit":
                half: list[int] = [score(info) for info in layout.nodes]
                vector = self._add(key, _Vector(score, half + half, len(self._journal)))
            else:
                vector = self._build(key, layout, score)
        elif vector.synced < len(self._journal):
            self._sync(vector, layout)
        return vector

    def _add(self, key: Key, vector: _Vector) -> _Vector:
        if len(self._vectors) >= MAX_VECTORS:
            del self._vectors[next(iter(self._vectors))]  # the oldest built
        self._vectors[key] = vector
        self.built += 1
        return vector

    def _build(self, key: Key, layout: NodeLayout, score: Score) -> _Vector:
        requests = key[1]
        by_signature: dict[tuple[int, int, int, int, int, int], int] = {}
        half: list[int] = []
        for info in layout.nodes:
            if info.scored_for is requests:  # the node's own memo (scoring.resource_scores)
                half.append(info.resource_score)
                continue
            signature = resource_signature(info)
            value = by_signature.get(signature)
            if value is None:
                value = by_signature[signature] = score(info)
            half.append(value)
        return self._add(key, _Vector(score, half + half, len(self._journal)))

    def _sync(self, vector: _Vector, layout: NodeLayout) -> None:
        """Re-score the nodes journalled since the vector's last use (each once)."""
        twice, scores, score = layout.twice, vector.scores, vector.score
        total = len(layout.nodes)
        done: set[int] = set()
        for info in self._journal[vector.synced :]:
            position = info.position
            if position in done or not 0 <= position < total or twice[position] is not info:
                continue  # re-scored already, or not an offered node of this layout
            done.add(position)
            value = score(info)
            vector.zeros += (not value) - (not scores[position])
            scores[position] = scores[position + total] = value
            self.rescored += 1
        vector.synced = len(self._journal)


__all__ = ["ScoreRuns", "Verdicts"]
