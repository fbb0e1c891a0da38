"""The fault catalogue: every way kubechaos can break a cluster, and the machinery to do it.

Python code injects faults directly::

    chaos = Chaos(cluster)
    injection = await chaos.inject(PodKill(target=Target(label_selector={"app": "web"}, mode="one")))
    ...
    await chaos.revert(injection)

Scenario files name the same types (``CATALOGUE``) and run them on a schedule
(:func:`run_schedule`). Importing this package registers every type.
"""

from kubechaos.faults import controlplane, pods, process  # registers their fault types
from kubechaos.faults.base import CATALOGUE, Fault, FaultEnv, FaultError, Param, fault_type, param
from kubechaos.faults.chaos import Chaos, Injection, matching_nodes, select_nodes, select_pods
from kubechaos.faults.controlplane import (
    APIServerLatency,
    APIServerThrottle,
    APIServerUnavailable,
    ControllerManagerCrash,
    EtcdLatency,
    EtcdUnavailable,
    EtcdWriteDrop,
    SchedulerCrash,
    WatchDelay,
    WatchDrop,
)
from kubechaos.faults.hacontrolplane import APIServerCrash, ControlPlaneNodeCrash, EtcdMemberCrash
from kubechaos.faults.network import NetworkDelay, NetworkLoss, NetworkPartition, ProxyPartition
from kubechaos.faults.node import (
    ContainerKill,
    ImagePullFailure,
    KubeletStop,
    NodeCrash,
    NodeDrain,
    NodeTaint,
    PodFailure,
    RuntimeSlow,
)
from kubechaos.faults.pods import PodEvict, PodKill
from kubechaos.faults.process import ProcessKill
from kubechaos.faults.schedule import ScheduledFault, run_schedule
from kubechaos.faults.targets import MODES, Target, pick

__all__ = [
    "CATALOGUE",
    "MODES",
    "APIServerCrash",
    "APIServerLatency",
    "APIServerThrottle",
    "APIServerUnavailable",
    "Chaos",
    "ContainerKill",
    "ControlPlaneNodeCrash",
    "ControllerManagerCrash",
    "EtcdLatency",
    "EtcdMemberCrash",
    "EtcdUnavailable",
    "EtcdWriteDrop",
    "Fault",
    "FaultEnv",
    "FaultError",
    "ImagePullFailure",
    "Injection",
    "KubeletStop",
    "NetworkDelay",
    "NetworkLoss",
    "NetworkPartition",
    "NodeCrash",
    "NodeDrain",
    "NodeTaint",
    "Param",
    "PodEvict",
    "PodFailure",
    "PodKill",
    "ProcessKill",
    "ProxyPartition",
    "RuntimeSlow",
    "ScheduledFault",
    "SchedulerCrash",
    "Target",
    "WatchDelay",
    "WatchDrop",
    "controlplane",
    "fault_type",
    "matching_nodes",
    "param",
    "pick",
    "pods",
    "process",
    "run_schedule",
    "select_nodes",
    "select_pods",
]
