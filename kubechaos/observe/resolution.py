"""Steady state at event resolution: the record recoveries are measured on.

The 1 s samples of :mod:`kubechaos.observe.steady` feed ``kubechaos_steady_state`` (Prometheus,
Grafana); verdicts and recovery seconds come from :class:`SteadyRecord`, which keeps the moments
steady state flipped, each at the virtual time of the event that flipped it:

- a workload's informer event (the run's :class:`~kubechaos.observe.convergence.ConvergenceWatch`
  hands each added, updated or deleted Deployment, StatefulSet, DaemonSet and Job to
  :meth:`SteadyRecord.changed` / :meth:`SteadyRecord.deleted`), and a custom object's (the
  run's :class:`~kubechaos.observe.customsteady.CustomWatch`, by kstatus:
  :mod:`kubechaos.observe.kstatus`): the object is judged on its own
  (:func:`unsteady_reason`, the same rule the module docstring of ``steady`` gives on
  kube-state-metrics' series) and the set of unsteady objects is updated, so an event costs one
  object's test, never a scan;
- a batch of requests with a failure (:meth:`SteadyRecord.failed`, called by the traffic
  counters): steady state is out at that instant, so a steady run can begin no earlier than the
  last failed request.

The record is a step function: ``times`` / ``steady`` are change points (the state holds from
each until the next), starting steady at 0 (before the workloads exist steady state holds
vacuously). Failed requests closer together than the stability window are one disturbance, from
the first to the last (no steady run between them could have lasted the window).
"""

from __future__ import annotations

import bisect
from typing import Any

from kubechaos.api.objects import DaemonSet, Deployment, Job, StatefulSet, key_of
from kubechaos.api.objects.custom import Unstructured
from kubechaos.observe import kstatus
from kubechaos.sim.clock import now

WATCHED = (Deployment, StatefulSet, DaemonSet, Job)


def job_unsteady(job: Job) -> str | None:
    """Why a Job is not steady (None when it is): failed, or short of the active pods it
    should run (see ``steady``'s module docstring)."""
    st, spec = job.status, job.spec
    failed = st.condition("Failed")
    if failed is not None and failed.status == "True":
        return "failed"
    complete = st.condition("Complete")
    if complete is not None and complete.status == "True":
        return None
    want = spec.parallelism
    if spec.completions is not None:
        want = min(want, max(0, spec.completions - st.succeeded))
    elif st.succeeded > 0:
        want = 0
    if st.active < want:
        return f"has {st.active}/{want} active pods"
    return None


def unsteady_reason(obj: Any) -> str | None:
    """Why one workload is not steady, None when it is: available replicas (nodes) short of
    desired, a Job's reason, or a custom object's kstatus (when its status follows the
    convention)."""
    if isinstance(obj, Unstructured):
        return kstatus.unsteady_reason(obj.content, obj.deleting is not None)
    if isinstance(obj, Deployment | StatefulSet):
        have, want = obj.status.available_replicas, obj.spec.replicas
    elif isinstance(obj, DaemonSet):
        have, want = obj.status.number_available, obj.status.desired_number_scheduled
    elif isinstance(obj, Job):
        return job_unsteady(obj)
    else:
        return None
    return None if have >= want else f"has {have}/{want} available"


def kind_of(obj: Any) -> str:
    """The kind an object is recorded under: a typed kind's name, or a custom object's
    ``Kind.group`` (two groups may both define a ``Database``)."""
    if isinstance(obj, Unstructured):
        group = obj.api_version.rpartition("/")[0]
        return f"{obj.kind}.{group}" if group else obj.kind
    return str(type(obj).KIND)


def custom_unsteady(record: SteadyRecord) -> dict[tuple[str, str], str]:
    """The custom objects out of steady state now (kind ``Kind.group``), from the record (custom
    objects have no kube-state-metrics series to sample: their informer events are the truth)."""
    return {key: why for key, why in record.unsteady.items() if "." in key[0]}


class SteadyRecord:
    """Steady state's change points, at event resolution (see module)."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.times: list[float] = [0.0]
        self.steady: list[bool] = [True]
        self.unsteady: dict[tuple[str, str], str] = {}  # (kind, namespace/name) -> why
        # every object judged now (a custom object whose status follows no convention is not)
        self.judged: dict[tuple[str, str], None] = {}
        self._failure_end = False  # the last change point closes a run of failed requests

    def changed(self, obj: Any, at: float | None = None) -> None:
        """An informer saw ``obj`` added or updated (now, or ``at``)."""
        at = now() if at is None else at
        key = (kind_of(obj), key_of(obj))
        reason = unsteady_reason(obj)
        if not isinstance(obj, Unstructured) or kstatus.follows_convention(obj.content):
            self.judged[key] = None
        else:
            self.judged.pop(key, None)
        if reason is None:
            if self.unsteady.pop(key, None) is not None and not self.unsteady:
                self._append(at, True)
        else:
            was = bool(self.unsteady)
            self.unsteady[key] = reason
            if not was:
                self._append(at, False)

    def deleted(self, obj: Any, at: float | None = None) -> None:
        """An informer saw ``obj`` deleted (now, or ``at``): it no longer counts."""
        key = (kind_of(obj), key_of(obj))
        self.judged.pop(key, None)
        gone = self.unsteady.pop(key, None)
        if gone is not None and not self.unsteady:
            self._append(now() if at is None else at, True)

    def counts(self) -> dict[str, int]:
        """How many objects of each kind steady state judges now."""
        counted: dict[str, int] = {}
        for kind, _ in self.judged:
            counted[kind] = counted.get(kind, 0) + 1
        return counted

    def failed(self, at: float) -> None:
        """Requests failed at ``at``: an instant out of steady state."""
        if self.unsteady:
            return  # already out; it comes back with the workloads, after this failure
        if self._failure_end and at - self.times[-1] < self.window and self.times[-1] <= at:
            self.times[-1] = at  # the same disturbance goes on to this failure
            return
        self._append(at, False)
        self._append(at, True)
        self._failure_end = True

    def _append(self, at: float, steady: bool) -> None:
        self.times.append(at)
        self.steady.append(steady)
        self._failure_end = False

    def state_at(self, at: float) -> bool:
        """Steady at ``at`` (after every change point at that instant)."""
        return self.steady[max(0, bisect.bisect_right(self.times, at) - 1)]


__all__ = [
    "WATCHED",
    "SteadyRecord",
    "custom_unsteady",
    "job_unsteady",
    "kind_of",
    "unsteady_reason",
]
