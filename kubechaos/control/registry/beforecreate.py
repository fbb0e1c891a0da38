"""The generic step of every create: upstream's rest.BeforeCreate.

staging/src/k8s.io/apiserver/pkg/registry/rest/create.go: the name generated from
``generateName``, the request's namespace (``default`` here, as kubectl's), namespace lifecycle
(a create in a namespace that does not exist is 404), the metadata the server owns (UID,
creationTimestamp, no deletion, generation 1 for kinds that count it; the resourceVersion the
write will commit at, :mod:`.stamp`), then the kind's PrepareForCreate and its mutating
admission, then validation (422).

The object is copied once for all of it when the kind states its rules as changes
(:meth:`~.strategy.Strategy.create_changes`: pods, created by the thousand); a kind that does
not has them called on the metadata's copy, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from random import Random
from typing import Any

from kubechaos.api import errors
from kubechaos.api.objects import APIObject
from kubechaos.api.objects.copying import replace
from kubechaos.control.registry.resources import etcd_key
from kubechaos.control.registry.strategy import Strategy
from kubechaos.sim.clock import now
from kubechaos.sim.rand import Rng, uuid4_text


def before_create(
    strategy: Strategy[Any],
    obj: APIObject,
    namespace_of: Callable[[str], Any],
    rng: Rng,
    uids: Random,
    version: str,
) -> Any:
    """``obj`` as it will be written, or the API error that refuses it. ``namespace_of``: the
    namespace stored under an etcd key (None if absent); ``rng`` draws a generated name's
    suffix, ``uids`` the UID, in that order (the namespace checked between them)."""
    rtype = strategy.resource
    meta = obj.metadata
    name, namespace = meta.name, meta.namespace
    if not name and meta.generate_name:
        name = rng.generated_name(meta.generate_name, "generate-name")
    if rtype.namespaced:
        namespace = namespace or "default"
        if namespace_of(etcd_key("namespaces", "", namespace)) is None:
            raise errors.NotFound(f'namespaces "{namespace}" not found')
    meta = replace(  # one copy of the metadata for all the server sets
        meta,
        name=name,
        namespace=namespace,
        uid=uuid4_text(uids),
        resource_version=version,
        creation_timestamp=now(),
        deletion_timestamp=None,
        deletion_grace_period_seconds=None,
        generation=1 if rtype.bumps_generation else 0,
    )
    # A kind that states its create rules as changes (pods: every create of a workload) has
    # them made in the metadata's copy of the object: one copy, not one per rule.
    changes = strategy.create_changes(obj, meta)
    if changes is None:
        obj = strategy.admit(strategy.prepare_for_create(replace(obj, metadata=meta)))
    else:
        obj = replace(obj, metadata=meta, **changes)
    causes = strategy.validate(obj)
    if causes:
        raise errors.Invalid(type(obj).__name__, meta.name, causes)
    return obj


__all__ = ["before_create"]
