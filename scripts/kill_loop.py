#!/usr/bin/env python3
"""The kill loop on the 3-broker local stack (issue 18, docs/cluster.md): under a steady workload,
kill -9 a broker (started again), a sink among three and the capture leader (a standby waits),
one at a time, then wait until `streamer verify` finds source == destination. Prints how long
the pipeline took to land changes again after each kill, and to replace what was killed.

    STREAMER_DEV__DIR=/tmp/cluster-stack STREAMER_DEV__KAFKA_PORT=29092 ... \\
        .venv/bin/python -m devstack up --brokers 3
    eval "$(... python -m devstack env)"        # the same STREAMER_DEV__* in the environment
    .venv/bin/python scripts/kill_loop.py --kills 10

The stack's databases and API are used through a scratch pair of leads tables (devstack/scratch.py),
dropped afterwards; the brokers are the stack's (STREAMER_DEV__* finds their pid files). Exit 1
if source and destination differ at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devstack.settings import DevStackSettings  # noqa: E402 - after the path set-up
from devstack.stack import Stack  # noqa: E402
from tests.cluster.kill_loop import KillLoop, on_cluster, table  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--rate", type=float, default=40.0, help="source changes per second")
    parser.add_argument("--sinks", type=int, default=3)
    args = parser.parse_args()
    stack = Stack(DevStackSettings())
    endpoints, cluster = stack.endpoints(), stack.kafka()
    if endpoints is None or cluster is None or len(cluster.nodes) < 3:
        print(f"no 3-broker stack in {stack.root}: run `python -m devstack up --brokers 3` with these "
              "STREAMER_DEV__* settings", file=sys.stderr)
        return 2
    logs = Path(tempfile.mkdtemp(prefix="kill-loop-"))
    loop = KillLoop(on_cluster(endpoints, cluster), cluster, logs, f"kl{uuid.uuid4().hex[:8]}", rate=args.rate,
                    sinks=args.sinks, progress=lambda msg: print(msg, flush=True))
    outcome = asyncio.run(loop.run(args.kills))
    print()
    print(table(outcome.rows, load=" ".join(f"{x:.2f}" for x in os.getloadavg())))
    print(f"\nstreamer verify (exit {outcome.verify_exit}):\n{outcome.verify_output}")
    print(f"process logs: {logs}")
    return 0 if outcome.differences == 0 and outcome.verify_exit == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
