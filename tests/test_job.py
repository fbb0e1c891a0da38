"""Jobs end to end against upstream v1.32: pkg/controller/job/job_controller.go (syncJob,
manageJob, trackJobStatusAndRemoveFinalizers), pkg/controller/job/backoff_utils.go (the
pod-failure back-off), pkg/controller/ttlafterfinished, pkg/registry/batch/job/strategy.go (the
generated selector and labels) and the "Jobs" docs."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest
import trio

from kubechaos.api.manifest import ManifestError, read_manifest
from kubechaos.api.modelled import unmodelled_fields
from kubechaos.api.objects import Job, JobCondition, JobSpec, JobStatus, ObjectMeta, Pod
from kubechaos.cluster import Cluster
from kubechaos.control.controllermanager import ControllerManager
from kubechaos.control.controllers.job.backoff import failure_backoff
from kubechaos.defaults import BEHAVIOUR_ANNOTATION, JOB_TRACKING_FINALIZER
from kubechaos.observe.metrics.collector import ClusterCollector
from kubechaos.observe.metrics.kubestate import job_samples
from kubechaos.observe.steady import SteadyStateMonitor

from .factories import template
from .harness import running, wait_until


def job(
    name: str = "batch",
    behaviour: str = "exit-after=30s",
    restart_policy: str = "Never",
    **spec: object,
) -> Job:
    tmpl = template({"app": name}, {BEHAVIOUR_ANNOTATION: behaviour}, restart_policy=restart_policy)
    return Job(ObjectMeta(name=name, namespace="default"), JobSpec(tmpl, **spec))  # type: ignore[arg-type]


def get_job(cluster: Cluster, name: str = "batch") -> Job | None:
    return cluster.api.cache("jobs").get(f"/registry/jobs/default/{name}")


def job_pods(cluster: Cluster, name: str = "batch") -> list[Pod]:
    return [
        p
        for p in cluster.api.cache("pods").list("default")
        if p.metadata.labels.get("batch.kubernetes.io/job-name") == name
    ]


def finished(cluster: Cluster, name: str = "batch") -> str:
    j = get_job(cluster, name)
    return j.status.finished() if j is not None else ""


def job_events(cluster: Cluster, reason: str, name: str = "batch") -> list[float]:
    return [
        e.time
        for e in cluster.events
        if e.kind == "Job" and e.object == f"default/{name}" and e.reason == reason
    ]


def suspended(value: bool) -> Callable[[Job], Job]:
    return lambda current: attrs.evolve(current, spec=attrs.evolve(current.spec, suspend=value))


def condition_types(j: Job) -> list[tuple[str, str]]:
    return [(c.type, c.reason) for c in j.status.conditions]


async def test_completions_and_parallelism() -> None:
    """manageJob: wantActive = min(completions - succeeded, parallelism), so 5 completions at
    parallelism 2 run 2, 2, then 1 pod; each pod carries the Job's labels (generateSelector:
    batch.kubernetes.io/job-name, batch.kubernetes.io/controller-uid and the legacy job-name,
    controller-uid), a controller reference and the batch.kubernetes.io/job-tracking
    finalizer, which is removed once the pod is counted. On success the conditions are
    SuccessCriteriaMet, then Complete (delayTerminalCondition, v1.31+), with completionTime."""
    async with running(nodes=2) as cluster:
        await cluster.apply([job(completions=5, parallelism=2)])
        await wait_until(lambda: len(job_pods(cluster)) == 2, 10, "two pods")
        first = job_pods(cluster)[0]
        j = get_job(cluster)
        assert j is not None and j.spec.selector is not None
        uid = j.metadata.uid
        labels = first.metadata.labels
        assert labels["batch.kubernetes.io/job-name"] == labels["job-name"] == "batch"
        assert labels["batch.kubernetes.io/controller-uid"] == labels["controller-uid"] == uid
        assert dict(j.spec.selector.match_labels) == {"batch.kubernetes.io/controller-uid": uid}
        ref = first.metadata.controller_ref()
        assert ref is not None and (ref.kind, ref.name, ref.uid) == ("Job", "batch", uid)
        assert JOB_TRACKING_FINALIZER in first.metadata.finalizers
        most_active = 0
        while finished(cluster) == "":
            active = sum(1 for p in job_pods(cluster) if p.is_active())
            most_active = max(most_active, active)
            await trio.sleep(1)
        j = get_job(cluster)
        assert j is not None
        assert most_active == 2
        assert len(job_events(cluster, "SuccessfulCreate")) == 5
        assert (j.status.succeeded, j.status.failed, j.status.active) == (5, 0, 0)
        assert condition_types(j) == [("SuccessCriteriaMet", ""), ("Complete", "")]
        assert j.status.completion_time is not None and j.status.start_time is not None
        assert job_events(cluster, "Completed")
        assert all(JOB_TRACKING_FINALIZER not in p.metadata.finalizers for p in job_pods(cluster))
        assert all(p.status.phase == "Succeeded" for p in job_pods(cluster))


async def test_without_completions_the_first_success_completes() -> None:
    """manageJob / syncJob with completions unset: parallelism pods run, the first success
    completes the Job once no pod is active ("Jobs" docs: work queue pattern)."""
    async with running(nodes=2) as cluster:
        await cluster.apply([job(parallelism=2)])
        await wait_until(lambda: finished(cluster) == "Complete", 120, "complete")
        j = get_job(cluster)
        assert j is not None
        assert len(job_events(cluster, "SuccessfulCreate")) == 2
        assert j.status.succeeded == 2 and j.status.active == 0


def test_failure_backoff_doubles_from_10s_and_is_capped_at_10_minutes() -> None:
    """backoff_utils.go getRemainingTimeForFailuresCount with job_controller.go
    DefaultJobPodFailureBackOff 10 s and MaxJobPodFailureBackOff 10 min (v1.28+; the "Jobs"
    docs still say six minutes)."""
    assert [failure_backoff(n) for n in range(1, 9)] == [10, 20, 40, 80, 160, 320, 600, 600]


async def test_backoff_between_replacements_and_backoff_limit_exceeded() -> None:
    """restartPolicy Never: a failed container fails the pod and a new pod replaces it, each
    replacement delayed 10 s, 20 s, 40 s ... after the last failure (backoff_utils.go
    newBackoffRecord / getRemainingTime, counted from the failed pod's finishedAt). With
    backoffLimit 3 the fourth failure fails the Job: FailureTarget then Failed, reason
    BackoffLimitExceeded, message "Job has reached the specified backoff limit"."""
    async with running(nodes=2) as cluster:
        await cluster.apply([job(behaviour="crash-after=2s", backoff_limit=3)])
        await wait_until(lambda: finished(cluster) == "Failed", 300, "failed")
        j = get_job(cluster)
        assert j is not None
        created = job_events(cluster, "SuccessfulCreate")
        assert len(created) == 4
        pods = sorted(job_pods(cluster), key=lambda p: p.metadata.creation_timestamp or 0)
        assert all(p.status.phase == "Failed" for p in pods)
        ends = [p.status.container_statuses[0].finished_at for p in pods]
        delays = [created[i + 1] - (ends[i] or 0) for i in range(3)]
        for delay, backoff in zip(delays, (10, 20, 40), strict=True):
            assert backoff <= delay < backoff + 1.5, delays
        assert (j.status.failed, j.status.succeeded, j.status.active) == (4, 0, 0)
        assert condition_types(j) == [
            ("FailureTarget", "BackoffLimitExceeded"),
            ("Failed", "BackoffLimitExceeded"),
        ]
        cond = j.status.condition("Failed")
        assert cond is not None and cond.message == "Job has reached the specified backoff limit"
        assert j.status.completion_time is None
        assert job_events(cluster, "BackoffLimitExceeded")


async def test_active_deadline_fails_the_job_and_deletes_its_pods() -> None:
    """syncJob pastActiveDeadline: activeDeadlineSeconds after startTime the Job gets
    FailureTarget (DeadlineExceeded), its active pods are deleted (deleteActivePods) and
    counted as failed, and Failed is added only once none is still terminating."""
    async with running(nodes=2) as cluster:
        await cluster.apply(
            [
                job(
                    behaviour="exit-after=300s,shutdown=5s",
                    parallelism=2,
                    active_deadline_seconds=20,
                )
            ]
        )
        t = await wait_until(
            lambda: (
                (j := get_job(cluster)) is not None
                and j.status.condition("FailureTarget") is not None
            ),
            60,
            "FailureTarget",
        )
        j = get_job(cluster)
        assert j is not None and j.status.start_time is not None
        assert 20 <= t - j.status.start_time < 21.5
        assert finished(cluster) == ""  # pods still terminating (shutdown=5s)
        done = await wait_until(lambda: finished(cluster) == "Failed", 60, "Failed")
        assert done - t >= 5
        j = get_job(cluster)
        assert j is not None
        assert condition_types(j) == [
            ("FailureTarget", "DeadlineExceeded"),
            ("Failed", "DeadlineExceeded"),
        ]
        assert (j.status.failed, j.status.active, j.status.terminating) == (2, 0, 0)
        assert len(job_events(cluster, "SuccessfulDelete")) == 2
        await wait_until(lambda: not job_pods(cluster), 30, "pods removed")


async def test_on_failure_restarts_in_place_and_counts_restarts() -> None:
    """restartPolicy OnFailure: the kubelet restarts the failed container in the same pod (with
    the container back-off); pastBackoffLimitOnFailure counts the restarts of the Job's
    running pods against backoffLimit, so the Job fails when they reach it."""
    async with running(nodes=2) as cluster:
        await cluster.apply(
            [job(behaviour="crash-after=2s", restart_policy="OnFailure", backoff_limit=2)]
        )
        await wait_until(lambda: finished(cluster) == "Failed", 120, "failed")
        j = get_job(cluster)
        assert j is not None
        assert len(job_events(cluster, "SuccessfulCreate")) == 1
        assert condition_types(j)[-1] == ("Failed", "BackoffLimitExceeded")
        assert j.status.failed == 1  # the one pod, deleted when the Job failed
        restarts = [
            e for e in cluster.events if e.reason == "Started" and e.component.startswith("kubelet")
        ]
        assert len(restarts) == 3  # first start and two restarts in place


async def test_ttl_after_finished_deletes_the_job_and_its_pods() -> None:
    """pkg/controller/ttlafterfinished: ttlSecondsAfterFinished after the Complete condition's
    lastTransitionTime the Job is deleted; the garbage collector then deletes its pods."""
    async with running(nodes=2) as cluster:
        await cluster.apply([job(behaviour="exit-after=5s", ttl_seconds_after_finished=10)])
        await wait_until(lambda: finished(cluster) == "Complete", 60, "complete")
        j = get_job(cluster)
        assert j is not None
        done_at = j.status.finished_at()
        assert done_at is not None
        gone = await wait_until(lambda: get_job(cluster) is None, 30, "job deleted", step=0.1)
        assert 10 <= gone - done_at < 10.5
        await wait_until(lambda: not job_pods(cluster), 30, "pods collected")


async def test_a_killed_pod_counts_as_failed_and_is_replaced_after_the_backoff() -> None:
    """isPodFailed (podReplacementPolicy TerminatingOrFailed, the default): a pod deleted before
    it succeeded is a failure, counted through its tracking finalizer; getFinishedTime takes
    its deletion time, so the replacement waits the 10 s back-off; the Job still completes."""
    async with running(nodes=2) as cluster:
        await cluster.apply([job(behaviour="exit-after=60s,term-exit-code=143")])
        await wait_until(lambda: any(p.is_ready() for p in job_pods(cluster)), 30, "running")
        await trio.sleep(10)
        victim = job_pods(cluster)[0]
        killed = trio.current_time()
        await cluster.api.delete("pods", "default", victim.metadata.name, grace_period_seconds=0)
        await wait_until(lambda: len(job_events(cluster, "SuccessfulCreate")) == 2, 30, "new pod")
        replaced = job_events(cluster, "SuccessfulCreate")[1]
        assert 10 <= replaced - killed < 11.5
        await wait_until(lambda: finished(cluster) == "Complete", 120, "complete")
        j = get_job(cluster)
        assert j is not None
        assert (j.status.succeeded, j.status.failed) == (1, 1)
        assert all(p.metadata.name != victim.metadata.name for p in job_pods(cluster))


async def test_indexed_job_gives_each_pod_its_completion_index() -> None:
    """completionMode Indexed: each pod gets the batch.kubernetes.io/job-completion-index
    annotation (and label, PodIndexLabel) of the lowest pending index and the generated name
    <job>-<index>-; succeeded counts distinct indexes, listed in completedIndexes."""
    async with running(nodes=2) as cluster:
        await cluster.apply(
            [
                job(
                    behaviour="exit-after=5s",
                    completions=3,
                    parallelism=3,
                    completion_mode="Indexed",
                )
            ]
        )
        await wait_until(lambda: finished(cluster) == "Complete", 60, "complete")
        j = get_job(cluster)
        assert j is not None
        indexes = sorted(
            p.metadata.annotations["batch.kubernetes.io/job-completion-index"]
            for p in job_pods(cluster)
        )
        assert indexes == ["0", "1", "2"]
        for p in job_pods(cluster):
            ix = p.metadata.annotations["batch.kubernetes.io/job-completion-index"]
            assert p.metadata.name.startswith(f"batch-{ix}-")
            assert p.metadata.labels["batch.kubernetes.io/job-completion-index"] == ix
        assert (j.status.succeeded, j.status.completed_indexes) == (3, "0-2")


def test_manifest_job_defaults_and_invalid_restart_policy() -> None:
    """pkg/apis/batch/v1/defaults.go (parallelism 1, backoffLimit 6, completionMode NonIndexed)
    and validation.go (a Job's pods restart OnFailure or Never)."""
    doc = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "pi", "image": "perl"}],
                }
            }
        },
    }
    obj = read_manifest(doc)
    assert isinstance(obj, Job)
    assert (obj.spec.parallelism, obj.spec.backoff_limit, obj.spec.completions) == (1, 6, None)
    assert obj.spec.completion_mode == "NonIndexed"
    doc["spec"]["template"]["spec"]["restartPolicy"] = "Always"  # type: ignore[index]
    with pytest.raises(ManifestError) as bad:
        read_manifest(doc)
    assert "spec.template.spec.restartPolicy" in str(bad.value)


