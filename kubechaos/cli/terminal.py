"""How every command writes to a terminal or a pipe: text from the user shown as text, and tables
that never cut a name.

- :func:`shown` is the one way user-controlled text (a scenario's names and descriptions, fault
  and SLO names, event messages, paths) reaches the screen: control characters (a newline, an
  ANSI escape, a bidi override) are spelt as Python escapes (``\\n``, ``\\x1b``), so a name
  cannot forge a timeline line or colour the terminal, and rich markup (``[bold]``) is printed as
  written, not interpreted.
- :func:`new_console` is the console every command prints with: no highlighting or emoji codes;
  when standard output is not a terminal (a CI log, ``| cat``) it is as wide as the longest line,
  so nothing is cut to rich's fallback of 80 columns.
- :func:`print_table` prints a table so that its name column is never cut or ellipsized: on a
  terminal too narrow for the names, each row becomes a block of lines instead.
"""

from __future__ import annotations

import re

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

# Characters that would act on the terminal rather than show: C0 and C1 controls (newline,
# carriage return, escape, ...), DEL, line and paragraph separators, and the bidi embeddings,
# overrides and isolates that reorder what follows them on the line.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

# Width of a console writing to a pipe or a file: lines are as long as what they hold.
PIPE_WIDTH = 100_000


def _spelt(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def shown(text: object, *, markup: bool = True) -> str:
    """``text`` as it may be printed: control characters spelt as escapes (``\\n``,
    ``\\x1b``, ``\\u202e``) and, unless ``markup`` is false (for ``click.echo``), rich markup
    escaped so that it prints as written."""
    plain = _UNSAFE.sub(_spelt, str(text))
    return escape(plain) if markup else plain


def new_console() -> Console:
    """The console a command prints with: full width when not writing to a terminal."""
    console = Console(highlight=False, emoji=False)
    if not console.is_terminal:
        console.width = PIPE_WIDTH
    return console


def _cell_width(cell: object) -> int:
    return Text.from_markup(cell).cell_len if isinstance(cell, str) else 0


def print_table(console: Console, table: Table, names: int = 1) -> None:
    """Print ``table`` with its first ``names`` columns whole: never wrapped, cut or ellipsized.

    The other columns wrap at spaces (a word longer than its column folds onto the next line;
    nothing is dropped). When the terminal is too narrow even for that, each row is printed as
    a block: its names on one line, then one indented line per other column.
    """
    for column in table.columns[:names]:
        column.no_wrap = True
        column.overflow = "ignore"
        column.min_width = max(
            (_cell_width(c) for c in (column.header, *column.cells)), default=None
        )
    for column in table.columns[names:]:
        column.overflow = "fold"
    # measured unconstrained: rich clamps a measurement to the width it is offered
    needed = Measurement.get(console, console.options.update_width(PIPE_WIDTH), table).minimum
    if needed <= console.width:
        console.print(table)
        return
    if table.title:
        console.print(table.title, style="bold")
    headers = [str(column.header) for column in table.columns]
    cells = [list(column.cells) for column in table.columns]
    for row in range(table.row_count):
        console.print("  ".join(str(cells[c][row]) for c in range(names)), soft_wrap=True)
        for c in range(names, len(headers)):
            console.print(f"    [dim]{headers[c]}:[/] {cells[c][row]}")
    if table.caption:
        console.print(table.caption, style="dim")


__all__ = ["PIPE_WIDTH", "new_console", "print_table", "shown"]
