"""The node lifecycle monitor's per-pass work, counted deterministically (issue 16).

Upstream's monitorNodeHealth (pkg/controller/nodelifecycle/node_lifecycle_controller.go) asks
of every node every ``nodeMonitorPeriod`` whether it is overdue: ``tryUpdateNodeHealth`` picks
the grace period (``nodeStartupGracePeriod`` for a node never seen Ready, else
``nodeMonitorGracePeriod``) and compares the last probe with it. A node whose kubelet proved it
alive within the shorter of the two is in time whichever applies, so the model decides that
without looking at the node's conditions: a healthy fleet's pass picks no grace period at all.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import trio

from kubechaos.api.objects import Node
from kubechaos.control.controllers.nodelifecycle import NodeLifecycleController

from .test_nodelifecycle import GRACE, PERIOD, cluster, get_node


@pytest.fixture
def grace_periods_picked(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often the controller picked a node's grace period, by node."""
    picked: Counter[str] = Counter()
    grace_period = NodeLifecycleController._grace_period

    def counted(self: NodeLifecycleController, name: str, node: Node) -> Any:
        picked[name] += 1
        return grace_period(self, name, node)

    monkeypatch.setattr(NodeLifecycleController, "_grace_period", counted)
    return picked


async def test_a_healthy_fleets_pass_picks_no_grace_period(
    grace_periods_picked: Counter[str],
) -> None:
    """Five nodes renewing their Leases every 10 s for 2 minutes (24 passes over 5 nodes):
    none is ever close to overdue, so no pass picks a grace period (before: 120 picks)."""
    async with cluster("n1", "n2", "n3", "n4", "n5"):
        await trio.sleep(120)
    assert grace_periods_picked == Counter()


async def test_only_a_quiet_node_has_its_grace_period_picked(
    grace_periods_picked: Counter[str],
) -> None:
    """One of three kubelets stops: only its node, and only once its last renewal is older than
    the shorter grace period, has its grace period picked; it still turns Unknown (the timing:
    tests/test_nodelifecycle.py)."""
    async with cluster("n1", "n2", "n3") as (ctx, kubelets):
        await trio.sleep(30)
        kubelets["n2"].alive = False
        await trio.sleep(GRACE + 4 * PERIOD)
        ready = (await get_node(ctx, "n2")).status.condition("Ready")
        assert ready is not None and ready.status == "Unknown"
        await trio.sleep(60)
    # every pass from the shorter grace on (an Unknown node stays overdue: nothing is written)
    assert set(grace_periods_picked) == {"n2"}, grace_periods_picked
