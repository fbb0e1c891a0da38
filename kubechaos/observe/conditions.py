"""The ``condition`` SLO: object X reaches condition C within T after a fault.

``condition: {kind, namespace, name, type, status, within, after, from: injection|revert}`` holds
when, for every injection of the fault ``after`` names, the object's ``status.conditions`` has an
entry of ``type`` with ``status`` within ``within`` of the injection (or of its revert, with
``from: revert``). As ``kubectl wait --for=condition=TYPE=STATUS --timeout=T`` started at that
moment would (staging/src/k8s.io/kubectl/pkg/cmd/wait/condition.go, ConditionalWait: it is
satisfied at once by an object that already has the condition, unless the condition's
observedGeneration, or the status's, is below ``metadata.generation``: then it is stale and met
by no status until the controller has seen the latest spec), a condition that already holds at
the reference is reached in 0 s: to require that it comes *back*, measure from the revert or
pair it with a ``recoveryWithin``.

It is judged at event resolution: :class:`ConditionWatch` watches the object's kind through an
informer (only in runs that have condition SLOs; one informer per kind and namespace) and keeps
the condition's status each time it changes, at the virtual time the informer heard of it (what
``kubectl wait``'s watch sees). Conditions are read by :func:`conditions_of`, which works on the
model's objects and on plain dicts (``{"status": {"conditions": [...]}}``), so any kind whose
status has conditions can be watched: a custom kind's objects come from the run's
:class:`~kubechaos.observe.customsteady.CustomWatch` once a definition serves the kind, which
may be installed only at run time (kubechaos.scenario.conditioncustom); if none ever is, or the
object never appears, the SLO fails as *not measured*.

A verdict never passes on nothing: it fails when the fault was never injected or the object was
never seen. An injection whose condition was not reached when the run ended less than ``within``
after its reference is *not observable* (counted apart, as recoveryWithin counts it); when every
injection is, the SLO fails as *not evaluated*.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import trio

from kubechaos.api.discovery import RESOURCE_OF_KIND
from kubechaos.api.objects import APIObject
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.observe.customsteady import CustomWatch
from kubechaos.sim.clock import now

COMPONENT = "observer"
CONDITION_STATUSES = ("True", "False", "Unknown")  # metav1.ConditionStatus
STALE = "stale"  # a condition written for an earlier generation: met by no status

Condition = tuple[str, str, float | None]  # (type, status, lastTransitionTime)


def _has_conditions(cls: type) -> bool:
    status = attrs.fields_dict(cls).get("status") if attrs.has(cls) else None
    if status is None:
        return False
    default: Any = status.default
    status_cls = getattr(default, "factory", None) or type(default)  # a Factory, or a value
    return attrs.has(status_cls) and "conditions" in attrs.fields_dict(status_cls)


def condition_kinds() -> dict[str, str]:
    """Every kind whose status has conditions in the model, with its resource (plural)."""
    return {
        cls.KIND: RESOURCE_OF_KIND[cls.KIND]
        for cls in typing.get_args(APIObject)
        if _has_conditions(cls) and cls.KIND in RESOURCE_OF_KIND
    }


def conditions_of(obj: Any) -> list[Condition]:
    """``(type, status, lastTransitionTime)`` of each of ``obj``'s ``status.conditions``: a
    model object (attrs, snake_case) or a plain dict (as JSON, camelCase); [] when it has none."""
    if isinstance(obj, Mapping):
        status = obj.get("status")
        raw = status.get("conditions") if isinstance(status, Mapping) else None
        if not isinstance(raw, Sequence) or isinstance(raw, str):
            return []
        found: list[Condition] = []
        for c in raw:
            if isinstance(c, Mapping) and isinstance(c.get("type"), str):
                at = c.get("lastTransitionTime")
                found.append(
                    (c["type"], str(c.get("status", "")), at if isinstance(at, float) else None)
                )
        return found
    conditions = getattr(getattr(obj, "status", None), "conditions", None) or ()
    return [
        (c.type, c.status, getattr(c, "last_transition_time", None))
        for c in conditions
        if hasattr(c, "type")
    ]


def _generations(obj: Any, type_: str) -> tuple[int | None, int | None]:
    """``(metadata.generation, observedGeneration)`` as kubectl wait reads them for condition
    ``type_``: the condition's own observedGeneration, else the status's (None: absent)."""
    if isinstance(obj, Mapping):
        meta, status = obj.get("metadata") or {}, obj.get("status")
        status = status if isinstance(status, Mapping) else {}
        raw = status.get("conditions")
        conditions = raw if isinstance(raw, Sequence) and not isinstance(raw, str) else ()
        own = next(
            (c.get("observedGeneration") for c in conditions
             if isinstance(c, Mapping) and c.get("type") == type_),
            None,
        )  # fmt: skip
        observed = own if own is not None else status.get("observedGeneration")
        generation = meta.get("generation") if isinstance(meta, Mapping) else None
    else:
        generation = getattr(getattr(obj, "metadata", None), "generation", None)
        observed = getattr(getattr(obj, "status", None), "observed_generation", None)
    ints = tuple(v if isinstance(v, int) and not isinstance(v, bool) else None
                 for v in (generation, observed))  # fmt: skip
    return ints[0], ints[1]


def condition_status(obj: Any, type_: str) -> str | None:
    """The status of ``obj``'s condition ``type_`` (None when it has no such condition), or
    :data:`STALE` when it was written for an earlier generation: kubectl wait's checkCondition
    (staging/src/k8s.io/kubectl/pkg/cmd/wait/condition.go, getObservedGeneration) takes a
    condition whose observedGeneration is below ``metadata.generation`` as not met, whatever
    its status."""
    status = next((status for t, status, _ in conditions_of(obj) if t == type_), None)
    if status is None:
        return None
    generation, observed = _generations(obj, type_)
    if generation is not None and observed is not None and observed < generation:
        return STALE
    return status


@attrs.define
class Timeline:
    """One watched object's condition: each change as ``(time, status)`` (status None while the
    object does not exist or has no such condition)."""

    type: str
    points: list[tuple[float, str | None]] = attrs.field(factory=list)
    seen: bool = False  # the object existed at some point

    def note(self, at: float, status: str | None) -> None:
        if not self.points or self.points[-1][1] != status:
            self.points.append((at, status))

    def reached(self, status: str, start: float) -> float | None:
        """The first moment at or after ``start`` the condition had ``status`` (None: not yet)."""
        held = next((value for at, value in reversed(self.points) if at <= start), None)
        if held == status:
            return start
        return next((at for at, value in self.points if at > start and value == status), None)


class ConditionWatch:
    """Watches the objects condition SLOs name (see module)."""

    def __init__(
        self,
        ctx: Context,
        targets: Iterable[tuple[str, str, str, str]],
        custom: CustomWatch | None = None,
        groups: Mapping[str, str] | None = None,
    ) -> None:
        """``targets``: ``(kind, namespace, name, type)`` of each condition SLO; ``groups``:
        the group of each custom kind among them ("" for any), whose objects ``custom`` (the
        run's watch on definitions) tells of once a definition serves the kind."""
        self.ctx = ctx
        self.timelines: dict[tuple[str, str, str, str], Timeline] = {}
        self._by_object: dict[tuple[str, str], list[Timeline]] = {}
        scopes: dict[tuple[str, str], None] = {}
        kinds = condition_kinds()
        groups = groups or {}
        for kind, namespace, name, type_ in targets:
            timeline = self.timelines.setdefault((kind, namespace, name, type_), Timeline(type_))
            self._by_object.setdefault((kind, _key(namespace, name)), []).append(timeline)
            if kind not in groups:
                scopes[(kinds[kind], namespace)] = None
        if custom is not None:
            for kind, group in groups.items():
                custom.watch_kind(group, kind, _Unwrap(self))
        self.informers = [self._informer(resource, ns) for resource, ns in scopes]

    def _informer(self, resource: str, namespace: str) -> Informer[Any]:
        informer: Informer[Any] = Informer(
            self.ctx.api, resource, component=COMPONENT, events=self.ctx.events,
            namespace=namespace or None,
        )  # fmt: skip
        informer.add_handler(
            Handler(
                on_add=self._changed,
                on_update=lambda _old, new: self._changed(new),
                on_delete=self._deleted,
            )
        )
        return informer

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            for informer in self.informers:
                nursery.start_soon(informer.run)

    def _changed(self, obj: Any) -> None:
        for timeline in self._by_object.get(identity(obj), ()):
            timeline.seen = True
            timeline.note(now(), condition_status(obj, timeline.type))

    def _deleted(self, obj: Any) -> None:
        for timeline in self._by_object.get(identity(obj), ()):
            timeline.note(now(), None)


class _Unwrap:
    """A custom object's events, handed to the watch as the JSON map :func:`identity` and
    :func:`conditions_of` read."""

    def __init__(self, watch: ConditionWatch) -> None:
        self.watch = watch

    def changed(self, obj: Any) -> None:
        self.watch._changed(obj.content)

    def deleted(self, obj: Any) -> None:
        self.watch._deleted(obj.content)


@attrs.frozen
class Injection:
    """One injection of the fault a condition SLO names: when (and whether) it was."""

    injected_at: float
    reverted_at: float | None


def judge(
    timeline: Timeline,
    what: str,
    status: str,
    within: float,
    reference: str,
    injections: Sequence[Injection],
    end: float | None,
) -> tuple[bool, str, str, str]:
    """``(ok, measured, threshold, detail)`` of a condition SLO on ``timeline`` (``what``:
    "Deployment default/web Available=True"); ``end``: the run ended then (None: in progress,
    a verdict still open holds)."""
    threshold = f"{what} <= {within:g}s from {reference}"
    if not injections:
        if end is None:
            return True, "not injected yet", threshold, ""
        return False, "never injected", threshold, "the fault was not injected"
    if end is not None and not timeline.seen:
        return False, "never observed", threshold, f"{what.rsplit(' ', 1)[0]} never existed"
    worst, late, unobservable = 0.0, list[str](), 0
    for injection in injections:
        start = injection.reverted_at if reference == "revert" else injection.injected_at
        if start is None:  # never reverted: no revert to measure from
            unobservable += end is not None
            continue
        reached = timeline.reached(status, start)
        if reached is not None and reached - start <= within:
            worst = max(worst, reached - start)
        elif reached is not None:
            late.append(f"reached {reached - start:.3f}s after {reference}")
        elif end is None:
            continue  # not reached yet: judged at the end
        elif end - start < within:
            unobservable += 1  # the run ended before the time allowed had passed
        else:
            late.append("never reached")
    apart = f"; {unobservable} not observable" if unobservable else ""
    if late:
        return False, f"{late[0]} ({len(late)} of {len(injections)} late{apart})", threshold, ""
    if unobservable == len(injections):
        detail = (
            f"every injection ({unobservable}) came less than {within:g}s before the end of the "
            "run (or was never reverted, for from: revert) and had not reached it: nothing was "
            "measured"
        )
        return False, "not evaluated", threshold, detail
    measured = f"reached in {worst:.3f}s (worst of {len(injections) - unobservable}{apart})"
    return True, measured, threshold, ""


def _key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def identity(obj: Any) -> tuple[str, str]:
    """``(kind, namespace/name)`` of a model object or a plain dict (``kind``, ``metadata``)."""
    if isinstance(obj, Mapping):
        meta = obj.get("metadata") or {}
        return str(obj.get("kind", "")), _key(meta.get("namespace") or "", meta.get("name", ""))
    return type(obj).KIND, _key(obj.metadata.namespace, obj.metadata.name)


__all__ = [
    "CONDITION_STATUSES",
    "STALE",
    "ConditionWatch",
    "Injection",
    "Timeline",
    "condition_kinds",
    "condition_status",
    "conditions_of",
    "identity",
    "judge",
]
