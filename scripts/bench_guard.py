#!/usr/bin/env python3
"""Cost of the destination's stale-write guard (schemas/sql/destination/030_stale_write_guard.sql).

    eval "$(.venv/bin/python -m devstack env)"; .venv/bin/python scripts/bench_guard.py [--batches 400]

The same 50-row merge upserts (all updates: the guard is a BEFORE UPDATE trigger) into two copies
of `leads` on the destination, one with the trigger and one without, alternating, one in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devstack.demo.generator import leads  # noqa: E402


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=400)
    args = parser.parse_args()
    conn = await asyncpg.connect(os.environ["STREAMER_DESTINATION__DSN"])
    name = uuid.uuid4().hex[:8]
    plain, guarded = f"g_plain_{name}", f"g_guard_{name}"
    rows = leads(1, 50 * args.batches)
    cols = list(rows[0])
    sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in cols)
    try:
        for table in (plain, guarded):
            await conn.execute(f"CREATE TABLE {table} (LIKE leads INCLUDING ALL)")
        await conn.execute(f"CREATE TRIGGER guard BEFORE UPDATE ON {guarded} FOR EACH ROW "
                           "EXECUTE FUNCTION leads_skip_stale_update()")
        sql = {t: (f"INSERT INTO {t} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM "
                   f"json_populate_recordset(NULL::{t}, $1::json) ON CONFLICT (id) DO UPDATE SET {sets}")
               for t in (plain, guarded)}
        bodies = [orjson.dumps(rows[i:i + 50]).decode() for i in range(0, len(rows), 50)]
        for table in (plain, guarded):  # first pass inserts; the timed passes are all updates
            for body in bodies:
                await conn.execute(sql[table], body)
        spent = {plain: 0.0, guarded: 0.0}
        for _ in range(3):
            for body in bodies:
                for table in (plain, guarded):
                    began = time.perf_counter()
                    await conn.execute(sql[table], body)
                    spent[table] += time.perf_counter() - began
    finally:
        for table in (plain, guarded):
            await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.close()
    n = 3 * len(rows)
    print(f"{n:,} row updates in 50-row upserts:")
    print(f"  without guard {n / spent[plain]:>9,.0f} rows/s")
    extra = (spent[guarded] / spent[plain] - 1) * 100
    print(f"  with guard    {n / spent[guarded]:>9,.0f} rows/s  (time {extra:+.1f}%)")


if __name__ == "__main__":
    asyncio.run(main())
