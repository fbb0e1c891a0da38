"""What ``apiserver_request_total`` and ``apiserver_request_duration_seconds`` count, per verb
and resource (kept by :class:`kubechaos.control.apiserver.APIServer`)."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict

import attrs

# apiserver_request_duration_seconds buckets (upstream, trimmed)
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 5.0, 10.0, 60.0)


@attrs.define
class RequestStats:
    """What ``apiserver_request_total`` and ``apiserver_request_duration_seconds`` read."""

    total: dict[tuple[str, str, int], int] = attrs.field(factory=lambda: defaultdict(int))
    duration_sum: dict[tuple[str, str], float] = attrs.field(factory=lambda: defaultdict(float))
    duration_buckets: dict[tuple[str, str], list[int]] = attrs.field(
        factory=lambda: defaultdict(lambda: [0] * (len(DURATION_BUCKETS) + 1))
    )

    def observe(self, verb: str, resource: str, code: int, seconds: float) -> None:
        self.total[(verb, resource, code)] += 1
        self.duration_sum[(verb, resource)] += seconds
        # the first bucket whose bound is >= seconds (the last, +Inf, if none)
        self.duration_buckets[(verb, resource)][bisect_left(DURATION_BUCKETS, seconds)] += 1


__all__ = ["DURATION_BUCKETS", "RequestStats"]
