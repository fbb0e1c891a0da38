"""Informer.select: a lister's ``List(selector)`` in a namespace, through the informer's indexes.

client-go's listers answer ``podLister.Pods(namespace).List(selector)`` by walking the
namespace's index bucket (tools/cache/listers.go ListAllByNamespace) and matching the selector
against each object. The model narrows the walk to the objects carrying one matchLabels pair of
the selector (the label indexer), and a selector that is that one pair takes the bucket as it
is: same answer, fewer selector evaluations (issue 16).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

from kubechaos.api.objects import APIObject
from kubechaos.api.selectors import LabelSelector, Requirement
from kubechaos.client.informer import Informer

from .factories import pod


def _informer(*objects: APIObject) -> Informer[Any]:
    informer: Informer[Any] = Informer(None, "pods", component="t", events=None)  # type: ignore[arg-type]
    for obj in objects:
        informer._apply("ADDED", obj)
    return informer


def test_select_answers_as_a_walk_of_the_namespace_would() -> None:
    """Every selector shape (one pair, two pairs, expressions only, empty) selects exactly
    the objects of the namespace a full walk matching the selector finds, and follows label
    changes and deletions."""
    informer = _informer(
        pod("a", labels={"app": "web"}),
        pod("b", labels={"app": "web", "tier": "fe"}),
        pod("c", labels={"app": "db"}),
        pod("d", namespace="other", labels={"app": "web"}),
        pod("e", labels={}),
    )
    selectors = [
        LabelSelector({"app": "web"}),
        LabelSelector({"app": "web", "tier": "fe"}),
        LabelSelector({}, (Requirement("app", "In", ("web", "db")),)),
        LabelSelector({"app": "web"}, (Requirement("tier", "DoesNotExist"),)),
        LabelSelector(),
    ]

    def check() -> None:
        for ns in ("default", "other", "none"):
            for selector in selectors:
                walked = [
                    p
                    for p in informer.list()
                    if p.metadata.namespace == ns and selector.matches(p.metadata.labels)
                ]
                assert sorted(map(id, informer.select(ns, selector))) == sorted(map(id, walked))

    check()
    informer._apply("MODIFIED", pod("c", labels={"app": "web", "tier": "fe"}))
    informer._apply("DELETED", pod("a", labels={"app": "web"}))
    check()
    assert [p.metadata.name for p in informer.select("default", selectors[0])] == ["b", "c"]


def test_a_one_pair_selector_takes_its_bucket_without_evaluating(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A selector that is one matchLabels pair selects exactly the objects filed under that
    pair: 50 pods of the app and 50 of another cost no selector evaluation; a two-pair
    selector evaluates only the pods carrying its first pair."""
    informer = _informer(
        *(pod(f"web-{i}", labels={"app": "web", "tier": "fe"}) for i in range(50)),
        *(pod(f"db-{i}", labels={"app": "db"}) for i in range(50)),
    )
    calls = {"n": 0}

    def counting(method: Callable[..., bool]) -> Callable[..., bool]:
        @functools.wraps(method)
        def counted(*args: Any) -> bool:
            calls["n"] += 1
            return method(*args)

        return counted

    monkeypatch.setattr(LabelSelector, "matches", counting(LabelSelector.matches))
    assert len(informer.select("default", LabelSelector({"app": "web"}))) == 50
    assert calls["n"] == 0
    assert len(informer.select("default", LabelSelector({"app": "web", "tier": "fe"}))) == 50
    assert calls["n"] == 50
