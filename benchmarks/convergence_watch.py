"""Micro-benchmark: the convergence watch's cost per informer event as the Deployments grow.

Feeds a :class:`~kubechaos.observe.convergence.ConvergenceWatch` what its informer hears while
``n`` Deployments converge (created, then available replicas rising one by one, in creation
order) and then each lose a pod and get it back, and prints the CPU seconds at each size. An
event must cost the one workload it names: the time should grow with ``n``, not ``n`` squared
(issue 16; the deterministic guard is ``tests/test_cost_growth.py``).

    python benchmarks/convergence_watch.py            # 1,000, 2,000 and 5,000 Deployments
    python benchmarks/convergence_watch.py 10000
"""

from __future__ import annotations

import argparse
import time

import attrs
from shapes import deployment

from kubechaos.api.objects import Deployment
from kubechaos.client.context import Context
from kubechaos.defaults import Settings
from kubechaos.observe.convergence import ConvergenceWatch
from kubechaos.sim.clock import run_virtual
from kubechaos.sim.events import EventLog
from kubechaos.sim.rand import Rng

STEPS = 10  # replicas per Deployment: status updates while it converges


def _status(d: Deployment, available: int) -> Deployment:
    status = attrs.evolve(
        d.status,
        observed_generation=d.metadata.generation,
        replicas=d.spec.replicas,
        updated_replicas=d.spec.replicas,
        available_replicas=available,
    )
    return attrs.evolve(d, status=status)


def measure(n: int) -> tuple[float, int]:
    """CPU seconds the watch spends on the informer events of ``n`` Deployments, and how
    many events that was."""
    ctx = Context(api=None, settings=Settings(), rng=Rng(1), events=EventLog())  # type: ignore[arg-type]
    watch = ConvergenceWatch(ctx)
    objects = [_status(deployment(f"web-{i}", STEPS), 0) for i in range(n)]
    feed = [("ADDED", o) for o in objects]
    feed += [("MODIFIED", _status(o, a)) for o in objects for a in range(1, STEPS + 1)]
    feed += [("MODIFIED", _status(o, a)) for o in objects for a in (STEPS - 1, STEPS)]

    async def main() -> float:
        start = time.process_time()
        for type_, obj in feed:
            watch.informer._apply(type_, obj)
        return time.process_time() - start

    return run_virtual(main, seed=1), len(feed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", type=int, nargs="*", default=[1000, 2000, 5000])
    args = parser.parse_args()
    previous = None
    for n in args.sizes:
        cpu, events = measure(n)
        growth = f"  x{cpu / previous:.2f}" if previous else ""
        print(f"{n:>7} deployments  {events:>8} events  {cpu:7.3f} s CPU{growth}", flush=True)
        previous = cpu


if __name__ == "__main__":
    main()
