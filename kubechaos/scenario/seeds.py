"""Seed specs and shards: the notation for "which seeds" that sweeps, merges and comparisons share.

A run depends only on its scenario file and its seed, so many runs are named by a seed spec:
``"1-200"``, ``"1,5,9"``, ``"1-10,20-30"``. :func:`format_seeds` writes the canonical spec a
sweep's JSON records. ``--shard K/N`` takes every N-th seed of the sorted list starting at the
K-th (``seeds[i]`` for ``i % N == K - 1``), so the N shards partition the seeds and each gets a
fair mix of early and late ones; the same rule checks a shard's results when they are merged.

It is input notation, like the scenario file's, and sits on the scenario floor so that both what
runs the seeds (``kubechaos/batch/``) and what writes and reads their reports
(``kubechaos/report/``) can use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

MAX_SEEDS = 1_000_000  # a typo such as "1-10000000" should fail at once, not fill the memory


def parse_seeds(spec: str) -> list[int]:
    """The sorted seeds of a spec such as ``"1-10,20-30"``; ValueError says what is wrong.

    A seed listed twice is an error rather than silently run once: overlapping ranges are
    usually a typo, and the shard arithmetic needs one unambiguous list.
    """
    text = spec.strip()
    if not text:
        raise ValueError('empty seed spec; expected e.g. "1-200", "1,5,9" or "1-10,20-30"')
    seen: dict[int, str] = {}
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            raise ValueError(f"empty item in seed spec {spec!r} (two commas in a row?)")
        first, dash, last = part.partition("-")
        first, last = first.strip(), last.strip()
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ValueError(
                f"{part!r} in seed spec {spec!r} is not a seed or a range; "
                'expected whole numbers >= 0 like "7" or "1-200"'
            )
        low = int(first)
        high = int(last) if dash else low
        if high < low:
            raise ValueError(f"range {part!r} in seed spec {spec!r} runs backwards")
        if len(seen) + (high - low + 1) > MAX_SEEDS:
            raise ValueError(f"seed spec {spec!r} has more than {MAX_SEEDS:,} seeds")
        for seed in range(low, high + 1):
            if seed in seen:
                raise ValueError(
                    f"seed {seed} is listed twice in seed spec {spec!r} "
                    f"(in {seen[seed]!r} and {part!r})"
                )
            seen[seed] = part
    return sorted(seen)


def format_seeds(seeds: Iterable[int]) -> str:
    """The canonical spec of a set of seeds: sorted, consecutive seeds folded into ranges."""
    ordered = sorted(seeds)
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


@attrs.frozen
class Shard:
    """Shard ``index`` of ``count`` (1-based, as CI matrices and people count)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def select(self, seeds: Sequence[int]) -> list[int]:
        """Every ``count``-th seed starting at position ``index - 1``: the shards partition the
        list, their sizes differ by at most one, and each gets early and late seeds alike."""
        return [seed for i, seed in enumerate(seeds) if i % self.count == self.index - 1]

    def as_json(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}


def parse_shard(text: str) -> Shard:
    """``"K/N"`` with 1 <= K <= N."""
    index, slash, count = text.strip().partition("/")
    if not slash or not index.strip().isdigit() or not count.strip().isdigit():
        raise ValueError(f'expected K/N such as "2/4", got {text!r}')
    shard = Shard(int(index), int(count))
    if shard.count < 1:
        raise ValueError(f"the shard count must be at least 1, got {text!r}")
    if not 1 <= shard.index <= shard.count:
        raise ValueError(f"the shard number must be between 1 and {shard.count}, got {text!r}")
    return shard
