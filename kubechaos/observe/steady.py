"""Steady state and recovery, computed from the events that change steady state.

**Steady state** holds when every Deployment has its desired replicas available
(``kube_deployment_status_replicas_available == kube_deployment_spec_replicas``), every
StatefulSet too (``kube_statefulset_status_replicas_available == kube_statefulset_replicas``:
ready, and for ``minReadySeconds``; a pod stuck Terminating keeps its set short), every
DaemonSet has an available pod on each node that should run one
(``kube_daemonset_status_number_available == kube_daemonset_status_desired_number_scheduled``;
a crashed node, once tainted, no longer counts as one), every Job is steady (below), and no
Service with traffic is answering a request with an error (a failed request,
``kubechaos_service_requests_total{outcome!="success"}``, is an instant out of steady state). A
node that stays dead does not block it: its pods must come back elsewhere, and a dead node sends
no requests (they count as unsent, not as errors). A custom object whose status follows kstatus'
convention is steady while Current (:mod:`kubechaos.observe.kstatus`, followed by
:mod:`kubechaos.observe.customsteady`). A Deployment a HorizontalPodAutoscaler scales is
held to the replicas the HPA last set (its ``spec.replicas``): a scale-out is unsteady only until
the new pods are available, a scale-down is steady at once, and the HPA's own state (load above
target, ScalingLimited at ``maxReplicas``) never counts, so autoscaling cannot keep a run out of
steady state for longer than its pods take to start.

A Job is a finite workload, so it is steady while it runs the pods it should and once it has
completed: ``kube_job_complete{condition="true"}``, or ``kube_job_status_active`` at least
``min(parallelism, completions - succeeded)`` (``parallelism`` without completions, until the
first success). A Job short of active pods (a killed pod waiting out the controller's pod-failure
back-off: upstream's status then even shows 0 active) is not steady; a Job that *failed*
(``kube_job_failed{condition="true"}``: back-off limit or deadline) is never steady again, so a
fault that fails a Job does not recover and the report says so. A Job deleted (its TTL after
finishing) no longer counts.

**Resolution**: steady state is kept at event resolution (:mod:`kubechaos.observe.resolution`):
each workload is judged on its own at each informer event about it (the run's
:class:`~kubechaos.observe.convergence.ConvergenceWatch`), and steady state flips at the event
that made the first workload short or the last one whole, or at a failed request (requests are
sent every ``traffic_tick_seconds``, 0.1 s). A disturbance shorter than a second reads its real
length, and a recovery ends at the event that ended it. Failed requests closer together than the
stability window are one disturbance, from the first to the last. Samples of the same rule, read
from kube-state-metrics' series every ``interval`` seconds of virtual time (default 1 s), are
exposed as ``kubechaos_steady_state{scenario}`` (and say why it does not hold); recoveries and
verdicts do not read them.

**Recovery** of a fault injected at ``t_i`` is measured from a reference time ``r`` (``t_i``, or
the fault's revert when asked for) on that record: find the fault's first *disturbance* ``d`` —
the first moment out of steady state at or after ``t_i`` (before the next fault's injection, for
the cluster-wide series: for a lasting fault, or before its revert if that is later — a stopped
kubelet shows only after the grace period). Recovery ends at the start ``s`` of the first steady
run that begins at or after ``max(d, r)`` and lasts at least the stability window (default 10 s);
the recovery time is ``max(0, s - r)``. It runs to the moment steady state began, not to the end
of the window. A fault that disturbs nothing in that span recovers in 0 s.

**Attribution**: which series. Alone, a fault is measured on the cluster-wide steady state above
(``cluster-wide``). Two injections *overlap* when one is injected while the other is in force or
its recovery is not yet known; a fault that overlapped another would share its recovery (a pod
kill during a node crash would wait for the node's pods too), so it is measured on the objects it
disturbed (``per-object``), followed along the causal chain by
:mod:`kubechaos.observe.attribution`: the pods it hit, each followed to the replacement its
ReplicaSet creates, whole again when those are Ready and no request routed to them (nor a
``no_endpoints`` answer of the Services they back) failed. It keeps the cluster-wide series when
its disturbance cannot be separated: its type has no object scope (control plane, etcd, network,
runtime, image faults), a pod it hit has no ReplicaSet, or an overlapping injection disturbed one
of the same pods. Another fault that delays the repair of a fault's own objects (a controller
manager that is down, a stale kube-proxy still routing to the deleted pod) delays its recovery:
the objects it disturbed were not whole. Its objects are looked at on each sample and at each
workload event and failed request, so its recovery too ends at the event that made them whole.

**Not recovered, not observable**: when no such steady run is confirmed by the end, the fault has
*failed* to recover, unless the run ended less than the stability window (or the ``within`` of a
``recoveryWithin`` SLO on the fault, if longer; see :meth:`SteadyStateMonitor.expect_within`)
after its injection: then its recovery could not be observed (``not observable``), which is not a
failure. Neither has a number.

Each recovery, once known (at the first sample a window after it happened), is a ``Recovered``
event and an
observation of ``kubechaos_recovery_seconds{fault,type}``; the run's end records
``NotRecovered`` (counted in ``kubechaos_recovery_failures_total``) or ``NotObservable`` for the
rest.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from typing import Any

import attrs
from prometheus_client.metrics_core import Metric

from kubechaos.observe.attribution import ObjectTracker, Scope
from kubechaos.observe.measuredon import cluster_wide, per_object
from kubechaos.observe.metrics import (
    ClusterCollector,
    FaultLedger,
    add,
    bucketed,
    family,
    histogram,
)
from kubechaos.observe.resolution import SteadyRecord, custom_unsteady
from kubechaos.observe.steadyseries import short, unsteady_jobs
from kubechaos.sim.clock import now
from kubechaos.sim.events import Event, EventLog

DEFAULT_INTERVAL = 1.0
DEFAULT_WINDOW = 10.0
# kubechaos_recovery_seconds buckets: from a pod restart to a node eviction and beyond
RECOVERY_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 360, 420, 600, 900, 1800, 3600)

COMPONENT = "observer"
PER_OBJECT = "per-object"
CLUSTER_WIDE = "cluster-wide"


@attrs.define(eq=False)
class FaultRecovery:
    """One injection's recovery: seconds (from injection), or None if it never recovered."""

    fault: str
    type: str
    injected_at: float
    reverted_at: float | None = None
    lasting: bool = False  # in force until reverted (or the end), not a one-off action
    disturbed_at: float | None = None
    recovered_at: float | None = None  # start of the steady run that ended it
    known: bool = False  # the window has passed (or the run ended)
    targets: list[str] = attrs.field(factory=list)
    scope: Scope | None = attrs.field(default=None, repr=False)  # what it disturbed, if known
    # other injections in force or not yet recovered while this one was (and it while they were)
    overlaps: list[FaultRecovery] = attrs.field(factory=list, repr=False)
    attribution: str | None = None  # PER_OBJECT or CLUSTER_WIDE, once known
    observable: bool = True  # False: the run ended too soon after it to observe its recovery
    measured_on: str | None = None  # what its recovery was read on (measuredon), once known

    @property
    def seconds(self) -> float | None:
        if self.recovered_at is None:
            return None
        return max(0.0, self.recovered_at - self.injected_at)


