"""The EndpointSlice reconciler's plan (staging/src/k8s.io/endpointslice/reconciler.go, v1.32):
from a Service's existing slices and its desired endpoints, which slices to create, update and
delete.

Desired endpoints are grouped by their port list (a pod whose named target port resolves
differently lands in another group). Per group, as upstream's ``reconcileByPortMapping``:

1. every existing slice keeps the endpoints still desired (updated in place where they changed);
   a slice left empty is deleted, a slice that changed is updated;
2. endpoints not yet placed fill the slices already being updated, up to ``maxEndpointsPerSlice``;
3. what is left, if fewer than a slice's capacity, goes into the fullest unchanged slice with room
   for all of it; otherwise new slices are created, each filled up to the maximum.

A Service with no endpoint at all keeps one placeholder slice (no endpoints, no ports). Finally, as
upstream's ``finalize``, a slice to delete is recycled as one to create (an update of the old
name) to cut churn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set

import attrs

from kubechaos.api.objects import EndpointSlice, ServicePort, SliceEndpoint

Ports = tuple[ServicePort, ...]
# a slice's keys (endpoint_key), each with its endpoint's position in the slice
AddressesOf = Callable[[EndpointSlice], Mapping[str, int]]


@attrs.define
class Plan:
    create: list[EndpointSlice] = attrs.field(factory=list)
    update: list[EndpointSlice] = attrs.field(factory=list)
    delete: list[EndpointSlice] = attrs.field(factory=list)
    # id of a slice in ``update`` -> its keys and positions (what AddressesOf would give for
    # it), where the plan knows them without reading its endpoints (see _reconcile_group)
    positions: dict[int, Mapping[str, int]] = attrs.field(factory=dict, eq=False)

    def empty(self) -> bool:
        return not (self.create or self.update or self.delete)


def endpoint_key(endpoint: SliceEndpoint) -> str:
    """An endpoint's identity across syncs (upstream's endpoint set key: its addresses)."""
    return endpoint.addresses[0]


def _reconcile_group(
    existing: list[EndpointSlice],
    wanted: dict[str, SliceEndpoint],
    template: EndpointSlice,
    limit: int,
    plan: Plan,
    dirty: Set[str] | None = None,
    addresses_of: AddressesOf | None = None,
) -> None:
    """One port group: ``existing`` slices (same ports) against ``wanted`` endpoints by key.

    With ``dirty`` (the keys whose wanted endpoint may differ from the slices', which held every
    other wanted endpoint exactly once when last written), a slice holding none of them keeps
    its endpoints without comparing them; the plan is the same."""
    placed: set[str] = set()
    updating: list[EndpointSlice] = []
    unchanged: list[EndpointSlice] = []
    unchanged_held: dict[int, Mapping[str, int]] = {}  # id of an unchanged slice -> its keys
    labels = template.metadata.labels
    for current in existing:
        kept: list[SliceEndpoint] = []
        changed = current.metadata.labels != labels
        if changed:
            current = attrs.evolve(current, metadata=attrs.evolve(current.metadata, labels=labels))
        if addresses_of is not None and dirty is not None:
            held = addresses_of(current)
            if held.keys().isdisjoint(dirty):
                if not current.endpoints:
                    plan.delete.append(current)
                elif changed:
                    updating.append(current)
                else:
                    unchanged.append(current)
                    unchanged_held[id(current)] = held
                continue
            if len(held) == len(current.endpoints) and held.keys().isdisjoint(placed):
                still, differs, same_places = _keep(current.endpoints, held, wanted, dirty, placed)
                if not still:
                    plan.delete.append(current)
                elif changed or differs:
                    current = attrs.evolve(current, endpoints=still)
                    updating.append(current)
                    if same_places:
                        plan.positions[id(current)] = held
                else:
                    unchanged.append(current)
                    unchanged_held[id(current)] = held
                continue
        for endpoint in current.endpoints:
            key = endpoint.addresses[0]  # endpoint_key(endpoint), inlined: the hottest loop
            got = wanted.get(key)
            if got is None or key in placed:
                changed = True
                continue
            placed.add(key)
            kept.append(got)
            # (with ``dirty``, an endpoint not in it is the wanted one: no need to compare)
            changed = changed or ((dirty is None or key in dirty) and got != endpoint)
        if not kept:
            plan.delete.append(current)
        elif changed:
            updating.append(attrs.evolve(current, endpoints=tuple(kept)))
        else:
            unchanged.append(current)
    if dirty is None:
        left = [e for k, e in sorted(wanted.items()) if k not in placed]
    else:  # every wanted endpoint but the dirty ones is in a slice already
        left = [wanted[k] for k in sorted(dirty) if k in wanted and k not in placed]
    _place_left(left, updating, unchanged, unchanged_held, template, limit, plan)


def _place_left(
    left: list[SliceEndpoint],
    updating: list[EndpointSlice],
    unchanged: list[EndpointSlice],
    unchanged_held: Mapping[int, Mapping[str, int]],
    template: EndpointSlice,
    limit: int,
    plan: Plan,
) -> None:
    """Steps 2 and 3 of :func:`_reconcile_group`: the endpoints no slice holds (``left``) fill
    the slices being updated, else go into the fullest unchanged slice with room for all of
    them (``unchanged_held``: the positions known of unchanged slices, by id), else into new
    slices; the slices to update join the plan."""
    for i, current in enumerate(updating):
        room = limit - len(current.endpoints)
        if room > 0 and left:
            updating[i] = attrs.evolve(current, endpoints=current.endpoints + tuple(left[:room]))
            # (the entry of ``current``, a slice no longer in the plan, goes: ids are reused)
            known = plan.positions.pop(id(current), None)
            _extend_positions(plan.positions, known, current, updating[i])
            left = left[room:]
    if left and len(left) < limit:
        fits = [s for s in unchanged if limit - len(s.endpoints) >= len(left)]
        if fits:
            fullest = max(fits, key=lambda s: len(s.endpoints))
            unchanged.remove(fullest)
            grown = attrs.evolve(fullest, endpoints=fullest.endpoints + tuple(left))
            updating.append(grown)
            # a new pod's endpoint, the commonest write of a growing Service: its slice's
            # positions stay known, so the next sync does not read its endpoints again
            _extend_positions(plan.positions, unchanged_held.get(id(fullest)), fullest, grown)
            left = []
    while left:
        plan.create.append(attrs.evolve(template, endpoints=tuple(left[:limit])))
        left = left[limit:]
    plan.update.extend(updating)


def _keep(
    endpoints: tuple[SliceEndpoint, ...],
    held: Mapping[str, int],
    wanted: dict[str, SliceEndpoint],
    dirty: Set[str],
    placed: set[str],
) -> tuple[tuple[SliceEndpoint, ...], bool, bool]:
    """Step 1 of :func:`_reconcile_group`'s loop for one slice holding some dirty keys, each key
    once and none placed by an earlier slice (the caller checks both): the wanted endpoints of
    its keys (each still wanted, in the slice's order); whether the slice changed (a key no
    longer wanted, or a dirty key's endpoint differs); whether every endpoint kept its position.

    The same answer as the loop, which does per endpoint what this does with the dirty keys the
    slice holds alone: any other key of the slice was wanted, with the same endpoint, when the
    slice was written (``dirty`` records every key touched since), so it still is and its
    endpoint is kept as is. ``placed`` gets the dirty keys, the only ones placed later asked
    about (the slices as written hold no key twice). A key no longer wanted (rarer: a pod gone)
    takes one comprehension over the slice."""
    touched = held.keys() & dirty
    if wanted.keys() >= touched:
        placed.update(touched)
        kept: list[SliceEndpoint] | None = None
        for key in touched:
            got, i = wanted[key], held[key]
            if got != endpoints[i]:
                if kept is None:
                    kept = list(endpoints)
                kept[i] = got
        return (endpoints, False, True) if kept is None else (tuple(kept), True, True)
    placed.update(held.keys() & wanted.keys())
    still = [w for e in endpoints if (w := wanted.get(e.addresses[0])) is not None]
    return tuple(still), True, False


def _extend_positions(
    positions: dict[int, Mapping[str, int]],
    known: Mapping[str, int] | None,
    before: EndpointSlice,
    after: EndpointSlice,
) -> None:
    """``after`` is ``before`` with endpoints appended: its positions, if ``before``'s are
    ``known`` (a copy of them, then the appended ones')."""
    if known is None:
        return
    grown = dict(known)
    start = len(before.endpoints)
    for i, endpoint in enumerate(after.endpoints[start:], start):
        grown[endpoint.addresses[0]] = i
    positions[id(after)] = grown


def plan_slices(
    existing: list[EndpointSlice],
    desired: dict[Ports, dict[str, SliceEndpoint]],
    template: EndpointSlice,
    limit: int,
    changed: dict[Ports, set[str]] | None = None,
    addresses_of: AddressesOf | None = None,
    group_template: Callable[[Ports], EndpointSlice] | None = None,
) -> Plan:
    """What to write so ``existing`` (this controller's slices of one Service) hold ``desired``;
    ``template`` is a new slice's metadata (generateName, labels, owner) and address type.

    ``changed`` (by port list, the keys whose desired endpoint changed since ``existing`` was
    written in full, with ``addresses_of`` giving a slice's keys) lets each group compare only
    the slices that hold a changed key; None compares every endpoint. ``group_template`` gives
    ``template`` with a port list (the caller may keep them; by default each is made anew)."""
    plan = Plan()
    by_ports: dict[Ports, list[EndpointSlice]] = {}
    for current in existing:
        if current.ports in desired and current.address_type == template.address_type:
            by_ports.setdefault(current.ports, []).append(current)
        else:
            plan.delete.append(current)
    for ports, wanted in desired.items():
        if group_template is None:
            group = attrs.evolve(template, ports=ports)
        else:
            group = group_template(ports)
        dirty = None if changed is None else changed.get(ports, set())
        _reconcile_group(by_ports.get(ports, []), wanted, group, limit, plan, dirty, addresses_of)
    if len(plan.delete) == len(existing) and not plan.create:
        # No slice would be left: keep (or create) the placeholder.
        placeholder = attrs.evolve(template, endpoints=(), ports=())
        if len(plan.delete) == 1 and _is_placeholder(plan.delete[0]):
            plan.delete.clear()
        else:
            plan.create.append(placeholder)
    _recycle(plan)
    return plan


def _is_placeholder(current: EndpointSlice) -> bool:
    return not current.endpoints and not current.ports


def _recycle(plan: Plan) -> None:
    """A slice to delete becomes the first slice to create, under its old name (``finalize``)."""
    while plan.create and plan.delete:
        old = plan.delete.pop(0)
        new = plan.create.pop(0)
        meta = attrs.evolve(old.metadata, labels=new.metadata.labels)
        plan.update.append(attrs.evolve(new, metadata=meta))


__all__ = ["Plan", "endpoint_key", "plan_slices"]
