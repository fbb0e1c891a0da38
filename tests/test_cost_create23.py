"""The cost of a pod create built from a ReplicaSet's template, counted (never timed).

Upstream's create (staging/src/k8s.io/apiserver/pkg/registry/rest/create.go BeforeCreate, then
pkg/registry/core/pod/strategy.go PrepareForCreate and Validate, with the
DefaultTolerationSeconds and Priority admission plugins,
plugin/pkg/admission/defaulttolerationseconds and plugin/pkg/admission/priority/admission.go)
admits and validates every pod it is sent. Its results depend on the pod's spec (and on the
PriorityClasses, for admission) but not on the pod's name or UID, and a ReplicaSet controller
sends one pod object per template for all its pods
(pkg/controller/replicaset/replica_set.go manageReplicas, GetPodFromTemplate). The model admits
and validates that spec object once and reuses the results for the template's next pods, so
what each pod gets is what upstream gives it while the work is done once per template; the
metadata (the generated name, the UID) is still checked per pod.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from kubechaos.api import errors, validation
from kubechaos.api.objects import (
    Container,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodSpec,
    PriorityClass,
)
from kubechaos.control.apiserver import APIServer
from kubechaos.control.bootstrap import bootstrap, control_plane
from kubechaos.control.registry import pod as pod_registry
from kubechaos.defaults import Settings

from .factories import deployment
from .harness import pods, running, wait_until

PODS = 12


class _Calls:
    """Counts calls of module-level functions, by label."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counts: dict[str, int] = {}
        self._monkeypatch = monkeypatch

    def count(self, module: Any, name: str) -> None:
        original = getattr(module, name)

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.counts[name] = self.counts.get(name, 0) + 1
            return original(*args, **kwargs)

        self._monkeypatch.setattr(module, name, counting)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> _Calls:
    counted = _Calls(monkeypatch)
    counted.count(validation, "validate_pod_spec")  # the spec's validation, under validate_pod
    counted.count(pod_registry, "admit_priority")  # the Priority admission plugin
    return counted


def _prototype(spec: PodSpec, owner: str = "web-abc") -> Pod:
    """A pod as a ReplicaSet controller sends it: generateName, its controller reference."""
    meta = ObjectMeta(
        generate_name=f"{owner}-",
        namespace="default",
        labels={"app": "web"},
        owner_references=(OwnerReference("ReplicaSet", owner, "uid-1", True),),
    )
    return Pod(meta, spec)


async def _server() -> APIServer:
    _, api, ctx = control_plane(1, Settings())
    await bootstrap(ctx)
    return api


async def test_a_templates_pods_are_admitted_and_validated_once(calls: _Calls) -> None:
    """PODS creates of one prototype: one admission and one spec validation in all; each pod
    has its own generated name and UID, and the spec the server wrote is the one admitted
    (the two default tolerations added, priority 0 with no default class), shared by all.
    Before: PODS of each."""
    api = await _server()
    prototype = _prototype(PodSpec(containers=(Container("app", "nginx:1.27"),)))
    created = [await api.create(prototype) for _ in range(PODS)]
    assert calls.counts == {"admit_priority": 1, "validate_pod_spec": 1}
    assert len({p.metadata.name for p in created}) == PODS
    assert len({p.metadata.uid for p in created}) == PODS
    specs = {id(p.spec) for p in created}
    assert len(specs) == 1
    spec = created[0].spec
    assert [t.key for t in spec.tolerations] == [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ]
    assert (spec.priority, spec.preemption_policy) == (0, "PreemptLowerPriority")


async def test_a_new_priority_class_is_seen_by_the_next_pod(calls: _Calls) -> None:
    """The Priority plugin reads the classes at each create: a global default class created
    between two pods of a template gives the second one its priority (one more admission),
    and the classes unchanged, no more."""
    api = await _server()
    prototype = _prototype(PodSpec(containers=(Container("app", "nginx:1.27"),)))
    first = await api.create(prototype)
    await api.create(PriorityClass(ObjectMeta(name="high"), 1000, global_default=True))
    second = await api.create(prototype)
    third = await api.create(prototype)
    assert first.spec.priority == 0
    assert (second.spec.priority, second.spec.priority_class_name) == (1000, "high")
    assert third.spec is second.spec
    assert calls.counts["admit_priority"] == 2


async def test_a_refusal_is_made_for_each_pod(calls: _Calls) -> None:
    """A refused create leaves nothing to reuse: a template naming a class that does not exist
    is refused (403) at every create, and once the class exists, admitted."""
    api = await _server()
    prototype = _prototype(
        PodSpec(containers=(Container("app", "nginx:1.27"),), priority_class_name="gold")
    )
    for _ in range(2):
        with pytest.raises(errors.Forbidden, match='pods "web-abc-" is forbidden'):
            await api.create(prototype)
    await api.create(PriorityClass(ObjectMeta(name="gold"), 7))
    assert (await api.create(prototype)).spec.priority == 7
    assert calls.counts["admit_priority"] == 3


