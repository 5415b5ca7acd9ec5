"""The interop check (issue 16, docs/interop.md): a consumer no one here wrote lands our topic.

Debezium's JDBC sink connector, in a Kafka Connect worker of its own (devstack/connect.py), reads
a leads topic into a third PostgreSQL database; after a mixed workload on the source (inserts,
updates, a large value left unchanged by a later update, deletes, a key deleted and inserted
again) the sink's rows must equal the source's, column for column.

The topic is written either by Debezium's own PostgreSQL connector (the reference: it proves the
worker, the jars and the sink's settings) or by our capture (`streamer run` with the capture
component, in the Debezium event format with JsonConverter schemas).

Every database, slot, publication, topic and connector here is named after one random run id, so
runs never touch the stack's own leads table, slot or topic.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import orjson

from connectors.postgres.migrations import apply_to
from devstack import debezium
from devstack.connect import ConnectWorker, free_port
from devstack.demo.generator import INSERT, leads
from devstack.process import pid_alive, stop_pid
from schemas.sql_files import migration_files
from streamer.errors import StackError

TABLE = "leads"

Row = tuple[Any, ...]


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


@dataclass(frozen=True)
class Run:
    """One interop run's names: its databases, slot, publication, topic and connectors."""

    source_server: str  # a DSN on the source server (any database), used to create ours
    sink_server: str  # a DSN on the third database's server
    kafka_bootstrap: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def source_dsn(self) -> str:
        return with_database(self.source_server, f"interop_src_{self.id}")

    @property
    def sink_dsn(self) -> str:
        return with_database(self.sink_server, f"interop_sink_{self.id}")

    @property
    def slot(self) -> str:
        return f"interop_{self.id}"

    @property
    def publication(self) -> str:
        return f"interop_{self.id}"

    @property
    def topic_prefix(self) -> str:
        return f"interop_{self.id}"

    @property
    def topic(self) -> str:
        return f"{self.topic_prefix}.public.{TABLE}"


@asynccontextmanager
async def databases(run: Run) -> AsyncIterator[Run]:
    """The run's source database (the product's source schema) and sink database (the destination
    schema: the same 49-column leads table), dropped afterwards with the run's slot."""
    made: list[tuple[str, str]] = []
    try:
        for server, dsn, target in ((run.source_server, run.source_dsn, "source"),
                                    (run.sink_server, run.sink_dsn, "destination")):
            name = urlsplit(dsn).path.strip("/")
            admin = await asyncpg.connect(server)
            try:
                await admin.execute(f'CREATE DATABASE "{name}"')
            finally:
                await admin.close()
            made.append((server, name))
            await apply_to(dsn, migration_files(target))  # type: ignore[arg-type]
        yield run
    finally:
        await _drop_slot(run)
        for server, name in made:
            admin = await asyncpg.connect(server)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()


async def _drop_slot(run: Run, within: float = 30) -> None:
    """A logical slot keeps its database from being dropped: drop it once no one streams from it."""
    conn = await asyncpg.connect(run.source_server)
    try:
        deadline = time.monotonic() + within
        while True:
            try:
                await conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                                   "WHERE slot_name = $1", run.slot)
                return
            except asyncpg.ObjectInUseError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def slot_active(dsn: str, slot: str) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        return bool(await conn.fetchval("SELECT active FROM pg_replication_slots WHERE slot_name = $1", slot))
    finally:
        await conn.close()


async def wait_slot_active(dsn: str, slot: str, within: float = 60, alive: Any = None) -> None:
    deadline = time.monotonic() + within
    while not await slot_active(dsn, slot):
        if alive is not None and not alive():
            raise StackError(f"the capture exited before slot {slot} was streaming")
        if time.monotonic() > deadline:
            raise StackError(f"slot {slot} not streaming after {within:.0f} s")
        await asyncio.sleep(0.2)


# --- the workload ------------------------------------------------------------------------------
@dataclass
class Counts:
    inserts: int = 0
    updates: int = 0
    deletes: int = 0
    reinserts: int = 0
    unchanged_toast_updates: int = 0

    def __str__(self) -> str:
        return (f"{self.inserts} inserts, {self.updates} updates, {self.deletes} deletes, "
                f"{self.reinserts} deleted keys inserted again, "
                f"{self.unchanged_toast_updates} updates leaving a TOASTed value unchanged")


