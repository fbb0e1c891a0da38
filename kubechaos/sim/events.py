"""The event log: an ordered, structured record of everything that happened in a run.

Entries read like ``kubectl get events`` with a virtual timestamp: which component acted, on which
object, with an upstream-style reason (``Scheduled``, ``Killing``, ``BackOff``, ``NodeNotReady``)
and a message. The log is the ground truth that metrics, recovery and reports are derived from,
and the object of the determinism guarantee: the same seed gives the same log, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import IO, Any

import attrs

from kubechaos.sim.clock import now


@attrs.frozen(slots=True)
class Event:
    time: float
    component: str
    kind: str
    object: str
    reason: str
    message: str = ""
    fields: dict[str, Any] | None = None

    def to_json(self) -> str:
        record: dict[str, Any] = {
            "time": round(self.time, 6),
            "component": self.component,
            "kind": self.kind,
            "object": self.object,
            "reason": self.reason,
            "message": self.message,
        }
        if self.fields:
            record["fields"] = self.fields
        return json.dumps(record, sort_keys=True, separators=(",", ":"))

    def describe(self) -> str:
        where = f"{self.kind}/{self.object}" if self.object else self.kind
        return f"{self.reason:<22} {where:<48} {self.message}"


Listener = Callable[[Event], None]


class EventLog:
    """Append-only, in order of virtual time (ties keep the order they were recorded in)."""

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._listeners: list[Listener] = []

    def record(
        self,
        component: str,
        kind: str,
        obj: str,
        reason: str,
        message: str = "",
        **fields: Any,
    ) -> Event:
        event = Event(now(), component, kind, obj, reason, message, fields or None)
        self._events.append(event)
        for listener in self._listeners:
            listener(event)
        return event

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every event recorded from now on."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        """Stop calling ``listener`` (one that was never subscribed is ignored)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def __len__(self) -> int:
        return len(self._events)

    def __getitem__(self, index: int) -> Event:
        return self._events[index]

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events)

    def find(
        self, reason: str | None = None, kind: str | None = None, obj: str | None = None
    ) -> list[Event]:
        return [
            e
            for e in self._events
            if (reason is None or e.reason == reason)
            and (kind is None or e.kind == kind)
            and (obj is None or e.object == obj)
        ]

    def write_jsonl(self, out: IO[str]) -> None:
        for event in self._events:
            out.write(event.to_json())
            out.write("\n")
