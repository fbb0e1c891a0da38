"""The kubelet: one per node, turning the pods bound to it into running containers.

Shaped as upstream's ``pkg/kubelet``. Upstream runs a goroutine per pod (pod workers), per probe
(prober workers) and a PLEG relisting the runtime every second; at 150,000 pods that shape would
cost millions of task wakeups per virtual minute, so this kubelet keeps the *timing* of upstream
and changes only the machinery. Four tasks per node, started by :class:`Kubelet` in this order:

* the **heartbeat** (:mod:`.node_status`, :mod:`.nodelease`) registers the Node, renews its
  Lease every ``nodeLeaseDurationSeconds / 4`` and posts node status when it changed, else every
  ``nodeStatusReportFrequency``;
* the **informer** watches the pods bound to the node (``spec.nodeName`` field selector) and
  hands changes to the node loop;
* the **node loop** (:mod:`.pod_workers`) owns all pod and container state and a heap of typed
  timers (:mod:`.timers`) for everything that will happen at a known time: a runtime operation
  completing (sandbox, image pull, create, start), a process exiting, a probe result flipping
  (computed ahead by :mod:`kubechaos.node.probes`), a CrashLoopBackOff expiring, a SIGTERMed
  process being gone. It wakes once per distinct instant with work, handles everything due, and
  sleeps: a healthy container costs nothing after it is ready. Its steps are the pod-level
  :mod:`.pod_lifecycle` (sandbox, Ready, the pod's end) and the container-level
  :mod:`.containers` (start, probes, stop, restart with back-off), after :mod:`.admission`;
* the **status manager** (:mod:`.status_manager`) posts ``Pod.status`` for the pods the loop
  marked dirty, one write per pod however many changes piled up, re-reading on Conflict; it also
  deletes pods whose graceful termination is complete, as upstream's status manager does.

Cancelling :meth:`Kubelet.run` stops the kubelet process; what happens to the containers is the
runtime's business. A new ``Kubelet`` for the same node starts from what the runtime holds
(:mod:`.restore`): after a **reboot** the runtime is empty and the pods start again, continuing
their restart counts; after a **kubelet restart** the containers kept running and are adopted.

A container killed behind the kubelet's back (:meth:`ContainerRuntime.kill
<kubechaos.node.runtime.ContainerRuntime.kill>`) reaches the node loop through the runtime's
``unseen_exits`` and ``listener``: the loop is woken and handles the exit like any other (restart
per policy, CrashLoopBackOff). Upstream's PLEG notices within its 1 s relist; here it is at once.
"""

from kubechaos.node.kubelet.kubelet import Kubelet

__all__ = ["Kubelet"]
