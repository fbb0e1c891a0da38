"""What ``apiserver_request_total`` and ``apiserver_request_duration_seconds`` count, per verb
and resource (kept by :class:`kubechaos.control.apiserver.APIServer`)."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict

# apiserver_request_duration_seconds buckets (upstream, trimmed)
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 5.0, 10.0, 60.0)


class _Series:
    """One verb and resource's counts: requests per code, the duration sum and buckets."""

    __slots__ = ("buckets", "codes", "duration_sum")

    def __init__(self) -> None:
        self.codes: dict[int, int] = {}
        self.duration_sum = 0.0
        self.buckets = [0] * (len(DURATION_BUCKETS) + 1)


class RequestStats:
    """What ``apiserver_request_total`` and ``apiserver_request_duration_seconds`` read.

    Every request is observed (hundreds of thousands per virtual minute) and the series are
    read at each scrape, so an observation is one lookup of its verb and resource's
    :class:`_Series`; :attr:`total`, :attr:`duration_sum` and :attr:`duration_buckets` are
    built from them when read.
    """

    def __init__(self) -> None:
        self._series: dict[tuple[str, str], _Series] = {}

    def observe(self, verb: str, resource: str, code: int, seconds: float) -> None:
        key = (verb, resource)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series()
        codes = series.codes
        codes[code] = codes.get(code, 0) + 1
        series.duration_sum += seconds
        # the first bucket whose bound is >= seconds (the last, +Inf, if none)
        series.buckets[bisect_left(DURATION_BUCKETS, seconds)] += 1

    @property
    def total(self) -> defaultdict[tuple[str, str, int], int]:
        """Requests per (verb, resource, code)."""
        return defaultdict(
            int,
            {
                (verb, resource, code): n
                for (verb, resource), series in self._series.items()
                for code, n in series.codes.items()
            },
        )

    @property
    def duration_sum(self) -> defaultdict[tuple[str, str], float]:
        """Seconds spent per (verb, resource)."""
        return defaultdict(float, {key: s.duration_sum for key, s in self._series.items()})

    @property
    def duration_buckets(self) -> dict[tuple[str, str], list[int]]:
        """Requests per duration bucket (the last: +Inf) per (verb, resource)."""
        return {key: list(s.buckets) for key, s in self._series.items()}


__all__ = ["DURATION_BUCKETS", "RequestStats"]