async def seed(dsn: str, count: int) -> Counts:
    """Rows present before capture starts (the snapshot's part)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(INSERT.format(table=TABLE), orjson.dumps(leads(1, count, seed=7)).decode())
    finally:
        await conn.close()
    return Counts(inserts=count)


async def mixed_workload(dsn: str, first_id: int, count: int) -> Counts:
    """Inserts of `count` leads from `first_id` (20 per transaction), then on those rows and the
    seeded ones: updates, a large (TOASTed) value later left unchanged by an update of another
    column, deletes, and deleted keys inserted again."""
    done = Counts()
    conn = await asyncpg.connect(dsn)
    try:
        rows = leads(first_id, count, seed=11)
        for i in range(0, count, 20):
            await conn.execute(INSERT.format(table=TABLE), orjson.dumps(rows[i:i + 20]).decode())
        done.inserts = count
        top = first_id + count - 1
        for lead_id in range(1, top + 1, 3):
            await conn.execute(
                "UPDATE leads SET etapa = 'contato', name = name || ' Jr.', tags = array_append(tags, 'retorno'), "
                "valor_ficha = valor_ficha + 0.5, dados_extras = dados_extras || '{\"touched\": true}', "
                "horario_agendamento = '10:30:15', data_agendamento = data_agendamento + 1 WHERE id = $1", lead_id)
            done.updates += 1
        big = secrets.token_hex(12_000)  # 24 kB that compress badly: stored out of line (TOAST)
        for lead_id in range(2, top + 1, 10):
            await conn.execute("UPDATE leads SET observacoes = $2 WHERE id = $1", lead_id, big)
            await conn.execute("UPDATE leads SET etapa = 'agendado' WHERE id = $1", lead_id)
            done.updates += 2
            done.unchanged_toast_updates += 1
        deleted = list(range(4, top + 1, 5))
        for lead_id in deleted:
            await conn.execute("DELETE FROM leads WHERE id = $1", lead_id)
            done.deletes += 1
        again = deleted[::4]
        await conn.execute(INSERT.format(table=TABLE),
                           orjson.dumps([lead(i) for i in again]).decode())
        done.reinserts = len(again)
    finally:
        await conn.close()
    return done


def lead(lead_id: int) -> dict[str, Any]:
    """A lead inserted again under a deleted key: other values than the first time."""
    row = leads(lead_id, 1, seed=lead_id + 1000)[0]
    row["name"] = f"{row['name']} (de novo)"
    return row


# --- the comparison ----------------------------------------------------------------------------
async def table_rows(dsn: str) -> list[Row]:
    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(r) for r in await conn.fetch(f"SELECT * FROM {TABLE} ORDER BY id")]
    finally:
        await conn.close()


async def columns(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r[0] for r in await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = $1 ORDER BY ordinal_position", TABLE)]
    finally:
        await conn.close()


@dataclass
class Outcome:
    source_rows: int
    sink_rows: int
    equal: bool
    seconds: float  # from the end of the workload until the sink equalled the source (or gave up)
    differences: list[str]

    def __str__(self) -> str:
        verdict = "source == JDBC-sink table" if self.equal else "source != JDBC-sink table"
        text = f"{verdict}: {self.source_rows} rows in the source, {self.sink_rows} in the sink"
        return text + "".join(f"\n  {d}" for d in self.differences[:10])


def differences(names: Sequence[str], src: Sequence[Row], dst: Sequence[Row]) -> list[str]:
    """What differs, per lead id: missing, extra, or the columns whose values differ."""
    left, right = {r[0]: r for r in src}, {r[0]: r for r in dst}
    found = [f"id {i}: in the source only" for i in sorted(left.keys() - right.keys())]
    found += [f"id {i}: in the sink only" for i in sorted(right.keys() - left.keys())]
    for i in sorted(left.keys() & right.keys()):
        cols = [f"{n}: {_short(a)} vs {_short(b)}" for n, a, b in zip(names, left[i], right[i], strict=True)
                if a != b]
        if cols:
            found.append(f"id {i}: " + "; ".join(cols))
    return found


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


async def converged(run: Run, within: float, check: Any = None) -> Outcome:
    """Poll until the sink's rows equal the source's, or `within` seconds pass."""
    began = time.monotonic()
    while True:
        src, dst = await table_rows(run.source_dsn), await table_rows(run.sink_dsn)
        if src == dst or time.monotonic() - began > within:
            break
        if check is not None:
            check()
        await asyncio.sleep(0.5)
    names = await columns(run.source_dsn)
    return Outcome(len(src), len(dst), src == dst, time.monotonic() - began, differences(names, src, dst))


# --- the writers of the topic ------------------------------------------------------------------
def sink_config(run: Run) -> dict[str, str]:
    return debezium.jdbc_sink(run.sink_dsn, topic=run.topic, table=TABLE)


def debezium_source_config(run: Run) -> dict[str, str]:
    return debezium.postgres_source(run.source_dsn, topic_prefix=run.topic_prefix, table=f"public.{TABLE}",
                                    slot=run.slot, publication=run.publication, snapshot="initial")


def capture_env(run: Run, http_port: int, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """`streamer run` with the capture only, on the run's database, slot and topic, in the Debezium
    event format with JsonConverter's schema envelope (what the JDBC sink needs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_")}
    return env | {
        "STREAMER_SOURCE__DSN": run.source_dsn, "STREAMER_SOURCE__SLOT": run.slot,
        "STREAMER_SOURCE__PUBLICATION": run.publication, "STREAMER_SOURCE__SNAPSHOT_MODE": "initial",
        "STREAMER_KAFKA__BOOTSTRAP_SERVERS": run.kafka_bootstrap, "STREAMER_KAFKA__TOPIC_PREFIX": run.topic_prefix,
        "STREAMER_KAFKA__PARTITIONS": "3",
        "STREAMER_KAFKA__EVENT_FORMAT": "debezium", "STREAMER_KAFKA__EVENT_SCHEMAS": "true",
        "STREAMER_RUN__COMPONENTS": '["capture"]', "STREAMER_HTTP__PORT": str(http_port),
        "STREAMER_LOG__FORMAT": "json",
    } | dict(extra or {})


