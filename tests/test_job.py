"""Jobs end to end against upstream v1.32: pkg/controller/job/job_controller.go (syncJob,
manageJob, trackJobStatusAndRemoveFinalizers), pkg/controller/job/backoff_utils.go (the
pod-failure back-off), pkg/controller/ttlafterfinished, pkg/registry/batch/job/strategy.go (the
generated selector and labels) and the "Jobs" docs."""

from __future__ import annotations

from kubechaos.api.objects import Job, JobSpec, ObjectMeta, Pod
from kubechaos.cluster import Cluster
from kubechaos.defaults import BEHAVIOUR_ANNOTATION

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


async def test_smoke() -> None:
    async with running(nodes=2) as cluster:
        await cluster.apply([job(completions=4, parallelism=2)])
        t = await wait_until(lambda: finished(cluster) != "", 300, "finish")
        j = get_job(cluster)
        assert j is not None
        print(t, j.status)
        for e in cluster.events:
            if e.kind == "Job":
                print(e)
        assert False
