"""The model's objects as the Kubernetes API serializes them: JSON with camelCase names, empty
fields left out, times in RFC 3339, quantities as strings.

The model's attrs classes use the snake_case of upstream's field names (``api/objects``), so most
of an object is encoded by one generic walk: camelCase each field, leave out what upstream marks
``omitempty`` when it is empty. Where the model compresses a structure (a container's
``resources`` held as two resource vectors, a probe held as the name of its handler, a container
state held as a word), an encoder for that class writes upstream's shape, including every field
a client's decoder insists on (the official Python client rejects a ``containerStatus`` without
``image`` and ``imageID``). A field a kind gains later is served by the generic walk at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import orjson

from kubechaos.api.discovery import API_RESOURCES, RESOURCE_OF_KIND
from kubechaos.api.objects import (
    Container,
    ContainerStatus,
    EndpointAddress,
    EndpointSubset,
    Namespace,
    NodeStatus,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodSpec,
    Probe,
    Resources,
    Service,
)
from kubechaos.api.selectors import LabelSelector
from kubechaos.defaults import TARGET_RELEASE
from kubechaos.frontdoor.shapes import shapes
from kubechaos.frontdoor.specshapes import (
    POD_SPEC_RESHAPED,
    lifecycle,
    pod_spec_extras,
    service_routing,
    spec_shapes,
)
from kubechaos.frontdoor.timefmt import Anchor

JSON = dict[str, Any]

# What a node says it runs (NodeSystemInfo): clients require every field; the model runs no OS.
KUBELET_VERSION = f"{TARGET_RELEASE}.0"
_NODE_INFO = {
    "architecture": "amd64",
    "bootID": "",
    "containerRuntimeVersion": "containerd://1.7.24",
    "kernelVersion": "6.1.0-kubechaos",
    "kubeProxyVersion": KUBELET_VERSION,
    "kubeletVersion": KUBELET_VERSION,
    "machineID": "",
    "operatingSystem": "linux",
    "osImage": "kubechaos model node",
    "systemUUID": "",
}

# Fields holding virtual seconds that upstream serializes as times (metav1.Time / MicroTime).
_TIME_SUFFIXES = ("_time", "_timestamp", "_at")
_TIME_NAMES = frozenset({"time_added"})
_MICRO_TIME_CLASSES = frozenset({"LeaseSpec"})
# Container fields whose upstream shape differs from the model's (encoded by hand).
_CONTAINER_SPECIAL = (
    "requests",
    "limits",
    "liveness_probe",
    "readiness_probe",
    "startup_probe",
    "config_refs",
    "lifecycle",
)


# Initialisms upstream spells in capitals inside a name (clusterIP, podCIDR, podIPs).
_INITIALISMS = {"ip": "IP", "ips": "IPs", "cidr": "CIDR", "cidrs": "CIDRs", "id": "ID"}


_SHARED_CACHE_SIZE = 4096


# How a field whose annotation is one of these is written: straight, when not empty.
_STRAIGHT = {
    "str": "    if v:\n        out[{key!r}] = v",
    "int": "    out[{key!r}] = v",
    "float": "    out[{key!r}] = v",
    "bool": "    if v:\n        out[{key!r}] = True",
    "int | None": "    if v is not None:\n        out[{key!r}] = v",
}


@functools.cache
def _compiled(cls: Any, skip: tuple[str, ...]) -> Callable[[Any, Any], JSON]:
    """The generic walk of ``cls`` as one function, generated once per class (as attrs
    generates ``__init__``): at 30,000 pods a LIST is millions of field visits, and a loop
    over fields that tests each one's kind costs three times what straight-line code does.

    Each field is written under its camelCase name; an empty one (None, "", False, an empty
    collection) is left out as upstream's ``omitempty`` does; a time field is formatted
    (metav1.Time, or MicroTime in a Lease), and an unset time (0) left out.
    """
    micro = cls.__name__ in _MICRO_TIME_CLASSES
    lines = ["def encode(self, obj):", "    out = {}"]
    for field in attrs.fields(cls):
        name = field.name
        if name in skip:
            continue
        key = camel(name)
        lines.append(f"    v = obj.{name}")
        if name in _TIME_NAMES or name.endswith(_TIME_SUFFIXES):
            if micro:
                lines.append(
                    f"    if v is not None:\n        out[{key!r}] = self.anchor.micro_time(v)"
                )
            else:
                lines.append(f"    if v:\n        out[{key!r}] = self.anchor.time(v)")
            continue
        straight = _STRAIGHT.get(str(field.type))
        if straight is not None:
            lines.append(straight.format(key=key))
        else:
            lines.append(f"    if not _empty(v):\n        out[{key!r}] = self.value(v)")
    lines.append("    return out")
    namespace: dict[str, Any] = {"_empty": _empty}
    exec("\n".join(lines), namespace)
    encode: Callable[[Any, Any], JSON] = namespace["encode"]
    return encode


def camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(_INITIALISMS.get(part) or part[:1].upper() + part[1:] for part in rest)


def api_version_of(kind: str) -> str:
    resource = RESOURCE_OF_KIND.get(kind)
    if resource is None:
        return "v1"
    return API_RESOURCES[resource].group_version


def format_cpu(millis: int) -> str:
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def format_bytes(count: int) -> str:
    """Bytes as upstream's canonical quantity: the largest binary suffix that divides it."""
    for suffix, size in (("Ei", 1 << 60), ("Pi", 1 << 50), ("Ti", 1 << 40), ("Gi", 1 << 30)):
        if count and count % size == 0:
            return f"{count // size}{suffix}"
    for suffix, size in (("Mi", 1 << 20), ("Ki", 1 << 10)):
        if count and count % size == 0:
            return f"{count // size}{suffix}"
    return str(count)