def test_kube_state_metrics_job_families() -> None:
    """kube-state-metrics internal/store/job.go: labels namespace and job_name; a failed Job's
    kube_job_status_failed has one series per known reason (1 for its own); kube_job_failed
    and kube_job_complete have a condition label (true/false/unknown)."""
    failed = JobStatus(
        conditions=(
            JobCondition("FailureTarget", "True", "DeadlineExceeded", "", 5.0, 5.0),
            JobCondition("Failed", "True", "DeadlineExceeded", "", 6.0, 6.0),
        ),
        start_time=1.5,
        failed=2,
    )
    j = attrs.evolve(
        job(completions=3, active_deadline_seconds=5),
        metadata=ObjectMeta(name="batch", namespace="default", creation_timestamp=1.2),
        status=failed,
    )
    samples = {(name, tuple(sorted(s.labels.items()))): s.value for name, s in job_samples(j)}
    base = (("job_name", "batch"), ("namespace", "default"))
    assert samples[("kube_job_spec_completions", base)] == 3
    assert samples[("kube_job_spec_parallelism", base)] == 1
    assert samples[("kube_job_spec_active_deadline_seconds", base)] == 5
    assert samples[("kube_job_status_start_time", base)] == 1
    reasons = {
        dict(labels)["reason"]: v
        for (name, labels), v in samples.items()
        if name == "kube_job_status_failed"
    }
    assert reasons == {"BackoffLimitExceeded": 0, "DeadlineExceeded": 1, "Evicted": 0}
    failed_cond = {
        dict(labels)["condition"]: v
        for (name, labels), v in samples.items()
        if name == "kube_job_failed"
    }
    assert failed_cond == {"true": 1, "false": 0, "unknown": 0}
    assert not [k for k in samples if k[0] == "kube_job_complete"]


