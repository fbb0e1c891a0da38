"""The offered nodes in the scheduler's order, laid out for the Filter phase's fast path.

Upstream's findNodesThatPassFilters (pkg/scheduler/schedule_one.go) checks
``nodes[(nextStartNodeIndex + i) % len(nodes)]`` for i = 0, 1, ... until it has
``numFeasibleNodesToFind`` feasible nodes; the nodes processed (feasible plus rejected) move
the start on. The model keeps that order and that count exactly; this module only lets the
scheduler skip, without visiting them, the nodes whose verdict is already known for the whole
attempt: PodTopologySpread's Filter with one ``DoNotSchedule`` constraint rejects whole topology
domains (podtopologyspread/filtering.go: the verdict is a function of the node's value of the
topology key), so the nodes of a rejected zone need no per-node work. A rejected node's status
is only read when no node is feasible (the FitError and the PostFilter); the scheduler then
runs the full per-node loop instead.

:class:`NodeLayout` is built when the offered node list is (a node added or removed), and its
per-key partitions are dropped when an offered node's labels change; between those events an
attempt costs O(domains) here, plus the slicing of lists at C speed.
"""

from __future__ import annotations

from bisect import bisect_left

from kubechaos.control.scheduler.framework import NodeInfo

# A partition is worth it when the key has few values (zones, racks); with one value per node
# (the hostname), working out each domain's verdict costs as much as the per-node loop.
MAX_DOMAIN_SHARE = 8  # at most one domain per this many nodes
MAX_MERGED = 64  # combinations of allowed domains kept per layout (3 zones: at most 7)


class NodeLayout:
    """``nodes`` (the scheduler cache's offered list) twice over, so a rotation is one slice,
    and per topology key the nodes of each value in list order (positions on NodeInfo)."""

    __slots__ = ("_by_name", "_merged", "_partitions", "_zones", "nodes", "twice")

    def __init__(self, nodes: list[NodeInfo]) -> None:
        self.nodes = nodes
        self.twice = nodes + nodes
        for position, info in enumerate(nodes):
            info.position = position
        # topology key -> value (None: nodes without the key) -> positions; None: not worth it
        self._partitions: dict[str, dict[str | None, list[int]] | None] = {}
        # (key, allowed values) -> their nodes in list order (for rotation)
        self._merged: dict[tuple[str, frozenset[str | None]], Subset] = {}
        self._by_name: dict[str, NodeInfo] | None = None  # built when first asked for
        self._zones: list[str | None] | None = None  # each node's zone, twice over

    def labels_changed(self) -> None:
        """An offered node's labels changed: the partitions are rebuilt when next asked for."""
        self._partitions.clear()
        self._merged.clear()
        self._zones = None

    def by_name(self) -> dict[str, NodeInfo]:
        """The offered nodes by name."""
        if self._by_name is None:
            self._by_name = {info.name: info for info in self.nodes}
        return self._by_name

    def zones_twice(self) -> list[str | None]:
        """``info.zone`` of each node of :attr:`twice` (the system default spread's domain)."""
        if self._zones is None:
            self._zones = [info.zone for info in self.twice]
        return self._zones

    def run_of(self, infos: list[NodeInfo]) -> int | None:
        """The position where ``infos`` is a run of :attr:`twice` (the same NodeInfo objects in
        the same order: a Filter phase that rejected none of the nodes it processed), else
        None. One comparison at C speed (NodeInfo compares by identity)."""
        if not infos:
            return None
        begin = infos[0].position
        if begin < 0 or self.twice[begin : begin + len(infos)] != infos:
            return None
        return begin

    def partition(self, key: str) -> dict[str | None, list[int]] | None:
        """The positions of the nodes per value of ``key`` (None: nodes without it), or None
        when the key has too many values for skipping by domain to pay."""
        if key in self._partitions:
            return self._partitions[key]
        values: dict[str | None, list[int]] = {}
        for position, info in enumerate(self.nodes):
            values.setdefault(info.labels.get(key), []).append(position)
        parts = values if len(values) * MAX_DOMAIN_SHARE <= len(self.nodes) else None
        self._partitions[key] = parts
        return parts

    def subset(self, key: str, allowed: frozenset[str | None]) -> Subset:
        """The nodes whose value of ``key`` (partitioned: :meth:`partition`) is in ``allowed``,
        in list order; the same object while the partition stands."""
        merged = self._merged.get((key, allowed))
        if merged is None:
            parts = self._partitions[key]
            assert parts is not None
            positions = sorted(p for value in allowed for p in parts[value])
            if len(self._merged) >= MAX_MERGED:
                self._merged.clear()
            merged = self._merged[(key, allowed)] = Subset(positions, self.nodes)
        return merged

    def rotated(
        self, key: str, allowed: frozenset[str | None], start: int
    ) -> tuple[list[NodeInfo], int, int]:
        """The nodes whose value of ``key`` is in ``allowed``, in the order an attempt starting
        at position ``start`` meets them: ``seq[begin:end]`` (a list twice over, not copied)."""
        return self.subset(key, allowed).rotated(start)


class Subset:
    """Some of a layout's nodes (those of the allowed topology domains) in list order, twice
    over: what :class:`NodeLayout` is to all of them, for a spread pod's Filter and Score."""

    __slots__ = ("_index", "nodes", "positions", "positions_twice", "twice")

    def __init__(self, positions: list[int], nodes: list[NodeInfo]) -> None:
        self.positions = positions  # their positions in the layout's list, ascending
        self.nodes = [nodes[p] for p in positions]
        self.twice = self.nodes + self.nodes
        self.positions_twice = positions + positions  # the layout position of each of twice
        self._index: dict[int, int] | None = None  # layout position -> index here

    def rotated(self, start: int) -> tuple[list[NodeInfo], int, int]:
        """``twice[begin:end]``: these nodes from layout position ``start`` on, wrapping."""
        first = bisect_left(self.positions, start)
        return self.twice, first, first + len(self.positions)

    def index_of(self, info: NodeInfo) -> int | None:
        """``info``'s index in :attr:`nodes`, if it is one of them."""
        if self._index is None:
            self._index = {p: i for i, p in enumerate(self.positions)}
        index = self._index.get(info.position)
        return index if index is not None and self.nodes[index] is info else None

    def run_of(self, infos: list[NodeInfo]) -> int | None:
        """Where ``infos`` is a run of :attr:`twice` (as :meth:`NodeLayout.run_of`), else None."""
        if not infos:
            return None
        begin = self.index_of(infos[0])
        if begin is None or self.twice[begin : begin + len(infos)] != infos:
            return None
        return begin


__all__ = ["NodeLayout", "Subset"]
