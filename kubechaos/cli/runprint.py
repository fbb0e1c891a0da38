"""What ``kubechaos run`` prints once a run is over: the timeline, the warnings that change its
result, then the faults, SLOs, deployments, nodes and traffic, then one line of totals.

The timeline shows by default how the cluster converged and what went wrong on the way (the
``NOTABLE_REASONS``), folding long runs of the same event; ``--verbose`` shows every event. The
``RESULT_WARNINGS`` (what the model skipped, a behaviour it could not read, a fault it could not
inject) are printed in a block of their own whether ``--verbose`` or not. A run that never reached
steady state says so in one line before the tables. Tables of objects list, on big clusters, only
the disturbed ones and count the healthy rest (``--verbose``: all of them).

Every name and message comes from the scenario or the event log, so each is printed through
:func:`~kubechaos.cli.terminal.shown`, and every table through
:func:`~kubechaos.cli.terminal.print_table` (names are never cut). The module is kept apart from
the command (``run.py``) because it reads a finished :class:`Run` and nothing else: what the run
did, not how it was started or where its reports went.
"""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from kubechaos.api.duration import format_duration
from kubechaos.cli.terminal import print_table, shown
from kubechaos.observe.slo import NOT_EVALUATED
from kubechaos.scenario.runner import Run
from kubechaos.sim.events import Event