async def test_an_invalid_template_is_refused_for_each_pod_with_its_causes(
    calls: _Calls,
) -> None:
    """The reused causes of an invalid spec refuse every pod (422) with the spec's causes."""
    api = await _server()
    prototype = _prototype(PodSpec(containers=(Container("App", "nginx:1.27"),)))
    for _ in range(3):
        with pytest.raises(errors.Invalid, match=r"spec\.containers\[0\]\.name: Invalid value"):
            await api.create(prototype)
    assert calls.counts == {"admit_priority": 1, "validate_pod_spec": 1}


async def test_a_replicasets_pods_cost_one_admission_per_template(calls: _Calls) -> None:
    """A seeded cluster: a Deployment of PODS replicas (its ReplicaSet's creates, in slow-start
    batches) admits and validates its template's spec once: once for the Deployment's
    template, once for the ReplicaSet's (the objects the registry validates), once for the
    pods' spec."""
    async with running(nodes=2, seed=3) as cluster:
        calls.counts.clear()
        await cluster.api.create(deployment("web", replicas=PODS))
        await wait_until(lambda: len(pods(cluster)) == PODS, 60, "the pods")
        assert calls.counts == {"admit_priority": 1, "validate_pod_spec": 3}


def test_the_memo_is_emptied_when_full() -> None:
    """A bounded memo: past its limit it starts again, each entry found by its key object."""
    from kubechaos.control.registry.identitymemo import IdentityMemo  # new with the memo

    memo: IdentityMemo[object, int] = IdentityMemo(limit=2)
    keys = [object(), object(), object()]
    memo.put(keys[0], 0)
    memo.put(keys[1], 1)
    assert (memo.get(keys[0]), memo.get(keys[1]), memo.get(keys[2])) == (0, 1, None)
    memo.put(keys[2], 2)
    assert (memo.get(keys[0]), memo.get(keys[1]), memo.get(keys[2])) == (None, None, 2)


async def test_a_pods_uid_is_written_without_a_uuid_object(
    calls: _Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each create's UID (rest.FillObjectMetaSystemFields: a random version-4 UUID) is formatted
    from its 128 random bits directly: no :class:`uuid.UUID` built per object."""
    api = await _server()
    calls.count(uuid, "UUID")
    prototype = _prototype(PodSpec(containers=(Container("app", "nginx:1.27"),)))
    created = [await api.create(prototype) for _ in range(PODS)]
    assert "UUID" not in calls.counts
    assert all(uuid.UUID(p.metadata.uid).version == 4 for p in created)


def test_a_uid_is_the_text_of_uuid_from_the_same_draw() -> None:
    """The same draw and text as ``str(uuid.UUID(int=getrandbits(128), version=4))``: the
    event logs of every seed stay as they were, and the stream is left where it was."""
    from kubechaos.sim.rand import uuid4_text  # new with it

    ours, theirs = random.Random(7), random.Random(7)
    for _ in range(2000):
        assert uuid4_text(ours) == str(uuid.UUID(int=theirs.getrandbits(128), version=4))
    assert ours.random() == theirs.random()


class _CountingPattern:
    """A compiled pattern whose ``fullmatch`` calls are counted."""

    def __init__(self, pattern: Any) -> None:
        self.pattern = pattern
        self.calls = 0

    def fullmatch(self, text: str) -> Any:
        self.calls += 1
        return self.pattern.fullmatch(text)


async def test_a_label_seen_before_is_not_matched_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """ValidateObjectMeta checks every label key and value of every pod
    (staging/src/k8s.io/apimachinery/pkg/api/validation/objectmeta.go, ValidateLabels): the
    pods of a template carry the same labels, so each key and value is matched once; a bad one
    is still refused each time. (Labels only this test uses: the verdicts outlive a test.)"""
    names = _CountingPattern(validation._LABEL_NAME)
    values = _CountingPattern(validation._LABEL_VALUE)
    monkeypatch.setattr(validation, "_LABEL_NAME", names)
    monkeypatch.setattr(validation, "_LABEL_VALUE", values)
    api = await _server()
    spec = PodSpec(containers=(Container("app", "nginx:1.27"),))
    labels = {"create23.example/app": "web-23", "create23-tier": "front-23"}
    meta = ObjectMeta(generate_name="web-", namespace="default", labels=labels)
    for _ in range(PODS):
        await api.create(Pod(meta, spec))
    assert (names.calls, values.calls) == (2, 2)
    bad = ObjectMeta(generate_name="web-", namespace="default", labels={"create23": "-bad-"})
    for _ in range(2):
        with pytest.raises(errors.Invalid, match="not a valid label value"):
            await api.create(Pod(bad, spec))
