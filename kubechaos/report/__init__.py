"""What runs produced, as documents: a run's machine-readable result (JSON, typed after
``result-schema.json``), the sweep and comparison documents that many runs add up to, JUnit XML
for CI, and the HTML page for people. Formatting only: running many seeds lives in
:mod:`kubechaos.batch`."""
