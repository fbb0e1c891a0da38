"""Micro-benchmark: the kubelet status manager's own CPU per status (issue 16).

The status manager builds a pod's status (``podstate.build_status``) on each sync and compares
it with the last one it posted (``readinessgates.same_by_kubelet``, also asked on each update
event of the pod). This times both, in process CPU microseconds per call (the best of
``--repeat`` rounds: the machine is shared), at the four stages of a pod's life whose statuses
it writes (ContainerCreating, Running, Ready, terminated), each in two cases:

- **changed**: the pod's status in the API is the previous stage's, as when the sync that
  follows a change builds (what is then written);
- **unchanged**: the pod's status in the API is this stage's own, as it comes back from the
  write (the build a sync makes when nothing changed, and the comparison of the echo).

    python benchmarks/kubelet_status.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubechaos.api.objects import (
    Container,
    ObjectMeta,
    Pod,
    PodCondition,
    PodSpec,
    PodStatus,
    Resources,
)
from kubechaos.node.podstate import (
    RUNNING,
    SANDBOX_READY,
    ContainerRun,
    PodState,
    build_status,
)
from kubechaos.node.readinessgates import same_by_kubelet
from kubechaos.sim.clock import run_virtual

HOST = "10.0.0.1"


def _pod() -> Pod:
    container = Container("app", "nginx:1.27", requests=Resources(100, 64 * 2**20))
    meta = ObjectMeta(name="web", namespace="default", uid="u1", resource_version="7")
    status = PodStatus(conditions=(PodCondition("PodScheduled", "True", 0.0),))
    return Pod(meta, PodSpec(containers=(container,), node_name="n1"), status)


STAGES = ("creating", "running", "ready", "terminated")


def _set(ps: PodState, stage: str) -> None:
    """Bring ``ps`` (one container) to ``stage`` from the stage before it."""
    run = ps.runs[0]
    if stage == "creating":
        ps.start_time = 1.0
    elif stage == "running":
        ps.sandbox, ps.ip = SANDBOX_READY, "10.244.0.5"
        run.state, run.reason, run.started, run.started_at = RUNNING, "", True, 2.0
    elif stage == "ready":
        run.ready, ps.ready_status, ps.ready_since = True, "True", 7.0
    else:
        run.record_exit(0, "Completed", 30.0)
        ps.ready_status, ps.ready_since, ps.finished = "False", 30.0, True


def _timed(fn: Any, calls: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, time.process_time() - start)
    return round(best / calls * 1e6, 3)


def measure(calls: int, repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {"path": "kubelet_status"}

    async def main() -> None:
        await trio.sleep(40)
        pod = _pod()
        ps = PodState(pod)
        ps.runs.append(ContainerRun(ps, 0, pod.spec.containers[0], None))
        previous = pod.status
        for stage in STAGES:
            _set(ps, stage)
            ps.pod = attrs.evolve(pod, status=previous)
            built = build_status(ps, HOST)
            out[f"build_changed_{stage}_us"] = _timed(lambda: build_status(ps, HOST), calls, repeat)
            out[f"same_changed_{stage}_us"] = _timed(
                lambda a=previous, b=built: same_by_kubelet(a, b), calls, repeat
            )
            ps.pod = attrs.evolve(pod, status=built)
            echo = attrs.evolve(built)  # the API's copy: equal, not the same object
            out[f"build_unchanged_{stage}_us"] = _timed(
                lambda: build_status(ps, HOST), calls, repeat
            )
            out[f"same_unchanged_{stage}_us"] = _timed(
                lambda a=echo, b=built: same_by_kubelet(a, b), calls, repeat
            )
            previous = built

    run_virtual(main, seed=0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(measure(args.calls, args.repeat)))


if __name__ == "__main__":
    main()
