"""What a fault is, how its parameters are declared, and the catalogue that names every type.

A fault is an attrs object with a ``name``, a :class:`~kubechaos.faults.targets.Target` and its
parameters as fields; :meth:`Fault.inject` changes the model through a seam and
:meth:`Fault.revert` undoes exactly what that injection did. Each fault type registers itself
under its catalogue name with :func:`fault_type`; its parameters are fields declared with
:func:`param`, which carries the camelCase name scenario files use, the value's kind and a line of
help. The scenario loader, ``kubechaos faults`` and the README read that one declaration.

Faults are built for overlap: a seam holds a list of active interceptors (or a count of holders)
so two faults on one seam stack, and reverting one leaves the other in force.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import attrs

from kubechaos.api.duration import DurationError, format_duration, parse_duration
from kubechaos.faults.targets import Target

TARGET_KINDS = ("pods", "nodes", "none")
PARAM_KINDS = (
    "duration",  # Go-style duration string ("500ms", "30s") or a number of seconds
    "number",  # a number >= 0
    "factor",  # a number >= 1
    "fraction",  # 0..1, or a percentage string "25%"
    "count",  # a whole number >= 0
    "string",
    "strings",  # a list of strings
    "choice",  # one of ``choices``
    "bool",
    "nodes",  # a node selector: {nodes: [...]} / {nodeGroup: ...} / {labelSelector: {...}}
    "index",  # a whole number >= 0 or a name (a control-plane node, "leader")
)


@attrs.frozen
class Param:
    """How a fault's parameter is written in a scenario file and what it means."""

    field: str  # the attrs field (snake_case)
    name: str  # the scenario key (camelCase)
    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()

    def parse(self, raw: Any) -> Any:
        """The Python value for ``raw`` as read from YAML; raises ValueError saying what was
        expected."""
        kind = self.kind
        if kind == "duration":
            try:
                return parse_duration(raw)
            except DurationError as exc:
                raise ValueError(str(exc)) from None
        if kind in ("number", "factor", "fraction"):
            value = raw
            if kind == "fraction" and isinstance(raw, str) and raw.strip().endswith("%"):
                try:
                    value = float(raw.strip()[:-1]) / 100
                except ValueError:
                    raise ValueError(
                        f'expected a fraction like 0.25 or "25%", got {raw!r}'
                    ) from None
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"expected a number, got {raw!r}")
            if not math.isfinite(value):
                raise ValueError(f"expected a finite number, got {raw!r}")
            if kind == "fraction" and not 0 <= value <= 1:
                raise ValueError(
                    f'expected a fraction between 0 and 1 (or "0%"-"100%"), got {raw!r}'
                )
            if kind == "factor" and value < 1:
                raise ValueError(f"expected a factor >= 1, got {raw!r}")
            if value < 0:
                raise ValueError(f"expected a number >= 0, got {raw!r}")
            return float(value)
        if kind == "count":
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
                raise ValueError(f"expected a whole number >= 0, got {raw!r}")
            return raw
        if kind == "string":
            if not isinstance(raw, str) or not raw:
                raise ValueError(f"expected a non-empty string, got {raw!r}")
            return raw
        if kind == "strings":
            if isinstance(raw, str):
                raw = [raw]
            if not isinstance(raw, list) or not all(isinstance(v, str) and v for v in raw):
                raise ValueError(f"expected a list of strings, got {raw!r}")
            return tuple(raw)
        if kind == "choice":
            if raw not in self.choices:
                raise ValueError(f"expected one of {', '.join(self.choices)}, got {raw!r}")
            return raw
        if kind == "index":
            if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
                return raw
            if not isinstance(raw, str) or not raw:
                raise ValueError(f"expected a whole number >= 0 or a name, got {raw!r}")
            return raw
        if kind == "bool":
            if not isinstance(raw, bool):
                raise ValueError(f"expected true or false, got {raw!r}")
            return raw
        if kind == "nodes":
            return node_target(raw)
        raise AssertionError(f"unknown parameter kind {kind}")

    def show_default(self) -> str:
        if self.default is None:
            return "-"
        if self.kind == "duration":
            return format_duration(self.default)
        if self.kind == "strings":
            return ",".join(self.default) or "-"
        if isinstance(self.default, bool):
            return str(self.default).lower()
        if isinstance(self.default, Target):
            return self.default.describe()
        if isinstance(self.default, float):
            return f"{self.default:g}"
        return str(self.default)


def param(
    default: Any,
    name: str,
    kind: str,
    help: str,
    choices: Sequence[str] = (),
) -> Any:
    """Declare a fault parameter: an attrs field that remembers its scenario spelling."""
    assert kind in PARAM_KINDS, kind
    return attrs.field(
        default=default,
        kw_only=True,
        metadata={"param": (name, kind, help, tuple(choices))},
    )


