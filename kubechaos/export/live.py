"""Serve a run's metrics live at ``/metrics`` while virtual time is paced to the wall clock.

prometheus-client's HTTP server runs in a thread and negotiates the format (Prometheus text, or
OpenMetrics for ``Accept: application/openmetrics-text``). The model lives on the Trio thread, so
the server never collects it directly: :meth:`LiveExporter.refresh`, attached to the run's
observer ticker, takes a snapshot on the Trio thread a few times per wall-clock second, and the
collector hands that snapshot to the server.
"""

from __future__ import annotations

import math
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from kubechaos.observe.metrics import ClusterCollector

# Snapshots per wall-clock second: more than a scrape every second needs, cheap enough at scale.
REFRESH_PER_SECOND = 4


class ServeError(Exception):
    """The address could not be served (in use, not permitted, unknown host)."""


class LiveExporter:
    def __init__(
        self,
        collector: ClusterCollector,
        registry: CollectorRegistry,
        host: str,
        port: int,
        speed: float | None,
    ) -> None:
        self.collector = collector
        self.registry = registry
        self.host = host
        self.port = port
        self.speed = speed
        self._server: Any = None
        self._thread: Any = None

    def start(self) -> None:
        """Bind and start serving (before the run, so a bad address fails at once)."""
        try:
            self._server, self._thread = start_http_server(
                self.port, addr=self.host, registry=self.registry
            )
        except OSError as exc:
            raise ServeError(
                f"cannot serve on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from None
        self.port = self._server.server_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def refresh_every(self) -> float:
        """Virtual seconds between snapshots: about REFRESH_PER_SECOND per wall second at the
        run's speed (every 15 virtual seconds when running flat out), in whole observer ticks."""
        if self.speed is None or math.isinf(self.speed):
            return 15.0
        return float(max(1, round(self.speed / REFRESH_PER_SECOND)))

    def refresh(self, at: float = 0.0) -> None:
        """Take a snapshot for the server (on the Trio thread; a hook on the run's ticker)."""
        self.collector.snapshot()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