def covers(name: str, fault: str) -> bool:
    """Whether ``name`` names ``fault``: the same, or a spec.explore template covering each
    fault drawn from it (``<name>#<k>``)."""
    return fault == name or fault.startswith(name + "#")


def settled(
    times: list[float],
    steady: list[bool],
    start: float,
    window: float,
    final: bool,
    end: float | None = None,
) -> float | bool | None:
    """The start of the first steady run (lasting >= ``window``) of a series in progress at or
    beginning after ``start``. False: not known yet; None: none before the end (only when
    ``final``). With ``end``, the series is a step function of change points (the state at
    ``start`` is the last one at or before it) known until ``end``; without, a list of samples
    (the first at or after ``start``, known until the last)."""
    if end is None:
        i, end = bisect.bisect_left(times, start), times[-1]
    else:
        i = max(0, bisect.bisect_right(times, start) - 1)
    n = len(times)
    while i < n:
        if not steady[i]:
            i += 1
            continue
        run_start_index = i
        while run_start_index > 0 and steady[run_start_index - 1]:
            run_start_index -= 1
        run_start = times[run_start_index]
        j = i
        while j < n and steady[j]:
            j += 1
        run_end = times[j] if j < n else end
        if run_end - run_start >= window:
            return run_start
        if j >= n:
            return None if final else False
        i = j
    return None if final else False


