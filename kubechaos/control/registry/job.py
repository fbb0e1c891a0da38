"""Jobs: the API server generates the selector and labels the template (unless
``manualSelector``), status is the job controller's, the pod template is immutable.

Upstream's pkg/registry/batch/job/strategy.go (PrepareForCreate, generateSelector: the
``batch.kubernetes.io/controller-uid`` selector and the ``batch.kubernetes.io/job-name`` /
``controller-uid`` labels, legacy ``job-name`` / ``controller-uid`` too).
"""

from __future__ import annotations

import attrs

from kubechaos.api import discovery, errors
from kubechaos.api.objects import Job, JobStatus
from kubechaos.api.selectors import LabelSelector
from kubechaos.api.validation_job import validate_job
from kubechaos.control.registry.strategy import ResourceType, Strategy
from kubechaos.defaults import (
    JOB_CONTROLLER_UID_LABEL,
    JOB_NAME_LABEL,
    LEGACY_CONTROLLER_UID_LABEL,
    LEGACY_JOB_NAME_LABEL,
)


def _with_generated_selector(job: Job) -> Job:
    """generateSelector: template labels naming the Job and its UID, and a selector on the UID."""
    if job.spec.manual_selector:
        return job
    uid, name = job.metadata.uid, job.metadata.name
    template = job.spec.template
    labels = {
        **template.metadata.labels,
        JOB_CONTROLLER_UID_LABEL: uid,
        JOB_NAME_LABEL: name,
        LEGACY_CONTROLLER_UID_LABEL: uid,
        LEGACY_JOB_NAME_LABEL: name,
    }
    template = attrs.evolve(template, metadata=attrs.evolve(template.metadata, labels=labels))
    selector = job.spec.selector or LabelSelector({JOB_CONTROLLER_UID_LABEL: uid})
    return attrs.evolve(job, spec=attrs.evolve(job.spec, template=template, selector=selector))


class JobStrategy(Strategy[Job]):
    def prepare_for_create(self, obj: Job) -> Job:
        return _with_generated_selector(attrs.evolve(obj, status=JobStatus()))

    def prepare_for_update(self, old: Job, new: Job) -> Job:
        """The selector and the pod template are immutable (ValidateJobSpecUpdate); a manifest
        applied again without the generated labels keeps them."""
        new = attrs.evolve(new, spec=attrs.evolve(new.spec, selector=old.spec.selector))
        new = _with_generated_selector(
            attrs.evolve(new, metadata=attrs.evolve(new.metadata, uid=old.metadata.uid))
        )
        if new.spec.template != old.spec.template:
            raise errors.Invalid(
                "Job", old.metadata.name, ["spec.template: Invalid value: field is immutable"]
            )
        if new.spec.completions != old.spec.completions:
            raise errors.Invalid(
                "Job", old.metadata.name, ["spec.completions: Invalid value: field is immutable"]
            )
        return new

    def validate(self, obj: Job) -> list[str]:
        return validate_job(obj)


JOBS = ResourceType(discovery.JOBS, Job, True, True, JobStrategy)
