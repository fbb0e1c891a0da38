"""The scheduler's pod index with many workloads in one namespace: a pod event looks only at the
selectors its own labels name (issue 16).

PodTopologySpread's default constraints (hostname and zone, pkg/scheduler/framework/plugins/
podtopologyspread/plugin.go systemDefaultConstraints) register one selector per Deployment, the
labels of its pods (pkg/scheduler/framework/plugins/helper/spread.go DefaultSelector). Upstream
evaluates them per scheduling attempt over the nodes' pods; the model keeps their counts as pods
are placed and removed. With 1,000 Deployments in ``default`` (the benchmark's many-small shape)
a placed pod must not be matched against all 1,000 selectors: they are filed under their first
matchLabels pair, and a pod event looks up only the pairs it carries (plus selectors without
pairs), so the work per event does not grow with the number of workloads. Counted by wrapping
``Counted.matches``, never timed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from kubechaos.api.selectors import LabelSelector, Requirement
from kubechaos.control.scheduler import podindex
from kubechaos.control.scheduler.podindex import PodIndex, SelectorKey

from .factories import pod


def _key(app: str, namespaces: frozenset[str] | None = frozenset({"default"})) -> SelectorKey:
    return (namespaces, (("app", app),), (), True)


@pytest.fixture
def matches_counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    calls = [0]
    original = podindex.Counted.matches

    def counting(self: podindex.Counted, entry: podindex.IndexedPod) -> bool:
        calls[0] += 1
        return original(self, entry)

    monkeypatch.setattr(podindex.Counted, "matches", counting)
    yield calls


def _place_pods(workloads: int, pods_each: int) -> tuple[PodIndex, int]:
    """``workloads`` registered selectors (app=w0..), then that many pods each placed."""
    index = PodIndex()
    for w in range(workloads):
        index.counts(_key(f"w{w}"))
    placed = 0
    for w in range(workloads):
        for i in range(pods_each):
            labels = {"app": f"w{w}", "pod-template-hash": f"h{w}"}
            index.add(f"default/w{w}-{i}", pod(f"w{w}-{i}", labels=labels), f"node-{i % 7}")
            placed += 1
    return index, placed


def test_a_pod_event_matches_only_the_selectors_its_labels_name(
    matches_counted: list[int],
) -> None:
    """Placing a pod costs one selector evaluation (its own Deployment's), with 50 or with 200
    Deployments in the namespace; before selectors were filed by pair it was one per
    Deployment of the namespace."""
    per_pod = []
    for workloads in (50, 200):
        matches_counted[0] = 0
        _, placed = _place_pods(workloads, 3)
        per_pod.append(matches_counted[0] / placed)
    assert per_pod == [1.0, 1.0]


def test_counts_equal_a_full_evaluation_over_a_random_history() -> None:
    """Filing by pair changes only which selectors are looked at, never a count: after random
    placements, relabels and removals, every registered selector's per-node counts (those with
    a pair, without one, namespaced or cluster-wide) equal a walk of all placed pods."""
    rng = random.Random(16)
    index = PodIndex()
    keys: list[SelectorKey] = [_key(f"w{w}") for w in range(6)]
    keys += [_key("w1", None), (frozenset({"other"}), (("app", "w2"),), (), True)]
    keys.append((frozenset({"default"}), (), (Requirement("tier", "In", ("a",)),), False))
    keys.append((None, (), (), False))
    for key in keys[:5]:
        index.counts(key)
    placed: dict[str, tuple[str, dict[str, str], str]] = {}
    for step in range(600):
        if step == 300:  # the rest registered mid-history: one walk of the pods they name
            for key in keys[5:]:
                index.counts(key)
        name = f"p{rng.randrange(60)}"
        namespace = rng.choice(["default", "other"])
        key = f"{namespace}/{name}"
        if key in placed and rng.random() < 0.4:
            index.remove(key)
            del placed[key]
            continue
        labels = {"app": f"w{rng.randrange(7)}", "tier": rng.choice("ab")}
        if key in placed:
            index.update(key, pod(name, namespace, labels))
            placed[key] = (namespace, labels, placed[key][2])
        else:
            node = f"node-{rng.randrange(5)}"
            index.add(key, pod(name, namespace, labels), node)
            placed[key] = (namespace, labels, node)
    for key in keys:
        namespaces, pairs, exprs, _ = key
        selector = LabelSelector(dict(pairs), exprs)
        expected: dict[str, int] = {}
        for namespace, labels, node in placed.values():
            if (namespaces is None or namespace in namespaces) and selector.matches(labels):
                expected[node] = expected.get(node, 0) + 1
        assert index.counts(key) == expected, key
