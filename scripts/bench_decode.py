"""How many changes per second the SQL-interface reader decodes.

Creates a 49-column table, writes N single-row transactions (a procedure that COMMITs after
each INSERT), then drains the slot in pages: peek ``--page`` rows, decode, assemble into
transactions, convert rows to JSON values, advance the slot to the last commit. Prints the
end-to-end figure and the pure-Python share. Drops its table, publication and slot.

    .venv/bin/python scripts/bench_decode.py --dsn postgresql://postgres@127.0.0.1:5601/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

from connectors.postgres import slot as pgslot
from connectors.postgres.assembler import TransactionAssembler
from connectors.postgres.pgoutput import decode
from connectors.postgres.pgtypes import convert_row

# 48 columns after the id, cycling through the types a lead row has.
_TYPES = [
    ("text", "'lead ' || i"),
    ("varchar(120)", "'name' || i || '@example.com'"),
    ("integer", "i % 1000"),
    ("boolean", "i % 2 = 0"),
    ("numeric(12,2)", "i * 1.25"),
    ("timestamptz", "now()"),
    ("jsonb", "jsonb_build_object('k', i, 'tags', jsonb_build_array('a', 'b'))"),
    ("text[]", "ARRAY['x', 'y' || i]"),
]
EXTRA_COLUMNS = 48


def _ddl(table: str) -> tuple[str, str]:
    cols, exprs = [], []
    for n in range(EXTRA_COLUMNS):
        sql_type, expr = _TYPES[n % len(_TYPES)]
        cols.append(f"c{n:02d} {sql_type}")
        exprs.append(expr)
    create = f"CREATE TABLE {table} (id bigint PRIMARY KEY, {', '.join(cols)})"
    proc = f"""CREATE PROCEDURE {table}_fill(n int) LANGUAGE plpgsql AS $$
        BEGIN
          FOR i IN 1..n LOOP
            INSERT INTO {table} VALUES (i, {", ".join(exprs)});
            COMMIT;
          END LOOP;
        END $$"""
    return create, proc


async def run(dsn: str, rows: int, page: int) -> None:
    suffix = uuid.uuid4().hex[:8]
    table, pub, slot = f"bench_leads_{suffix}", f"bench_pub_{suffix}", f"bench_slot_{suffix}"
    async with pgslot.connect(dsn) as conn:
        await pgslot.preflight(conn)
        create, proc = _ddl(table)
        await conn.execute(create)
        await conn.execute(proc)
        try:
            await pgslot.ensure_publication(conn, pub, table)
            await pgslot.ensure_slot(conn, slot)
            t0 = time.perf_counter()
            await conn.execute(f"CALL {table}_fill($1)", rows)
            print(f"wrote {rows} single-row transactions in {time.perf_counter() - t0:.1f}s")
            await drain(conn, slot, pub, rows, page)
        finally:
            await pgslot.drop_slot(conn, slot)
            await pgslot.drop_publication(conn, pub)
            await conn.execute(f"DROP PROCEDURE IF EXISTS {table}_fill(int)")
            await conn.execute(f"DROP TABLE IF EXISTS {table}")


async def drain(conn: pgslot.asyncpg.Connection, slot: str, pub: str, rows: int, page: int) -> None:
    asm = TransactionAssembler(max_records=1000)
    changes = messages = pages = 0
    peek_s = decode_s = advance_s = convert_s = 0.0
    types_by_relation: dict[int, dict[str, int]] = {}
    start = time.perf_counter()
    while changes < rows:
        t0 = time.perf_counter()
        batch_rows = await pgslot.peek(conn, slot, pub, page)
        t1 = time.perf_counter()
        if not batch_rows:
            break
        last_end: int | None = None
        for row in batch_rows:
            for batch in asm.feed(decode(row.data), lsn=row.lsn):
                tc = time.perf_counter()
                for rec in batch.records:
                    rel = rec.relation
                    types = types_by_relation.get(rel.relation_id)
                    if types is None:
                        types = types_by_relation[rel.relation_id] = {c.name: c.type_oid for c in rel.columns}
                    if rec.new is not None:
                        convert_row(rec.new.values, types)
                    changes += 1
                convert_s += time.perf_counter() - tc
                if batch.end_lsn is not None:
                    last_end = batch.end_lsn
        t2 = time.perf_counter()
        if last_end is not None:
            await pgslot.advance(conn, slot, last_end)
        t3 = time.perf_counter()
        messages += len(batch_rows)
        pages += 1
        peek_s, decode_s, advance_s = peek_s + t1 - t0, decode_s + t2 - t1, advance_s + t3 - t2
    total = time.perf_counter() - start
    print(f"pages={pages} (upto_n={page}) messages={messages} changes={changes}")
    print(f"end to end : {changes / total:,.0f} changes/s  ({total:.1f}s)")
    print(f"  peek SQL : {peek_s:.1f}s   advance SQL: {advance_s:.1f}s")
    print(f"  decode+assemble+convert (pure Python): {decode_s:.1f}s = {changes / decode_s:,.0f} changes/s")
    print(f"    of which convert to JSON values: {convert_s:.1f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default=os.environ.get("BENCH_DSN") or os.environ.get("TEST_SOURCE_DSN"))
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=5_000)
    args = parser.parse_args()
    if not args.dsn:
        parser.error("give --dsn or set BENCH_DSN / TEST_SOURCE_DSN")
    asyncio.run(run(args.dsn, args.rows, args.page))


if __name__ == "__main__":
    main()
