"""The run result's shape as types: one TypedDict per record of ``result-schema.json``.

:func:`~kubechaos.report.result.result_of` builds a :class:`RunResult`; the JSON, JUnit and HTML
reports read one. The result stays a plain dict at run time (it is written as JSON and read back
from JSON files to render a report later), so these are TypedDicts, not classes: they cost
nothing when running and let mypy check every key a report looks up against the schema.

Keep them in step with ``result-schema.json``: the schema is the contract for readers outside
Python, these are the same contract for the code. Series are lists (as JSON has them), each row a
list whose positions the alias names.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

Verdict = Literal["passed", "failed", "error", "interrupted"]
RecoveryStatus = Literal["recovered", "not-recovered", "not-observable", "pending"]
Attribution = Literal["per-object", "cluster-wide"]

# series rows, positional as in the schema
PerSecondRow = list[int]  # [second, successes, failures], for each second with requests
LatencyRow = list[float | None]  # [time, p50, p95, p99] in seconds; only quantiles may be null
ReplicaRow = list[float]  # [time, desired, available] at every change (counts are whole)
SteadyRow = list[float]  # [time, 1 | 0] at every change of steady state


class ScenarioRecord(TypedDict):
    name: str
    description: str
    file: str  # in a JSON file: relative to that file's directory (or absolute)
    duration: float  # virtual seconds the scenario asks for
    # SHA-256 of the scenario file and of each manifest file it reads (by path as written);
    # absent when the scenario was not read from a file
    sha256: NotRequired[str]
    manifests: NotRequired[dict[str, str]]


class RecoveryRecord(TypedDict):
    status: RecoveryStatus
    seconds: float | None  # from injection to steady state; None unless recovered
    disturbedAt: float | None
    recoveredAt: float | None
    # measured on the objects it disturbed or on the cluster's steady state; None while pending
    # (written by every run; NotRequired: results written before they existed lack them)
    attribution: NotRequired[Attribution | None]
    objects: NotRequired[
        list[str]
    ]  # per-object: the pods it was measured on (disturbed, then replacements)
    # what it was read on, in words ("nothing": no object or Service was watched); None while
    # pending
    measuredOn: NotRequired[str | None]


class OverlapRecord(TypedDict):
    """Another injection in force or not yet recovered at the same time as this one."""

    name: str
    injectedAt: float


class FaultRecord(TypedDict):
    """One injection."""

    name: str
    type: str
    injectedAt: float
    revertedAt: float | None
    lasting: bool  # False: an instantaneous fault (a pod kill), drawn as a marker, not a band
    targets: list[str]
    params: str
    overlaps: NotRequired[list[OverlapRecord]]  # absent in results written before it existed
    recovery: RecoveryRecord


class FailedInjectionRecord(TypedDict):
    name: str
    type: str
    at: float
    message: str


class SloRecord(TypedDict):
    name: str
    kind: str  # recoveryWithin, availability, maxErrors, threshold or condition
    ok: bool
    measured: str
    threshold: str
    detail: str


class TrafficRecord(TypedDict):
    """The requests sent to one Service."""

    namespace: str
    service: str
    requests: int
    outcomes: dict[str, int]
    successRate: float | None
    unsent: int
    perSecond: list[PerSecondRow]
    latency: list[LatencyRow]


class DeploymentRecord(TypedDict):
    namespace: str
    name: str
    desired: int
    available: int
    updated: int
    history: list[ReplicaRow]


class AutoscalerRecord(TypedDict):
    """A HorizontalPodAutoscaler (only in results of runs that had one)."""

    namespace: str
    name: str
    targetKind: str
    targetName: str
    minReplicas: int
    maxReplicas: int
    history: list[ReplicaRow]  # [time, current, desired] at every change


class StatefulSetRecord(TypedDict):
    namespace: str
    name: str
    desired: int
    ready: int
    available: int
    updated: int
    history: list[ReplicaRow]


JobRow = list[float]  # [time, active, succeeded, failed] at every change


class JobRecord(TypedDict):
    namespace: str
    name: str
    status: str  # Complete | Failed | Running | Deleted (its TTL after finishing)
    active: int
    succeeded: int
    failed: int
    history: list[JobRow]


class CustomObjectRecord(TypedDict):
    """One custom object steady state judged (its status follows kstatus' convention)."""

    kind: str
    apiVersion: str
    namespace: str
    name: str
    status: str  # kstatus at the end: Current | InProgress | Failed | Terminating | Deleted
    history: list[list[Any]]  # [time, status, message] at every change


class RunOutcome(TypedDict):
    """What every result holds, whole or compacted by a sweep (which drops the series): who
    ran, how it ended, its failed injections and its SLOs. This is all JUnit reads."""

    schema: str
    kubechaosVersion: str
    kubernetesVersion: str  # the Kubernetes release whose defaults the model follows
    scenario: ScenarioRecord
    seed: int
    verdict: Verdict
    exitCode: int
    complete: bool  # False: the run did not reach its end, the figures cover it so far
    error: str | None
    virtualSeconds: float | None  # virtual time the run reached
    wallSeconds: float | None
    replay: str  # the command that replays this run exactly
    failedInjections: list[FailedInjectionRecord]  # each fails the run: it measured nothing
    slos: list[SloRecord]


class ExternalClientsRecord(TypedDict):
    api: str  # where the run's API was served (run --api)
    processes: NotRequired[list[str]]  # the external processes run against it (run --exec)


class ProcessRecord(TypedDict):
    """One external process of the run (run --exec, spec.processes)."""

    name: str
    command: list[str]
    exitCode: int | None  # the last exit (negative: the signal); None if it never exited
    restarts: int
    output: str  # the tail of its stdout and stderr
    outputTruncated: bool  # earlier output was dropped (processOutputKiB)


class RunResult(RunOutcome):
    """The whole result of one run (``"schema": "kubechaos/result/v1"``): the outcome and what
    was measured. The JSON keeps the schema's key order (``result_of`` builds it in that order),
    not this class's."""

    faults: list[FaultRecord]
    traffic: list[TrafficRecord]
    deployments: list[DeploymentRecord]
    # DaemonSets as the same record (desired and available nodes, updated pods); only in
    # results of runs that had a DaemonSet
    daemonsets: NotRequired[list[DeploymentRecord]]
    statefulsets: NotRequired[list[StatefulSetRecord]]  # only in runs that have StatefulSets
    jobs: NotRequired[list[JobRecord]]  # only in runs that had a Job
    customObjects: NotRequired[list[CustomObjectRecord]]  # only runs that judged one
    externalClients: NotRequired[ExternalClientsRecord]  # only runs that served run --api
    processes: NotRequired[list[ProcessRecord]]  # only runs with external processes
    steadyState: list[SteadyRow]
    events: int  # how many events the run logged
    # added by `kubechaos replay` (True when it replayed an explored schedule); the schema
    # allows fields beyond its own
    autoscalers: NotRequired[list[AutoscalerRecord]]  # only when the run had an HPA
    explored: NotRequired[bool]
    notDrawn: NotRequired[list[str]]  # replayed explore run: SLOs left out, nothing drawn
