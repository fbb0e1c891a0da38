"""Running many seeds: sweeps, their shards, A/B comparisons and fault-space exploration.

A run depends only on its scenario file and its seed, so where it happens (this process, a
worker process, another machine's shard) cannot change its result. This floor decides where runs
happen (a pool of spawned worker processes, or this process) and gathers their results in seed
order; it builds results with ``kubechaos/report/`` and leaves their formatting (summaries,
JSON, JUnit, terminal tables) to it and to the CLI. Nothing here prints.
"""
