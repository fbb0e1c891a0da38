"""Go-style durations, as Kubernetes and scenario files write them: ``500ms``, ``30s``, ``1m30s``."""

from __future__ import annotations

import math
import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


class DurationError(ValueError):
    pass


def parse_duration(value: str | int | float) -> float:
    """Seconds in ``value``. Bare numbers are seconds; strings need units (``"90"`` is refused)."""
    if isinstance(value, bool):
        raise DurationError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise DurationError(f"{value!r} is not a duration")
        if value < 0:
            raise DurationError(f"{value!r} must not be negative")
        return float(value)
    text = str(value).strip()
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(text):
        match = _PART.match(text, pos)
        if match is None:
            raise DurationError(
                f"{value!r} is not a duration (expected e.g. 500ms, 30s, 5m, 1h30m)"
            )
        total += float(match[1]) * _UNITS[match[2]]
        pos = match.end()
    if not text:
        raise DurationError("empty duration")
    if not math.isfinite(total):
        raise DurationError(f"{value!r} is too long a duration")
    return total


def format_duration(seconds: float) -> str:
    """A short human form: ``5m40s``, ``1.5s``, ``250ms``."""
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:.0f}ms"
    whole = int(seconds)
    frac = seconds - whole
    hours, rem = divmod(whole, 3600)
    minutes, secs = divmod(rem, 60)
    out = ""
    if hours:
        out += f"{hours}h"
    if minutes:
        out += f"{minutes}m"
    if secs or frac or not out:
        out += f"{secs + frac:.3g}s" if frac else f"{secs}s"
    return out
