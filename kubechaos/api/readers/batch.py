"""batch/v1 Job."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubechaos.api.fieldreader import FieldReader, Path
from kubechaos.api.objects import Job, JobSpec, ObjectMeta
from kubechaos.api.readers.pods import read_selector, read_template
from kubechaos.defaults import JOB_DEFAULT_BACKOFF_LIMIT


def _optional_int(r: FieldReader, spec: Mapping[str, Any], key: str, path: Path) -> int | None:
    return r.int_(spec, key, path, 0) if spec.get(key) is not None else None


def read_job(r: FieldReader, doc: Mapping[str, Any], meta: ObjectMeta) -> Job:
    spec = r.map(doc.get("spec"), ("spec",))
    path: Path = ("spec",)
    if "template" not in spec:
        r.error((*path, "template"), "Required value")
    selector = (
        read_selector(r, spec["selector"], (*path, "selector"))
        if spec.get("selector") is not None
        else None
    )
    return Job(
        meta,
        JobSpec(
            template=read_template(r, spec.get("template"), (*path, "template")),
            selector=selector,
            parallelism=r.int_(spec, "parallelism", path, 1),
            completions=_optional_int(r, spec, "completions", path),
            completion_mode=r.str_(spec, "completionMode", path, "NonIndexed"),
            backoff_limit=r.int_(spec, "backoffLimit", path, JOB_DEFAULT_BACKOFF_LIMIT),
            active_deadline_seconds=_optional_int(r, spec, "activeDeadlineSeconds", path),
            ttl_seconds_after_finished=_optional_int(r, spec, "ttlSecondsAfterFinished", path),
            suspend=r.bool_(spec, "suspend", path, False),
            manual_selector=r.bool_(spec, "manualSelector", path, False),
        ),
    )
