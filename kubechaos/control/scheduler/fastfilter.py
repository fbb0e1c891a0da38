"""The Filter phase's fast path: the common attempt without a per-node call.

It must agree with the full loop (``Scheduler._find_feasible``, upstream's
findNodesThatPassFilters in pkg/scheduler/schedule_one.go) on the feasible nodes, their order
and the number of nodes processed (which moves the rotating start); tests/test_cost_scheduler.py
and tests/test_cost_scheduler_loop.py check that on seeded random clusters. It applies to a
*simple* pod (``PodView.simple``: no nodeSelector, no required node affinity, no host ports:
the node-local filters are NodeUnschedulable, TaintToleration and NodeResourcesFit) when no pod
is nominated anywhere and the attempt's pod-constraint filters are none, or a verdict per
topology domain (``ConstraintCycle.domain_filter``). It returns no rejections: they are only read
when no node is feasible, and then it returns None and the full loop runs.

Per node it costs one identity check when the node's memo (``NodeInfo.fit_for``: the interned
requests the node last passed the node-local filters for) is current; nodes of domains the
spread filter rejects are not visited at all (:meth:`.layout.Subset.rotated`). Once the pod's
request signature has a verdict vector (:mod:`.scoreruns`), a round whose nodes all fit costs no
Python step per node: for a spread pod the verdicts are read at the allowed zones' positions
(:meth:`.scoreruns.ScoreRuns.fit_window`), and not at all while every node fits.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from itertools import compress

from kubechaos.control.scheduler.framework import ConstraintCycle, NodeInfo, PodView
from kubechaos.control.scheduler.layout import NodeLayout
from kubechaos.control.scheduler.plugins import filter_node
from kubechaos.control.scheduler.scoreruns import ScoreRuns, Verdicts

Requests = tuple[int, int, int, int]


def fast_feasible(
    view: PodView,
    layout: NodeLayout,
    start: int,
    wanted: int,
    requests: Requests,
    cycle: ConstraintCycle | None,
    runs: ScoreRuns | None = None,
) -> tuple[list[NodeInfo], int] | None:
    """(feasible nodes, nodes processed) from position ``start``, or None when the fast path
    does not apply (the pod-constraint filters are not per domain, or the key has too many
    values) or finds no feasible node. ``cycle``: the attempt's pod-constraint state when it
    filters, else None."""
    total = len(layout.nodes)
    known: list[bool] | Verdicts | None = None
    if cycle is None:
        seq, begin, end = layout.twice, start, start + total
        if runs is not None:  # the signature's verdict per position of layout.twice
            known = runs.fits(requests, layout, fit_of(view))
    else:
        if cycle.domain_filter is None:
            return None
        key, verdict = cycle.domain_filter
        parts = layout.partition(key)
        if parts is None:
            return None
        allowed = frozenset(value for value in parts if verdict(value) is None)
        if not allowed:
            return None
        subset = layout.subset(key, allowed)
        seq, begin, end = subset.rotated(start)
        if runs is not None:  # the signature's verdicts at the positions of subset.twice
            verdicts = runs.fit_window(requests, layout, fit_of(view), subset)
            if verdicts is True:  # every node fits: _scan's first round, at C speed
                return _result(seq[begin : begin + min(wanted, end - begin)], wanted, start, total)
            if isinstance(verdicts, Verdicts):
                known = verdicts
    return _result(_scan(view, seq, begin, end, wanted, requests, known), wanted, start, total)


def _result(
    feasible: list[NodeInfo], wanted: int, start: int, total: int
) -> tuple[list[NodeInfo], int] | None:
    """(feasible, nodes processed), as upstream counts them; None when none is feasible."""
    if not feasible:
        return None
    if len(feasible) < wanted:
        return feasible, total  # every node was processed
    return feasible, (feasible[-1].position - start) % total + 1


def _scan(
    view: PodView,
    seq: list[NodeInfo],
    begin: int,
    end: int,
    wanted: int,
    requests: Requests,
    known: list[bool] | Verdicts | None = None,
) -> list[NodeInfo]:
    """The first ``wanted`` nodes of ``seq[begin:end]`` that pass the node-local filters, in
    order: the memo, then :func:`cheap_fit`, then the full filter_node (whose pod-constraint
    part passes: the node's domain is allowed), as Scheduler._filter_all.

    In rounds: a round checks exactly as many nodes as are still wanted (so no node is checked
    that the one-by-one loop would not check), in a list comprehension; a node that fails is
    made up for by the next round. ``known``: :func:`fits` per position of ``seq`` (the
    layout's list twice over, or a spread pod's subset of it: :mod:`.scoreruns`); a round
    whose nodes all fit is taken at C speed, any other node by node."""
    cpu, memory = view.cpu, view.memory
    feasible: list[NodeInfo] = []
    need = wanted
    while need > 0 and begin < end:
        chunk = seq[begin : min(begin + need, end)]
        if known is not None and False not in known[begin : begin + len(chunk)]:
            feasible += chunk
            begin += len(chunk)
            need = wanted - len(feasible)
            continue
        passed = [
            info.fit_for is requests
            or cheap_fit(info, cpu, memory, requests)
            or filter_node(view, info) is None
            for info in chunk
        ]
        if False in passed:
            feasible += compress(chunk, passed)
        else:
            feasible += chunk
        begin += len(chunk)
        need = wanted - len(feasible)
    return feasible


def fit_of(view: PodView) -> Callable[[NodeInfo], bool]:
    """:func:`fits` for the pod's requests (the formula of its signature's verdict vector)."""
    return partial(fits, cpu=view.cpu, memory=view.memory)


def fits(info: NodeInfo, cpu: int, memory: int) -> bool:
    """The node-local filters' common verdict for a simple pod (:func:`cheap_fit` remembers it
    in the node's memo; the signature vectors hold it per node)."""
    return (
        not info.hard_taints
        and not info.unschedulable
        and info.pods < info.alloc_pods
        and cpu <= info.alloc_cpu - info.cpu
        and memory <= info.alloc_memory - info.memory
    )


def cheap_fit(info: NodeInfo, cpu: int, memory: int, requests: Requests) -> bool:
    """The node-local filters' common verdict for a simple pod: an untainted, schedulable node
    with room passes them (and remembers so in ``fit_for``). False means "not settled": the
    caller runs filter_node, which also words the rejection."""
    if fits(info, cpu, memory):
        info.fit_for = requests
        return True
    return False


__all__ = ["cheap_fit", "fast_feasible", "fits"]
