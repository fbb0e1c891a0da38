"""From a scenario file to a run: bounded YAML with line numbers, the loader and its located
checks (cluster, workloads, traffic, faults, SLOs, explore), the workloads reader shared with the
test harness, seed specs, explore's draws and shrinking, and the runner that drives one run."""
