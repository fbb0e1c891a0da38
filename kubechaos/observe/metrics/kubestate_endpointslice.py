"""kube-state-metrics' EndpointSlice families (internal/store/endpointslice.go; ``endpointslices``
is among its default resources): info (``addresstype``), created, one ``endpoints`` series per
address with its conditions, node, zone and target, and one ``ports`` series per port. Every
series carries ``endpointslice`` and ``namespace`` first. The ``endpoints_hints`` family has no
series (the model sets no topology hints) and the ``annotations``/``labels`` families none without
an allow-list, as upstream by default."""

from __future__ import annotations

from prometheus_client.samples import Sample

from kubechaos.api.objects import EndpointSlice

ObjectSample = tuple[str, Sample]

FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("kube_endpointslice_info", "Information about endpointslice.", "gauge"),
    ("kube_endpointslice_created", "Unix creation timestamp", "gauge"),
    ("kube_endpointslice_endpoints", "Endpoints attached to the endpointslice.", "gauge"),
    ("kube_endpointslice_ports", "Ports attached to the endpointslice.", "gauge"),
)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def endpointslice_samples(eps: EndpointSlice) -> list[ObjectSample]:
    meta = eps.metadata
    base = {"endpointslice": meta.name, "namespace": meta.namespace}
    out: list[ObjectSample] = [
        (
            "kube_endpointslice_info",
            Sample("kube_endpointslice_info", {**base, "addresstype": eps.address_type}, 1.0),
        )
    ]
    if meta.creation_timestamp is not None:
        name = "kube_endpointslice_created"
        out.append((name, Sample(name, base, float(int(meta.creation_timestamp)))))
    name = "kube_endpointslice_endpoints"
    for endpoint in eps.endpoints:
        c = endpoint.conditions
        ref = endpoint.target_ref
        labels = {
            **base,
            "ready": _bool(c.ready),
            "serving": _bool(c.serving),
            "hostname": "",
            "terminating": _bool(c.terminating),
            "targetref_kind": ref.kind if ref is not None else "",
            "targetref_name": ref.name if ref is not None else "",
            "targetref_namespace": ref.namespace if ref is not None else "",
            "endpoint_nodename": endpoint.node_name,
            "endpoint_zone": endpoint.zone,
        }
        for address in endpoint.addresses:
            out.append((name, Sample(name, {**labels, "address": address}, 1.0)))
    name = "kube_endpointslice_ports"
    for port in eps.ports:
        labels = {
            **base,
            "port_name": port.name,
            "port_protocol": port.protocol,
            "port_number": str(port.port),
        }
        out.append((name, Sample(name, labels, 1.0)))
    return out


__all__ = ["FAMILIES", "endpointslice_samples"]