def resources_json(res: Resources, with_pods: bool = False) -> JSON:
    out: JSON = {}
    if res.cpu_millis or with_pods:
        out["cpu"] = format_cpu(res.cpu_millis)
    if res.memory_bytes or with_pods:
        out["memory"] = format_bytes(res.memory_bytes)
    if with_pods:
        out["pods"] = str(res.pods)
    return out


class Encoder:
    """Encodes API objects for one served run (its times anchored at the run's start)."""

    def __init__(self, anchor: Anchor) -> None:
        self.anchor = anchor
        # what the front door adds to each object it shows (its managedFields), if anything
        self.decorate: Callable[[JSON], JSON] | None = None
        self._shared_cache: dict[tuple[int, Any], tuple[Any, Any]] = {}
        self._dispatch: dict[type, Callable[[Any], Any]] = {}
        self._line_encoders: dict[str, Callable[[Any], bytes]] = {}
        self._by_class: dict[type, Callable[[Any], Any]] = {
            ObjectMeta: self._meta,
            OwnerReference: self._owner,
            LabelSelector: self._label_selector,
            Resources: resources_json,
            Pod: self._pod,
            PodSpec: self._pod_spec,
            Container: self._container,
            Probe: self._probe,
            NodeStatus: self._node_status,
            Service: self._service,
            EndpointAddress: self._endpoint_address,
            Namespace: self._namespace,
            EndpointSubset: self._endpoint_subset,
            **shapes(self._generic, anchor.time),
            **spec_shapes(self._generic),
        }

    # ------------------------------------------------------------------ entry points
    def object(self, obj: Any) -> JSON:
        """A whole object, with its ``apiVersion`` and ``kind``; each version of an object is
        encoded once for every watcher that is sent it at about the same time."""
        out = self._shared(obj, self._object)
        return self.decorate(out) if self.decorate is not None else out

    def plain(self, obj: Any) -> JSON:
        """The object as stored, without what the front door adds (its managedFields)."""
        return self._shared(obj, self._object)

    def event_line(self, kind: str, obj: Any) -> bytes:
        """One watch event as the line every watcher of it is sent (serialized once)."""
        line = self._line_encoders.get(kind)
        if line is None:

            def line(obj: Any, kind: str = kind) -> bytes:
                return orjson.dumps({"type": kind, "object": self.object(obj)}) + b"\n"

            self._line_encoders[kind] = line
        return self._shared(obj, line)

    def _object(self, obj: Any) -> JSON:
        kind = type(obj).KIND
        body = self.value(obj)
        return {"apiVersion": api_version_of(kind), "kind": kind, **body}

    def value(self, value: Any) -> Any:
        """Any value held by an object, as JSON (dispatch worked out once per class)."""
        cls = value.__class__
        encode = self._dispatch.get(cls)
        if encode is None:
            encode = self._dispatch[cls] = self._dispatcher(cls)
        return encode(value)

    def _dispatcher(self, cls: type) -> Callable[[Any], Any]:
        if cls in (str, int, float, bool, type(None)):
            return _identity
        custom = self._by_class.get(cls)
        if custom is not None:
            return custom
        if attrs.has(cls):
            compiled = _compiled(cls, ())
            return lambda obj: compiled(self, obj)
        if issubclass(cls, Mapping):
            return lambda mapping: {str(k): self.value(v) for k, v in mapping.items()}
        if issubclass(cls, tuple | list | frozenset | set):
            return lambda items: [self.value(v) for v in items]
        return str

    # ------------------------------------------------------------------ the generic walk
    def _generic(self, obj: Any, skip: tuple[str, ...] = ()) -> JSON:
        return _compiled(obj.__class__, skip)(self, obj)

    def _shared(self, obj: Any, encode: Callable[[Any], Any]) -> Any:
        """The encoding of an object many others hold (the containers of every pod a
        template made are one tuple): computed once while it lives. Results are never
        mutated after they are built, so sharing them between documents is safe."""
        key = (id(obj), encode)
        hit = self._shared_cache.get(key)
        if hit is not None and hit[0] is obj:
            return hit[1]
        if len(self._shared_cache) >= _SHARED_CACHE_SIZE:
            self._shared_cache.clear()
        result = encode(obj)
        self._shared_cache[key] = (obj, result)  # holding obj keeps its id from being reused
        return result

    # ------------------------------------------------------------------ metadata
    def _meta(self, meta: ObjectMeta) -> JSON:
        out = self._generic(meta, skip=("owner_references", "generation"))
        if meta.generation:
            out["generation"] = meta.generation
        if meta.owner_references:
            out["ownerReferences"] = [self._owner(ref) for ref in meta.owner_references]
        return out

    def _owner(self, ref: OwnerReference) -> JSON:
        out: JSON = {
            "apiVersion": ref.api_version or api_version_of(ref.kind),
            "kind": ref.kind,
            "name": ref.name,
            "uid": ref.uid,
        }
        if ref.controller:
            out["controller"] = True
        if ref.blocks:
            out["blockOwnerDeletion"] = True
        return out

    def _label_selector(self, selector: LabelSelector) -> JSON:
        out: JSON = {}
        if selector.match_labels:
            out["matchLabels"] = dict(selector.match_labels)
        if selector.match_expressions:
            out["matchExpressions"] = [
                {"key": r.key, "operator": r.operator, **({"values": list(r.values)})}
                if r.values
                else {"key": r.key, "operator": r.operator}
                for r in selector.match_expressions
            ]
        return out

    # ------------------------------------------------------------------ pods
    def _pod(self, pod: Pod) -> JSON:
        out: JSON = {"metadata": self._meta(pod.metadata), "spec": self._pod_spec(pod.spec)}
        out["status"] = self._pod_status(pod)
        return out

    def _pod_spec(self, spec: PodSpec) -> JSON:
        out = self._generic(
            spec,
            skip=(
                "volume_refs",
                "containers",
                "tolerations",
                "readiness_gates",
                *POD_SPEC_RESHAPED,
            ),
        )
        if spec.readiness_gates:
            out["readinessGates"] = [{"conditionType": t} for t in spec.readiness_gates]
        out["containers"] = self._shared(spec.containers, self._containers)
        if spec.tolerations:
            out["tolerations"] = self._shared(spec.tolerations, self.value)
        out.setdefault("restartPolicy", spec.restart_policy)
        out.setdefault("terminationGracePeriodSeconds", spec.termination_grace_period_seconds)
        out["dnsPolicy"] = "ClusterFirst"
        out.update(pod_spec_extras(spec, self.value))
        volumes = [
            {"name": ref.volume, _volume_source(ref.kind): _volume_ref(ref)}
            for ref in spec.volume_refs
            if ref.volume
        ]
        if volumes:
            out["volumes"] = volumes
        return out

    def _containers(self, containers: tuple[Container, ...]) -> list[JSON]:
        return [self._container(c) for c in containers]

    def _container(self, container: Container) -> JSON:
        out = self._generic(
            container,
            skip=_CONTAINER_SPECIAL,
        )
        resources: JSON = {}
        if container.requests != Resources():
            resources["requests"] = resources_json(container.requests)
        if container.limits != Resources():
            resources["limits"] = resources_json(container.limits)
        out["resources"] = resources
        port = container.ports[0].container_port if container.ports else 80
        for name in ("liveness_probe", "readiness_probe", "startup_probe"):
            probe = getattr(container, name)
            if probe is not None:
                out[camel(name)] = self._probe(probe, port)
        if container.lifecycle is not None:
            out["lifecycle"] = lifecycle(container.lifecycle, port)
        out["terminationMessagePath"] = "/dev/termination-log"
        out["terminationMessagePolicy"] = "File"
        return out

    def _probe(self, probe: Probe, port: int = 80) -> JSON:
        """The model keeps a probe's timing and the kind of its handler, not what it checks
        (the container's behaviour decides the outcome): the handler is written with the
        container's first port, the one field every client requires of it."""
        out = self._generic(probe, skip=("handler",))
        handler: JSON
        if probe.handler == "exec":
            handler = {"command": ["kubechaos-probe"]}
        elif probe.handler == "httpGet":
            handler = {"path": "/", "port": port, "scheme": "HTTP"}
        else:
            handler = {"port": port}
        return {probe.handler: handler, **out}

    def _pod_status(self, pod: Pod) -> JSON:
        status = pod.status
        out = self._generic(status, skip=("container_statuses",))
        images = {c.name: c.image for c in pod.spec.containers}
        statuses = [
            self._container_status(s, images.get(s.name, "")) for s in status.container_statuses
        ]
        if statuses:
            out["containerStatuses"] = statuses
        if status.pod_ip:
            out["podIPs"] = [{"ip": status.pod_ip}]
        if status.host_ip:
            out["hostIPs"] = [{"ip": status.host_ip}]
        out["qosClass"] = self._shared(pod.spec.containers, _qos_class)
        return out

    def _container_status(self, status: ContainerStatus, image: str) -> JSON:
        state: JSON
        if status.state == "running":
            state = {"running": self._times({"startedAt": status.started_at})}
        elif status.state == "terminated":
            state = {
                "terminated": {
                    "exitCode": status.exit_code or 0,
                    "reason": status.reason or "Completed",
                    **self._times(
                        {"startedAt": status.started_at, "finishedAt": status.finished_at}
                    ),
                }
            }
        else:
            waiting: JSON = {"reason": status.reason} if status.reason else {}
            if status.message:
                waiting["message"] = status.message
            state = {"waiting": waiting}
        out: JSON = {
            "name": status.name,
            "state": state,
            "lastState": {},
            "ready": status.ready,
            "restartCount": status.restart_count,
            "image": image,
            "imageID": "",
            "started": status.started,
        }
        if status.last_termination_reason:
            out["lastState"] = {
                "terminated": {"exitCode": 1, "reason": status.last_termination_reason}
            }
        return out

    def _times(self, fields: dict[str, float | None]) -> JSON:
        return {k: self.anchor.time(v) for k, v in fields.items() if v is not None}

    # ------------------------------------------------------------------ nodes, networking
    def _node_status(self, status: NodeStatus) -> JSON:
        out = self._generic(status, skip=("capacity", "allocatable", "address"))
        out["capacity"] = resources_json(status.capacity, with_pods=True)
        out["allocatable"] = resources_json(status.allocatable, with_pods=True)
        if status.address:
            out["addresses"] = [{"type": "InternalIP", "address": status.address}]
        out["nodeInfo"] = dict(_NODE_INFO)
        out["daemonEndpoints"] = {"kubeletEndpoint": {"Port": 10250}}
        return out

    def _service(self, service: Service) -> JSON:
        spec = self._generic(service.spec, skip=("routing",))
        spec.update(service_routing(service.spec.routing))
        spec.setdefault("type", service.spec.type)
        if service.spec.cluster_ip:
            spec["clusterIPs"] = [service.spec.cluster_ip]
        spec.setdefault("sessionAffinity", "None")
        spec["ports"] = [_service_port(p) for p in service.spec.ports]
        return {
            "metadata": self._meta(service.metadata),
            "spec": spec,
            "status": {"loadBalancer": {}},
        }

    def _namespace(self, namespace: Namespace) -> JSON:
        return {
            "metadata": self._meta(namespace.metadata),
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": namespace.phase},
        }

    def _endpoint_subset(self, subset: EndpointSubset) -> JSON:
        """Endpoints' ports name the pods' ports (the Service's target port), not the
        Service's own."""
        out: JSON = {}
        if subset.addresses:
            out["addresses"] = [self._endpoint_address(a) for a in subset.addresses]
        if subset.not_ready_addresses:
            out["notReadyAddresses"] = [
                self._endpoint_address(a) for a in subset.not_ready_addresses
            ]
        out["ports"] = [
            {
                **({"name": p.name} if p.name else {}),
                "port": p.endpoint_port,
                "protocol": p.protocol,
            }
            for p in subset.ports
        ]
        return out

    def _endpoint_address(self, address: EndpointAddress) -> JSON:
        out: JSON = {"ip": address.ip}
        if address.node_name:
            out["nodeName"] = address.node_name
        if address.target_pod:
            namespace, _, name = address.target_pod.rpartition("/")
            ref: JSON = {"kind": "Pod", "name": name}
            if namespace:
                ref["namespace"] = namespace
            out["targetRef"] = ref
        return out