def test_unmodelled_job_fields_are_warned_about() -> None:
    """api/modelled.py: podFailurePolicy, backoffLimitPerIndex and successPolicy change how a
    Job fails or succeeds and are not modelled: each is reported, never silently ignored."""
    doc = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi"},
        "spec": {
            "completions": 2,
            "podFailurePolicy": {"rules": []},
            "backoffLimitPerIndex": 1,
            "successPolicy": {"rules": [{"succeededCount": 1}]},
            "template": {"spec": {"restartPolicy": "Never", "containers": []}},
        },
    }
    found = unmodelled_fields(doc)
    assert ("spec", "backoffLimitPerIndex") in found
    assert ("spec", "successPolicy") in found
    assert ("spec", "completions") not in found


async def test_suspend_deletes_the_active_pods_and_resume_restarts_the_clock() -> None:
    """syncJob / manageJob with suspend: a suspended Job has no active pods (they are deleted)
    and the Suspended condition True (JobSuspended); resuming sets it False (JobResumed),
    resets startTime and creates the pods again."""
    async with running(nodes=2) as cluster:
        await cluster.apply([job(behaviour="exit-after=60s", parallelism=2, completions=2)])
        await wait_until(lambda: len(job_pods(cluster)) == 2, 10, "pods")
        j = get_job(cluster)
        assert j is not None
        await cluster.api.patch("jobs", "default", "batch", suspended(True))
        await wait_until(
            lambda: (x := get_job(cluster)) is not None and x.status.active == 0, 30, "suspended"
        )
        j = get_job(cluster)
        assert j is not None
        cond = j.status.condition("Suspended")
        assert cond is not None and (cond.status, cond.reason) == ("True", "JobSuspended")
        await wait_until(lambda: not [p for p in job_pods(cluster) if p.is_active()], 30, "gone")
        before = j.status.start_time
        await trio.sleep(5)
        await cluster.api.patch("jobs", "default", "batch", suspended(False))
        await wait_until(
            lambda: (x := get_job(cluster)) is not None and x.status.active == 2, 30, "resumed"
        )
        j = get_job(cluster)
        assert j is not None
        cond = j.status.condition("Suspended")
        assert cond is not None and (cond.status, cond.reason) == ("False", "JobResumed")
        assert j.status.start_time is not None and before is not None
        assert j.status.start_time > before
        assert job_events(cluster, "Suspended") and job_events(cluster, "Resumed")


