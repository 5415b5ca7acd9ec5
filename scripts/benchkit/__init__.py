"""Pieces shared by the benchmark scripts (`scripts/bench`, `scripts/bench_capture.py`): the stack's
endpoints, scratch tables, a `streamer run` child process and its /proc figures, the seed-style
exporter and the direct-SQL ceiling, paced writers, the figures table, and the plug for the
Debezium comparison (`debezium.py`).

The scripts put `scripts/` on `sys.path` (Python does, for a script run by path), so they
`import benchkit`; the repository root is added by `benchkit.stack` for the product's packages.
"""
