"""Helpers for the steady-state tests: a scenario run with a model client acting during it (as
an operator or a user's script would, through the API server)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import trio

from kubechaos.scenario.loader import Scenario, parse_scenario
from kubechaos.scenario.runner import Run
from kubechaos.scenario.workloads import read_workloads
from kubechaos.scenario.yamlfile import load_all
from kubechaos.sim.clock import run_virtual

ROOT = Path(__file__).resolve().parent.parent

Action = tuple[float, Callable[[Run], Awaitable[None]]]


def scenario(body: str, name: str = "steady") -> Scenario:
    """A scenario (the ``spec`` after ``duration``) on three workers."""
    text = (
        "apiVersion: kubechaos/v1\nkind: Scenario\n"
        f"metadata: {{name: {name}}}\nspec:\n"
        "  cluster: {nodeGroups: [{name: worker, count: 3}]}\n" + body
    )
    return parse_scenario(text, f"{name}.yaml")


def run_with(scn: Scenario, actions: Sequence[Action]) -> Run:
    """Run ``scn``; each action runs at its virtual time, during the run."""
    run = Run(scn)

    async def later(at: float, act: Callable[[Run], Awaitable[None]]) -> None:
        await trio.sleep_until(at)
        await act(run)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for at, act in actions:
                nursery.start_soon(later, at, act)
            await run.execute()
            nursery.cancel_scope.cancel()

    run_virtual(main, seed=run.seed)
    return run


def objects(text: str) -> list[Any]:
    """The API objects of a YAML manifest (CRDs first, then their objects)."""
    reading = read_workloads(load_all(text), "test")
    assert not reading.problems, reading.problems
    return list(reading.objects)


def apply(text: str) -> Callable[[Run], Awaitable[None]]:
    """An action: apply a manifest through the API server, as ``kubectl apply`` would."""

    async def act(run: Run) -> None:
        await run.cluster.apply(objects(text))

    return act