async def test_steady_state_of_a_job() -> None:
    """observe/steady.py (the model's definition, read from kube-state-metrics' series): a
    running Job with its share of active pods is steady, a completed one too; a failed Job
    (kube_job_failed{condition="true"}) is not, and says why."""
    async with running(nodes=2) as cluster:
        monitor = SteadyStateMonitor(ClusterCollector(cluster), cluster.events)
        await cluster.apply(
            [
                job("ok", behaviour="exit-after=20s", completions=2, parallelism=2),
                job("bad", behaviour="crash-after=1s", backoff_limit=0),
            ]
        )
        await wait_until(lambda: finished(cluster, "bad") == "Failed", 60, "bad failed")
        assert finished(cluster, "ok") == ""
        assert monitor.unsteady_reasons(trio.current_time()) == ["Job default/bad failed"]
        await wait_until(lambda: finished(cluster, "ok") == "Complete", 60, "ok complete")
        await cluster.api.delete("jobs", "default", "bad")
        await wait_until(lambda: get_job(cluster, "bad") is None, 10, "bad deleted")
        assert monitor.is_steady_now()


async def test_no_job_no_job_controller_and_no_job_families() -> None:
    """A run without Jobs pays nothing for the kind: the job controller does not run, no
    request for jobs is made (the garbage collector watches Jobs only from the first one on),
    no kube_job_* family is exposed; the first Job starts the controller, which then lists and
    syncs it."""
    async with running(nodes=1) as cluster:
        await trio.sleep(5)
        manager = cluster.controller_manager.instance
        assert isinstance(manager, ControllerManager)
        assert manager.controller_for("Job") is None
        assert not [k for k in cluster.api.stats.total if k[1] == "jobs"]
        assert ClusterCollector(cluster).kind_families("jobs") == []
        await cluster.apply([job(behaviour="exit-after=5s")])
        assert manager.controller_for("Job") is not None
        await wait_until(lambda: finished(cluster) == "Complete", 60, "complete")
        queues = {c.queue.name for c in manager.queues()}
        assert {"job", "job_orphan_pod", "ttl_jobs_to_delete"} <= queues


async def test_deleting_a_running_job_frees_and_removes_its_pods() -> None:
    """job_controller.go deleteJob / cleanupPodFinalizers / syncOrphanPod: when a Job is
    deleted, the tracking finalizer is removed from its pods, so the garbage collector's
    deletion of them completes instead of leaving them stuck."""
    async with running(nodes=2) as cluster:
        await cluster.apply([job(behaviour="exit-after=300s", parallelism=2, completions=2)])
        await wait_until(lambda: sum(p.is_ready() for p in job_pods(cluster)) == 2, 30, "ready")
        await cluster.api.delete("jobs", "default", "batch")
        await wait_until(lambda: not job_pods(cluster), 60, "pods removed")
