"""The edges where a run's metrics leave the process: a live ``/metrics`` endpoint and an
OpenMetrics recording for ``promtool tsdb create-blocks-from openmetrics``."""
