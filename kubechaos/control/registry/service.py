"""Services: a ClusterIP allocated on create (or the requested one checked), immutable after.

Upstream's pkg/registry/core/service/strategy.go, with the allocation its REST storage does
(pkg/registry/core/service/storage/alloc.go); the allocator's state is the
:class:`~kubechaos.control.registry.ipallocator.ClusterIPAllocator` this strategy is given.
"""

from __future__ import annotations

import ipaddress

import attrs

from kubechaos.api import discovery, errors
from kubechaos.api.objects import Service
from kubechaos.api.validation_service import (
    EXTERNAL_NAME,
    service_update_causes,
    validate_service,
)
from kubechaos.control.registry.strategy import ResourceType, Strategy
from kubechaos.defaults import SERVICE_CIDR


class ServiceStrategy(Strategy[Service]):
    def admit(self, obj: Service) -> Service:
        if obj.spec.type != "ExternalName":
            if not obj.spec.cluster_ip:
                ip = self.options.cluster_ips.allocate()
                obj = attrs.evolve(obj, spec=attrs.evolve(obj.spec, cluster_ip=ip))
            elif obj.spec.cluster_ip != "None":
                self._check_requested_ip(obj)
        return obj

    def _check_requested_ip(self, svc: Service) -> None:
        cluster_ips = self.options.cluster_ips
        try:
            ip = ipaddress.ip_address(svc.spec.cluster_ip)
        except ValueError:
            raise errors.Invalid(
                "Service",
                svc.metadata.name,
                [f"spec.clusterIP: Invalid value: {svc.spec.cluster_ip!r}"],
            ) from None
        if ip not in cluster_ips.network:
            raise errors.Invalid(
                "Service",
                svc.metadata.name,
                [
                    f"spec.clusterIP: Invalid value: {svc.spec.cluster_ip!r}: not in the service CIDR {SERVICE_CIDR}"
                ],
            )
        if svc.spec.cluster_ip in cluster_ips:
            raise errors.Invalid(
                "Service",
                svc.metadata.name,
                [
                    f"spec.clusterIP: Invalid value: {svc.spec.cluster_ip!r}: provided IP is already allocated"
                ],
            )

    def validate(self, obj: Service) -> list[str]:
        return validate_service(obj)

    def after_create(self, obj: Service) -> None:
        if obj.spec.cluster_ip and obj.spec.cluster_ip != "None":  # headless: no IP to hold
            self.options.cluster_ips.mark_taken(obj.spec.cluster_ip)

    def validate_update(self, old: Service, new: Service) -> list[str]:
        return service_update_causes(old, new)

    def prepare_for_update(self, old: Service, new: Service) -> Service:
        """An update that leaves spec.clusterIP empty keeps the old one (upstream's REST storage,
        ``patchAllocatedValues``); one that turns the Service into an ExternalName one drops the
        IP it kept (strategy.go ``dropTypeDependentFields``). Changing it is refused by
        :meth:`validate_update`."""
        ip, was = new.spec.cluster_ip, old.spec.cluster_ip
        if old.spec.type != EXTERNAL_NAME:
            if new.spec.type != EXTERNAL_NAME and not ip:
                ip = was
            elif new.spec.type == EXTERNAL_NAME and ip == was:
                ip = ""
        if ip != new.spec.cluster_ip:
            new = attrs.evolve(new, spec=attrs.evolve(new.spec, cluster_ip=ip))
        return new

    def after_delete(self, obj: Service) -> None:
        self.options.cluster_ips.release(obj.spec.cluster_ip)


SERVICES = ResourceType(discovery.SERVICES, Service, False, False, ServiceStrategy)