def _empty(value: Any) -> bool:
    if value is None or value is False:
        return True
    if isinstance(value, str | tuple | list | Mapping):
        return not value
    return False


def _service_port(port: Any) -> JSON:
    out: JSON = {"port": port.port, "protocol": port.protocol}
    if port.name:
        out["name"] = port.name
    out["targetPort"] = port.target_port or port.port
    return out


def _volume_source(kind: str) -> str:
    return "configMap" if kind == "ConfigMap" else "secret"


def _volume_ref(ref: Any) -> JSON:
    out: JSON = {"name": ref.name} if ref.kind == "ConfigMap" else {"secretName": ref.name}
    if ref.optional:
        out["optional"] = True
    return out


def _identity(value: Any) -> Any:
    return value


def _qos_class(containers: tuple[Container, ...]) -> str:
    """core/v1 PodQOSClass: Guaranteed when every container's limits equal its requests (cpu
    and memory set), BestEffort when none sets either, else Burstable."""
    if all(c.requests == Resources() and c.limits == Resources() for c in containers):
        return "BestEffort"
    if all(
        c.limits.cpu_millis
        and c.limits.memory_bytes
        and (c.requests.cpu_millis in (0, c.limits.cpu_millis))
        and (c.requests.memory_bytes in (0, c.limits.memory_bytes))
        for c in containers
    ):
        return "Guaranteed"
    return "Burstable"


__all__ = ["Encoder", "api_version_of", "camel", "format_bytes", "format_cpu", "resources_json"]
