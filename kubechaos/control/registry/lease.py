"""Leases: node heartbeats and leader election; no status, no special rules.

Upstream's pkg/registry/coordination/lease/strategy.go: PrepareForCreate/PrepareForUpdate only
drop the coordinated-leader-election fields when that (alpha, off by default in v1.32) feature
is off, which the model does not serve; ValidateLease/ValidateLeaseUpdate
(pkg/apis/coordination/validation/validation.go) check the metadata.
"""

from __future__ import annotations

from kubechaos.api import discovery
from kubechaos.api.objects import Lease
from kubechaos.api.objects.copying import replace
from kubechaos.api.validation import validate_lease
from kubechaos.control.registry.strategy import ResourceType, Strategy


class LeaseStrategy(Strategy[Lease]):
    def validate(self, obj: Lease) -> list[str]:
        return validate_lease(obj)

    def update(self, old: Lease, new: Lease, version: str = "") -> Lease:
        """A renewal's fast path (every node's kubelet, every 10 s): a client that sends back
        the very metadata it was served (the kubelet's node lease controller, leader election)
        gets the stored metadata with the new ``version``, and the new spec.

        It must agree with :meth:`Strategy.update`, which copies the server-owned metadata
        fields from ``old`` over ``new``'s: when ``new.metadata is old.metadata`` every field
        of that merge is ``old``'s but the version, and a Lease has no status, no generation
        and nothing else to prepare. Any other write takes the generic merge.
        """
        if type(new) is Lease and new.metadata is old.metadata:
            return Lease(replace(old.metadata, resource_version=version), new.spec)
        return super().update(old, new, version)


LEASES = ResourceType(discovery.LEASES, Lease, False, False, LeaseStrategy)
