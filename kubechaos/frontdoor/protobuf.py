"""Kubernetes protobuf request bodies, decoded into the JSON shape the rest of the front door reads.

kubectl's typed clients send ``application/vnd.kubernetes.protobuf``: ``kubectl drain`` POSTs
each Eviction that way, ``kubectl create deployment|service|configmap|secret|namespace|job`` and
``kubectl run`` their objects. A body is upstream's envelope (apimachinery/pkg/runtime/
serializer/protobuf: the magic ``k8s\\x00``, then a ``runtime.Unknown`` holding ``typeMeta`` = 1
(apiVersion = 1, kind = 2) and ``raw`` = 2), ``raw`` being the object's message with the field
numbers of k8s.io/api's ``generated.proto`` (facts of the wire format, tabled in
:data:`MESSAGES`). Go's generated marshallers write every non-pointer field, zero or not; a zero
value of such a field is dropped here, as JSON's ``omitempty`` drops it (pointer fields, marked
``*``, keep an explicit zero: ``replicas: 0``). A field the table does not hold is refused (415)
with a message naming it and saying to send JSON (what ``kubectl apply``/``create -f`` send),
never dropped.
"""

from __future__ import annotations

import base64
from typing import Any

from kubechaos.api import errors

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"


class ProtobufUnsupported(errors.APIError):
    code = 415
    reason = "UnsupportedMediaType"


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise errors.BadRequest("malformed protobuf body: truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def fields(data: bytes) -> dict[int, list[Any]]:
    """A message's fields by number: varints as ints, length-delimited ones as bytes."""
    out: dict[int, list[Any]] = {}
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 2:
            length, at = _varint(data, at)
            value, at = data[at : at + length], at + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, at = int.from_bytes(data[at : at + size], "little"), at + size
        else:
            raise errors.BadRequest(f"malformed protobuf body: wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def _text(found: dict[int, list[Any]], number: int) -> str:
    values = found.get(number)
    return values[-1].decode("utf-8", "replace") if values else ""


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def delete_options(raw: bytes) -> dict[str, Any]:
    """meta/v1 DeleteOptions: gracePeriodSeconds = 1, preconditions = 2 (uid = 1,
    resourceVersion = 2), orphanDependents = 3, propagationPolicy = 4, dryRun = 5."""
    found = fields(raw)
    out: dict[str, Any] = {}
    if 1 in found:
        out["gracePeriodSeconds"] = _signed(found[1][-1])
    if 2 in found:
        pre = fields(found[2][-1])
        out["preconditions"] = {"uid": _text(pre, 1), "resourceVersion": _text(pre, 2)}
    if 3 in found:
        out["orphanDependents"] = bool(found[3][-1])
    if 4 in found:
        out["propagationPolicy"] = _text(found, 4)
    if 5 in found:
        out["dryRun"] = [v.decode("utf-8", "replace") for v in found[5]]
    return out


def _eviction(raw: bytes) -> dict[str, Any]:
    """policy/v1 Eviction: metadata = 1 (ObjectMeta: name = 1, namespace = 3),
    deleteOptions = 2."""
    found = fields(raw)
    meta = fields(found[1][-1]) if 1 in found else {}
    out: dict[str, Any] = {"metadata": {"name": _text(meta, 1), "namespace": _text(meta, 3)}}
    if 2 in found:
        out["deleteOptions"] = delete_options(found[2][-1])
    return out


# Message -> "number jsonName type" entries. Types: s string, i integer, b bool, rs repeated
# string, m:X message, rm:X repeated message, in:X a message inlined into its parent (a probe's
# handler), map map<string,string>, mapq map<string,Quantity>, mapb map<string,bytes>, ios
# IntOrString, skip (server-set: times, status); a trailing * marks a pointer field.
_META = "1 name s; 2 generateName s; 3 namespace s; 4 selfLink skip; 5 uid s; 6 resourceVersion s"
MESSAGES_TEXT = {
    "ObjectMeta": _META + "; 7 generation skip; 8 creationTimestamp skip; "
    "9 deletionTimestamp skip; 10 deletionGracePeriodSeconds skip; 11 labels map; "
    "12 annotations map; 13 ownerReferences rm:OwnerReference; 14 finalizers rs; "
    "17 managedFields skip",
    "OwnerReference": "1 kind s; 3 name s; 4 uid s; 5 apiVersion s; 6 controller b*; "
    "7 blockOwnerDeletion b*",
    "LabelSelector": "1 matchLabels map; 2 matchExpressions rm:LabelSelectorRequirement",
    "LabelSelectorRequirement": "1 key s; 2 operator s; 3 values rs",
    "Deployment": "1 metadata m:ObjectMeta; 2 spec m:DeploymentSpec; 3 status skip",
    "DeploymentSpec": "1 replicas i*; 2 selector m:LabelSelector; 3 template m:PodTemplateSpec; "
    "4 strategy m:DeploymentStrategy; 5 minReadySeconds i; 6 revisionHistoryLimit i*; "
    "7 paused b; 9 progressDeadlineSeconds i*",
    "DeploymentStrategy": "1 type s; 2 rollingUpdate m:RollingUpdateDeployment",
    "RollingUpdateDeployment": "1 maxUnavailable ios; 2 maxSurge ios",
    "PodTemplateSpec": "1 metadata m:ObjectMeta; 2 spec m:PodSpec",
    "Pod": "1 metadata m:ObjectMeta; 2 spec m:PodSpec; 3 status skip",
    "PodSpec": "2 containers rm:Container; 20 initContainers rm:Container; 3 restartPolicy s; "
    "4 terminationGracePeriodSeconds i*; 5 activeDeadlineSeconds i*; 6 dnsPolicy s; "
    "7 nodeSelector map; 8 serviceAccountName s; 9 serviceAccount s; 10 nodeName s; "
    "11 hostNetwork b; 12 hostPID b; 13 hostIPC b; 27 shareProcessNamespace b*; "
    "29 runtimeClassName s*; 35 setHostnameAsFQDN b*; 37 hostUsers b*; "
    "14 securityContext m:Empty; 16 hostname s; 17 subdomain s; 19 schedulerName s; "
    "21 automountServiceAccountToken b*; 22 tolerations rm:Toleration; "
    "24 priorityClassName s; 25 priority i*; 30 enableServiceLinks b*; 31 preemptionPolicy s*",
    "Container": "1 name s; 2 image s; 3 command rs; 4 args rs; 5 workingDir s; "
    "6 ports rm:ContainerPort; 7 env rm:EnvVar; 8 resources m:ResourceRequirements; "
    "10 livenessProbe m:Probe; 11 readinessProbe m:Probe; 22 startupProbe m:Probe; "
    "13 terminationMessagePath s; 20 terminationMessagePolicy s; 14 imagePullPolicy s; "
    "15 securityContext m:Empty; 16 stdin b; 17 stdinOnce b; 18 tty b; 24 restartPolicy s*",
    "ContainerPort": "1 name s; 2 hostPort i; 3 containerPort i; 4 protocol s; 5 hostIP s",
    "EnvVar": "1 name s; 2 value s",
    "ResourceRequirements": "1 limits mapq; 2 requests mapq",
    "Probe": "1 handler in:ProbeHandler; 2 initialDelaySeconds i; 3 timeoutSeconds i; "
    "4 periodSeconds i; 5 successThreshold i; 6 failureThreshold i; "
    "7 terminationGracePeriodSeconds i*",
    "ProbeHandler": "1 exec m:ExecAction; 2 httpGet m:HTTPGetAction; 3 tcpSocket m:TCPSocketAction",
    "ExecAction": "1 command rs",
    "HTTPGetAction": "1 path s; 2 port ios; 3 host s; 4 scheme s",
    "TCPSocketAction": "1 port ios; 2 host s",
    "Toleration": "1 key s; 2 operator s; 3 value s; 4 effect s; 5 tolerationSeconds i*",
    "Service": "1 metadata m:ObjectMeta; 2 spec m:ServiceSpec; 3 status skip",
    "ServiceSpec": "1 ports rm:ServicePort; 2 selector map; 3 clusterIP s; 18 clusterIPs rs; "
    "4 type s; 5 externalIPs rs; 7 sessionAffinity s; 8 loadBalancerIP s; "
    "9 loadBalancerSourceRanges rs; 10 externalName s; 11 externalTrafficPolicy s; "
    "12 healthCheckNodePort i; 20 allocateLoadBalancerNodePorts b*; 21 loadBalancerClass s*; "
    "23 trafficDistribution s*; "
    "13 publishNotReadyAddresses b; 17 ipFamilyPolicy s*; 19 ipFamilies rs; "
    "22 internalTrafficPolicy s*",
    "ServicePort": "1 name s; 2 protocol s; 6 appProtocol s*; 3 port i; 4 targetPort ios; "
    "5 nodePort i",
    "ConfigMap": "1 metadata m:ObjectMeta; 2 data map; 3 binaryData mapb; 4 immutable b*",
    "Secret": "1 metadata m:ObjectMeta; 2 data mapb; 3 type s; 4 stringData map; 5 immutable b*",
    "Namespace": "1 metadata m:ObjectMeta; 2 spec m:NamespaceSpec; 3 status skip",
    "NamespaceSpec": "1 finalizers rs",
    "Job": "1 metadata m:ObjectMeta; 2 spec m:JobSpec; 3 status skip",
    "JobSpec": "1 parallelism i*; 2 completions i*; 3 activeDeadlineSeconds i*; "
    "4 selector m:LabelSelector; 5 manualSelector b*; 6 template m:PodTemplateSpec; "
    "7 backoffLimit i*; 8 ttlSecondsAfterFinished i*; 9 completionMode s*; 10 suspend b*; "
    "12 backoffLimitPerIndex i*; 13 maxFailedIndexes i*; 14 podReplacementPolicy s*; "
    "15 managedBy s*",
    "PodDisruptionBudget": "1 metadata m:ObjectMeta; 2 spec m:PodDisruptionBudgetSpec; "
    "3 status skip",
    "PodDisruptionBudgetSpec": "1 minAvailable ios; 2 selector m:LabelSelector; "
    "3 maxUnavailable ios; 4 unhealthyPodEvictionPolicy s*",
    # value: always written (a non-pointer int32), and required: kept when 0
    "PriorityClass": "1 metadata m:ObjectMeta; 2 value i*; 3 globalDefault b; "
    "4 description s; 5 preemptionPolicy s*",
    "ServiceAccount": "1 metadata m:ObjectMeta; 2 secrets rm:ObjectReference; "
    "3 imagePullSecrets rm:LocalObjectReference; 4 automountServiceAccountToken b*",
    "ObjectReference": "1 kind s; 2 namespace s; 3 name s; 4 uid s; 5 apiVersion s; "
    "6 resourceVersion s; 7 fieldPath s",
    "LocalObjectReference": "1 name s",
    "Empty": "",
}


def _table(text: str) -> dict[int, tuple[str, str]]:
    out: dict[int, tuple[str, str]] = {}
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        number, name, kind = entry.split()
        out[int(number)] = (name, kind)
    return out


MESSAGES = {name: _table(text) for name, text in MESSAGES_TEXT.items()}


def message(name: str, raw: bytes) -> dict[str, Any]:
    """One message of :data:`MESSAGES` as JSON."""
    table = MESSAGES[name]
    out: dict[str, Any] = {}
    for number, values in fields(raw).items():
        if number not in table:
            raise ProtobufUnsupported(
                f"kubechaos does not decode field {number} of protobuf message {name}; "
                "send the object as application/json (kubectl apply/create -f do)"
            )
        json_name, kind = table[number]
        pointer = kind.endswith("*")
        value = _value(kind.rstrip("*"), values)
        if kind.startswith("in:"):
            out.update(value)
        elif kind != "skip" and (pointer or value not in ("", 0, False, [], {})):
            out[json_name] = value
    return out


def _value(kind: str, values: list[Any]) -> Any:
    last = values[-1]
    if kind == "s":
        return last.decode("utf-8", "replace")
    if kind == "i":
        return _signed(last)
    if kind == "b":
        return bool(last)
    if kind == "rs":
        return [v.decode("utf-8", "replace") for v in values]
    if kind.startswith(("m:", "in:")):
        return message(kind.partition(":")[2], last)
    if kind.startswith("rm:"):
        return [message(kind[3:], v) for v in values]
    if kind in ("map", "mapq", "mapb"):
        return dict(_entry(kind, v) for v in values)
    if kind == "ios":
        found = fields(last)
        if found.get(1, [0])[-1] == 1:
            return _text(found, 3)
        return _signed(found.get(2, [0])[-1])
    return None  # skip


def _entry(kind: str, raw: bytes) -> tuple[str, Any]:
    found = fields(raw)
    key = _text(found, 1)
    value = found.get(2, [b""])[-1]
    if kind == "mapq":
        return key, _text(fields(value), 1)
    if kind == "mapb":
        return key, base64.b64encode(value).decode("ascii")
    return key, value.decode("utf-8", "replace")


_DECODERS: dict[str, Any] = {"Eviction": _eviction, "DeleteOptions": delete_options}
_OBJECTS = (
    "Deployment",
    "Pod",
    "Service",
    "ConfigMap",
    "Secret",
    "Namespace",
    "Job",
    "PodDisruptionBudget",
    "PriorityClass",
    "ServiceAccount",
)


def decode(body: bytes) -> dict[str, Any]:
    """The object in a protobuf body, as JSON would carry it."""
    if not body.startswith(MAGIC):
        raise errors.BadRequest("malformed protobuf body: no k8s envelope")
    unknown = fields(body[len(MAGIC) :])
    type_meta = fields(unknown[1][-1]) if 1 in unknown else {}
    api_version, kind = _text(type_meta, 1), _text(type_meta, 2)
    decoder = _DECODERS.get(kind)
    if decoder is None and kind in _OBJECTS:
        raw = unknown[2][-1] if 2 in unknown else b""
        return {"apiVersion": api_version, "kind": kind, **message(kind, raw)}
    if decoder is None:
        raise ProtobufUnsupported(
            f"kubechaos decodes protobuf request bodies only for "
            f"{', '.join([*_DECODERS, *_OBJECTS])}; "
            f"send {kind or 'the object'} as application/json (kubectl apply/create -f do)"
        )
    raw = unknown[2][-1] if 2 in unknown else b""
    return {"apiVersion": api_version, "kind": kind, **decoder(raw)}


__all__ = [
    "MAGIC",
    "MEDIA_TYPE",
    "MESSAGES",
    "ProtobufUnsupported",
    "decode",
    "delete_options",
    "fields",
    "message",
]
