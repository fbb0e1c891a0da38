"""Validation of a discovery.k8s.io/v1 EndpointSlice (pkg/apis/discovery/validation/validation.go,
v1.32): a known address type, at most 1000 endpoints of 1 to 100 addresses each (more than 1000:
that one cause, no endpoint checked, as validateEndpoints returns early), at most 100 ports;
``addressType`` is immutable. Not modelled: each address's format for the address type, node
names, hostnames, hints, port names and protocols.

Upstream validates the whole object on every write (ValidateEndpointSliceUpdate calls
ValidateEndpointSlice on the new object); so does :func:`validate_endpointslice_update`, in
result. Its cost is another matter: of the rules modelled, the address type, the number of
endpoints and the number of ports are the slice's own (O(1) each), the metadata rules read the
name, namespace and labels, and the one rule per endpoint (its number of addresses) depends on
that endpoint alone. So an endpoint that is the very object the stored version holds at the same
position (the EndpointSlice controller keeps the endpoints a readiness flip does not touch) passed
that rule when the stored version was written and is not checked again; metadata equal to the
stored version's likewise. Any cause found sends the update through the full validation, so the
causes (and their order and positions) are always those of :func:`validate_endpointslice`.
"""

from __future__ import annotations

from itertools import compress
from operator import is_not

from kubechaos.api.objects import EndpointSlice
from kubechaos.api.objects.endpointslice import ADDRESS_TYPES, SliceEndpoint
from kubechaos.api.validation import same_validated_meta, validate_meta

MAX_ENDPOINTS = 1000  # maxEndpoints
MAX_ADDRESSES = 100  # maxAddresses
MAX_PORTS = 100  # maxPorts

ENDPOINTS_VALIDATED = 0
"""Endpoints whose per-endpoint rules were checked (a work counter for tests; nothing reads it)."""

Endpoints = tuple[SliceEndpoint, ...]


def validate_endpointslice(obj: EndpointSlice) -> list[str]:
    """Every cause that makes ``obj`` invalid (empty: valid)."""
    causes = validate_meta(obj.metadata, True)
    causes += _slice_causes(obj)
    if len(obj.endpoints) <= MAX_ENDPOINTS:  # else validateEndpoints stops at "Too many"
        counts = _address_counts(obj.endpoints)
        if counts and (min(counts) == 0 or max(counts) > MAX_ADDRESSES):  # else none to report
            causes += _address_count_causes(counts)
    return causes + _ports_causes(obj)


def validate_endpointslice_update(new: EndpointSlice, old: EndpointSlice) -> list[str]:
    """:func:`validate_endpointslice` of ``new``, given ``old``: the stored version it replaces
    (which passed it). Only what differs from ``old`` is checked (see the module's docstring)."""
    meta, was = new.metadata, old.metadata
    causes = [] if same_validated_meta(meta, was) else validate_meta(meta, True)
    if len(new.endpoints) > MAX_ENDPOINTS:
        return validate_endpointslice(new)  # refused: worded in full
    counts = _changed_address_counts(new.endpoints, old.endpoints)
    if counts and (min(counts) == 0 or max(counts) > MAX_ADDRESSES):
        return validate_endpointslice(new)  # a cause, worded with its position: in full
    return causes + _slice_causes(new) + _ports_causes(new)


def _slice_causes(obj: EndpointSlice) -> list[str]:
    """Rules of the slice as a whole: its address type and number of endpoints (reported
    before the endpoints' causes, and the ports' after them, as upstream orders them)."""
    causes = []
    if obj.address_type not in ADDRESS_TYPES:
        supported = ", ".join(f'"{t}"' for t in ADDRESS_TYPES)
        causes.append(
            f"addressType: Unsupported value: {obj.address_type!r}: supported values: {supported}"
        )
    if len(obj.endpoints) > MAX_ENDPOINTS:
        causes.append(
            f"endpoints: Too many: {len(obj.endpoints)}: must have at most {MAX_ENDPOINTS} items"
        )
    return causes


def _ports_causes(obj: EndpointSlice) -> list[str]:
    if len(obj.ports) > MAX_PORTS:
        return [f"ports: Too many: {len(obj.ports)}: must have at most {MAX_PORTS} items"]
    return []


def _address_counts(endpoints: Endpoints) -> list[int]:
    """Each endpoint's number of addresses."""
    global ENDPOINTS_VALIDATED
    ENDPOINTS_VALIDATED += len(endpoints)
    return [len(endpoint.addresses) for endpoint in endpoints]


def _changed_address_counts(news: Endpoints, olds: Endpoints) -> list[int]:
    """The number of addresses of each endpoint of ``news`` that is not the object ``olds``
    holds at its position (in no particular order: only their bounds are read)."""
    global ENDPOINTS_VALIDATED
    if news is olds:
        return []
    if not (news and olds and (news[0] is olds[0] or news[-1] is olds[-1])):
        # rebuilt (every endpoint a new object, as its first and last are): all of them, at
        # the cost of the full validation rather than an identity scan on top of it
        return _address_counts(news)
    # positions holding another object (a C-level scan: a Python loop over the endpoints would
    # cost what checking them does)
    counts = [len(news[i].addresses) for i in compress(range(len(news)), map(is_not, news, olds))]
    counts += [len(endpoint.addresses) for endpoint in news[len(olds) :]]
    ENDPOINTS_VALIDATED += len(counts)
    return counts


def _address_count_causes(counts: list[int]) -> list[str]:
    """Each endpoint's cause if its address count is out of bounds (``counts``: per endpoint)."""
    causes = []
    for i, count in enumerate(counts):
        if count == 0:
            causes.append(f"endpoints[{i}].addresses: Required value: must contain at least 1")
        elif count > MAX_ADDRESSES:
            causes.append(
                f"endpoints[{i}].addresses: Too many: {count}: must have at most "
                f"{MAX_ADDRESSES} items"
            )
    return causes


__all__ = ["validate_endpointslice", "validate_endpointslice_update"]
