"""From a metric's proposal to the replicas the HPA sets: stabilization and rate limits, as
pkg/controller/podautoscaler/horizontal.go does it (v1.32).

Without ``spec.behavior`` (normalizeDesiredReplicas): the proposal is raised to the highest
recommendation of the last ``--horizontal-pod-autoscaler-downscale-stabilization`` (300 s), then
clamped to ``[minReplicas, min(maxReplicas, max(2 x current, 4))]``.

With ``spec.behavior`` (normalizeDesiredReplicasWithBehaviors): the proposal is held between the
lowest recommendation of the scale-up window and the highest of the scale-down window
(stabilizeRecommendationWithBehaviors), then limited by the policies of its direction over their
periods (calculateScaleUpLimitWithScalingRules / calculateScaleDownLimitWithBehaviors: each
policy allows a change from the replicas at the start of its period; ``selectPolicy`` Max takes
the policy allowing the most change, Min the least, Disabled none) and by min/max replicas.

The conditions it sets (AbleToScale's stabilization reasons, ScalingLimited) carry upstream's
reasons and messages.
"""

from __future__ import annotations

import math

import attrs

from kubechaos.api.objects import HorizontalPodAutoscalerBehavior, HPAScalingRules
from kubechaos.api.objects.autoscaling import (
    PERCENT_POLICY,
    PODS_POLICY,
    SELECT_DISABLED,
    SELECT_MIN,
)

SCALE_UP_LIMIT_FACTOR = 2.0  # horizontal.go scaleUpLimitFactor
SCALE_UP_LIMIT_MINIMUM = 4.0  # horizontal.go scaleUpLimitMinimum

Condition = tuple[str, str, str, str]  # (type, status, reason, message)


@attrs.define
class History:
    """One HPA's memory in the controller: its recent recommendations and scale events (lost
    with the controller manager, as upstream's are)."""

    recommendations: list[tuple[int, float]] = attrs.field(factory=list)  # (replicas, at)
    scale_up_events: list[tuple[int, float]] = attrs.field(factory=list)  # (change, at)
    scale_down_events: list[tuple[int, float]] = attrs.field(factory=list)


def _record(recs: list[tuple[int, float]], value: int, t: float, stale: float) -> None:
    """Replace the first recommendation older than ``stale`` with the new one, else append."""
    for i, (_, at) in enumerate(recs):
        if at < stale:
            recs[i] = (value, t)
            return
    recs.append((value, t))


def normalize(
    h: History,
    current: int,
    proposed: int,
    min_replicas: int,
    max_replicas: int,
    window: float,
    t: float,
) -> tuple[int, list[Condition]]:
    """normalizeDesiredReplicas: the HPA has no ``behavior``."""
    cutoff = t - window
    stabilized = max([proposed, *(r for r, at in h.recommendations if at >= cutoff)])
    _record(h.recommendations, proposed, t, cutoff)
    conds = [_able(stabilized != proposed, scale_up=False)]
    scale_up_limit = int(max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM))
    if max_replicas > scale_up_limit:
        maximum, why = scale_up_limit, _UP_LIMIT
    else:
        maximum, why = max_replicas, _TOO_MANY
    if stabilized < min_replicas:
        desired, why = min_replicas, _TOO_FEW
    elif stabilized > maximum:
        desired = maximum
    else:
        desired, why = stabilized, _WITHIN
    conds.append(("ScalingLimited", "False" if desired == stabilized else "True", *why))
    return desired, conds


def normalize_with_behavior(
    h: History,
    behavior: HorizontalPodAutoscalerBehavior,
    current: int,
    proposed: int,
    min_replicas: int,
    max_replicas: int,
    default_down_window: float,
    t: float,
) -> tuple[int, list[Condition]]:
    """normalizeDesiredReplicasWithBehaviors."""
    up, down = behavior.scale_up, behavior.scale_down
    up_window = float(up.stabilization_window_seconds or 0)
    down_window = (  # maybeInitScaleDownStabilizationWindow
        float(down.stabilization_window_seconds)
        if down.stabilization_window_seconds is not None
        else default_down_window
    )
    up_cutoff, down_cutoff = t - up_window, t - down_window
    up_rec = down_rec = proposed
    for rec, at in h.recommendations:
        if at > up_cutoff:
            up_rec = min(rec, up_rec)
        if at > down_cutoff:
            down_rec = max(rec, down_rec)
    stabilized = min(max(current, up_rec), down_rec)
    _record(h.recommendations, proposed, t, min(up_cutoff, down_cutoff))
    conds = [_able(stabilized != proposed, scale_up=proposed >= current)]
    desired, why = _rate_limited(h, up, down, current, stabilized, min_replicas, max_replicas, t)
    conds.append(("ScalingLimited", "False" if desired == stabilized else "True", *why))
    return desired, conds


