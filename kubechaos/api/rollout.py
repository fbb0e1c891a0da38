"""Rollout arithmetic: how many pods a Deployment may run above, or lack below, ``spec.replicas``.

A rolling update is bounded by two numbers derived from the Deployment alone: ``maxSurge`` (how
many pods over ``replicas`` may exist) and ``maxUnavailable`` (how many under ``replicas`` may be
unavailable). Each is written as an int or a percentage of ``replicas``; upstream resolves them in
apimachinery's ``intstr.GetScaledValueFromIntOrPercent`` and pkg/controller/deployment/util's
``ResolveFenceposts``, ``MaxSurge`` and ``MaxUnavailable``.

They live on the API floor, not in the Deployment controller, because they are a reading of the
Deployment's spec that more than the controller needs: the invariant checker bounds a rollout's
live pods by ``replicas + maxSurge`` without depending on any controller.
"""

from __future__ import annotations

import functools

from kubechaos.api.objects import Deployment


def scaled_value(value: int | str, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int as is, ``"N%"`` of ``total`` rounded."""
    if isinstance(value, int):
        return value
    percent = int(value.rstrip("%"))
    return -(-percent * total // 100) if round_up else percent * total // 100


@functools.lru_cache(maxsize=1024)
def resolve_fenceposts(surge: int | str, unavailable: int | str, desired: int) -> tuple[int, int]:
    """maxSurge rounds up, maxUnavailable down; both zero would deadlock, so unavailable is 1.

    Remembered per (surge, unavailable, desired): a Deployment sync asks at least once (its
    Available condition's minimum), a rollout several times, and the answer is a pure function
    of the three, which take few distinct values in a cluster (its strategies and sizes)."""
    max_surge = scaled_value(surge, desired, True)
    max_unavailable = scaled_value(unavailable, desired, False)
    if max_surge == 0 and max_unavailable == 0:
        max_unavailable = 1
    return max_surge, max_unavailable


def is_rolling_update(d: Deployment) -> bool:
    """Only the RollingUpdate strategy surges or tolerates unavailability; Recreate does neither."""
    return d.spec.strategy.type == "RollingUpdate"


def max_surge(d: Deployment) -> int:
    """MaxSurge: how many pods above ``spec.replicas`` a rollout may run (0 for Recreate)."""
    if not is_rolling_update(d):
        return 0
    strategy = d.spec.strategy
    return resolve_fenceposts(strategy.max_surge, strategy.max_unavailable, d.spec.replicas)[0]


def max_unavailable(d: Deployment) -> int:
    """MaxUnavailable: how many of ``spec.replicas`` may be unavailable, never more than all."""
    if not is_rolling_update(d) or d.spec.replicas == 0:
        return 0
    strategy = d.spec.strategy
    unavailable = resolve_fenceposts(strategy.max_surge, strategy.max_unavailable, d.spec.replicas)[
        1
    ]
    return min(unavailable, d.spec.replicas)


__all__ = [
    "is_rolling_update",
    "max_surge",
    "max_unavailable",
    "resolve_fenceposts",
    "scaled_value",
]
