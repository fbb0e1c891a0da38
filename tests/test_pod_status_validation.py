"""A pod's status write validated as upstream's API server validates it.

Upstream: podStatusStrategy.ValidateUpdate (pkg/registry/core/pod/strategy.go) calls
``ValidatePodStatusUpdate`` (pkg/apis/core/validation/validation.go). A client writing a bad pod
status, in-process (``api.update_status``) or through the front door (``pods/<name>/status``),
gets 422 Invalid with upstream's field paths and words; the model's own writers pay a few
comparisons for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pytest
import trio

from kubechaos.api import errors, validation_podstatus
from kubechaos.api.objects import Container, ContainerStatus, Pod, PodCondition, PodStatus
from kubechaos.sim.clock import run_virtual
from tests.factories import pod
from tests.harness import running
from tests.test_cost_node_steady import five_pod_lifecycles
from tests.test_frontdoor_app import front_door, with_web
from tests.test_kubelet import plane
from tests.test_status_writes import patch_pod_status

NOT_BACK = "Forbidden: may not be transitioned to non-terminated state"


def _refused(write: Callable[[Any], Awaitable[Pod]], **spec: Any) -> list[list[str]]:
    """Create pod ``p`` (``spec``), then ``write(api)`` for each status write: the causes of
    each refusal (``[]`` for a write taken)."""

    async def main() -> list[list[str]]:
        ctx, _ = await plane()
        await ctx.api.create(pod("p", **spec))
        return await write(ctx.api)

    return run_virtual(main, seed=0)


async def _statuses(api: Any, *statuses: PodStatus) -> list[list[str]]:
    """Write each status over the stored pod in turn: each refusal's causes, or ``[]``."""
    out = []
    for status in statuses:
        stored = api.cache("pods").get("/registry/pods/default/p")
        try:
            await api.update_status(attrs.evolve(stored, status=status))
        except errors.Invalid as refusal:
            assert refusal.code == 422
            out.append(refusal.causes)
        else:
            out.append([])
    return out


def _run(*statuses: PodStatus, **spec: Any) -> list[list[str]]:
    return _refused(lambda api: _statuses(api, *statuses), **spec)


