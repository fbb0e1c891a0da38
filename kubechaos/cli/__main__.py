"""``python -m kubechaos.cli``: the same as the ``kubechaos`` command."""

from kubechaos.cli import program

program()
