"""Record every series of a run, sampled on virtual time, as one OpenMetrics file.

Every ``interval`` virtual seconds (default 15 s, Prometheus' default scrape interval) the
recorder collects the run's registry and appends each sample with a timestamp: virtual time plus
``start`` (the wall-clock instant virtual time zero maps to). The file holds each metric family
once — ``# TYPE``, ``# UNIT``, ``# HELP``, then all its samples in time order — and ends with
``# EOF``, so ``promtool tsdb create-blocks-from openmetrics FILE DIR`` backfills it and Prometheus
and Grafana show the run on its own timeline.

Samples are spooled to one temporary file per family while the run goes, so a long or large run
does not hold its history in memory; :meth:`OpenMetricsRecorder.close` writes the final file (an
interrupted run still gets one, up to its last sample).
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path
from typing import IO

import trio
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

from kubechaos.observe.metrics import ClusterCollector

DEFAULT_INTERVAL = 15.0


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


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
        self.ticks = 0
        self._spool = tempfile.TemporaryDirectory(prefix="kubechaos-om-")
        self._families: dict[str, tuple[Metric, IO[str]]] = {}
        self._last_at: float | None = None

    async def run(self) -> None:
        """Sample at every multiple of the interval (0, 15 s, 30 s ...) until cancelled."""
        while True:
            now = trio.current_time()
            self.sample(now)
            await trio.sleep_until((math.floor(now / self.interval) + 1) * self.interval)

    def sample(self, at: float) -> None:
        if self._last_at is not None and at <= self._last_at:
            return  # one sample per instant: timestamps must strictly increase per series
        self._last_at = at
        self.ticks += 1
        stamp = f" {self.start + at:.3f}"
        for metric in self.collector.families():
            entry = self._families.get(metric.name)
            if entry is None:
                spool = Path(self._spool.name) / f"{len(self._families)}.om"
                entry = (metric, spool.open("w", encoding="utf-8"))
                self._families[metric.name] = entry
            out = entry[1]
            lines = [
                f"{s.name}{_labels(s.labels)} {floatToGoString(s.value)}{stamp}\n"
                for s in metric.samples
            ]
            out.writelines(lines)
            self.samples_written += len(lines)

    def close(self, at: float | None = None) -> None:
        """Take a last sample at ``at`` (the run's end) and write the file."""
        if at is not None:
            self.sample(at)
        with self.path.open("w", encoding="utf-8") as out:
            for name, (metric, spool) in self._families.items():
                spool.close()
                out.write(f"# TYPE {name} {metric.type}\n")
                if metric.unit:
                    out.write(f"# UNIT {name} {metric.unit}\n")
                out.write(f"# HELP {name} {_escape(metric.documentation)}\n")
                with open(spool.name, encoding="utf-8") as lines:
                    shutil.copyfileobj(lines, out)
            out.write("# EOF\n")
        self._spool.cleanup()
