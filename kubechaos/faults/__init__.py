"""The fault catalogue: every way kubechaos can break a cluster, and the machinery to do it.

Python code injects faults directly::

    chaos = Chaos(cluster)
    injection = await chaos.inject(PodKill(target=Target(label_selector={"app": "web"}, mode="one")))
    ...
    await chaos.revert(injection)

Scenario files name the same types (``CATALOGUE``) and run them on a schedule
(:func:`run_schedule`). Importing this package registers every type.
"""

from kubechaos.faults import pods  # registers its fault types
from kubechaos.faults.base import CATALOGUE, Fault, FaultEnv, FaultError, Param, fault_type, param
from kubechaos.faults.chaos import Chaos, Injection, matching_nodes, select_nodes, select_pods
from kubechaos.faults.pods import PodKill
from kubechaos.faults.schedule import ScheduledFault, run_schedule
from kubechaos.faults.targets import MODES, Target, pick

__all__ = [
    "CATALOGUE",
    "MODES",
    "Chaos",
    "Fault",
    "FaultEnv",
    "FaultError",
    "Injection",
    "Param",
    "PodKill",
    "ScheduledFault",
    "Target",
    "fault_type",
    "matching_nodes",
    "param",
    "pick",
    "pods",
    "run_schedule",
    "select_nodes",
    "select_pods",
]
