"""Validation of a core/v1 Endpoints object (pkg/apis/core/validation/validation.go, v1.32:
``ValidateEndpoints``, ``validateEndpointSubsets``, ``validateEndpointAddress``,
``ValidateNonSpecialIP``, ``validateEndpointPort``).

Each subset needs an address (ready or not); each address a valid IP (``IsValidIP``, as
``netutils.ParseIPSloppy`` reads it: IPv4 parts may have leading zeros) that is not
unspecified, loopback, link-local unicast or link-local multicast (Go's ``net.IP`` predicates,
an IPv4-mapped IPv6 address judged as its IPv4 one), and a node name that is a DNS subdomain;
each port a name (a DNS label, required when the subset has more than one port), a number in
1..65535 and a protocol of TCP, UDP or SCTP. The model's addresses have no ``hostname`` and its
ports no ``appProtocol``: those rules have nothing to read.

Upstream's ``ValidateEndpointsUpdate`` validates the whole new object. Every rule reads one
address, or one subset's address counts or ports, so :func:`validate_endpoints_update` checks
only the addresses that are not objects the stored version (which passed the rules) holds, and a
subset's ports only if they are not its stored ports object: the Endpoints controller's write
after pod events keeps every other address object, so its check is of the addresses those
events rewrote, found by identity (C-level scans: the head and tail the lists share, then an id
set over the rest). Any cause found sends the update through the full validation, so the causes
(and their order and positions) are always those of :func:`validate_endpoints`.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Sequence
from itertools import compress, count
from operator import is_not, not_
from typing import TypeVar

from kubechaos.api.objects import EndpointAddress, Endpoints, EndpointSubset, ServicePort
from kubechaos.api.validation import is_dns1123_subdomain, same_validated_meta, validate_meta

T = TypeVar("T")

ADDRESSES_VALIDATED = 0
"""Addresses whose rules were checked (a work counter for tests; nothing reads it)."""

SUPPORTED_PROTOCOLS = ("SCTP", "TCP", "UDP")  # sets.List(supportedPortProtocols): sorted
PORT_RANGE = "must be between 1 and 65535, inclusive"  # apimachinery IsValidPortNum
_V4_IN_V6 = bytes(10) + b"\xff\xff"  # Go's v4InV6Prefix: an IPv4 address as a 16-byte net.IP

# apimachinery pkg/util/validation: IsDNS1123Label / IsDNS1123Subdomain's RegexError wording
_LABEL_FORMAT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_LABEL_RULE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    f"used for validation is '{_LABEL_FORMAT}')"
)
_SUBDOMAIN_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    f"for validation is '{_LABEL_FORMAT}(\\.{_LABEL_FORMAT})*')"
)
_NOTHING_KEPT = EndpointSubset()  # what a subset beyond the stored version's ones is compared to
_LABEL = re.compile(_LABEL_FORMAT)
_SUBDOMAIN = re.compile(f"{_LABEL_FORMAT}(\\.{_LABEL_FORMAT})*")


def validate_endpoints(obj: Endpoints) -> list[str]:
    """Every cause that makes ``obj`` invalid (empty: valid)."""
    causes = validate_meta(obj.metadata, True)
    for i, subset in enumerate(obj.subsets):
        causes += _subset_causes(f"subsets[{i}]", subset)
    return causes


def validate_endpoints_update(new: Endpoints, old: Endpoints) -> list[str]:
    """:func:`validate_endpoints` of ``new``, given ``old``: the stored version it replaces
    (which passed it). Only what differs from ``old`` is checked (see the module's docstring)."""
    meta, was = new.metadata, old.metadata
    causes = [] if same_validated_meta(meta, was) else validate_meta(meta, True)
    if new.subsets is not old.subsets and _changes_have_causes(new.subsets, old.subsets):
        return validate_endpoints(new)  # worded in full, with every cause's position
    return causes


def _changes_have_causes(news: Sequence[EndpointSubset], olds: Sequence[EndpointSubset]) -> bool:
    """Whether a subset, address or port of ``news`` that ``olds`` does not hold has a cause."""
    for i, subset in enumerate(news):
        was = olds[i] if i < len(olds) else _NOTHING_KEPT
        if subset is was:
            continue
        if not subset.addresses and not subset.not_ready_addresses:
            return True
        changed = _not_kept(subset.addresses, was.addresses)
        changed += _not_kept(subset.not_ready_addresses, was.not_ready_addresses)
        if any(_address_causes("", address) for address in changed):
            return True
        if subset.ports is not was.ports and _ports_causes("", subset.ports):
            return True
    return False


def _not_kept(news: tuple[T, ...], olds: tuple[T, ...]) -> tuple[T, ...]:
    """The items of ``news`` that are not objects ``olds`` holds: past the longest head and
    tail the two share object for object (all an insertion, a removal or a replacement leaves),
    those of the rest that are not in the rest of ``olds`` (a sync after several pod events)."""
    if news is olds:
        return ()
    shorter = min(len(news), len(olds))
    head = next(compress(count(), map(is_not, news, olds)), shorter)
    tail = next(compress(count(), map(is_not, reversed(news), reversed(olds))), shorter)
    tail = min(tail, shorter - head)
    rest = news[head : len(news) - tail]
    if len(rest) <= 1:
        return rest
    kept = set(map(id, olds[head : len(olds) - tail]))
    return tuple(compress(rest, map(not_, map(kept.__contains__, map(id, rest)))))


def _subset_causes(path: str, subset: EndpointSubset) -> list[str]:
    causes = []
    if not subset.addresses and not subset.not_ready_addresses:
        causes.append(f"{path}: Required value: must specify `addresses` or `notReadyAddresses`")
    for j, address in enumerate(subset.addresses):
        causes += _address_causes(f"{path}.addresses[{j}]", address)
    for j, address in enumerate(subset.not_ready_addresses):
        causes += _address_causes(f"{path}.notReadyAddresses[{j}]", address)
    return causes + _ports_causes(path, subset.ports)


def _address_causes(path: str, address: EndpointAddress) -> list[str]:
    """validateEndpointAddress: IsValidIP, the node name, then ValidateNonSpecialIP."""
    global ADDRESSES_VALIDATED
    ADDRESSES_VALIDATED += 1
    ip, node = address.ip, address.node_name  # the model's "" node is upstream's nil nodeName
    special = _special_ip_messages(ip)
    if special == () and (not node or _node_name_ok(node)):
        return []
    shown = json.dumps(ip)
    causes = []
    if special is None:
        causes.append(
            f"{path}.ip: Invalid value: {shown}: must be a valid IP address, "
            "(e.g. 10.9.8.7 or 2001:db8::ffff)"
        )
    if node:
        causes += _subdomain_causes(f"{path}.nodeName", node)
    if special is None:
        return [*causes, f"{path}.ip: Invalid value: {shown}: must be a valid IP address"]
    return causes + [f"{path}.ip: Invalid value: {shown}: {m}" for m in special]


# A pod's IP is checked as it joins the not-ready list and again as it joins the ready one, and
# its node's name with every pod there: the verdicts (pure functions of a string) are kept.
@functools.lru_cache(maxsize=4096)
def _special_ip_messages(ip: str) -> tuple[str, ...] | None:
    """ValidateNonSpecialIP's messages for ``ip`` (None: not an IP address)."""
    packed = parse_ip_sloppy(ip)
    return None if packed is None else tuple(_special(ip, packed))


_node_name_ok = functools.lru_cache(maxsize=1024)(is_dns1123_subdomain)


def _special(ip: str, packed: bytes) -> list[str]:
    """ValidateNonSpecialIP's messages for a parsed address (Go's IsUnspecified, IsLoopback,
    IsLinkLocalUnicast and IsLinkLocalMulticast on the 16-byte form)."""
    v4 = packed[12:] if packed[:12] == _V4_IN_V6 else None
    found = []
    if packed == bytes(16) or v4 == bytes(4):
        found.append(f"may not be unspecified ({ip})")
    if (v4[0] == 127) if v4 else packed == bytes(15) + b"\x01":
        found.append("may not be in the loopback range (127.0.0.0/8, ::1/128)")
    if (v4[:2] == b"\xa9\xfe") if v4 else (packed[0] == 0xFE and packed[1] & 0xC0 == 0x80):
        found.append("may not be in the link-local range (169.254.0.0/16, fe80::/10)")
    if (v4[:3] == b"\xe0\x00\x00") if v4 else (packed[0] == 0xFF and packed[1] & 0x0F == 0x02):
        found.append("may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")
    return found


def parse_ip_sloppy(value: str) -> bytes | None:
    """The 16 bytes of ``value`` as k8s.io/utils/net's ParseIPSloppy reads it (Go 1.16's
    net.ParseIP: the first of "." and ":" decides the family; IPv4 parts, alone or ending an
    IPv6 address, may carry leading zeros), or None if it is no IP address."""
    dot, colon = value.find("."), value.find(":")
    if dot >= 0 and (colon < 0 or dot < colon):
        quad = _ipv4_sloppy(value)
        return None if quad is None else _V4_IN_V6 + quad
    if colon < 0 or "%" in value:  # Python takes a "%zone" suffix; Go's ParseIP does not
        return None
    head, _, last = value.rpartition(":")
    if "." in last:  # Python refuses leading zeros in the embedded IPv4 part; Go does not
        quad = _ipv4_sloppy(last)
        if quad is None:
            return None
        value = f"{head}:{'.'.join(map(str, quad))}"
    try:
        return ipaddress.IPv6Address(value).packed
    except ValueError:
        return None


def _ipv4_sloppy(value: str) -> bytes | None:
    parts = value.split(".")
    if len(parts) != 4 or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    numbers = [int(p) for p in parts]
    return bytes(numbers) if max(numbers) <= 255 else None


def _ports_causes(path: str, ports: tuple[ServicePort, ...]) -> list[str]:
    """validateEndpointPort of each port: name, number, protocol."""
    causes = []
    require_name = len(ports) > 1
    for k, port in enumerate(ports):
        at = f"{path}.ports[{k}]"
        if require_name and not port.name:
            causes.append(f"{at}.name: Required value")
        elif port.name:
            causes += label_causes(f"{at}.name", port.name)
        number = port.endpoint_port
        if not 1 <= number <= 65535:
            causes.append(f"{at}.port: Invalid value: {number}: {PORT_RANGE}")
        if not port.protocol:
            causes.append(f"{at}.protocol: Required value")
        elif port.protocol not in SUPPORTED_PROTOCOLS:
            causes.append(unsupported(f"{at}.protocol", port.protocol, SUPPORTED_PROTOCOLS))
    return causes


def unsupported(path: str, value: str, supported: tuple[str, ...]) -> str:
    """field.NotSupported's cause: the value, then the supported values, each quoted."""
    listed = ", ".join(json.dumps(s) for s in supported)
    return f"{path}: Unsupported value: {json.dumps(value)}: supported values: {listed}"


def label_causes(path: str, name: str) -> list[str]:
    """ValidateDNS1123Label: IsDNS1123Label's messages."""
    causes = _too_long(path, name, 63)
    if not _LABEL.fullmatch(name):
        rule = "must not contain dots" if _SUBDOMAIN.fullmatch(name) else _LABEL_RULE
        causes.append(f"{path}: Invalid value: {json.dumps(name)}: {rule}")
    return causes


def _subdomain_causes(path: str, name: str) -> list[str]:
    """ValidateNodeName: IsDNS1123Subdomain's messages."""
    return [f"{path}: Invalid value: {json.dumps(name)}: {m}" for m in subdomain_messages(name)]


def subdomain_messages(name: str) -> list[str]:
    """apimachinery's IsDNS1123Subdomain: its messages for ``name`` (none: a valid one)."""
    messages = ["must be no more than 253 characters"] if len(name) > 253 else []
    if not _SUBDOMAIN.fullmatch(name):
        messages.append(_SUBDOMAIN_RULE)
    return messages


def _too_long(path: str, name: str, max_length: int) -> list[str]:
    if len(name) <= max_length:
        return []
    return [
        f"{path}: Invalid value: {json.dumps(name)}: must be no more than {max_length} characters"
    ]


__all__ = [
    "PORT_RANGE",
    "SUPPORTED_PROTOCOLS",
    "label_causes",
    "parse_ip_sloppy",
    "subdomain_messages",
    "unsupported",
    "validate_endpoints",
    "validate_endpoints_update",
]
