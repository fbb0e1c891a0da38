"""Steady state read from kube-state-metrics' series, as the 1 s samples of
:class:`~kubechaos.observe.steady.SteadyStateMonitor` read it (``kubechaos_steady_state``, the
reasons ``kubechaos run`` shows): the rule is the one ``steady``'s module docstring gives."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics_core import Metric


def unsteady_jobs(families: Iterable[Metric]) -> dict[tuple[str, str], str]:
    """Why each Job that is not steady is not, keyed ``(namespace, name)``, read from its
    kube-state-metrics series (see ``steady``'s module docstring)."""
    series: dict[tuple[str, str], dict[str, float]] = {}
    for metric in families:
        for s in metric.samples:
            if metric.name in ("kube_job_complete", "kube_job_failed"):
                if s.labels["condition"] != "true":
                    continue
            elif metric.name == "kube_job_status_failed":
                continue
            key = (s.labels["namespace"], s.labels["job_name"])
            series.setdefault(key, {})[metric.name] = s.value
    unsteady: dict[tuple[str, str], str] = {}
    for key, values in series.items():
        if values.get("kube_job_failed", 0) >= 1:
            unsteady[key] = "failed"
            continue
        if values.get("kube_job_complete", 0) >= 1:
            continue
        succeeded = values.get("kube_job_status_succeeded", 0)
        want = values.get("kube_job_spec_parallelism", 1)
        completions = values.get("kube_job_spec_completions")
        if completions is not None:
            want = min(want, max(0, completions - succeeded))
        elif succeeded > 0:
            want = 0
        active = values.get("kube_job_status_active", 0)
        if active < want:
            unsteady[key] = f"has {active:g}/{want:g} active pods"
    return unsteady


def short(
    families: list[Metric], label: str, desired_name: str, available_name: str
) -> dict[tuple[str, str], tuple[float, float]]:
    """``(available, desired)`` of each workload with fewer available than desired, keyed
    ``(namespace, name)``, from its two kube-state-metrics series."""
    available: dict[tuple[str, str], float] = {}
    desired: dict[tuple[str, str], float] = {}
    for metric in families:
        if metric.name == desired_name:
            target = desired
        elif metric.name == available_name:
            target = available
        else:
            continue
        for s in metric.samples:
            target[(s.labels["namespace"], s.labels[label])] = s.value
    return {
        key: (available.get(key, 0), want)
        for key, want in desired.items()
        if not available.get(key, 0) >= want
    }


__all__ = ["short", "unsteady_jobs"]
