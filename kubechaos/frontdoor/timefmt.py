"""Wall-clock times for a served run: the model's virtual seconds, anchored at the run's start.

The model keeps every timestamp as virtual seconds since the run began. A real client shows
``AGE`` as "now minus creationTimestamp", so a served run anchors virtual time 0 at the wall
clock instant the run started (read once, at the edge) and writes times as upstream does:
``metav1.Time`` as RFC 3339 in whole seconds, ``metav1.MicroTime`` with microseconds.
"""

from __future__ import annotations

import datetime as dt
import functools

import attrs


@attrs.frozen
class Anchor:
    """Virtual time 0 as a wall-clock instant (seconds since the Unix epoch)."""

    epoch: float

    def when(self, virtual: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.epoch + virtual, tz=dt.UTC)

    def time(self, virtual: float) -> str:
        """``metav1.Time``: RFC 3339, whole seconds, UTC (``2026-12-06T05:30:00Z``)."""
        return _whole_seconds(int(self.epoch + virtual))

    def micro_time(self, virtual: float) -> str:
        """``metav1.MicroTime``: RFC 3339 with microseconds (``...T05:30:00.123456Z``)."""
        return self.when(virtual).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@functools.lru_cache(maxsize=65536)
def _whole_seconds(epoch_seconds: int) -> str:
    """Times repeat (a Deployment's pods share their creation second): formatted once."""
    return dt.datetime.fromtimestamp(epoch_seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["Anchor"]
