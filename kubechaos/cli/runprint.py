"""What ``kubechaos run`` prints once a run is over: the timeline, then the faults, SLOs,
deployments and traffic, then one line of totals.

The timeline shows by default how the cluster converged and what went wrong on the way (the
``NOTABLE_REASONS``), folding long runs of the same event; ``--verbose`` shows every event. It is
kept apart from the command (``run.py``) because it reads a finished :class:`Run` and nothing
else: what the run did, not how it was started or where its reports went.
"""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kubechaos.api.duration import format_duration
from kubechaos.scenario.runner import Run
from kubechaos.sim.events import Event

# What the default timeline shows: how the cluster converged and what went wrong on the way.
NOTABLE_REASONS = frozenset(
    {
        "Booting",
        "Applied",
        "SuccessfulCreate",
        "Scheduled",
        "Started",
        "Warning",
        "ScalingReplicaSet",
        "DeploymentAvailable",
        "DeploymentDegraded",
        "Converged",
        "Diverged",
        "NodeNotReady",
        "NodeReady",
        "TaintManagerEviction",
        "FailedScheduling",
        "BackOff",
        "Unhealthy",
        "Killing",
        "Relist",
        "FaultInjected",
        "FaultReverted",
        "FaultFailed",
        "Recovered",
        "NotRecovered",
        "NotObservable",
        "Finished",
    }
)
ALWAYS_SHOWN = frozenset(
    {
        "Converged",
        "Diverged",
        "Finished",
        "FaultInjected",
        "FaultReverted",
        "FaultFailed",
        "Recovered",
        "NotRecovered",
        "NotObservable",
    }
)
MAX_REPEATS = 3  # per (reason, kind) in a row before the timeline folds the rest into a count


def print_timeline(console: Console, events: list[Event], verbose: bool) -> None:
    console.print("[bold]Timeline[/] (virtual time)")
    shown: Counter[tuple[str, str]] = Counter()
    folded: Counter[str] = Counter()
    for event in events:
        if not verbose and event.reason not in NOTABLE_REASONS:
            continue
        group = (event.reason, event.kind)
        shown[group] += 1
        if not verbose and shown[group] > MAX_REPEATS and event.reason not in ALWAYS_SHOWN:
            folded[event.reason] += 1
            continue
        obj = f"{event.kind}/{event.object}" if event.object else event.kind
        style = "bold magenta" if event.reason.startswith("Fault") else "bold"
        console.print(
            f"[cyan]{event.time:10.3f}s[/]  [dim]{event.component:<24}[/] [{style}]{event.reason:<20}[/]"
            f" {obj:<36} {escape(event.message)}",
            soft_wrap=True,
        )
    if folded:
        more = ", ".join(f"{n} more {r}" for r, n in sorted(folded.items()))
        console.print(f"[dim]also: {more} (see --verbose)[/]")


def _print_faults(console: Console, the_run: Run) -> None:
    """Each injection, its revert, and its recovery (see kubechaos.observe.steady)."""
    recoveries = the_run.steady.recoveries
    failed_events = the_run.events.find(reason="FaultFailed")
    if not recoveries and not failed_events:
        return
    targets_of = {(i.fault.name, round(i.injected_at, 9)): i for i in the_run.chaos.injections}
    table = Table(title="Faults", show_edge=False, box=None)
    # overlap: measured per object or cluster-wide because another injection overlapped it
    for column in ("fault", "type", "injected", "reverted", "recovery", "overlap", "targets"):
        table.add_column(
            column, justify="right" if column in ("injected", "reverted", "recovery") else "left"
        )
    for rec in recoveries:
        injection = targets_of.get((rec.fault, round(rec.injected_at, 9)))
        if rec.known and rec.seconds is not None:
            recovery = f"{rec.seconds:.3f}s"
        elif rec.known:
            recovery = "[red]not recovered[/]" if rec.observable else "[yellow]not observable[/]"
        else:
            recovery = "-"
        overlap = (rec.attribution or "pending") if rec.overlaps else "-"
        if rec.reverted_at is not None:
            back = format_duration(round(rec.reverted_at, 3))
        elif injection is not None and not injection.fault.lasting:
            back = "-"
        else:
            back = "until the end"
        targets = injection.targets if injection is not None else []
        shown = ", ".join(targets[:3]) + (f" (+{len(targets) - 3})" if len(targets) > 3 else "")
        table.add_row(
            rec.fault, rec.type, format_duration(round(rec.injected_at, 3)), back, recovery,
            overlap, escape(shown or "nothing matched"),
        )  # fmt: skip
    for failed in failed_events:
        table.add_row(
            failed.object, str((failed.fields or {}).get("type", "")),
            format_duration(round(failed.time, 3)), "-", "[red]failed to inject[/]", "-",
            escape(failed.message),
        )  # fmt: skip
    console.print(table)


def _print_slos(console: Console, the_run: Run) -> None:
    if not the_run.results:
        return
    table = Table(title="SLOs", show_edge=False, box=None)
    for column in ("slo", "measured", "threshold", "verdict"):
        table.add_column(column)
    for result in the_run.results:
        verdict = "[green]ok[/]" if result.ok else "[bold red]VIOLATED[/]"
        table.add_row(
            escape(result.slo.name), escape(result.measured), escape(result.threshold), verdict
        )
    console.print(table)


def print_summary(console: Console, the_run: Run, wall: float) -> None:
    cluster = the_run.cluster
    _print_faults(console, the_run)
    _print_slos(console, the_run)
    deployments = Table(title="Deployments", show_edge=False, box=None)
    for column in ("deployment", "desired", "available", "updated"):
        deployments.add_column(column, justify="right" if column != "deployment" else "left")
    for d in cluster.api.cache("deployments").list():
        deployments.add_row(
            f"{d.metadata.namespace}/{d.metadata.name}",
            str(d.spec.replicas),
            str(d.status.available_replicas),
            str(d.status.updated_replicas),
        )
    console.print(deployments)
    by_service: dict[str, Counter[str]] = {}
    for (namespace, service, _, outcome), n in sorted(the_run.traffic.stats.requests.items()):
        by_service.setdefault(f"{namespace}/{service}", Counter())[outcome] += n
    if by_service:
        failures = sorted({o for c in by_service.values() for o in c if o != "success"})
        traffic = Table(title="Traffic", show_edge=False, box=None)
        traffic.add_column("service")
        for column in ("requests", "success rate", *failures):
            traffic.add_column(column, justify="right")
        for service, outcomes in by_service.items():
            total = sum(outcomes.values())
            rate = f"{100.0 * outcomes['success'] / total:.2f}%" if total else "-"
            traffic.add_row(service, str(total), rate, *(str(outcomes[o]) for o in failures))
        console.print(traffic)
    converged = the_run.convergence.first_converged_at
    virtual = the_run.finished_at or 0.0
    console.print(
        f"converged at {format_duration(converged) if converged is not None else 'never'}"
        f" · {len(the_run.events)} events · {format_duration(virtual)} virtual in {wall:.2f}s wall"
        f" ({virtual / wall if wall > 0 else float('inf'):.0f}x real time)"
    )
