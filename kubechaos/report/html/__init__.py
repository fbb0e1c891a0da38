"""The HTML report: one self-contained page a person reads to see what a run did and why.

:func:`render_html` turns a run's result and its event log into the page; :func:`write_html`
writes it to a file. The page is built in layers, each its own module:

- :mod:`~kubechaos.report.html.causal`: which events followed which injection (pure data);
- :mod:`~kubechaos.report.html.svg`: the shared time axis and the SVG primitives;
- :mod:`~kubechaos.report.html.charts`: the fault timeline, replica, success and latency charts;
- :mod:`~kubechaos.report.html.stories`: the causal timeline drawn as HTML;
- :mod:`~kubechaos.report.html.text`: how times, counts and lists are written, and escaping;
- :mod:`~kubechaos.report.html.page`: the page itself, its header and tables; ``report.css``
  is its stylesheet (package data, inlined into every page).
"""

from kubechaos.report.html.page import render_html, write_html

__all__ = ["render_html", "write_html"]
