"""How the report writes things: escaped text, times and offsets, counts, capped lists, tables.

Every part of the page (charts, causal stories, tables) writes times and lists the same way, so
these live apart from any one of them. Only :func:`escape` and :func:`html_table` produce HTML;
the rest is plain text (the causal timeline, which is pure data, uses :func:`plural` too).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

MAX_TARGETS = 8  # a fault's targets listed before "and N more"


def escape(value: object) -> str:
    """``value`` as text safe anywhere in the page, attribute values included."""
    return html.escape(str(value), quote=True)


def human_duration(seconds: float) -> str:
    """``7m0.001s``, ``5m45s``, ``1h2m``: milliseconds at most, trailing zeros dropped."""
    whole, rest = divmod(round(seconds, 3), 60)
    hours, minutes = divmod(int(whole), 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    secs = f"{rest:.3f}".rstrip("0").rstrip(".")
    return out + (f"{secs}s" if secs != "0" or not out else "")


def seconds_text(value: float | None) -> str:
    """A point in virtual time: seconds (the axes' unit), with the human form when long."""
    if value is None:
        return "-"
    text = f"{value:.3f} s"
    return f"{text} ({human_duration(value)})" if value >= 60 else text


def offset_text(seconds: float) -> str:
    """Time since an injection: ``+2.500s``, or ``+5m45s`` when long."""
    seconds = max(0.0, seconds)
    return f"+{seconds:.3f}s" if seconds < 60 else f"+{human_duration(seconds)}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def capped(items: Sequence[str], limit: int) -> str:
    """``items`` joined with commas, the first ``limit`` of them and "and N more"."""
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown


def html_table(headers: Sequence[str], rows: Iterable[Sequence[str]], css: str) -> str:
    """``rows`` hold cell HTML (already escaped)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
