"""Reports of a run: its machine-readable result (JSON), JUnit XML for CI, and HTML for people."""
