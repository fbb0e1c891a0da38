"""The job controller and the TTL-after-finished controller it runs beside it
(pkg/controller/job and pkg/controller/ttlafterfinished, v1.32); see :mod:`.controller`."""

from kubechaos.control.controllers.job.controller import JobController
from kubechaos.control.controllers.job.ttlafterfinished import TTLAfterFinishedController

__all__ = ["JobController", "TTLAfterFinishedController"]
