#!/usr/bin/env python3
"""Interop run (issue 16, docs/interop.md): Debezium's own JDBC sink connector, in Kafka Connect
standalone from Maven jars, lands a leads topic into a third PostgreSQL database, and the sink's
table must equal the source's after a mixed workload with deletes.

    eval "$(.venv/bin/python -m devstack env)"
    .venv/bin/python scripts/interop_jdbc.py [--writer debezium|streamer|both] [--changes 300]

The topic's writer is Debezium's own PostgreSQL connector (the reference), our capture
(`streamer run`, STREAMER_KAFKA__EVENT_FORMAT=debezium, STREAMER_KAFKA__EVENT_SCHEMAS=true), or both
in turn. The databases are created on the stack's source and destination servers and dropped
afterwards. Exit status 0 only if every run ended with source == sink. CI runs the same through
tests/devstack/test_interop.py; this prints the figures the README quotes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devstack.connect import running_worker  # noqa: E402
from devstack.interop import Run, interop  # noqa: E402
from devstack.settings import DevStackSettings  # noqa: E402


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writer", choices=["debezium", "streamer", "both"], default="both")
    parser.add_argument("--seeded", type=int, default=100, help="rows present before the writer starts")
    parser.add_argument("--changes", type=int, default=300, help="leads inserted by the mixed workload")
    args = parser.parse_args()
    writers = ["debezium", "streamer"] if args.writer == "both" else [args.writer]
    source, sink = os.environ["STREAMER_SOURCE__DSN"], os.environ["STREAMER_DESTINATION__DSN"]
    bootstrap = os.environ["STREAMER_KAFKA__BOOTSTRAP_SERVERS"]
    failed = 0
    with tempfile.TemporaryDirectory(prefix="interop-") as tmp:
        began = time.monotonic()
        with running_worker(DevStackSettings().dir.resolve() / "connect", Path(tmp) / "connect", bootstrap) as worker:
            print(f"Kafka Connect {worker.version()} with Debezium's JDBC sink up in "
                  f"{time.monotonic() - began:.1f} s")
            for writer in writers:
                report = await interop(worker, Run(source, sink, bootstrap), writer, Path(tmp),
                                       seeded=args.seeded, changed=args.changes)
                print(report)
                print(f"  converged {report.outcome.seconds:.1f} s after the workload's last commit")
                failed += not report.outcome.equal
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
