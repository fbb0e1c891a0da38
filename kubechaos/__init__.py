"""kubechaos: a deterministic, virtual-time model of a whole Kubernetes cluster on Trio.

The supported Python surface is what this module exports (``__all__``), as trio exports its
own: load and run scenarios (:func:`load_scenario`, :class:`Run`), read what a run measured
(:func:`result_of`, :class:`SLOResult`, :class:`FaultRecovery`), build clusters from code
(:class:`Cluster`, :class:`ClusterSpec`, :class:`Settings`), inject faults (:data:`CATALOGUE`,
:class:`Chaos`, :class:`Target` and every fault type) and write resilience tests
(:class:`Harness`, which the pytest plugin's ``kubechaos`` fixture hands a test). Everything
else is internal and may move between releases.
"""

from kubechaos.cluster import Cluster, ClusterSpec, NodeGroupSpec
from kubechaos.defaults import Settings
from kubechaos.faults import (
    CATALOGUE,
    APIServerCrash,
    APIServerLatency,
    APIServerThrottle,
    APIServerUnavailable,
    Chaos,
    ContainerKill,
    ControllerManagerCrash,
    ControlPlaneNodeCrash,
    EtcdLatency,
    EtcdMemberCrash,
    EtcdUnavailable,
    EtcdWriteDrop,
    Fault,
    FaultError,
    ImagePullFailure,
    Injection,
    KubeletStop,
    NetworkDelay,
    NetworkLoss,
    NetworkPartition,
    NodeCrash,
    NodeDrain,
    NodeTaint,
    PodEvict,
    PodFailure,
    PodKill,
    ProcessKill,
    ProxyPartition,
    RuntimeSlow,
    ScheduledFault,
    SchedulerCrash,
    Target,
    WatchDelay,
    WatchDrop,
)
from kubechaos.observe.slo import SLO, SLOResult
from kubechaos.observe.steady import FaultRecovery
from kubechaos.report.result import result_of
from kubechaos.report.types import RunResult
from kubechaos.scenario.loader import Scenario, ScenarioError, load_scenario, parse_scenario
from kubechaos.scenario.runner import Run, run_scenario
from kubechaos.testing import HarnessError
from kubechaos.testing.harness import Harness
from kubechaos.version import __version__

__all__ = [
    "CATALOGUE",
    "SLO",
    "APIServerCrash",
    "APIServerLatency",
    "APIServerThrottle",
    "APIServerUnavailable",
    "Chaos",
    "Cluster",
    "ClusterSpec",
    "ContainerKill",
    "ControlPlaneNodeCrash",
    "ControllerManagerCrash",
    "EtcdLatency",
    "EtcdMemberCrash",
    "EtcdUnavailable",
    "EtcdWriteDrop",
    "Fault",
    "FaultError",
    "FaultRecovery",
    "Harness",
    "HarnessError",
    "ImagePullFailure",
    "Injection",
    "KubeletStop",
    "NetworkDelay",
    "NetworkLoss",
    "NetworkPartition",
    "NodeCrash",
    "NodeDrain",
    "NodeGroupSpec",
    "NodeTaint",
    "PodEvict",
    "PodFailure",
    "PodKill",
    "ProcessKill",
    "ProxyPartition",
    "Run",
    "RunResult",
    "RuntimeSlow",
    "SLOResult",
    "Scenario",
    "ScenarioError",
    "ScheduledFault",
    "SchedulerCrash",
    "Settings",
    "Target",
    "WatchDelay",
    "WatchDrop",
    "__version__",
    "load_scenario",
    "parse_scenario",
    "result_of",
    "run_scenario",
]
