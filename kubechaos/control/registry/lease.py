"""Leases: node heartbeats and leader election; no status, no special update rules.

Upstream's pkg/registry/coordination/lease/strategy.go: PrepareForCreate/PrepareForUpdate only
drop the coordinated-leader-election fields when that (alpha, off by default in v1.32) feature
is off, which the model does not serve; ValidateLease/ValidateLeaseUpdate
(pkg/apis/coordination/validation/validation.go) check the metadata and the spec.
"""

from __future__ import annotations

from kubechaos.api import discovery
from kubechaos.api.objects import Lease
from kubechaos.api.objects.copying import replace
from kubechaos.api.validation import validate_lease, validate_lease_spec
from kubechaos.control.registry.strategy import ResourceType, Strategy, StrategyOptions


class LeaseStrategy(Strategy[Lease]):
    def __init__(self, resource: ResourceType, options: StrategyOptions) -> None:
        super().__init__(resource, options)
        # The Lease the renewal fast path of :meth:`update` just merged, whose metadata is the
        # stored (validated) one but its version: what the request path validates next.
        self._renewed: Lease | None = None

    def validate(self, obj: Lease) -> list[str]:
        """ValidateLease (a create)."""
        return validate_lease(obj)

    def validate_update(self, old: Lease, new: Lease) -> list[str]:
        """ValidateLeaseUpdate, whose metadata part (ValidateObjectMetaUpdate) checks what a
        client may change: the model's metadata checks find nothing new in the metadata the
        stored Lease was validated with, so the renewal fast path's merge (that metadata, only
        the version new) is not checked again; its spec is (ValidateLeaseSpec)."""
        if new is self._renewed:
            self._renewed = None
            return validate_lease_spec(new.spec)
        return validate_lease(new)

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
            self._renewed = Lease(replace(old.metadata, resource_version=version), new.spec)
            return self._renewed
        return super().update(old, new, version)


LEASES = ResourceType(discovery.LEASES, Lease, False, False, LeaseStrategy)
