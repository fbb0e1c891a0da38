"""Seeded randomness: every random choice in a run comes from the scenario seed.

Each component asks for its own named stream, so adding a random draw in one component never
shifts the draws of another (a run stays comparable across small model changes). Streams are
seeded from the text ``"<seed>:<name>"``, which :class:`random.Random` hashes with SHA-512:
stable across processes, unlike ``hash()``.
"""

from __future__ import annotations

import random

SAFE_ENCODE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's utilrand alphabet


# staging/src/k8s.io/apiserver/pkg/storage/names/generate.go: maxNameLength 63, randomLength 5,
# MaxGeneratedNameLength = 63 - 5 (a longer generateName is cut to it before the suffix)
GENERATED_SUFFIX_LENGTH = 5
GENERATED_BASE_MAX = 63 - GENERATED_SUFFIX_LENGTH


class Rng:
    """A family of independent, reproducible random streams derived from one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._streams: dict[str, random.Random] = {}

    def stream(self, name: str) -> random.Random:
        """The stream called ``name`` (created on first use, then shared)."""
        stream = self._streams.get(name)
        if stream is None:
            stream = random.Random(f"{self.seed}:{name}")
            self._streams[name] = stream
        return stream

    def name_suffix(self, stream: str, length: int = GENERATED_SUFFIX_LENGTH) -> str:
        """A random suffix like the API server's ``generateName`` (``web-7d9f8-x2k4q``)."""
        r = self.stream(stream)
        return "".join(r.choice(SAFE_ENCODE_ALPHABET) for _ in range(length))

    def generated_name(self, base: str, stream: str) -> str:
        """The name the API server makes of ``generateName`` ``base``: the base cut to 58
        characters, then the 5-character suffix, so a generated name never exceeds 63
        (staging/src/k8s.io/apiserver/pkg/storage/names/generate.go, ``GenerateName``)."""
        return base[:GENERATED_BASE_MAX] + self.name_suffix(stream)


def uuid4_text(r: random.Random) -> str:
    """``str(uuid.UUID(int=r.getrandbits(128), version=4))``, the same draw and text, at a third
    of the cost: the API server names every object it creates with one, pods by the thousand.
    The version (4) and variant (RFC 4122) bits are set as :class:`uuid.UUID` sets them."""
    bits = r.getrandbits(128) & ~(0xC000 << 48) | 0x8000 << 48  # the variant
    digits = "%032x" % (bits & ~(0xF000 << 64) | 4 << 76)  # the version
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def jitter(r: random.Random, mean: float, spread: float = 0.5) -> float:
    """A latency around ``mean``: uniform in ``mean * [1 - spread, 1 + spread]``."""
    if mean <= 0:
        return 0.0
    return mean * (1.0 - spread + 2.0 * spread * r.random())


__all__ = ["SAFE_ENCODE_ALPHABET", "Rng", "jitter", "uuid4_text"]
