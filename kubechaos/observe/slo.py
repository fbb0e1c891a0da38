"""Service level objectives of a scenario, judged from the run's metric series.

Five kinds, as a scenario's ``spec.slo`` writes them:

``recoveryWithin: {fault, within, from: injection|revert}``
    every injection of the fault recovered (see :mod:`kubechaos.observe.steady`) within
    ``within``, measured from the injection (default) or from the fault's revert. An injection
    not recovered when the run ended less than ``within`` (or the stability window, if longer)
    after it is *not observable*: counted apart, not as a violation (unless steady state was
    out for longer than ``within`` already); if every injection is, the SLO fails as *not
    evaluated*;
``availability: {service, namespace, atLeast}``
    successful requests / requests sent to the Service (``kubechaos_service_requests_total``)
    is at least ``atLeast``, counted from the moment the workloads first reached steady state
    (the initial rollout, before any pod is ready, is not an outage);
``maxErrors: {service, namespace, count}``
    at most ``count`` requests to the Service failed, counted from the same moment;
``threshold: {metric, labels, atLeast | atMost, during}``
    every sample of an exposed series (summed over series matching ``labels``) stays at least /
    at most the bound, ``during`` the ``whole`` run (sampled every second from the moment the
    workloads first reached steady state, so the initial rollout does not count), or at its
    ``end``. Any kube-state-metrics family the model exports works (Deployments, StatefulSets,
    DaemonSets, Jobs, Pods, Nodes, ...), its labels matched exactly (e.g.
    ``kube_deployment_status_replicas_available{namespace, deployment}``);
``condition: {kind, namespace, name, type, status, within, after, from: injection|revert}``
    the object reaches the condition within ``within`` of each injection (or revert) of the
    fault ``after`` names, at event resolution (see :mod:`kubechaos.observe.conditions`).

``kubechaos_slo_ok{slo}`` is 1 while an objective holds on the run so far, else 0.

A verdict never passes on nothing: at the end of a run, a request objective (availability,
maxErrors) or a ``during: whole`` threshold fails as *not evaluated* when the workloads never
reached steady state, and a request objective fails when no request was counted after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs
from prometheus_client.metrics_core import Metric

from kubechaos.observe.conditions import ConditionWatch, Injection, judge
from kubechaos.observe.customsteady import CustomWatch
from kubechaos.observe.measuredon import NOTHING
from kubechaos.observe.metrics import ClusterCollector, add, family
from kubechaos.observe.steady import SteadyStateMonitor, covers

KINDS = ("recoveryWithin", "availability", "maxErrors", "threshold", "condition")
NOT_EVALUATED = "not evaluated"
NEVER_STEADY = (
    "the workloads never reached steady state (every Deployment available, no failing "
    "requests), so nothing was measured from it"
)
DURING = ("whole", "end")


@attrs.frozen
class SLO:
    """One objective; ``name`` labels ``kubechaos_slo_ok`` (derived when not given)."""

    kind: str
    name: str
    fault: str = ""
    within: float = 0.0
    reference: str = "injection"  # injection | revert
    service: str = ""
    namespace: str = "default"
    at_least: float | None = None
    at_most: float | None = None
    count: int = 0
    metric: str = ""
    labels: Mapping[str, str] = attrs.field(factory=dict)
    during: str = "whole"
    # condition: the object (kind, namespace, name), its condition type and the status wanted
    object_kind: str = ""
    # a custom kind's group ("" for a model kind, or a custom kind named without apiVersion:
    # resolved when a definition of that kind appears at run time)
    custom_group: str | None = None  # None: a kind of the model
    object_name: str = ""
    condition: str = ""
    status: str = ""

    @property
    def target(self) -> tuple[str, str, str, str]:
        return (self.object_kind, self.namespace, self.object_name, self.condition)


@attrs.frozen
class SLOResult:
    slo: SLO
    ok: bool
    measured: str  # what was measured, formatted for a person
    threshold: str  # what it had to be
    detail: str = ""


def default_name(slo: SLO) -> str:
    if slo.kind == "recoveryWithin":
        return f"recovery-{slo.fault}"
    if slo.kind in ("availability", "maxErrors"):
        suffix = "availability" if slo.kind == "availability" else "errors"
        return f"{slo.namespace}-{slo.service}-{suffix}"
    if slo.kind == "condition":
        return f"{slo.object_kind.lower()}-{slo.object_name}-{slo.condition.lower()}-{slo.fault}"
    return f"{slo.metric}-{'min' if slo.at_least is not None else 'max'}"


def _percent(x: float) -> str:
    return f"{100 * x:.3f}%".replace(".000%", "%")


class SLOMonitor:
    """Tracks every objective over the run; :meth:`results` judges them at the end."""

    def __init__(
        self,
        slos: Iterable[SLO],
        collector: ClusterCollector,
        steady: SteadyStateMonitor,
        interval: float = 1.0,
        custom: CustomWatch | None = None,
    ) -> None:
        self.slos = list(slos)
        self.collector = collector
        self.steady = steady
        self.interval = interval
        self._broken: dict[str, str] = {}  # threshold SLOs: first violation seen
        # request totals when the workloads first reached steady state: availability and
        # error budgets count from there, so the initial rollout is not an outage
        self._baseline: dict[tuple[str, str], tuple[float, float]] | None = None
        self._watched = [s for s in self.slos if s.kind == "threshold" and s.during == "whole"]
        self._last: dict[str, float] = {}  # threshold SLOs: the last sample their series had
        for slo in self.slos:
            if slo.kind == "recoveryWithin" and slo.reference == "injection":
                steady.expect_within(slo.fault, slo.within)
        # condition SLOs watch their objects (a run without any starts nothing: see runner)
        conditions = [s.target for s in self.slos if s.kind == "condition"]
        groups = {
            s.object_kind: s.custom_group
            for s in self.slos
            if s.kind == "condition" and s.custom_group is not None
        }
        self.custom = custom
        self.conditions = (
            ConditionWatch(collector.cluster.ctx, conditions, custom, groups)
            if conditions
            else None
        )
        collector.add_source(self.families)

    def _series_value(self, slo: SLO) -> float | None:
        total, found = 0.0, False
        for metric in self.collector.families_named(slo.metric):
            # a counter named by its family (apiserver_request) means its _total samples
            wanted = slo.metric + "_total" if metric.type == "counter" else slo.metric
            for s in metric.samples:
                if s.name in (slo.metric, wanted) and all(
                    s.labels.get(k) == v for k, v in slo.labels.items()
                ):
                    total += s.value
                    found = True
        return total if found else None

    def _check_threshold(self, slo: SLO, at: float) -> None:
        value = self._series_value(slo)
        if value is None:  # absent at this sample (a pod's series goes with the pod)
            return
        self._last[slo.name] = value
        if slo.name in self._broken:
            return
        if slo.at_least is not None and value < slo.at_least:
            self._broken[slo.name] = f"{value:g} < {slo.at_least:g} at {at:.1f}s"
        if slo.at_most is not None and value > slo.at_most:
            self._broken[slo.name] = f"{value:g} > {slo.at_most:g} at {at:.1f}s"

    def tick(self, now: float) -> None:
        """One sample (called by the run's ticker every ``interval``): the request baseline
        once the workloads first reach steady state, then the ``during: whole`` thresholds."""
        if self._baseline is None and self.steady.first_steady_at is not None:
            self._baseline = self._totals()
        # "whole" starts once the workloads first reached steady state: the initial
        # rollout is not a violation.
        if self.steady.first_steady_at is not None:
            for slo in self._watched:
                self._check_threshold(slo, now)

    def _totals(self) -> dict[tuple[str, str], tuple[float, float]]:
        """(requests, successes) per (namespace, service), from the exposed counter."""
        return {k: (float(t), float(ok)) for k, (t, ok) in self.collector.service_totals().items()}

    def _requests(self, slo: SLO) -> tuple[float, float]:
        """Requests and successes since the workloads first reached steady state."""
        return self.since_steady(slo.namespace, slo.service) or (0.0, 0.0)

    def since_steady(self, namespace: str, service: str) -> tuple[float, float] | None:
        """Requests to ``namespace/service`` and their successes since the workloads first
        reached steady state, as availability and maxErrors count them (None if they never
        did): what ``kubechaos run`` shows beside the whole run's figure."""
        if self.steady.first_steady_at is None:
            return None
        key = (namespace, service)
        total, ok = self._totals().get(key, (0.0, 0.0))
        before_total, before_ok = (self._baseline or {}).get(key, (0.0, 0.0))
        return total - before_total, ok - before_ok

    def judge(self, slo: SLO, final: bool) -> SLOResult:
        if slo.kind == "recoveryWithin":
            return self._judge_recovery(slo, final)
        if slo.kind == "condition":
            return self._judge_condition(slo, final)
        if slo.kind in ("availability", "maxErrors"):
            total, good = self._requests(slo)
            if final and (unmeasured := self._unmeasured(slo, total)) is not None:
                return unmeasured
            if slo.kind == "availability":
                assert slo.at_least is not None
                ratio = good / total if total else 1.0
                return SLOResult(
                    slo, ratio >= slo.at_least,
                    f"{_percent(ratio)} of {int(total)} requests", f">= {_percent(slo.at_least)}",
                )  # fmt: skip
            errors = int(total - good)
            return SLOResult(slo, errors <= slo.count, f"{errors} errors", f"<= {slo.count}")
        # threshold
        bound = (
            f">= {slo.at_least:g}" if slo.at_least is not None else f"<= {slo.at_most:g}"
        ) + f" ({slo.during})"
        if slo.during == "end" or final:
            value = self._series_value(slo)
            if slo.during == "end":
                if value is None:
                    return SLOResult(slo, False, "no such series", bound)
                ok = (slo.at_least is None or value >= slo.at_least) and (
                    slo.at_most is None or value <= slo.at_most
                )
                return SLOResult(slo, ok, f"{value:g} at the end", bound)
        broken = self._broken.get(slo.name)
        if broken is not None:
            return SLOResult(slo, False, broken, bound)
        last = self._last.get(slo.name)
        if last is None and final:
            if self.steady.first_steady_at is None and self._series_value(slo) is not None:
                return SLOResult(slo, False, NOT_EVALUATED, bound, NEVER_STEADY)
            return SLOResult(slo, False, "no such series", bound)
        return SLOResult(
            slo, True, "held" + (f" (last {last:g})" if last is not None else ""), bound
        )

    def _judge_recovery(self, slo: SLO, final: bool) -> SLOResult:
        """Every injection of the fault recovered within ``within``. One whose recovery could
        not be observed (too close to the end) is counted apart, not as a violation; when every
        one is, the SLO measured nothing and fails as not evaluated."""
        recs = [r for r in self.steady.recoveries if covers(slo.fault, r.fault)]
        threshold = f"<= {slo.within:g}s from {slo.reference}"
        if not recs:
            if not final:
                return SLOResult(slo, True, "not injected yet", threshold)
            return SLOResult(slo, False, "never injected", threshold, "the fault was not injected")
        if any(r.measured_on == NOTHING for r in recs):  # a 0 s read on nothing is no pass
            detail = (
                f"no workload, custom object with a status convention or Service with traffic "
                f"was watched when {slo.fault} was measured: its recovery was measured on nothing"
            )
            return SLOResult(slo, False, "not measured", threshold, detail)
        worst, failed, unobservable = 0.0, 0, 0
        now = self.steady.times[-1] if self.steady.times else 0.0
        for rec in recs:
            reference = rec.reverted_at if slo.reference == "revert" else rec.injected_at
            if reference is None:  # never reverted: no revert to measure from
                if final:
                    unobservable += 1  # its revert would have come after the end
                continue
            seconds = (
                rec.seconds
                if slo.reference == "injection" and rec.known
                else self.steady.recovery_from(rec, reference, final)
            )
            if seconds is False:
                if now - reference > slo.within:
                    failed += 1  # still not recovered, already later than allowed
            elif seconds is None:
                if self.steady.unobservable(rec, reference, slo.within):
                    unobservable += 1
                else:
                    failed += 1
            else:
                worst = max(worst, float(seconds))
        apart = f"; {unobservable} not observable" if unobservable else ""
        if failed:
            return SLOResult(
                slo, False, f"not recovered ({failed} of {len(recs)}{apart})", threshold
            )
        if unobservable == len(recs):
            detail = (
                f"every injection of {slo.fault} ({len(recs)}) came too close to the end of the "
                f"run (less than {max(slo.within, self.steady.window):g}s before it, or never "
                "reverted for from: revert) and had not recovered: nothing was measured"
            )
            return SLOResult(slo, False, NOT_EVALUATED, threshold, detail)
        measured = f"{worst:.3f}s (worst of {len(recs) - unobservable}{apart})"
        return SLOResult(slo, worst <= slo.within, measured, threshold)

    def _judge_condition(self, slo: SLO, final: bool) -> SLOResult:
        """Every injection of the fault was followed by the condition in time (see
        :mod:`kubechaos.observe.conditions`)."""
        injections = [
            Injection(r.injected_at, r.reverted_at)
            for r in self.steady.recoveries
            if covers(slo.fault, r.fault)
        ]
        what = f"{slo.object_kind} {slo.namespace + '/' if slo.namespace else ''}{slo.object_name}"
        end = (self.steady.times[-1] if self.steady.times else 0.0) if final else None
        assert self.conditions is not None
        ok, measured, threshold, detail = judge(
            self.conditions.timelines[slo.target], f"{what} {slo.condition}={slo.status}",
            slo.status, slo.within, slo.reference, injections, end,
        )  # fmt: skip
        if slo.custom_group is not None and final and not ok:
            return self._custom_unmeasured(slo, what, measured, threshold, detail)
        return SLOResult(slo, ok, measured, threshold, detail)

    def _custom_unmeasured(
        self, slo: SLO, what: str, measured: str, threshold: str, detail: str
    ) -> SLOResult:
        """A condition SLO on a custom kind whose definition was never served, or whose object
        never appeared, measured nothing (see kubechaos.scenario.conditioncustom)."""
        group = slo.custom_group or ""
        if self.custom is not None and not self.custom.ever_served(group, slo.object_kind):
            of = f" in group {group}" if group else ""
            detail = f"no CustomResourceDefinition served kind {slo.object_kind}{of} in the run"
            return SLOResult(slo, False, "not measured", threshold, detail)
        if measured == "never observed":
            return SLOResult(slo, False, "not measured", threshold, f"{what} never existed")
        return SLOResult(slo, False, measured, threshold, detail)

    def _unmeasured(self, slo: SLO, requests: float) -> SLOResult | None:
        """The failed result of a request SLO that measured nothing (None if it measured):
        a budget of errors or a success ratio over no requests would pass vacuously."""
        threshold = (
            f">= {_percent(slo.at_least)}" if slo.at_least is not None else f"<= {slo.count}"
        )
        if self.steady.first_steady_at is None:
            total, good = self._totals().get((slo.namespace, slo.service), (0.0, 0.0))
            whole_run = f"; over the whole run {int(good)} of {int(total)} requests succeeded"
            return SLOResult(slo, False, NOT_EVALUATED, threshold, NEVER_STEADY + whole_run)
        if requests == 0:
            detail = (
                f"no request to {slo.namespace}/{slo.service} was sent after the workloads "
                "reached steady state: is there traffic for this Service?"
            )
            return SLOResult(slo, False, "0 requests", threshold, detail)
        return None

    def results(self, final: bool = True) -> list[SLOResult]:
        return [self.judge(slo, final) for slo in self.slos]

    def families(self) -> list[Metric]:
        metric = family(
            "kubechaos_slo_ok",
            "1 while the scenario's SLO holds on the run so far, else 0.",
            "gauge",
        )
        for result in self.results(final=False):
            add(metric, "kubechaos_slo_ok", {"slo": result.slo.name}, 1.0 if result.ok else 0.0)
        return [metric]


__all__ = [
    "DURING",
    "KINDS",
    "NEVER_STEADY",
    "NOT_EVALUATED",
    "SLO",
    "SLOMonitor",
    "SLOResult",
    "default_name",
]