@asynccontextmanager
async def our_capture(run: Run, log: Path) -> AsyncIterator[int]:
    """`streamer run` (capture) as a subprocess until the slot streams; yields its pid."""
    port = free_port()
    proc = start_capture(capture_env(run, port), log)
    try:
        await wait_slot_active(run.source_server, run.slot, alive=lambda: proc.poll() is None)
        await _wait_ready(port, proc)
        yield proc.pid
    finally:
        if pid_alive(proc.pid):
            stop_pid(proc.pid, timeout=30)
        proc.wait()


def start_capture(env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "streamer", "run"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


async def _wait_ready(port: int, proc: subprocess.Popen[bytes], within: float = 60) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise StackError(f"streamer run exited ({proc.returncode}) before it was ready")
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz", timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise StackError(f"streamer run not ready on port {port} after {within:.0f} s")


@dataclass
class Report:
    writer: str
    workload: Counts
    outcome: Outcome

    def __str__(self) -> str:
        return f"{self.writer}: {self.workload}\n  {self.outcome}"


async def interop(worker: ConnectWorker, run: Run, writer: str, log_dir: Path, *, seeded: int = 100,
                  changed: int = 300, within: float = 180) -> Report:
    """One run: seed, start the writer (`debezium` or `streamer`) and the JDBC sink, the mixed
    workload, then wait for the sink to equal the source."""
    sink_name, source_name = f"jdbc-sink-{run.id}", f"pg-source-{run.id}"
    async with databases(run):
        counts = await seed(run.source_dsn, seeded)

        def healthy() -> None:
            trace = worker.failed_trace(sink_name)
            if trace:
                raise StackError(f"the JDBC sink failed:\n{trace[:3000]}")

        try:
            if writer == "debezium":
                await asyncio.to_thread(worker.put_connector, source_name, debezium_source_config(run))
                await asyncio.to_thread(worker.wait_running, source_name)
                await wait_slot_active(run.source_server, run.slot)
                outcome = await _sink_and_workload(worker, run, sink_name, seeded, changed, within, healthy, counts)
            elif writer == "streamer":
                async with our_capture(run, log_dir / f"capture-{run.id}.log"):
                    outcome = await _sink_and_workload(worker, run, sink_name, seeded, changed, within, healthy,
                                                       counts)
            else:
                raise StackError(f"unknown writer {writer!r}: debezium or streamer")
        finally:
            for name in (sink_name, source_name):
                await asyncio.to_thread(worker.delete_connector, name)
    return Report("Debezium's PostgreSQL connector" if writer == "debezium" else "our capture (streamer run)",
                  counts, outcome)


async def _sink_and_workload(worker: ConnectWorker, run: Run, sink_name: str, seeded: int, changed: int,
                             within: float, healthy: Any, counts: Counts) -> Outcome:
    await asyncio.to_thread(worker.put_connector, sink_name, sink_config(run))
    await asyncio.to_thread(worker.wait_running, sink_name)
    more = await mixed_workload(run.source_dsn, seeded + 1, changed)
    counts.inserts += more.inserts
    counts.updates, counts.deletes = more.updates, more.deletes
    counts.reinserts, counts.unchanged_toast_updates = more.reinserts, more.unchanged_toast_updates
    return await converged(run, within, healthy)