# Events that mean the run did not do, or did not measure, what the scenario says: printed in
# the warnings block with or without --verbose. Each with what it changes.
RESULT_WARNINGS = {
    "Warning": "the scenario as run differs from the file (a kind or field not modelled)",
    "FailedBehaviour": "a container's behaviour annotation is invalid: it never starts",
    "ErrImageNeverPull": "imagePullPolicy Never and no node has the image: it never starts",
    "ApplyFailed": "a workload update (workloads[].at) was not applied",
    "FaultFailed": "a fault could not be injected: it measured nothing, and the run fails",
    "InvariantViolated": "the model broke one of its invariants",
}
# What the default timeline shows: how the cluster converged and what went wrong on the way.
# (Scenario warnings are in the header and the warnings block, not again in the timeline.)
NOTABLE_REASONS = frozenset(
    {
        "Booting",
        "Applied",
        "SuccessfulCreate",
        "Scheduled",
        "Started",
        "ScalingReplicaSet",
        "SuccessfulRescale",
        "FailedRescale",
        "DeploymentAvailable",
        "DeploymentDegraded",
        "StatefulSetAvailable",
        "StatefulSetDegraded",
        "Converged",
        "Diverged",
        "NodeNotReady",
        "NodeReady",
        "TaintManagerEviction",
        "FailedScheduling",
        "BackOff",
        "Unhealthy",
        "Killing",
        "Preempted",
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
FOLD_OVER = 10  # a table of more objects lists only the disturbed ones (--verbose: all)
MAX_REASONS = 3  # why steady state was never reached: this many reasons, then a count


def print_timeline(console: Console, events: list[Event], verbose: bool) -> None:
    console.print("[bold]Timeline[/] (virtual time)")
    shown_of: Counter[tuple[str, str]] = Counter()
    folded: Counter[str] = Counter()
    for event in events:
        if not verbose and event.reason not in NOTABLE_REASONS:
            continue
        group = (event.reason, event.kind)
        shown_of[group] += 1
        if not verbose and shown_of[group] > MAX_REPEATS and event.reason not in ALWAYS_SHOWN:
            folded[event.reason] += 1
            continue
        obj = f"{event.kind}/{event.object}" if event.object else event.kind
        style = "bold magenta" if event.reason.startswith("Fault") else "bold"
        console.print(
            f"[cyan]{event.time:10.3f}s[/]  [dim]{shown(event.component):<24}[/]"
            f" [{style}]{shown(event.reason):<20}[/] {shown(obj):<36} {shown(event.message)}",
            soft_wrap=True,
        )
    if folded:
        more = ", ".join(f"{n} more {shown(r)}" for r, n in sorted(folded.items()))
        console.print(f"[dim]also: {more} (see --verbose)[/]", soft_wrap=True)


def print_warnings(console: Console, events: list[Event]) -> None:
    """The ``RESULT_WARNINGS`` of the run, verbose or not: one line per reason and message,
    naming the first object it happened to and counting the others."""
    groups: dict[tuple[str, str, str], list[Event]] = {}
    for event in events:
        if event.reason in RESULT_WARNINGS:
            groups.setdefault((event.reason, event.kind, event.message), []).append(event)
    if not groups:
        return
    console.print("[bold yellow]Warnings[/] (each changes what this run did or measured)")
    for (reason, kind, message), group in groups.items():
        first = group[0]
        obj = f"{kind}/{first.object}" if first.object else kind
        more = len(group) - 1
        others = f" (and {more} more {shown(kind)}{'s' if more > 1 else ''})" if more else ""
        console.print(
            f"  [yellow]{shown(reason)}[/] {shown(obj)} at {first.time:.3f}s: {shown(message)}"
            f"{others} [dim]({RESULT_WARNINGS[reason]})[/]",
            soft_wrap=True,
        )


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
        listed = ", ".join(targets[:3]) + (f" (+{len(targets) - 3})" if len(targets) > 3 else "")
        table.add_row(
            shown(rec.fault), shown(rec.type), format_duration(round(rec.injected_at, 3)), back,
            recovery, overlap, shown(listed or "none picked"),
        )  # fmt: skip
    for failed in failed_events:
        table.add_row(
            shown(failed.object), shown((failed.fields or {}).get("type", "")),
            format_duration(round(failed.time, 3)), "-", "[red]failed to inject[/]", "-",
            shown(failed.message),
        )  # fmt: skip
    print_table(console, table)


def _print_never_steady(console: Console, the_run: Run) -> None:
    """One line, before the tables, when the workloads never reached steady state: nothing that
    counts from it (availability, maxErrors, ``during: whole`` thresholds) was measured."""
    if the_run.steady.first_steady_at is not None:
        return
    reasons = the_run.steady.unsteady_reasons(the_run.finished_at or 0.0)
    listed = "; ".join(shown(r) for r in reasons[:MAX_REASONS])
    if len(reasons) > MAX_REASONS:
        listed += f"; and {len(reasons) - MAX_REASONS} more"
    console.print(
        "[bold red]never reached steady state[/]: the workloads were never all available "
        f"without failing requests, so SLOs counting from it are {NOT_EVALUATED}"
        + (f" (at the end: {listed})" if listed else ""),
        soft_wrap=True,
    )


def _print_slos(console: Console, the_run: Run) -> None:
    if not the_run.results:
        return
    table = Table(title="SLOs", show_edge=False, box=None)
    for column in ("slo", "measured", "threshold", "verdict"):
        table.add_column(column)
    for result in the_run.results:
        verdict = "[green]ok[/]" if result.ok else "[bold red]VIOLATED[/]"
        table.add_row(
            shown(result.slo.name), shown(result.measured), shown(result.threshold), verdict
        )
    print_table(console, table)


def _print_objects(
    console: Console,
    table: Table,
    rows: list[tuple[bool, list[str]]],
    healthy: str,
    verbose: bool,
) -> None:
    """``rows`` (disturbed or not, cells) in ``table``: all of them when there are few or with
    ``verbose``, else the disturbed ones and one line counting the rest, ``healthy``."""
    kept = rows if verbose or len(rows) <= FOLD_OVER else [row for row in rows if row[0]]
    for _, cells in kept:
        table.add_row(*cells)
    rest = len(rows) - len(kept)
    if kept:
        print_table(console, table)
    if rest:
        lead = "  + " if kept else f"[bold]{table.title}[/]: all "
        console.print(f"{lead}{rest} {healthy} [dim](--verbose lists them)[/]")


def _print_deployments(console: Console, the_run: Run, verbose: bool) -> None:
    table = Table(title="Deployments", show_edge=False, box=None)
    for column in ("deployment", "desired", "available", "updated"):
        table.add_column(column, justify="right" if column != "deployment" else "left")
    rows = []
    for d in the_run.cluster.api.cache("deployments").list():
        want, status = d.spec.replicas, d.status
        rows.append(
            (
                status.available_replicas < want or status.updated_replicas < want,
                [
                    shown(f"{d.metadata.namespace}/{d.metadata.name}"),
                    str(want),
                    str(status.available_replicas),
                    str(status.updated_replicas),
                ],
            )
        )
    _print_objects(console, table, rows, "deployments at desired replicas", verbose)


def _print_daemonsets(console: Console, the_run: Run, verbose: bool) -> None:
    """DaemonSets, if the run has any: nodes that should run the pod, nodes with an available
    one, nodes with an updated one, nodes running one they should not."""
    daemonsets = the_run.cluster.api.cache("daemonsets").list()
    if not daemonsets:
        return
    table = Table(title="DaemonSets", show_edge=False, box=None)
    for column in ("daemonset", "desired", "available", "updated", "misscheduled"):
        table.add_column(column, justify="right" if column != "daemonset" else "left")
    rows = []
    for ds in daemonsets:
        st = ds.status
        want = st.desired_number_scheduled
        rows.append(
            (
                st.number_available < want or st.updated_number_scheduled < want,
                [
                    shown(f"{ds.metadata.namespace}/{ds.metadata.name}"),
                    str(want),
                    str(st.number_available),
                    str(st.updated_number_scheduled),
                    str(st.number_misscheduled),
                ],
            )
        )
    _print_objects(console, table, rows, "daemonsets on every desired node", verbose)


def _print_nodes(console: Console, the_run: Run, verbose: bool) -> None:
    """Nodes, only when one is not Ready or cordoned at the end (``verbose``: always)."""
    table = Table(title="Nodes", show_edge=False, box=None)
    for column in ("node", "ready", "schedulable"):
        table.add_column(column)
    rows = []
    nodes = the_run.cluster.api.cache("nodes").list()
    for node in sorted(nodes, key=lambda n: n.metadata.name):
        ready = node.status.condition("Ready")
        state = "Unknown" if ready is None else ready.status
        if ready is not None and ready.reason:
            state += f" ({ready.reason})"
        bad = not node.is_ready() or node.spec.unschedulable
        rows.append(
            (
                bad,
                [
                    shown(node.metadata.name),
                    shown(state) if node.is_ready() else f"[red]{shown(state)}[/]",
                    "cordoned" if node.spec.unschedulable else "yes",
                ],
            )
        )
    if verbose or any(bad for bad, _ in rows):
        _print_objects(console, table, rows, "nodes Ready and schedulable", verbose)


def _rate(ok: float, total: float) -> str:
    if not total:
        return "no requests"
    return f"{100.0 * ok / total:.3f}%".replace(".000%", "%") + f" of {int(total)}"


def _print_traffic(console: Console, the_run: Run, verbose: bool) -> None:
    """Requests per Service: success over the whole run and since steady state (what the
    availability and maxErrors SLOs count), then each failure outcome over the whole run."""
    by_service: dict[tuple[str, str], Counter[str]] = {}
    for (namespace, service, _, outcome), n in sorted(the_run.traffic.stats.requests.items()):
        by_service.setdefault((namespace, service), Counter())[outcome] += n
    if not by_service:
        return
    failures = sorted({o for c in by_service.values() for o in c if o != "success"})
    steady_at = the_run.steady.first_steady_at
    table = Table(title="Traffic", show_edge=False, box=None)
    table.add_column("service")
    for column in ("whole run", "since steady state", *failures):
        table.add_column(column, justify="right")
    rows = []
    for (namespace, service), outcomes in by_service.items():
        total = sum(outcomes.values())
        since = the_run.slo.since_steady(namespace, service)
        cells = [
            shown(f"{namespace}/{service}"),
            _rate(outcomes["success"], total),
            "[red]not reached[/]" if since is None else _rate(since[1], since[0]),
            *(str(outcomes[o]) for o in failures),
        ]
        rows.append((outcomes["success"] < total, cells))
    _print_objects(console, table, rows, "services with no failed request", verbose)
    note = (
        f"from {format_duration(round(steady_at, 3))}, what the availability and maxErrors SLOs "
        "count"
        if steady_at is not None
        else "never reached"
    )
    console.print(
        f"[dim]whole run: every request sent (the outcome columns too); since steady state: "
        f"{note}[/]",
        soft_wrap=True,
    )


def print_summary(console: Console, the_run: Run, wall: float, verbose: bool = False) -> None:
    _print_never_steady(console, the_run)
    _print_faults(console, the_run)
    _print_slos(console, the_run)
    _print_deployments(console, the_run, verbose)
    _print_daemonsets(console, the_run, verbose)
    _print_nodes(console, the_run, verbose)
    _print_traffic(console, the_run, verbose)
    converged = the_run.convergence.first_converged_at
    virtual = the_run.finished_at or 0.0
    console.print(
        f"converged at {format_duration(converged) if converged is not None else 'never'}"
        f" · {len(the_run.events)} events · {format_duration(virtual)} virtual in {wall:.2f}s wall"
        f" ({virtual / wall if wall > 0 else float('inf'):.0f}x real time)"
    )
