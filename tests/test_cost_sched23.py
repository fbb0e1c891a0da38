"""The scheduling loop's per-attempt bookkeeping (issue 16, sitting 23), counted.

PodTopologySpread's PreFilter (pkg/scheduler/framework/plugins/podtopologyspread/filtering.go
calPreFilterState) needs, per DoNotSchedule constraint, the matching pods per node and per
topology domain, and how many eligible domains there are. The model answers from the pod index
(:mod:`kubechaos.control.scheduler.podindex`): these tests count that an attempt asks the index
for each constraint's selector once (hashing a selector key hashes each of its expressions), that
the key itself is built once per pod template, not per attempt, and that no node list is read
when every offered node carries the constraint's key. ``benchmarks/scheduler.py`` times the
attempts; the golden recordings check that placements and tie-breaks are unchanged.
"""

from __future__ import annotations

from typing import Any

from kubechaos.control.scheduler import Scheduler, spread
from kubechaos.control.scheduler.framework import PodView
from kubechaos.defaults import LABEL_ZONE

from .factories import pod
from .test_cost_scheduler import attempt, counting, new_scheduler, zone_node, zone_spread


class _CountingDict(dict[Any, Any]):
    """A dict that counts its ``get`` calls (the pod index's selector lookups)."""

    gets = 0

    def get(self, key: Any, default: Any = None) -> Any:
        self.gets += 1
        return super().get(key, default)


def _spread_cluster() -> Scheduler:
    sched = new_scheduler([zone_node(i) for i in range(30)])
    for n in range(4):
        sched.cache.place(
            f"default/old-{n}", pod(f"old-{n}", labels={"app": "web"}), f"node-{n}", False
        )
    return sched


def test_a_spread_attempt_looks_its_selector_up_once_and_reads_no_node_list() -> None:
    """One DoNotSchedule zone constraint: its per-node counts and its per-zone counts come from
    one lookup of its selector in the index (not one per kind of count), and the number of
    eligible zones from the label index (every node carries the zone label), so PreFilter
    neither lists the offered nodes nor asks again for what it already knows."""
    sched = _spread_cluster()
    lookups = _CountingDict(sched.placement.index._selectors)
    sched.placement.index._selectors = lookups
    constraints = (zone_spread("web"),)
    for n in range(5):
        view = PodView(
            f"default/web-{n}", pod(f"web-{n}", labels={"app": "web"}, topology_spread=constraints)
        )
        before = lookups.gets
        with counting(sched.cache, "offered_nodes") as listed:
            cycle = sched.placement.prefilter(view)
        assert cycle is not None and cycle.spread is not None
        assert lookups.gets - before == 1
        assert listed[0] == 0


def test_a_templates_selector_key_is_built_once_for_all_its_pods() -> None:
    """The index key of a constraint's selector (its namespace, pairs and expressions) is part
    of the pod template's parsed constraints: every pod of the template, on every attempt,
    uses the same key object."""
    sched = _spread_cluster()
    constraints = (zone_spread("web"),)
    keys = set()
    for n in range(6):
        p = pod(f"web-{n}", labels={"app": "web"}, topology_spread=constraints)
        view = PodView(f"default/web-{n}", p)
        view.cycle = sched.placement.prefilter(view)
        keys.add(id(view.placement.hard[0].selector_key))
        _, chosen = attempt(sched, p)
        assert chosen is not None and chosen.labels[LABEL_ZONE]
    assert len(keys) == 1


def test_the_per_node_spread_hook_is_built_only_for_the_full_filter_loop() -> None:
    """The PodTopologySpread Filter (filtering.go) of a pod with one zone constraint is a
    verdict per zone: a simple pod's attempt takes the fast path on those verdicts and never
    calls a per-node hook, so none is built for it; a pod the fast path does not take (here a
    nodeSelector) runs the full loop, which builds the hook once for the attempt. Both place
    the pod in an allowed zone."""
    sched = _spread_cluster()
    constraints = (zone_spread("web"),)
    with counting(spread.SpreadFilter, "node_filter") as hooks:
        for n in range(4):
            p = pod(f"web-{n}", labels={"app": "web"}, topology_spread=constraints)
            _, chosen = attempt(sched, p)
            assert chosen is not None
    assert hooks[0] == 0
    with counting(spread.SpreadFilter, "node_filter") as hooks:
        p = pod(
            "web-sel",
            labels={"app": "web"},
            topology_spread=constraints,
            node_selector={LABEL_ZONE: "a"},
        )
        _, chosen = attempt(sched, p)
    assert chosen is not None and chosen.labels[LABEL_ZONE] == "a"
    assert hooks[0] == 1
