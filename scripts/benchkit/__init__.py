"""Pieces shared by the benchmark scripts (`scripts/bench`, `scripts/bench_capture.py`): the stack's
endpoints, scratch tables, a `streamer run` child process and its /proc figures, the seed-style
exporter and the direct-SQL ceiling, paced writers, the figures table, and the plug for the
Debezium comparison (`debezium.py`).

The scripts put `scripts/` on `sys.path` (Python does, for a script run by path), so they
`import benchkit`, which puts the repository root on `sys.path` for the product's packages.
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