def test_a_condition_type_must_be_a_qualified_name() -> None:
    """validatePodConditions (validation.go): a type other than PodScheduled, Ready and
    Initialized must be a qualified name (apimachinery IsQualifiedName), reported at upstream's
    path ``metadata.conditions[i].Type``; ``example.com/Audited`` is one."""
    good = PodCondition("example.com/Audited", "True")
    bad = PodCondition("not a name", "True")
    causes = _run(PodStatus(conditions=(good,)), PodStatus(conditions=(good, bad)))
    assert causes[0] == []
    assert causes[1] == [
        'metadata.conditions[1].Type: Invalid value: "not a name": name part must consist of '
        "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
        "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    ]
    (empty,) = _run(PodStatus(conditions=(PodCondition("", "True"),)))
    assert empty[0] == 'metadata.conditions[0].Type: Invalid value: "": name part must be non-empty'
    (prefixed,) = _run(PodStatus(conditions=(PodCondition("Bad_Prefix/ok", "True"),)))
    assert prefixed[0].startswith(
        'metadata.conditions[0].Type: Invalid value: "Bad_Prefix/ok": prefix part a lowercase '
        "RFC 1123 subdomain must consist of"
    )


def test_a_nominated_node_name_must_be_a_node_name() -> None:
    """ValidatePodStatusUpdate: ``status.nominatedNodeName``, when changed and set, passes
    ValidateNodeName (a DNS-1123 subdomain)."""
    causes = _run(PodStatus(nominated_node_name="Worker_1"), PodStatus(nominated_node_name="w-1"))
    assert causes[0] == [
        'status.nominatedNodeName: Invalid value: "Worker_1": a lowercase RFC 1123 subdomain '
        "must consist of lower case alphanumeric characters, '-' or '.', and must start and end "
        "with an alphanumeric character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    ]
    assert causes[1] == []


def test_pod_and_host_ips_must_be_ips() -> None:
    """validatePodIPs / validateHostIPs (validation.go) through the v1 conversion
    (pkg/apis/core/v1/conversion.go Convert_v1_PodStatus_To_core_PodStatus: ``podIP`` becomes
    ``podIPs[0]``, ``hostIP`` ``hostIPs[0]``): each must be an IP (utils/net ParseIPSloppy,
    which takes IPv4 octets with leading zeros)."""
    rule = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
    causes = _run(
        PodStatus(pod_ip="10.0.0.300", host_ip="node-1"),
        PodStatus(pod_ip="10.0.0.7", host_ip="2001:db8::1"),
        PodStatus(pod_ip="010.000.000.008", host_ip="2001:db8::1"),
    )
    assert causes[0] == [
        f'status.podIPs[0]: Invalid value: "10.0.0.300": {rule}',
        f'status.hostIPs[0]: Invalid value: "node-1": {rule}',
    ]
    assert causes[1:] == [[], []]


def test_a_terminated_container_may_not_run_again_unless_the_pod_restarts_it() -> None:
    """ValidateContainerStateTransition (validation.go): with restartPolicy Never, a terminated
    container may not go back to running (``status.containerStatuses[i].state``, i its index in
    the stored status); with OnFailure, one that failed may, one that succeeded may not; with
    Always, any may."""
    done = ContainerStatus("app", "terminated", "Completed", exit_code=0)
    failed = ContainerStatus("app", "terminated", "Error", exit_code=1)
    again = ContainerStatus("app", "running", "")
    steps = (PodStatus(container_statuses=(done,)), PodStatus(container_statuses=(again,)))
    never = _run(*steps, restart_policy="Never")
    assert never == [[], [f"status.containerStatuses[0].state: {NOT_BACK}"]]
    assert _run(*steps, restart_policy="OnFailure")[1] == never[1]
    retried = (PodStatus(container_statuses=(failed,)), PodStatus(container_statuses=(again,)))
    assert _run(*retried, restart_policy="OnFailure") == [[], []]
    assert _run(*steps, restart_policy="Always") == [[], []]


def test_a_model_writers_pod_status_pays_a_few_comparisons(monkeypatch: pytest.MonkeyPatch) -> None:
    """Five pods' lifecycles on one kubelet (four status writes each, status_manager.go): every
    write is validated, but none checks a condition type by name (the kubelet writes only types
    upstream's components use), no container transition is read (restartPolicy Always) and an
    IP is checked only when it changes (twice per pod: its podIP and hostIP set)."""
    calls: Counter[str] = Counter()
    for name in ("_qualified_name_messages", "_state_transition_causes", "is_sloppy_ip"):
        real = getattr(validation_podstatus, name)

        def counted(*args: Any, _real: Any = real, _name: str = name) -> Any:
            calls[_name] += 1
            return _real(*args)

        monkeypatch.setattr(validation_podstatus, name, counted)
    writes = run_virtual(five_pod_lifecycles, seed=0)
    assert writes == 5 * 4
    assert calls["_qualified_name_messages"] == 0
    assert calls["_state_transition_causes"] == 0
    assert calls["is_sloppy_ip"] == 5 * 2


async def test_a_bad_condition_type_through_the_front_door_is_422() -> None:
    """A client's strategic-merge PATCH of ``pods/<name>/status`` with a condition type that is
    no qualified name: 422 Invalid, the cause at upstream's ``metadata.conditions[i].Type``
    (validatePodConditions), and nothing stored."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        await with_web(cluster, replicas=1)
        (web,) = cluster.api.cache("pods").list("default")
        name = web.metadata.name
        patch = {"status": {"conditions": [{"type": "bad type!", "status": "True"}]}}
        out = await patch_pod_status(app, name, patch)
        assert out.status == 422, out.json()
        (cause,) = out.json()["details"]["causes"]
        assert cause["field"].startswith("metadata.conditions[")
        assert cause["field"].endswith("].Type")
        assert "name part must consist of alphanumeric characters" in cause["message"]
        await trio.sleep(1)
        stored = cluster.api.cache("pods").get(f"/registry/pods/default/{name}")
        assert stored.status.condition("bad type!") is None


def test_a_terminated_init_container_may_not_run_again_but_a_sidecar_may() -> None:
    """ValidateInitContainerStateTransition (validation.go): with restartPolicy Never, a
    terminated init container may not go back to running (``status.initContainerStatuses[i]
    .state``), but a sidecar (an init container of restartPolicy Always) may restart."""
    inits = (Container("setup", "busybox"), Container("proxy", "envoy", restart_policy="Always"))
    done = tuple(ContainerStatus(c.name, "terminated", "Completed", exit_code=0) for c in inits)
    again = tuple(ContainerStatus(c.name, "running", "") for c in inits)
    causes = _run(
        PodStatus(init_container_statuses=done),
        PodStatus(init_container_statuses=again),
        restart_policy="Never",
        init_containers=inits,
    )
    assert causes == [[], [f"status.initContainerStatuses[0].state: {NOT_BACK}"]]
