"""The supported Python surface is exactly ``kubechaos.__all__``: changing it is a decision, so
this test names every export. Everything else may move between releases (as the reshaping of the
package's rooms did, without touching this list's users)."""

from __future__ import annotations

import subprocess
import sys

import kubechaos

PUBLIC = {
    # running scenarios and reading what they measured
    "__version__", "Scenario", "ScenarioError", "load_scenario", "parse_scenario",
    "Run", "run_scenario", "result_of", "RunResult", "SLO", "SLOResult", "FaultRecovery",
    # clusters from code
    "Cluster", "ClusterSpec", "NodeGroupSpec", "Settings",
    # faults
    "CATALOGUE", "Chaos", "Fault", "FaultError", "Injection", "ScheduledFault", "Target",
    "APIServerLatency", "APIServerThrottle", "APIServerUnavailable", "ContainerKill",
    "ControllerManagerCrash", "EtcdLatency", "EtcdUnavailable", "EtcdWriteDrop",
    "APIServerCrash", "ControlPlaneNodeCrash", "EtcdMemberCrash",
    "ImagePullFailure", "KubeletStop", "NetworkDelay", "NetworkLoss", "NetworkPartition",
    "NodeCrash", "NodeDrain", "NodeTaint", "PodEvict", "PodFailure", "PodKill", "ProcessKill", "ProxyPartition",
    "RuntimeSlow", "SchedulerCrash", "WatchDelay", "WatchDrop",
    # resilience tests
    "Harness", "HarnessError",
}  # fmt: skip


def test_the_public_surface_is_pinned() -> None:
    assert set(kubechaos.__all__) == PUBLIC
    assert len(kubechaos.__all__) == len(PUBLIC), "no name exported twice"
    for name in kubechaos.__all__:
        assert hasattr(kubechaos, name), name


def test_every_fault_type_of_the_catalogue_is_exported_under_its_class_name() -> None:
    for fault_type, cls in kubechaos.CATALOGUE.items():
        assert getattr(kubechaos, cls.__name__) is cls, fault_type


def test_importing_any_room_first_works() -> None:
    """The package face imports the top floors; a program that imports a ground-floor module
    first (a worker process, a user's script) must not trip over a partly loaded package."""
    for module in ("kubechaos.api.objects", "kubechaos.cli", "kubechaos.testing.plugin"):
        result = subprocess.run(
            [sys.executable, "-c", f"import {module}"], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
