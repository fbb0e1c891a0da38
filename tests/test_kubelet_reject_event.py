"""What the kubelet says when its admission rejects a pod.

Upstream's ``rejectPod`` (pkg/kubelet/kubelet.go) records a Warning event with the admission's
reason and message as they are, and sets the pod's status to phase Failed with the same reason
and the message prefixed with "Pod was rejected: ". So ``kubectl describe`` shows the event as
"OutOfcpu  Node didn't have enough resource: cpu, ..." and the status message as
"Pod was rejected: Node didn't have enough resource: cpu, ...".
"""

from __future__ import annotations

from kubechaos.node.podstate import POD_REJECTED
from tests.harness import running
from tests.test_kubelet_admission32 import bound_pod, kubelet_rejection, settled

CPU_REJECTION = "Node didn't have enough resource: cpu, requested: 64000, used: "


async def test_the_event_carries_the_message_and_the_status_prefixes_it() -> None:
    async with running(nodes=1) as cluster:
        await cluster.api.create(bound_pod("greedy", cpu=64000))
        phase, reason, status_message = (await settled(cluster, "greedy"))["greedy"]
        event_reason, event_message = await kubelet_rejection(cluster, "greedy")
    assert (phase, reason, event_reason) == ("Failed", "OutOfcpu", "OutOfcpu")
    assert event_message.startswith(CPU_REJECTION)
    assert status_message == POD_REJECTED + event_message
    assert POD_REJECTED == "Pod was rejected: "