def _measured_on(monitor: SteadyStateMonitor, rec: FaultRecovery) -> str:
    """What ``rec``'s recovery is read on, in words (kubechaos.observe.measuredon)."""
    if rec.scope is not None and monitor.attributed(rec):
        return per_object(rec.scope.objects())
    services = len(monitor.collector.service_totals())
    return cluster_wide(monitor.record.counts(), services)


class SteadyStateMonitor:
    """Samples steady state from the collector's series; computes every fault's recovery."""

    def __init__(
        self,
        collector: ClusterCollector,
        events: EventLog,
        scenario: str = "",
        interval: float = DEFAULT_INTERVAL,
        window: float = DEFAULT_WINDOW,
    ) -> None:
        self.collector = collector
        self.events = events
        self.scenario = scenario
        self.interval = interval
        self.window = window
        self.times: list[float] = []
        self.steady: list[bool] = []
        self._errors: dict[tuple[str, str], float] = {}
        self.recoveries: list[FaultRecovery] = []
        self._ledger: FaultLedger = collector.faults
        self._seen_fault_events = 0
        # Steady state counts from the moment the workloads exist (before, it holds vacuously).
        self.armed_at: float | None = None
        self.first_steady_at: float | None = None
        # the longest `within` of a recoveryWithin SLO per fault name (see expect_within)
        self.horizons: dict[str, float] = {}
        self.tracker = ObjectTracker(collector.cluster, collector.traffic)
        # steady state at event resolution: what recoveries are measured on (resolution.py);
        # the run's ConvergenceWatch feeds it the workloads' informer events
        self.record = SteadyRecord(window)
        if collector.traffic is not None:
            collector.traffic.on_failure.append(self._failed)
        self._scopes: dict[tuple[str, float], Scope | None] = {}
        events.subscribe(self._on_event)
        collector.add_source(self.families)

    def expect_within(self, fault: str, within: float) -> None:
        """A recoveryWithin SLO allows ``fault`` (a name, or a template name covering
        ``name#k``) ``within`` seconds: an injection later than that before the end, not
        recovered, is not observable rather than not recovered."""
        self.horizons[fault] = max(within, self.horizons.get(fault, 0.0))

    def horizon(self, rec: FaultRecovery) -> float:
        """How long before the end ``rec`` must have been injected for its recovery to be
        observable: the stability window, or a longer ``within`` of an SLO on it."""
        return max(
            [self.window] + [w for name, w in self.horizons.items() if covers(name, rec.fault)]
        )

    def _on_event(self, event: Event) -> None:
        """Each injection's scope is found the moment it is injected (a force-deleted pod is
        gone at once), and its chains follow the ReplicaSets' replacements as they happen."""
        if event.reason == "FaultInjected" and event.kind == "Fault":
            fields = event.fields or {}
            targets = [str(t) for t in fields.get("targets", ())]
            self._scopes[(event.object, event.time)] = self.tracker.scope_for(
                str(fields.get("type", "")), targets, event.time
            )
        else:
            self.tracker.on_event(event)

    def changed(self, obj: Any) -> None:
        """A workload's informer event (the run's ConvergenceWatch): the record, and each
        fault's open scope, see it now."""
        self.record.changed(obj)
        if self.tracker.open:
            self.tracker.observe(now())

    def deleted(self, obj: Any) -> None:
        self.record.deleted(obj)
        if self.tracker.open:
            self.tracker.observe(now())

    def _failed(self, at: float) -> None:
        self.record.failed(at)
        if self.tracker.open:
            self.tracker.observe(at)

    def arm(self, at: float) -> None:
        """The workloads were applied at ``at``: from now on steady state means something."""
        self.armed_at = at

    # ------------------------------------------------------------------ sampling
    def is_steady_now(self) -> bool:
        """One sample of steady state, from the exposed families: no Deployment short of
        available replicas, and no Service's error count grown since the previous sample."""
        steady = (
            not self._short_deployments()
            and not self._short_statefulsets()
            and not self._short_daemonsets()
            and not self._unsteady_jobs()
            and not custom_unsteady(self.record)
        )
        errors = self._service_errors()
        if any(n > self._errors.get(k, 0.0) for k, n in errors.items()):
            steady = False
        self._errors = errors  # the next sample counts errors from here
        return steady

    def unsteady_reasons(self, now: float) -> list[str]:
        """Why the workloads are not in steady state at ``now``, one reason each (empty when
        they are): each Deployment short of its available replicas, and each Service that
        failed a request within the last stability window (a break that keeps a recovery from
        being known yet). Read from the series :meth:`is_steady_now` samples; takes no sample."""
        reasons = [
            f"Deployment {namespace}/{name} has {available:g}/{desired:g} available"
            for (namespace, name), (available, desired) in self._short_deployments().items()
        ] + [
            f"StatefulSet {namespace}/{name} has {available:g}/{desired:g} available"
            for (namespace, name), (available, desired) in self._short_statefulsets().items()
        ]
        reasons += [
            f"DaemonSet {namespace}/{name} has {available:g}/{desired:g} available"
            for (namespace, name), (available, desired) in self._short_daemonsets().items()
        ]
        reasons += [
            f"Job {namespace}/{name} {why}"
            for (namespace, name), why in self._unsteady_jobs().items()
        ] + [f"{kind} {key} {why}" for (kind, key), why in custom_unsteady(self.record).items()]
        stats = self.collector.traffic
        errored = [key for key, n in self._service_errors().items() if n > 0]
        for namespace, service in sorted(errored, key="/".join):
            last = stats.last_failure(namespace, service) if stats is not None else None
            if last is not None and last >= now - self.window:
                reasons.append(f"Service {namespace}/{service} failed requests in second {last}")
        return reasons

    def _short_deployments(self) -> dict[tuple[str, str], tuple[float, float]]:
        """``(available, desired)`` replicas of each Deployment with fewer available than
        desired, keyed ``(namespace, name)``, from kube-state-metrics' two series."""
        return short(
            self.collector.deployment_families(),
            "deployment",
            "kube_deployment_spec_replicas",
            "kube_deployment_status_replicas_available",
        )

    def _short_statefulsets(self) -> dict[tuple[str, str], tuple[float, float]]:
        """The same for StatefulSets (no series at all while the cluster has none)."""
        return short(
            self.collector.kind_families("statefulsets"),
            "statefulset",
            "kube_statefulset_replicas",
            "kube_statefulset_status_replicas_available",
        )

    def _short_daemonsets(self) -> dict[tuple[str, str], tuple[float, float]]:
        """``(available, desired)`` of each DaemonSet with fewer nodes running an available
        pod than nodes that should (none while the cluster has no DaemonSet)."""
        return short(
            self.collector.kind_families("daemonsets"),
            "daemonset",
            "kube_daemonset_status_desired_number_scheduled",
            "kube_daemonset_status_number_available",
        )

    def _unsteady_jobs(self) -> dict[tuple[str, str], str]:
        return unsteady_jobs(self.collector.kind_families("jobs"))

    def _service_errors(self) -> dict[tuple[str, str], float]:
        """Requests answered with an error so far, per ``(namespace, service)`` with traffic."""
        return {
            key: float(total - ok) for key, (total, ok) in self.collector.service_totals().items()
        }

    def sample(self, at: float) -> None:
        steady = self.is_steady_now()
        self.times.append(at)
        self.steady.append(steady)
        if steady and self.first_steady_at is None and self.armed_at is not None:
            self.first_steady_at = at
        self.tracker.sample(at)
        self._track_faults()
        self._settle(at, final=False)

    def finish(self, at: float) -> None:
        """The run ended at ``at``: settle every recovery still open."""
        if not self.times or self.times[-1] < at:
            self.sample(at)
        self._settle(at, final=True)

    # ------------------------------------------------------------------ recovery
    def _track_faults(self) -> None:
        new = self._ledger.times[self._seen_fault_events :]
        self._seen_fault_events = len(self._ledger.times)
        for event in new:
            fault_type = str((event.fields or {}).get("type", ""))
            if event.reason == "FaultInjected":
                fields = event.fields or {}
                rec = FaultRecovery(
                    event.object, fault_type, event.time,
                    lasting=bool(fields.get("lasting", True)),
                    targets=[str(t) for t in fields.get("targets", ())],
                    scope=self._scopes.pop((event.object, event.time), None),
                )  # fmt: skip
                for other in self.recoveries:
                    if not other.known:  # in force, or its recovery not known yet
                        other.overlaps.append(rec)
                        rec.overlaps.append(other)
                self.recoveries.append(rec)
            else:
                for rec in self.recoveries:
                    if rec.fault == event.object and rec.reverted_at is None:
                        rec.reverted_at = event.time
                        break

    def attributed(self, rec: FaultRecovery) -> bool:
        """Measured on its own objects: it overlapped another injection, its scope is known,
        and no overlapping injection disturbed one of the same pods (see module)."""
        if rec.scope is None or not rec.overlaps:
            return False
        mine = rec.scope.pods
        return all(o.scope is None or not (mine & o.scope.pods) for o in rec.overlaps)

    def series(self, rec: FaultRecovery) -> tuple[list[float], list[bool], float | None]:
        """What ``rec`` is measured on: its scope's samples, or the cluster's steady state at
        event resolution (change points, known until the latest sample: third item)."""
        if rec.scope is not None and self.attributed(rec):
            return rec.scope.times, rec.scope.steady, None
        end = max(self.times[-1] if self.times else 0.0, self.record.times[-1])
        return self.record.times, self.record.steady, end

    def _next_injection(self, rec: FaultRecovery) -> float:
        later = [r.injected_at for r in self.recoveries if r.injected_at > rec.injected_at]
        return min(later) if later else float("inf")

    def _search_limit(self, rec: FaultRecovery) -> float:
        """Until when a disturbance counts as this fault's: the next fault's injection, or for a
        lasting fault its revert if that is later (its effect may take time to show: a
        stopped kubelet is noticed only after the node-monitor grace period). On its own
        objects, every disturbance is its own."""
        if self.attributed(rec):
            return math.inf
        limit = self._next_injection(rec)
        if rec.lasting:
            limit = max(limit, rec.reverted_at if rec.reverted_at is not None else math.inf)
        return limit

    def _quiet_until(self, rec: FaultRecovery, reference: float) -> float:
        """When an undisturbed fault is known to have disturbed nothing."""
        if not rec.lasting:
            if self.attributed(rec):
                return reference + self.window
            return min(self._next_injection(rec), reference + self.window)
        if self.attributed(rec):
            return (rec.reverted_at if rec.reverted_at is not None else math.inf) + self.window
        return self._search_limit(rec) + self.window

    def disturbance(self, rec: FaultRecovery) -> float | None:
        times, steady, end = self.series(rec)
        limit = self._search_limit(rec)
        if end is None:
            start = bisect.bisect_left(times, rec.injected_at)
        else:  # a change point: out of steady state at the injection already, or later
            start = max(0, bisect.bisect_right(times, rec.injected_at) - 1)
            if not steady[start]:
                return rec.injected_at if rec.injected_at < limit else None
        for i in range(start, len(times)):
            if times[i] >= limit:
                return None
            if not steady[i]:
                return times[i]
        return None

    def recovery_from(
        self, rec: FaultRecovery, reference: float, final: bool
    ) -> float | bool | None:
        """Seconds from ``reference`` to recovery; False if not yet known, None if failed."""
        times, steady, known = self.series(rec)
        disturbed = self.disturbance(rec)
        end = self.times[-1] if self.times else reference
        if disturbed is None:
            # undisturbed so far: known only once nothing can disturb it any more
            if not final and end < self._quiet_until(rec, reference):
                return False
            found = settled(times, steady, reference, self.window, final, known)
        else:
            found = settled(times, steady, max(disturbed, reference), self.window, final, known)
        if found is False or found is None:
            return found
        return max(0.0, float(found) - reference)

    def unobservable(self, rec: FaultRecovery, reference: float, within: float) -> bool:
        """At the end, ``rec`` (not recovered) could not be observed to recover within
        ``within`` of ``reference``: the run ended less than that (or the stability window)
        after it, and steady state either was still out or came back in time but had held
        less than the window."""
        end = self.times[-1] if self.times else reference
        left = end - reference
        if left >= max(within, self.window):
            return False
        if left <= within:
            return True
        times, steady, _ = self.series(rec)
        if not steady or not steady[-1]:
            return False  # out of steady state past `within`: that much is known
        i = len(steady) - 1
        while i > 0 and steady[i - 1]:
            i -= 1
        return max(times[i], reference) - reference <= within

    def _settle(self, at: float, final: bool) -> None:
        for rec in self.recoveries:
            if rec.known:
                continue
            seconds = self.recovery_from(rec, rec.injected_at, final)
            if seconds is False:
                continue
            rec.known = True
            rec.attribution = PER_OBJECT if self.attributed(rec) else CLUSTER_WIDE
            rec.disturbed_at = self.disturbance(rec)
            rec.measured_on = _measured_on(self, rec)
            if rec.scope is not None:
                self.tracker.close(rec.scope)
            if seconds is None:
                self._unrecovered(rec, at)
                continue
            assert isinstance(seconds, float)
            rec.recovered_at = rec.injected_at + seconds
            self._recovered(rec, seconds)

    def _recovered(self, rec: FaultRecovery, seconds: float) -> None:
        if rec.attribution == PER_OBJECT and rec.scope is not None:
            pods = rec.scope.objects()
            shown = ", ".join(pods[:4]) + (f" (+{len(pods) - 4})" if len(pods) > 4 else "")
            self.events.record(
                COMPONENT, "Fault", rec.fault, "Recovered",
                f"its pods whole again {seconds:.3f}s after injection (at "
                f"{rec.recovered_at:.3f}s), measured per object: {shown or 'none'}",
                type=rec.type, seconds=round(seconds, 6), attribution=PER_OBJECT,
            )  # fmt: skip
            return
        self.events.record(
            COMPONENT, "Fault", rec.fault, "Recovered",
            f"steady state again {seconds:.3f}s after injection (at {rec.recovered_at:.3f}s)",
            type=rec.type, seconds=round(seconds, 6),
        )  # fmt: skip

    def _unrecovered(self, rec: FaultRecovery, at: float) -> None:
        horizon = self.horizon(rec)
        if self.unobservable(rec, rec.injected_at, horizon):
            rec.observable = False
            self.events.record(
                COMPONENT, "Fault", rec.fault, "NotObservable",
                f"injected {at - rec.injected_at:.3f}s before the end of the run, less than "
                f"the {horizon:g}s needed to observe its recovery; not recovered by then",
                type=rec.type,
            )  # fmt: skip
            return
        self.events.record(
            COMPONENT, "Fault", rec.fault, "NotRecovered",
            f"steady state did not return for {self.window:g}s before the end of the run",
            type=rec.type,
        )  # fmt: skip

    # ------------------------------------------------------------------ metrics
    def families(self) -> Iterable[Metric]:
        steady = family(
            "kubechaos_steady_state",
            "1 while the workloads are in steady state (every Deployment available, no Service errors), else 0.",
            "gauge",
        )
        add(steady, "kubechaos_steady_state", {"scenario": self.scenario},
            1.0 if (self.steady and self.steady[-1]) else 0.0)  # fmt: skip
        by_fault: dict[tuple[str, str], list[float]] = {}
        for rec in self.recoveries:
            key = (rec.fault, rec.type)
            by_fault.setdefault(key, [])
            if rec.known and rec.seconds is not None:
                by_fault[key].append(rec.seconds)
        failures = family(
            "kubechaos_recovery_failures",
            "Injections after which steady state did not return (for a stability window) before the run ended.",
            "counter",
        )
        failed: dict[tuple[str, str], int] = {}
        for rec in self.recoveries:
            key = (rec.fault, rec.type)
            lost = rec.known and rec.seconds is None and rec.observable
            failed[key] = failed.get(key, 0) + (1 if lost else 0)
        for (fault, fault_type), n in sorted(failed.items()):
            add(
                failures,
                "kubechaos_recovery_failures_total",
                {"fault": fault, "type": fault_type},
                n,
            )
        series = []
        for key, values in sorted(by_fault.items()):
            counts, total = bucketed(values, RECOVERY_BUCKETS)
            series.append((key, RECOVERY_BUCKETS, counts, total))
        recovery = histogram(
            "kubechaos_recovery_seconds",
            "Time from a fault's injection until steady state returned (and held for the stability window); failed recoveries are not observed.",
            "seconds",
            ("fault", "type"),
            series,
        )
        return [steady, recovery, failures]