def _rate_limited(
    h: History,
    up: HPAScalingRules,
    down: HPAScalingRules,
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    t: float,
) -> tuple[int, tuple[str, str]]:
    """convertDesiredReplicasWithBehaviorRate."""
    if desired > current:
        limit = max(_limit(h, current, up, t, up=True), current)
        if max_replicas > limit:
            maximum, why = limit, _UP_LIMIT
        else:
            maximum, why = max_replicas, _TOO_MANY
        if desired > maximum:
            return maximum, why
    elif desired < current:
        limit = min(_limit(h, current, down, t, up=False), current)
        if min_replicas < limit:
            minimum, why = limit, _DOWN_LIMIT
        else:
            minimum, why = min_replicas, _TOO_FEW
        if desired < minimum:
            return minimum, why
    return desired, _WITHIN


def _limit(h: History, current: int, rules: HPAScalingRules, t: float, up: bool) -> int:
    """The furthest the policies let the scale go from ``current`` in this direction."""
    if rules.select_policy == SELECT_DISABLED:
        return current
    least_change = rules.select_policy == SELECT_MIN
    pick = (min if least_change else max) if up else (max if least_change else min)
    result: int | None = None
    for policy in rules.policies:
        added = _changed(h.scale_up_events, policy.period_seconds, t)
        deleted = _changed(h.scale_down_events, policy.period_seconds, t)
        start = current - added + deleted
        if policy.type == PODS_POLICY:
            proposed = start + policy.value if up else start - policy.value
        elif policy.type == PERCENT_POLICY and up:
            proposed = math.ceil(start * (1 + policy.value / 100))
        else:
            proposed = int(start * (1 - policy.value / 100))
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def _changed(events: list[tuple[int, float]], period: int, t: float) -> int:
    """getReplicasChangePerPeriod: replicas changed by the events within the last period."""
    cutoff = t - period
    return sum(change for change, at in events if at > cutoff)


def store_scale_event(
    h: History, behavior: HorizontalPodAutoscalerBehavior | None, old: int, new: int, t: float
) -> None:
    """storeScaleEvent: remembered only with a behavior (its policies need them); an event older
    than the direction's longest policy period is overwritten."""
    if behavior is None:
        return
    rules = behavior.scale_up if new > old else behavior.scale_down
    events = h.scale_up_events if new > old else h.scale_down_events
    longest = max((p.period_seconds for p in rules.policies), default=0)
    change = abs(new - old)
    for i, (_, at) in enumerate(events):
        if at <= t - longest:
            events[i] = (change, t)
            return
    events.append((change, t))


def _able(stabilized: bool, scale_up: bool) -> Condition:
    if not stabilized:
        return ("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size")
    if scale_up:
        return (
            "AbleToScale",
            "True",
            "ScaleUpStabilized",
            "recent recommendations were lower than current one, applying the lowest recent "
            "recommendation",
        )
    return (
        "AbleToScale",
        "True",
        "ScaleDownStabilized",
        "recent recommendations were higher than current one, applying the highest recent "
        "recommendation",
    )


_UP_LIMIT = (
    "ScaleUpLimit",
    "the desired replica count is increasing faster than the maximum scale rate",
)
_DOWN_LIMIT = (
    "ScaleDownLimit",
    "the desired replica count is decreasing faster than the maximum scale rate",
)
_TOO_MANY = ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
_TOO_FEW = ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
_WITHIN = ("DesiredWithinRange", "the desired count is within the acceptable range")
