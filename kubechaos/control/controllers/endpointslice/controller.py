"""The EndpointSlice controller (pkg/controller/endpointslice, v1.32): a Service's pods as
EndpointSlices of at most ``--max-endpoints-per-slice`` (100) endpoints each.

Every Service with a selector gets slices labelled ``kubernetes.io/service-name`` and
``endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io``, owned by the Service.
Each pod with an IP that is not Succeeded/Failed is an endpoint (``ShouldPodBeInEndpoints(pod,
true)``: terminating pods stay until they are gone) with the conditions of ``podToEndpoint``
(staging/src/k8s.io/endpointslice/utils.go):

- ``serving``: the pod is Ready;
- ``terminating``: the pod has a deletionTimestamp;
- ``ready``: serving and not terminating, or the Service's ``publishNotReadyAddresses``.

Pod events reach only the Services that select the pod (the index shared with the Endpoints
controller, :mod:`~kubechaos.control.controllers.servicepods`) and are queued after
``--endpointslice-updates-batch-period`` (0: at once); Service events at once. A Service's
endpoints are kept from the pods those events touched
(:mod:`~kubechaos.control.controllers.endpointslice.endpointset`), so a sync reads those pods
rather than all of the Service's as upstream's syncService does, with the same result. The slices
to write come from :func:`~kubechaos.control.controllers.endpointslice.reconciler.plan_slices`,
which, while the Service's slices are as this controller last wrote them, compares only the slices
holding a changed address (the same plan as comparing every endpoint).

Like the Endpoints controller, it reads its own writes: a sync sees the newest of the informer's
copy and the copy its last write returned, so it never rewrites a slice the informer has not caught
up with (upstream's endpointSliceTracker turns the same situation into a retry). A managed slice
someone else deletes is recreated one second later (``endpointSliceChangeMinSyncDelay``).

Differences from upstream: the slices of a deleted Service are deleted by this controller rather
than by the garbage collector through their ownerReference (the model's collector does not watch
slices); other writers' edits to a managed slice are not reverted until the Service next syncs;
addresses are IPv4 only; no topology hints (``trafficDistribution``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.objects import (
    EndpointConditions,
    EndpointSlice,
    EndpointTargetRef,
    Node,
    ObjectMeta,
    OwnerReference,
    Pod,
    Service,
    ServicePort,
    SliceEndpoint,
    key_of,
)
from kubechaos.api.objects.endpointslice import (
    CONTROLLER_NAME,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
)
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.controllers.endpointslice.endpointset import (
    Contribution,
    EndpointSet,
    EndpointSets,
)
from kubechaos.control.controllers.endpointslice.reconciler import (
    Ports,
    plan_slices,
)
from kubechaos.control.controllers.servicepods import ServicePodsController

ZONE_LABEL = "topology.kubernetes.io/zone"
# endpointSliceChangeMinSyncDelay (pkg/controller/endpointslice/endpointslice_controller.go)
SLICE_CHANGE_MIN_SYNC_DELAY = 1.0


def _rv(obj: EndpointSlice) -> int:
    return int(obj.metadata.resource_version or 0)


# the eight conditions an endpoint can have (ready, serving, terminating), shared: immutable
CONDITIONS = {
    (ready, serving, terminating): EndpointConditions(ready, serving, terminating)
    for ready in (False, True)
    for serving in (False, True)
    for terminating in (False, True)
}


def pod_independent_ports(svc: Service) -> Ports | None:
    """The slice ports of every pod for ``svc`` when no target port is named (no pod is read),
    else None."""
    out: list[ServicePort] = []
    for port in svc.spec.ports:
        target = port.target_port or port.port
        if isinstance(target, str):
            return None
        out.append(ServicePort(target, 0, port.name, port.protocol))
    return tuple(out)


def endpoint_ports(svc: Service, pod: Pod) -> Ports:
    """The slice ports of ``pod`` for ``svc`` (upstream's getEndpointPorts): each Service port's
    target port, a named one looked up among the pod's container ports (skipped if absent)."""
    out: list[ServicePort] = []
    for port in svc.spec.ports:
        target = port.target_port or port.port
        if isinstance(target, str):
            found = [
                p.container_port
                for c in pod.spec.containers
                for p in c.ports
                if p.name == target and p.protocol == port.protocol
            ]
            if not found:
                continue
            target = found[0]
        out.append(ServicePort(target, 0, port.name, port.protocol))
    return tuple(out)


class EndpointSliceController(ServicePodsController):
    name = "endpointslice-controller"
    queue_name = "endpoint_slice"  # upstream's workqueue name

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        settings = ctx.settings
        self.workers = settings.concurrent_service_endpoint_syncs
        self.max_per_slice = settings.max_endpoints_per_slice
        self.batch_period = settings.endpointslice_updates_batch_period
        self.nodes: Informer[Node] = ctx.informer("nodes", self.name)
        self.slices: Informer[EndpointSlice] = ctx.informer("endpointslices", self.name)
        self._slices_of: dict[str, dict[str, None]] = {}  # service key -> its slices' keys
        self._written: dict[str, EndpointSlice] = {}  # slice key -> what our last write returned
        self._deleting: set[str] = set()  # slice keys we deleted, until the informer sees it
        # slice key -> (resourceVersion, its addresses with their positions): see _ips
        self._ips_of: dict[str, tuple[int, Mapping[str, int]]] = {}
        self.endpoint_sets = EndpointSets()  # each Service's endpoints, kept from pod events
        # service key -> (its metadata object, its new slice, that slice per port list)
        self._templates: dict[str, tuple[ObjectMeta, EndpointSlice, dict[Ports, EndpointSlice]]]
        self._templates = {}
        self.syncs = 0  # services synced (for tests that count work)
        self.slices.add_handler(
            Handler(self._on_slice_add, self._on_slice_update, self._on_slice_delete)
        )
        self.nodes.add_handler(
            Handler(self._on_node_add, self._on_node_update, self._on_node_delete)
        )

    # ------------------------------------------------------------------ lifecycle
    async def wait_synced(self) -> None:
        for informer in (self.services, self.pods, self.nodes, self.slices):
            await informer.synced.wait()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            for informer in (self.services, self.pods, self.nodes, self.slices):
                nursery.start_soon(informer.run)
            await self.wait_synced()
            for skey in list(self._slices_of):
                if self.services.get(skey) is None:
                    self.enqueue(skey)  # slices left by a Service deleted while we were down
            await super().run()

    def enqueue_pod_services(self, keys: Iterable[str], pod_key: str) -> None:
        for key in keys:
            self.endpoint_sets.pod_changed(key, pod_key)
            if self.batch_period > 0:
                self.queue.add_after(key, self.batch_period)
            else:
                self.enqueue(key)

    # ------------------------------------------------------------------ nodes: their zone
    def _on_node_add(self, node: Node) -> None:
        if node.metadata.labels.get(ZONE_LABEL, ""):
            self.endpoint_sets.node_changed(node.metadata.name)

    def _on_node_update(self, old: Node, new: Node) -> None:
        if old.metadata.labels.get(ZONE_LABEL, "") != new.metadata.labels.get(ZONE_LABEL, ""):
            self.endpoint_sets.node_changed(new.metadata.name)

    def _on_node_delete(self, node: Node) -> None:
        self._on_node_add(node)

    # ------------------------------------------------------------------ slices seen and written
    @staticmethod
    def _service_key(eps: EndpointSlice) -> str | None:
        labels = eps.metadata.labels
        if labels.get(LABEL_MANAGED_BY) != CONTROLLER_NAME or not labels.get(LABEL_SERVICE_NAME):
            return None
        return f"{eps.metadata.namespace}/{labels[LABEL_SERVICE_NAME]}"

    def _track(self, eps: EndpointSlice) -> None:
        skey = self._service_key(eps)
        if skey is not None:
            self._slices_of.setdefault(skey, {})[key_of(eps)] = None

    def _untrack(self, eps: EndpointSlice) -> None:
        skey = self._service_key(eps)
        keys = self._slices_of.get(skey or "")
        if keys is not None:
            keys.pop(key_of(eps), None)
            if not keys:
                del self._slices_of[skey or ""]

    def _seen(self, eps: EndpointSlice) -> None:
        key = key_of(eps)
        written = self._written.get(key)
        if written is not None and _rv(written) <= _rv(eps):
            del self._written[key]  # the informer has caught up with our write

    def _on_slice_add(self, eps: EndpointSlice) -> None:
        self._track(eps)
        self._seen(eps)

    def _on_slice_update(self, old: EndpointSlice, new: EndpointSlice) -> None:
        if self._service_key(old) != self._service_key(new):
            self._untrack(old)
        self._track(new)
        self._seen(new)

    def _on_slice_delete(self, eps: EndpointSlice) -> None:
        key = key_of(eps)
        self._untrack(eps)
        self._ips_of.pop(key, None)
        self._written.pop(key, None)
        if key in self._deleting:
            self._deleting.discard(key)
            return
        skey = self._service_key(eps)
        if skey is not None:  # someone else deleted a managed slice: put it back
            self.queue.add_after(skey, max(SLICE_CHANGE_MIN_SYNC_DELAY, self.batch_period))

    def current_slices(self, skey: str) -> list[EndpointSlice]:
        """This controller's slices of Service ``skey``, newest copy of each, by name."""
        out: list[EndpointSlice] = []
        for key in sorted(self._slices_of.get(skey, ())):
            if key in self._deleting:
                continue
            seen = self.slices.get(key)
            written = self._written.get(key)
            if written is not None and (seen is None or _rv(written) > _rv(seen)):
                seen = written
            if seen is not None:
                out.append(seen)
        return out

    # ------------------------------------------------------------------ desired state
    def _endpoint(self, svc: Service, pod: Pod) -> SliceEndpoint:
        serving = pod.is_ready()
        terminating = pod.metadata.deletion_timestamp is not None
        ready = svc.spec.publish_not_ready_addresses or (serving and not terminating)
        node = self.nodes.get(pod.spec.node_name) if pod.spec.node_name else None
        meta = pod.metadata
        return SliceEndpoint(
            addresses=(pod.status.pod_ip,),
            conditions=CONDITIONS[(ready, serving, terminating)],
            node_name=pod.spec.node_name,
            zone=node.metadata.labels.get(ZONE_LABEL, "") if node is not None else "",
            target_ref=EndpointTargetRef("Pod", meta.namespace, meta.name, meta.uid),
        )

    def _contribution(self, svc: Service, pod: Pod, ports: Ports | None) -> Contribution | None:
        """What ``pod`` adds to ``svc``'s endpoints: nothing without an IP or once Succeeded or
        Failed (ShouldPodBeInEndpoints with includeTerminating). ``ports``: every pod's port
        list (one object for all: :func:`pod_independent_ports`), None to resolve the pod's."""
        if not pod.status.pod_ip or pod.is_terminal():
            return None
        if ports is None:
            ports = endpoint_ports(svc, pod)
        return ports, pod.status.pod_ip, self._endpoint(svc, pod)

    def desired(self, svc: Service) -> tuple[EndpointSet, bool]:
        """``svc``'s endpoint set brought up to date (``wanted``: the endpoints its slices should
        hold, by port list then IP) from the pods touched since the last sync, or from every
        selected pod when the set is new or the Service changed (then True)."""
        skey = key_of(svc)
        spec = (svc.spec.selector, svc.spec.ports, svc.spec.publish_not_ready_addresses)
        sets = self.endpoint_sets
        found = sets.get(skey)
        rebuilt = found is None or found.spec != spec
        if found is None or rebuilt:
            found = sets.rebuild(skey, spec, pod_independent_ports(svc))
            for pkey, pod in self.selected_pods(svc):
                sets.set(skey, found, pkey, self._contribution(svc, pod, found.same_ports))
        else:
            dirty, found.dirty_pods = found.dirty_pods, {}
            store, ports = self.pods.store, found.same_ports
            for pkey in dirty:
                now = store.get(pkey)
                selected = now is not None and self.selects(svc, pkey)
                contribution = self._contribution(svc, now, ports) if now and selected else None
                sets.set(skey, found, pkey, contribution)
        found.settle(lambda: self.selection_order(svc))
        return found, rebuilt

    def group_templates(
        self, svc: Service
    ) -> tuple[EndpointSlice, Callable[[Ports], EndpointSlice]]:
        """:meth:`template`, and the new slice of ``svc`` for each port list (the template with
        the ports), built once per Service object rather than on every sync (the objects are
        immutable)."""
        skey, meta = key_of(svc), svc.metadata
        hit = self._templates.get(skey)
        if hit is None or hit[0] is not meta:
            hit = self._templates[skey] = (meta, self.template(svc), {})
        _, template, groups = hit

        def group(ports: Ports) -> EndpointSlice:
            found = groups.get(ports)
            if found is None:
                found = groups[ports] = attrs.evolve(template, ports=ports)
            return found

        return template, group

    def template(self, svc: Service) -> EndpointSlice:
        meta = svc.metadata
        labels = {
            **meta.labels,
            LABEL_SERVICE_NAME: meta.name,
            LABEL_MANAGED_BY: CONTROLLER_NAME,
        }
        owner = OwnerReference("Service", meta.name, meta.uid, True)
        return EndpointSlice(
            ObjectMeta(
                generate_name=f"{meta.name}-",
                namespace=meta.namespace,
                labels=labels,
                owner_references=(owner,),
            )
        )

    # ------------------------------------------------------------------ reconcile
    async def sync(self, key: str) -> None:
        self.syncs += 1
        svc = self.services.get(key)
        current = self.current_slices(key)
        if svc is None or not svc.spec.selector:
            self.endpoint_sets.forget(key)
            self._templates.pop(key, None)
        if svc is None:
            for eps in current:
                await self._delete(eps)
            return
        if not svc.spec.selector:
            return  # a Service without a selector gets no slices from this controller
        found, rebuilt = self.desired(svc)
        changed: dict[Ports, set[str]] | None = found.take_changed()
        verified, found.verified = found.verified, None  # until every write of this sync is done
        after = {key_of(eps): _rv(eps) for eps in current}  # the slices now, then as written
        if rebuilt or verified != after:
            changed = None  # someone else's write, or ours that failed: compare every endpoint
        template, groups = self.group_templates(svc)
        plan = plan_slices(
            current, found.wanted, template, self.max_per_slice, changed, self._ips, groups
        )
        for eps in plan.create:
            written = await self.api.create(self._named(eps))
            self._remember(written)
            after[key_of(written)] = _rv(written)
        for eps in plan.update:
            written = await self.api.update(eps)
            self._remember(written)
            after[key_of(written)] = _rv(written)
            known = plan.positions.get(id(eps))
            if known is not None and len(written.endpoints) == len(eps.endpoints):
                # the positions the plan knew (the server keeps the endpoints' order): the
                # written version's addresses are not read again at the next sync
                self._ips_of[key_of(written)] = (_rv(written), known)
        for eps in plan.delete:
            await self._delete(eps)
            after.pop(key_of(eps), None)
        if self.endpoint_sets.get(key) is found:
            found.verified = after

    def _ips(self, eps: EndpointSlice) -> Mapping[str, int]:
        """The addresses of one version of a slice, each with its position in the slice
        (remembered by key and resourceVersion)."""
        key, rv = key_of(eps), _rv(eps)
        hit = self._ips_of.get(key)
        if hit is None or hit[0] != rv:
            # (endpoint_key inlined: one mapping per slice version, of up to 100 endpoints)
            by_address = {e.addresses[0]: i for i, e in enumerate(eps.endpoints)}
            hit = self._ips_of[key] = (rv, by_address)
        return hit[1]

    def _named(self, eps: EndpointSlice) -> EndpointSlice:
        """The API server would pick the suffix of ``generateName``; it is picked here from the
        controller's own seeded stream so the pods' generated names stay as they were."""
        name = self.ctx.rng.generated_name(eps.metadata.generate_name, "endpointslice-names")
        return attrs.evolve(eps, metadata=attrs.evolve(eps.metadata, name=name))

    def _remember(self, written: EndpointSlice) -> None:
        seen = self.slices.get(key_of(written))
        if seen is None or _rv(seen) < _rv(written):
            self._written[key_of(written)] = written
        self._track(written)

    async def _delete(self, eps: EndpointSlice) -> None:
        key = key_of(eps)
        self._deleting.add(key)
        self._written.pop(key, None)
        try:
            await self.api.delete("endpointslices", eps.metadata.namespace, eps.metadata.name)
        except errors.NotFound:
            self._deleting.discard(key)
            if self.slices.get(key) is None:
                self._untrack(eps)


__all__ = ["EndpointSliceController", "endpoint_ports"]
