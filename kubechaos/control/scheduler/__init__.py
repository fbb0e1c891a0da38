"""kube-scheduler: puts each unscheduled pod on a node, one scheduling cycle at a time.

The shape is upstream's (pkg/scheduler, v1.32), one module per part:

* **Informers** on nodes and on all pods keep the scheduler's *cache* (:mod:`.cache`; the types
  it shares with the rest are in :mod:`.framework`): one ``NodeInfo`` per node with the summed
  requests and pod count of the pods bound (or assumed) there; the pod-constraint plugins'
  counts per label selector live in :mod:`.podindex`. Every informer event adjusts these in O(1)
  (per registered selector of the pod's namespace); a scheduling cycle never rescans pods.
  Succeeded and Failed pods hold nothing (upstream's scheduler watches pods with
  ``status.phase!=Succeeded,status.phase!=Failed``).
* **The scheduling queue** (:mod:`.queue`): *activeQ* (ready to try: highest priority first, then oldest entry),
  *backoffQ* (failed recently: 1 s after the first failed attempt, doubling to 10 s) and
  *unschedulablePods* (no node fits; parked until a cluster event could change that, and flushed
  after 5 min regardless).
* **A cycle** (:mod:`.scheduler`) filters nodes with the plugins of :mod:`.plugins`
  (NodeUnschedulable, TaintToleration, NodeAffinity's nodeSelector, NodeResourcesFit, then
  PodTopologySpread and InterPodAffinity of :mod:`.placement`, in upstream's plugin order; a
  node whose Ready condition is not True counts as carrying the not-ready/unreachable
  ``NoSchedule`` taint the node lifecycle controller would put on it), stops once it has found
  enough feasible nodes (``percentageOfNodesToScore``, starting where the last cycle stopped so
  every node gets its turn), scores the feasible ones
  (LeastAllocated, BalancedAllocation, NodeAffinity, TaintToleration, ImageLocality,
  PodTopologySpread with the cluster-default constraints, InterPodAffinity)
  and picks the best, ties broken at random.
* **Preemption** (:mod:`.preemption`): a pod no node fits runs the DefaultPreemption
  PostFilter, which evicts lower-priority pods from one node (PodDisruptionBudgets respected
  where it can) and nominates that node to the pod; nominated pods count on their node for pods
  of no higher priority until they bind.
* **Assume, then bind**: the chosen node is charged at once, so the next cycle sees the pod as
  placed while the binding request is still in flight; the pod informer's update carrying
  ``spec.nodeName`` confirms the assumption, a failed bind forgets it.

Cluster events that could make a parked pod schedulable (a node added or changed in a way that
matters, a pod on a node deleted or finished, a forgotten assumption) are collected per node and
applied before the next pop: a parked pod moves only if it now passes every filter on one of
those nodes — the precise form of upstream's queueing hints, and cheap because an event on one
node can only help on that node.

The package exports :class:`Scheduler`, what the cluster runs.
"""

from kubechaos.control.scheduler.scheduler import Scheduler

__all__ = ["Scheduler"]
