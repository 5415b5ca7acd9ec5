#!/usr/bin/env python3
"""`streamer verify` on 1,000,000 leads: wall time and the process's peak RSS.

    source <(python -m devstack env)  # or the STREAMER_* variables of any stack
    .venv/bin/python scripts/bench_verify.py --read functions   # the destination's SQL functions (what /rpc/ runs)
    .venv/bin/python scripts/bench_verify.py --read rpc         # those functions through the API's /rpc/
    .venv/bin/python scripts/bench_verify.py --read rows        # the destination's rows through its API

Builds a scratch copy of `leads` in both databases (INSERT … SELECT generate_series), plants a
few differences at the destination (deleted, changed, extra), compares, checks the differences
found are exactly those planted, and drops the copies. `functions` reads the destination through
the SQL functions PostgREST's /rpc/ calls, over its database URL; `rpc` calls them through the
API's /rpc/ (`destination_read=rpc`, what `verify` does by default); `rows` reads the table
through the API in pages of 1000 rows (`destination_read=rows`).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamer.config import load_settings  # noqa: E402
from streamer.sections import VerifySettings  # noqa: E402
from streamer.verify.merkle import Differences, compare  # noqa: E402
from streamer.verify.run import plan_of, verify  # noqa: E402
from streamer.verify.sides import SqlSide  # noqa: E402

FILL = ("INSERT INTO {t} (id, name, etapa, cidade, criado, updated_at) SELECT g, 'Lead ' || g, 'novo', 'Recife', "
        "timestamptz '2020-01-01 00:00:00Z' + g * interval '1 second', "
        "timestamptz '2024-01-01 00:00:00.123456Z' + g * interval '1.000001 second' "
        "FROM generate_series(1, $1) g")
MIN_LEADS = 100  # room for the planted ids below to be distinct and inside the table


def planted(leads: int) -> tuple[list[int], list[int], list[int]]:
    """(deleted at the destination, changed there, extra there): spread over the ids 1..leads, so a
    shorter run (`--leads 2000`) plants inside its table as the 1M run does.

    >>> planted(1_000_000)
    ([17, 500000, 999999], [1, 250001, 750003], [1000500, 2000000, 3000000])
    """
    if leads < MIN_LEADS:
        raise ValueError(f"--leads must be at least {MIN_LEADS} (got {leads})")
    return [17, leads // 2, leads - 1], [1, leads // 4 + 1, 3 * leads // 4 + 3], [leads + 500, 2 * leads, 3 * leads]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(leads: int, read: str) -> int:
    settings = load_settings()
    assert settings.destination.dsn is not None and settings.destination.service_key is not None
    missing, changed, extra = planted(leads)
    table = f"leads_bench_{uuid.uuid4().hex[:8]}"
    source = await asyncpg.connect(settings.source.dsn.get_secret_value())
    destination = await asyncpg.connect(settings.destination.dsn.get_secret_value())
    try:
        started = time.monotonic()
        for conn in (source, destination):
            await conn.execute(f"CREATE TABLE {table} (LIKE leads INCLUDING ALL)")
        await asyncio.gather(source.execute(FILL.format(t=table), leads),
                             destination.execute(FILL.format(t=table), leads))
        await destination.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        await destination.execute(f"CREATE POLICY all_service ON {table} FOR ALL TO service_role USING (true)")
        await destination.execute(f"GRANT SELECT ON {table} TO service_role")
        await destination.execute(f"DELETE FROM {table} WHERE id = ANY($1::bigint[])", missing)
        await destination.execute(f"UPDATE {table} SET updated_at = updated_at + interval '1 ms' "
                                  f"WHERE id = ANY($1::bigint[])", changed)
        await destination.execute(f"INSERT INTO {table} (id, name, updated_at) SELECT unnest($1::bigint[]), "
                                  f"'extra', now()", extra)
        for conn in (source, destination):
            await conn.execute(f"VACUUM ANALYZE {table}")
        await destination.execute("NOTIFY pgrst, 'reload schema'")
        await wait_for_table(settings.destination.rest_url, settings.destination.service_key.get_secret_value(),
                             table)
        print(f"built {leads:,} leads on each side in {time.monotonic() - started:.1f} s; "
              f"peak RSS before verify {peak_rss_mb():.0f} MB", flush=True)

        bench = settings.model_copy(update={
            "source": settings.source.model_copy(update={"table": table}),
            "destination": settings.destination.model_copy(update={"table": table}),
            "verify": VerifySettings(destination_read="rpc" if read == "rpc" else "rows")})
        started = time.monotonic()
        if read == "functions":
            found = await compare(SqlSide(source, f'"public"."{table}"'), SqlSide(destination, table),
                                  plan_of(bench), Differences())
        else:
            found = (await verify(bench)).found
        seconds = time.monotonic() - started
        exact = (sorted(found.first_missing), sorted(found.first_extra), sorted(found.first_different)) == (
            missing, extra, changed)
        print(f"verify ({read}): {seconds:.2f} s wall, peak RSS {peak_rss_mb():.0f} MB; "
              f"{found.missing} missing, {found.extra} extra, {found.different} different "
              f"({'exactly the planted ones' if exact else 'NOT the planted ones'}); "
              f"{found.ranges_compared:,} ranges compared, {found.rows_listed:,} rows listed", flush=True)
        return 0 if exact else 1
    finally:
        await source.execute(f"DROP TABLE IF EXISTS {table}")
        await destination.execute(f"DROP TABLE IF EXISTS {table}")
        await destination.execute("NOTIFY pgrst, 'reload schema'")
        await source.close()
        await destination.close()


async def wait_for_table(rest_url: str, key: str, table: str) -> None:
    async with httpx.AsyncClient(headers={"apikey": key, "Authorization": f"Bearer {key}"}) as http:
        for _ in range(200):
            if (await http.get(f"{rest_url}/{table}", params={"select": "id", "limit": "1"})).status_code == 200:
                return
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{table} not in the API's schema cache after 20 s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--read", choices=("functions", "rpc", "rows"), default="functions")
    args = parser.parse_args()
    if args.leads < MIN_LEADS:
        parser.error(f"--leads must be at least {MIN_LEADS} (got {args.leads})")
    sys.exit(asyncio.run(main(args.leads, args.read)))
