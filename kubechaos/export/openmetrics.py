"""Record every series of a run, sampled on virtual time, as one OpenMetrics file.

Every ``interval`` virtual seconds (default 15 s, Prometheus' default scrape interval) the
recorder takes a sample of every series the run exposes, stamped with virtual time plus ``start``
(the wall-clock instant virtual time zero maps to). :meth:`OpenMetricsRecorder.close` writes the
file as the OpenMetrics format wants it — each metric family once (``# TYPE``, ``# UNIT``,
``# HELP``), each series' points together and in time order — ending with ``# EOF``, so
``promtool tsdb create-blocks-from openmetrics FILE DIR`` backfills it and Prometheus and Grafana
show the run on its own timeline. An interrupted run still gets its file, up to its last sample.

Recording must stay cheap next to the simulation, so a sample costs what *changed*, not what
exists:

- kube-state-metrics series are a function of one API object: per object the recorder keeps
  *segments* (one per resourceVersion, with its rendered lines and the ticks it was seen), so an
  unchanged object costs one lookup per tick;
- every other series keeps *runs* of equal values (first tick, last tick, value); a tick extends
  the current run in place.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from itertools import compress
from operator import ne
from pathlib import Path
from typing import TextIO

import trio
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

from kubechaos.observe.metrics import ClusterCollector
from kubechaos.observe.metrics.kubestate import OBJECT_FAMILIES, OPTIONAL_RESOURCES, ObjectSample

DEFAULT_INTERVAL = 15.0
WRITE_BUFFER = 1 << 20
SERVICE_REQUESTS = "kubechaos_service_requests"


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def render_key(name: str, labels: dict[str, str]) -> str:
    if not labels:
        return name
    return name + "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


class _Segment:
    """One version of one object: its rendered series and the ticks it was seen at."""

    __slots__ = ("lines", "ticks")

    def __init__(self, samples: list[ObjectSample]) -> None:
        self.lines: dict[str, list[tuple[str, str]]] = {}
        for family_name, s in samples:
            self.lines.setdefault(family_name, []).append(
                (render_key(s.name, s.labels), floatToGoString(s.value))
            )
        self.ticks = array("I")


class _Object:
    __slots__ = ("rv", "segments")

    def __init__(self) -> None:
        self.rv = ""
        self.segments: list[_Segment] = []


class _Series:
    """A series outside the object families: runs of equal values ``[first, last, value]``."""

    __slots__ = ("group", "key", "runs")

    def __init__(self, key: str, group: object = None) -> None:
        self.key = key
        self.group = group  # histograms: the labels without ``le`` (one OpenMetrics group)
        self.runs: list[list[int | float]] = []

    def points(self, stamps: list[str]) -> Iterator[tuple[int, str]]:
        for first, last, value in self.runs:
            prefix = f"{self.key} {floatToGoString(value)} "
            for tick in range(int(first), int(last) + 1):
                yield tick, prefix + stamps[tick]

    def text(self, stamps: list[str]) -> tuple[str, int]:
        """Every point as lines in time order, and how many (``points`` in bulk: a run of equal
        values is one ``str.join``; ``stamps`` without newlines)."""
        chunks = []
        count = 0
        for first, last, value in self.runs:
            prefix = f"{self.key} {floatToGoString(value)} "
            chunks.append(prefix + f"\n{prefix}".join(stamps[int(first) : int(last) + 1]) + "\n")
            count += int(last) - int(first) + 1
        return "".join(chunks), count

    def observe(self, tick: int, value: float) -> None:
        runs = self.runs
        if runs:
            last = runs[-1]
            if last[1] == tick - 1 and last[2] == value:
                last[1] = tick
                return
        runs.append([tick, tick, value])


class OpenMetricsRecorder:
    """Samples ``collector`` every ``interval`` of virtual time into ``path``."""

    def __init__(
        self,
        collector: ClusterCollector,
        path: Path,
        start: float,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self.collector = collector
        self.path = path
        self.start = start
        self.interval = interval
        self.samples_written = 0
        self._stamps: list[str] = []
        self._meta: dict[str, Metric] = {}  # family name -> a Metric carrying HELP/TYPE/UNIT
        self._objects: dict[str, dict[str, _Object]] = {r: {} for r in OBJECT_FAMILIES}
        self._series: dict[str, dict[object, _Series]] = {}
        # kubechaos_service_requests_total as last sampled (keys and counts, in the mapping's
        # order): a tick touches only the counts that changed since (a few per Service), and
        # runs of the others stay open until they do.
        self._request_keys: list[tuple[str, str, str, str]] = []
        self._request_counts: list[int] = []
        self._last_at: float | None = None
        for families in OBJECT_FAMILIES.values():
            for name, help, typ in families:
                self._meta[name] = Metric(name, help, typ)

    @property
    def ticks(self) -> int:
        return len(self._stamps)

    async def run(self) -> None:
        """Sample at every multiple of the interval (0, 15 s, 30 s ...) until cancelled, as a
        task of its own (the benchmark's way). Within a :class:`~kubechaos.scenario.runner.Run`
        attach :meth:`sample` to its ticker instead, so recording cannot change the run."""
        while True:
            now = trio.current_time()
            self.sample(now)
            await trio.sleep_until((math.floor(now / self.interval) + 1) * self.interval)

    def sample(self, at: float) -> None:
        if self._last_at is not None and at <= self._last_at:
            return  # one point per instant: a series' timestamps must strictly increase
        self._last_at = at
        tick = len(self._stamps)
        self._stamps.append(f"{self.start + at:.3f}")
        collector = self.collector
        for resource, objects in self._objects.items():
            for uid, rv, samples in collector.object_samples(resource):
                obj = objects.get(uid)
                if obj is None:
                    obj = objects[uid] = _Object()
                if obj.rv != rv or not obj.segments:
                    obj.rv = rv
                    obj.segments.append(_Segment(samples))
                obj.segments[-1].ticks.append(tick)
        self._sample_service_requests(tick)
        for metric in collector.other_families(exclude=(SERVICE_REQUESTS,)):
            self._meta.setdefault(metric.name, metric)
            series = self._series.setdefault(metric.name, {})
            histogram = metric.type == "histogram"
            for s in metric.samples:
                key = (s.name, *s.labels.values())
                one = series.get(key)
                if one is None:
                    group = (
                        tuple((k, v) for k, v in s.labels.items() if k != "le")
                        if histogram
                        else None
                    )
                    one = series[key] = _Series(render_key(s.name, s.labels), group)
                one.observe(tick, s.value)

    def _sample_service_requests(self, tick: int) -> None:
        # The busiest family (one series per service, source node and outcome, ~800,000 at
        # 1,000 nodes) from the collector's raw counts. A series' current run is left open
        # (its last tick is the latest tick); finding what changed since the previous tick is
        # a positional comparison in C, as keys are only ever appended to the mapping, so only
        # a count that changed or appeared costs Python code.
        if SERVICE_REQUESTS not in self._meta:  # HELP/TYPE only: never rebuild the family
            self._meta[SERVICE_REQUESTS] = self.collector.service_request_family()
        series = self._series.setdefault(SERVICE_REQUESTS, {})
        counts = self.collector.service_request_counts()
        keys, values = list(counts), list(counts.values())
        old_keys, old_values = self._request_keys, self._request_counts
        n = len(old_keys)
        if keys[:n] == old_keys:
            changed = [*compress(range(n), map(ne, values, old_values)), *range(n, len(keys))]
            was_there = [i < n for i in changed]
        else:  # a key vanished or moved (not today's TrafficStats): compare by key
            old = dict(zip(old_keys, old_values, strict=True))
            for key in old.keys() - counts.keys():  # gone: its run ended at the last tick
                series[key].runs[-1][1] = tick - 1
            changed = [
                i for i, (k, v) in enumerate(zip(keys, values, strict=True)) if old.get(k) != v
            ]
            was_there = [keys[i] in old for i in changed]
        for i, present in zip(changed, was_there, strict=True):
            key = keys[i]
            one = series.get(key)
            if one is None:
                labels = dict(
                    zip(("namespace", "service", "source_node", "outcome"), key, strict=True)
                )
                one = series[key] = _Series(render_key(SERVICE_REQUESTS + "_total", labels))
            if present:
                one.runs[-1][1] = tick - 1  # the open run ends where the new value begins
            one.runs.append([tick, tick, values[i]])
        self._request_keys, self._request_counts = keys, values

    def _close_request_runs(self) -> None:
        """Extend every open run of kubechaos_service_requests_total to the latest tick."""
        series = self._series.get(SERVICE_REQUESTS, {})
        last = len(self._stamps) - 1
        for key in self._request_keys:
            series[key].runs[-1][1] = last

    def close(self, at: float | None = None) -> None:
        """Take a last sample at ``at`` (the run's end) and write the file."""
        self.finish(at)
        # Gigabytes at a thousand nodes: a large buffer saves most of the write calls.
        with self.path.open("w", encoding="utf-8", buffering=WRITE_BUFFER) as out:
            self.write(out)

    def finish(self, at: float | None = None) -> None:
        """Take a last sample at ``at`` (the run's end): the recording is then ready to write
        (:meth:`write`; the CLI writes it to a temporary file renamed over the target)."""
        if at is not None:
            self.sample(at)
        self._close_request_runs()

    def write(self, out: TextIO) -> None:
        """The recording as an OpenMetrics document (after :meth:`finish`)."""
        for name, metric in self._meta.items():
            if name in self._absent_optional():
                continue  # a kind the run never had (no budgets): as before the kind existed
            out.write(f"# TYPE {name} {metric.type}\n")
            if metric.unit:
                out.write(f"# UNIT {name} {metric.unit}\n")
            out.write(f"# HELP {name} {_escape(metric.documentation)}\n")
            for lines in self._family_lines(name, self._stamps):
                out.writelines(lines)
        out.write("# EOF\n")

    def _absent_optional(self) -> set[str]:
        """Families of optional kinds (:data:`OPTIONAL_RESOURCES`) of which the run had no
        object."""
        return {
            name
            for resource in OPTIONAL_RESOURCES
            if not self._objects[resource]
            for name, _, _ in OBJECT_FAMILIES[resource]
        }

    def _family_lines(self, name: str, stamps: list[str]) -> Iterator[list[str]]:
        """The family's points as text (whole lines, possibly many per string)."""
        for resource, families in OBJECT_FAMILIES.items():
            if any(f[0] == name for f in families):
                for obj in self._objects[resource].values():
                    yield self._object_lines(obj, name, stamps)
                return
        all_series = self._series.get(name, {}).values()
        if self._meta[name].type != "histogram":
            for series in all_series:
                text, count = series.text(stamps)
                self.samples_written += count
                yield [text]
            return
        stamps = [f"{stamp}\n" for stamp in stamps]
        # A histogram's buckets, count and sum form one group whose points go tick by tick.
        groups: dict[object, list[_Series]] = {}
        for series in all_series:
            groups.setdefault(series.group, []).append(series)
        for members in groups.values():
            by_tick: dict[int, list[str]] = {}
            for series in members:
                for tick, line in series.points(stamps):
                    by_tick.setdefault(tick, []).append(line)
            lines = [line for tick in sorted(by_tick) for line in by_tick[tick]]
            self.samples_written += len(lines)
            yield lines

    def _object_lines(self, obj: _Object, family_name: str, stamps: list[str]) -> list[str]:
        """One object's points for one family, grouped by series, each in time order."""
        points: dict[str, list[str]] = {}
        for segment in obj.segments:
            for key, value in segment.lines.get(family_name, ()):
                prefix = f"{key} {value} "
                text = f"\n{prefix}".join(map(stamps.__getitem__, segment.ticks))
                points.setdefault(key, []).append(f"{prefix}{text}\n")
                self.samples_written += len(segment.ticks)
        return [chunk for series in points.values() for chunk in series]


__all__ = ["DEFAULT_INTERVAL", "OpenMetricsRecorder", "render_key"]
