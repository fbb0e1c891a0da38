"""Work counting: a running cluster sleeps on the virtual clock's model timers, not on Trio's
cancel scopes (kubechaos.sim.timers; trio's _timeouts.py builds a CancelScope per sleep).

A small cluster with a Deployment and a Service runs a minute of virtual time; every kubelet
loop, heartbeat, API request's latency, kube-proxy sync, queue and controller wait in it is a
model timer. What still enters a CancelScope is leader election's bound on a renewal's requests
(client-go leaderelection.go renew: ``wait.PollImmediateUntil`` under a renewDeadline timeout, a
scope around API calls, not a sleep) and nurseries: a call site moved back to ``trio.sleep`` or
``move_on_at`` around a wait fails this.
"""

from __future__ import annotations

import sys

import pytest
import trio

from kubechaos.sim import timers
from kubechaos.sim.clock import VirtualClock
from tests.factories import deployment, service
from tests.harness import running, wait_until


async def test_a_running_cluster_sleeps_on_model_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    async with running(nodes=4, seed=2) as cluster:
        await cluster.api.create(deployment("web", replicas=8))
        await cluster.api.create(service("web"))
        await wait_until(lambda: len(cluster.api.cache("pods").list("default")) == 8, 120, "pods")
        await trio.sleep(30)

        scopes: dict[str, int] = {}
        enter = trio.CancelScope.__enter__

        def counting(self: trio.CancelScope) -> trio.CancelScope:
            caller = sys._getframe(1).f_code.co_name
            scopes[caller] = scopes.get(caller, 0) + 1
            return enter(self)

        clock = trio.lowlevel.current_clock()
        assert isinstance(clock, VirtualClock)
        armed = [0]
        add_timer = clock.add_timer

        def counting_timer(deadline: float, task: trio.lowlevel.Task, aborts: bool) -> None:
            armed[0] += 1
            add_timer(deadline, task, aborts)

        monkeypatch.setattr(trio.CancelScope, "__enter__", counting)
        monkeypatch.setattr(clock, "add_timer", counting_timer)
        await timers.sleep(60)  # the test's own wait is a model sleep too
        monkeypatch.undo()
    assert armed[0] > 200, "the cluster's loops sleep on model timers"
    assert set(scopes) <= {"_renew_round", "_try", "__aenter__"}, scopes
    assert sum(scopes.values()) <= armed[0] / 3, (armed[0], scopes)