_NODE_TARGET_KEYS = ("nodes", "nodeGroup", "labelSelector")


def node_target(raw: Any) -> Target:
    """Read a node selector mapping (used by parameters such as ``network-partition``'s peers)."""
    if not isinstance(raw, Mapping):
        raise ValueError(
            f"expected a node selector mapping (nodes/nodeGroup/labelSelector), got {raw!r}"
        )
    unknown = [k for k in raw if k not in _NODE_TARGET_KEYS]
    if unknown:
        raise ValueError(
            f"unknown field {unknown[0]!r} in node selector; expected {', '.join(_NODE_TARGET_KEYS)}"
        )
    nodes = raw.get("nodes", ())
    if isinstance(nodes, str):
        nodes = [nodes]
    if not isinstance(nodes, list | tuple) or not all(isinstance(n, str) for n in nodes):
        raise ValueError(f"nodes: expected a list of node names, got {nodes!r}")
    group = raw.get("nodeGroup")
    if group is not None and not isinstance(group, str):
        raise ValueError(f"nodeGroup: expected a string, got {group!r}")
    labels = raw.get("labelSelector") or {}
    if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
        raise ValueError(f"labelSelector: expected a mapping of strings, got {labels!r}")
    return Target(nodes=tuple(nodes), node_group=group, label_selector=dict(labels))


@attrs.define(kw_only=True)
class Fault:
    """Base of every fault type. Subclasses are attrs classes registered with :func:`fault_type`.

    ``inject`` returns the names of what it hit (pods, nodes or a component) for the event log;
    it may raise :class:`FaultError` when the fault cannot act (no pod matched is not an error:
    it hits nothing). ``revert`` is only called after a successful ``inject``.
    """

    type: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    target_kind: ClassVar[str] = "none"
    lasting: ClassVar[bool] = True  # False: acts once at injection; a duration means nothing
    needs_duration: ClassVar[bool] = False

    name: str = ""
    target: Target = attrs.field(factory=Target)

    def __attrs_post_init__(self) -> None:
        if not self.name:
            self.name = self.type

    def held(self) -> bool:
        """In force until a revert is recorded (what the injection's record says): a lasting
        type, or a one-off action that undoes itself later (a killed process restarted)."""
        return self.lasting

    async def inject(self, env: FaultEnv) -> list[str]:
        raise NotImplementedError

    async def revert(self, env: FaultEnv) -> None:
        """Undo the injection; instantaneous faults have nothing to undo."""

    def cluster_problem(self, cluster: Any) -> str:
        """What makes this fault impossible on ``cluster`` (a ClusterSpec), "" if nothing: the
        scenario loader reports it at the fault."""
        return ""

    @classmethod
    def params(cls) -> tuple[Param, ...]:
        found = []
        for field in attrs.fields(cls):
            meta = field.metadata.get("param")
            if meta is not None:
                name, kind, help, choices = meta
                found.append(Param(field.name, name, kind, field.default, help, choices))
        return tuple(found)

    def describe_params(self) -> str:
        shown = []
        for p in self.params():
            value = getattr(self, p.field)
            if value != p.default:
                shown.append(f"{p.name}={attrs.evolve(p, default=value).show_default()}")
        return " ".join(shown)


class FaultError(Exception):
    """A fault could not be injected (the reason becomes a FaultFailed event)."""


@attrs.define
class FaultEnv:
    """What a fault acts on: the cluster (and through it every seam), the fault's own random
    stream, and a nursery for faults that need a task while active (a delayed watch delivers
    its events later).

    One object per injection: ``revert`` receives the very object its ``inject`` got, so a fault
    keeps what it must undo in :attr:`memory`."""

    cluster: Any  # kubechaos.cluster.Cluster; typed loosely so the catalogue imports stay light
    rng: random.Random
    nursery: Any  # trio.Nursery
    # What this injection did, for its revert to undo: overlapping injections of one fault
    # (``every`` shorter than ``duration``) each keep their own here, not in the fault's fields.
    memory: Any = None


F = TypeVar("F", bound=type[Fault])

CATALOGUE: dict[str, type[Fault]] = {}


def fault_type(
    name: str,
    *,
    target: str,
    summary: str,
    lasting: bool = True,
    needs_duration: bool = False,
) -> Callable[[F], F]:
    """Register a fault class under its catalogue ``name``."""
    assert target in TARGET_KINDS, target

    def register(cls: F) -> F:
        assert name not in CATALOGUE, f"fault type {name} registered twice"
        cls.type = name
        cls.summary = summary
        cls.target_kind = target
        cls.lasting = lasting
        cls.needs_duration = needs_duration
        CATALOGUE[name] = cls
        return cls

    return register
