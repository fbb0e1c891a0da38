"""The pods' binding and eviction subresources, as they write etcd (upstream's
pkg/registry/core/pod/storage/storage.go BindingREST and pkg/registry/core/pod/storage/eviction.go).
"""

from __future__ import annotations

from typing import Any

from kubechaos.api import errors
from kubechaos.api.objects import Pod
from kubechaos.api.objects.copying import replace
from kubechaos.control.etcd import Compare, Delete, Etcd
from kubechaos.control.registry import eviction
from kubechaos.control.registry.deletemark import mark_deleting
from kubechaos.control.registry.pod import with_scheduled_condition
from kubechaos.control.registry.resources import etcd_key, etcd_prefix
from kubechaos.control.registry.stamp import next_version
from kubechaos.control.registry.strategy import Strategy


def _spend_budget(etcd: Etcd, pod: Pod) -> None:
    """Check the pod's budget and write it decremented (429 if at 0; 500 if several)."""
    prefix = etcd_prefix("poddisruptionbudgets") + pod.metadata.namespace + "/"
    kvs = {kv.value.metadata.name: kv for kv in etcd.store.range(prefix)}
    budgets = eviction.matching_budgets(pod, [kv.value for kv in kvs.values()])
    if len(budgets) > 1:
        raise errors.InternalError(
            "This pod has more than one PodDisruptionBudget, which the eviction "
            "subresource does not support."
        )
    if not budgets:
        return
    spent = eviction.decide(pod, budgets[0])
    if spent is None:
        return
    kv = kvs[spent.metadata.name]
    result = etcd.put_if_mod(kv.key, kv.mod_revision, spent)
    if not result.succeeded:  # pragma: no cover - nothing runs between read and write
        raise errors.Conflict("the PodDisruptionBudget was modified during eviction")


def bind(etcd: Etcd, namespace: str, name: str, node_name: str) -> tuple[Pod, int]:
    """One binding in etcd (``spec.nodeName`` set once, PodScheduled): the pod and revision."""
    key = etcd_key("pods", namespace, name)
    kv = etcd.get(key)
    if kv is None:
        raise errors.NotFound(f'pods "{name}" not found')
    pod: Pod = kv.value
    if pod.spec.node_name:
        raise errors.Conflict(f'pod {name} is already assigned to node "{pod.spec.node_name}"')
    if pod.metadata.deletion_timestamp is not None:
        raise errors.Conflict(f"pod {name} is being deleted, cannot be assigned to a host")
    meta = replace(pod.metadata, resource_version=next_version(etcd))  # one copy, stamped
    bound = with_scheduled_condition(
        pod, metadata=meta, spec=replace(pod.spec, node_name=node_name)
    )
    result = etcd.put_if_mod(key, kv.mod_revision, bound)
    if not result.succeeded:
        raise errors.Conflict(f'Operation cannot be fulfilled on pods/binding "{name}"')
    return bound, result.revision


def evict(
    etcd: Etcd, pods: Strategy[Any], namespace: str, name: str, grace_period_seconds: int | None
) -> Pod:
    """One eviction in etcd: spend the pod's budget (429 if it has none to spend), mark the pod
    ``DisruptionTarget``, then delete it gracefully (eviction.go's order)."""
    key = etcd_key("pods", namespace, name)
    kv = etcd.get(key)
    if kv is None:
        raise errors.NotFound(f'pods "{name}" not found')
    pod: Pod = kv.value
    if not eviction.can_ignore_pdb(pod):
        _spend_budget(etcd, pod)
    marked = eviction.with_disruption_target(pod)
    result = etcd.put_if_mod(key, kv.mod_revision, marked)
    if not result.succeeded:  # pragma: no cover - nothing runs between the two
        raise errors.Conflict(f'pods "{name}" was modified during eviction')
    kv = etcd.get(key)
    assert kv is not None
    grace = pods.deletion_grace(marked, grace_period_seconds)
    if grace == 0 and not marked.metadata.finalizers:
        etcd.txn([Compare(key, "mod", "=", kv.mod_revision)], [Delete(key)])
        return marked
    return mark_deleting(etcd, "pods", kv, grace)  # type: ignore[return-value]


__all__ = ["bind", "evict"]
