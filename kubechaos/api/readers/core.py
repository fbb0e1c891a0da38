"""core/v1 kinds: Namespace, Pod and Service."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubechaos.api.fieldreader import FieldReader, Path, type_name
from kubechaos.api.objects import Namespace, ObjectMeta, Pod, Service, ServicePort, ServiceSpec
from kubechaos.api.readers.pods import read_pod_spec
from kubechaos.api.readers.service_routing import read_service_routing


def read_namespace(r: FieldReader, doc: Mapping[str, Any], meta: ObjectMeta) -> Namespace:
    r.map(doc.get("spec"), ("spec",))
    return Namespace(meta)


def read_pod(r: FieldReader, doc: Mapping[str, Any], meta: ObjectMeta) -> Pod:
    r.map(doc.get("spec"), ("spec",))
    return Pod(meta, read_pod_spec(r, doc.get("spec"), ("spec",)))


def read_service(r: FieldReader, doc: Mapping[str, Any], meta: ObjectMeta) -> Service:
    spec = r.map(doc.get("spec"), ("spec",))
    ports = []
    for i, port in enumerate(r.seq(spec.get("ports"), ("spec", "ports"))):
        pp: Path = ("spec", "ports", i)
        pr = r.map(port, pp)
        if "port" not in pr:
            r.error((*pp, "port"), "Required value")
        target = pr.get("targetPort", 0)
        if isinstance(target, bool) or not isinstance(target, int | str):
            r.error((*pp, "targetPort"), f"expected a port number or name, got {type_name(target)}")
            target = 0
        ports.append(
            ServicePort(
                r.int_(pr, "port", pp, 0),
                target,
                r.str_(pr, "name", pp),
                # SetDefaults_Service: an empty protocol is TCP, as an absent one
                r.str_(pr, "protocol", pp) or "TCP",
            )
        )
    return Service(
        meta,
        ServiceSpec(
            selector=r.labels(spec, "selector", ("spec",)),
            ports=tuple(ports),
            cluster_ip=r.str_(spec, "clusterIP", ("spec",)),
            # SetDefaults_Service: an empty type is ClusterIP
            type=r.str_(spec, "type", ("spec",), "ClusterIP") or "ClusterIP",
            publish_not_ready_addresses=r.bool_(spec, "publishNotReadyAddresses", ("spec",), False),
            routing=read_service_routing(r, spec),
        ),
    )
