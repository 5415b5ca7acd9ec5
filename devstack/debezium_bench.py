"""The capture benchmark's baseline (issue 13): Debezium 3.6.1's PostgreSQL connector (pgoutput) in
Kafka Connect standalone (devstack/connect.py), measured the way scripts/bench_capture.py
measures our capture:

* bulk: `changes` inserts of realistic 49-column leads, 100 per transaction, committed while the
  slot exists and nothing reads it; the clock starts when the connector is created and stops when
  the topic holds all of them (Kafka's end offsets). Source CPU is over the whole drain.
* warm-up: before both, `warmup` changes go through a throwaway connector on the same worker, so
  the figures are of a JIT-compiled JVM, as a long-running Connect worker is (0 to skip);
* paced: single-lead transactions at `rate`/s for `paced_seconds` while the connector streams;
  source CPU over that window, per 10k events.

Source CPU is utime+stime from /proc/<pid>/stat of the PostgreSQL processes serving the connector:
the walsender of its slot and its ordinary sessions (found by application name and sampled
throughout, so one that closes early still counts). Run it on the database's machine.

`measure_debezium()` is the one call; `scripts/bench_debezium.py` prints it beside our capture.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from connectors.postgres import slot as slots
from devstack import debezium
from devstack.connect import ConnectWorker, running_worker
from devstack.demo.generator import INSERT, leads
from devstack.settings import DevStackSettings
from streamer.errors import StackError

PARTITIONS = 3  # as scripts/bench_capture.py gives our topic
DEBEZIUM_VERSION = "3.6.1.Final"


@dataclass(frozen=True)
class DebeziumFigures:
    """What the benchmark prints for Debezium; None where the source's processes were unreadable."""

    changes: int
    bulk_seconds: float  # connector created -> all `changes` on the topic
    bulk_first_event_seconds: float  # connector created -> the first event on the topic (its start-up)
    bulk_events_per_second: float
    bulk_source_cpu_per_10k: float | None  # source CPU seconds per 10k events, over the drain
    paced_events: int
    paced_rate: int
    paced_source_cpu_per_10k: float | None  # source CPU seconds per 10k events at `paced_rate`/s
    warmup: int  # changes run through a throwaway connector first (not in any figure)
    connect_start_seconds: float  # the worker's start (not in any figure above)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat (fields 14 and 15, after "pid (comm)")."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerCpu:
    """CPU of the PostgreSQL processes serving one Debezium connector, sampled while it runs."""

    def __init__(self, conn: asyncpg.Connection, slot: str) -> None:
        self.conn, self.slot = conn, slot
        self.last: dict[int, float] = {}
        self.readable = True

    async def sample(self) -> None:
        pids = await self.conn.fetch(
            """SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL
               UNION SELECT pid FROM pg_stat_activity
                WHERE application_name ILIKE 'debezium%' AND datname = current_database()""", self.slot)
        for row in pids:
            try:
                self.last[row["pid"]] = cpu_seconds(row["pid"])
            except FileNotFoundError:
                pass  # ended between the query and the read: its last sample stands
            except OSError:
                self.readable = False

    def total(self) -> float | None:
        return sum(self.last.values()) if self.readable and self.last else None


async def _on_topic(consumer: AIOKafkaConsumer, topic: str) -> int:
    try:
        if topic not in await consumer.topics():
            return 0
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(PARTITIONS)])
    except KafkaError:
        return 0
    return int(sum(ends.values()))


async def _until_on_topic(consumer: AIOKafkaConsumer, topic: str, n: int, cpu: ServerCpu,
                          healthy: Callable[[], None], within: float) -> float:
    """Wait until `topic` holds `n` events; return when the first was seen (time.monotonic())."""
    deadline, first = time.monotonic() + within, 0.0
    while (count := await _on_topic(consumer, topic)) < n:
        if count and not first:
            first = time.monotonic()
        await cpu.sample()
        healthy()
        if time.monotonic() > deadline:
            raise StackError(f"Debezium put {await _on_topic(consumer, topic)} of {n} events on {topic} "
                             f"in {within:.0f} s")
        await asyncio.sleep(0.1)
    await cpu.sample()
    return first or time.monotonic()


@dataclass(frozen=True)
class _Table:
    name: str
    slot: str
    publication: str
    prefix: str

    @property
    def topic(self) -> str:
        return f"{self.prefix}.public.{self.name}"


@asynccontextmanager
async def _bench_table(conn: asyncpg.Connection, bootstrap: str) -> AsyncIterator[_Table]:
    """A copy of the leads table (REPLICA IDENTITY FULL, as the product's) with its publication and
    slot created up front, so a backlog written now waits in the slot; all dropped afterwards."""
    tag = uuid.uuid4().hex[:8]
    t = _Table(f"leads_dbz{tag}", f"slot_dbz{tag}", f"pub_dbz{tag}", f"dbz{tag}")
    await conn.execute(f"CREATE TABLE {t.name} (LIKE leads INCLUDING ALL)")
    await conn.execute(f"ALTER TABLE {t.name} REPLICA IDENTITY FULL")
    try:
        await slots.ensure_publication(conn, t.publication, t.name)
        await slots.ensure_slot(conn, t.slot)
        yield t
    finally:
        await _drop_slot(conn, t.slot)
        await conn.execute(f"DROP TABLE IF EXISTS {t.name}")
        await conn.execute(f"DROP PUBLICATION IF EXISTS {t.publication}")
        await _delete_topic(bootstrap, t.topic)


async def _drop_slot(conn: asyncpg.Connection, slot: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            await slots.drop_slot(conn, slot)
            return
        except Exception:  # still active: the connector's walsender ends shortly after its deletion
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _delete_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        with contextlib.suppress(KafkaError):
            await admin.delete_topics([topic])
    finally:
        await admin.close()


class _Bench:
    def __init__(self, worker: ConnectWorker, conn: asyncpg.Connection, source_dsn: str, bootstrap: str) -> None:
        self.worker, self.conn, self.source_dsn, self.bootstrap = worker, conn, source_dsn, bootstrap

    def config(self, t: _Table) -> dict[str, str]:
        # No JsonConverter schema envelope: our capture's topic carries plain JSON too.
        return debezium.postgres_source(self.source_dsn, topic_prefix=t.prefix, table=f"public.{t.name}",
                                        slot=t.slot, publication=t.publication, snapshot="no_data",
                                        schemas=False, partitions=PARTITIONS)

    @asynccontextmanager
    async def connector(self, t: _Table) -> AsyncIterator[str]:
        name = f"bench-{t.prefix}"
        await asyncio.to_thread(self.worker.put_connector, name, self.config(t))
        try:
            yield name
        finally:
            await asyncio.to_thread(self.worker.delete_connector, name)

    def healthy(self, name: str) -> Callable[[], None]:
        def check() -> None:
            trace = self.worker.failed_trace(name)
            if trace:
                raise StackError(f"Debezium's connector failed:\n{trace[:3000]}")
        return check

    async def bulk(self, consumer: AIOKafkaConsumer, n: int) -> tuple[float, float, float | None]:
        async with _bench_table(self.conn, self.bootstrap) as t:
            rows = leads(1, n)
            for i in range(0, n, 100):
                await self.conn.execute(INSERT.format(table=t.name), orjson.dumps(rows[i:i + 100]).decode())
            cpu = ServerCpu(self.conn, t.slot)
            began = time.monotonic()
            async with self.connector(t) as name:
                first = await _until_on_topic(consumer, t.topic, n, cpu, self.healthy(name),
                                              within=max(300.0, n / 100))
                elapsed, spent = time.monotonic() - began, cpu.total()
        return elapsed, first - began, (spent * 10_000 / n if spent is not None else None)

    async def paced(self, consumer: AIOKafkaConsumer, seconds: float, rate: int) -> tuple[int, float | None]:
        async with _bench_table(self.conn, self.bootstrap) as t, self.connector(t) as name:
            cpu = ServerCpu(self.conn, t.slot)
            await self._streaming(t, name, cpu)
            rows = leads(1, int(seconds * rate))
            await cpu.sample()
            before = cpu.total()
            began = time.monotonic()
            for i, row in enumerate(rows):
                await self.conn.execute(INSERT.format(table=t.name), orjson.dumps([row]).decode())
                if i % rate == 0:
                    await cpu.sample()
                await asyncio.sleep(max(0.0, began + (i + 1) / rate - time.monotonic()))
            await _until_on_topic(consumer, t.topic, len(rows), cpu, self.healthy(name), within=120)
            after = cpu.total()
        spent = after - before if after is not None and before is not None else None
        return len(rows), (spent * 10_000 / len(rows) if spent is not None else None)

    async def _streaming(self, t: _Table, name: str, cpu: ServerCpu, within: float = 120) -> None:
        """Until the connector's walsender streams from the slot (its start-up is not in the window)."""
        deadline, check = time.monotonic() + within, self.healthy(name)
        while not await self.conn.fetchval("SELECT active FROM pg_replication_slots WHERE slot_name = $1", t.slot):
            check()
            if time.monotonic() > deadline:
                raise StackError(f"Debezium's connector not streaming from {t.slot} after {within:.0f} s")
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # its first standby status and schema reads settle
        await cpu.sample()


async def measure_debezium(source_dsn: str, kafka_bootstrap: str, *, changes: int = 50_000,
                           paced_seconds: float = 20.0, rate: int = 200, warmup: int = 5_000,
                           jar_cache: Path | None = None, worker: ConnectWorker | None = None) -> DebeziumFigures:
    """Debezium's figures on `source_dsn` (a database with the leads table, wal_level=logical) and
    `kafka_bootstrap`. Starts a Kafka Connect worker of its own (jars cached in `jar_cache`, by
    default the stack's `connect/` folder) unless `worker` is given, and stops it afterwards."""
    if worker is None:
        cache = jar_cache or DevStackSettings().dir.resolve() / "connect"
        with tempfile.TemporaryDirectory(prefix="bench-connect-") as home:
            began = time.monotonic()
            with running_worker(cache, Path(home), kafka_bootstrap) as own:
                started = time.monotonic() - began
                figures = await _measure(own, source_dsn, kafka_bootstrap, changes, paced_seconds, rate, warmup)
            return DebeziumFigures(**{**figures.__dict__, "connect_start_seconds": started})
    return await _measure(worker, source_dsn, kafka_bootstrap, changes, paced_seconds, rate, warmup)


async def _measure(worker: ConnectWorker, source_dsn: str, bootstrap: str, changes: int, paced_seconds: float,
                   rate: int, warmup: int) -> DebeziumFigures:
    conn = await asyncpg.connect(source_dsn)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        bench = _Bench(worker, conn, source_dsn, bootstrap)
        if warmup > 0:
            await bench.bulk(consumer, warmup)
        seconds, startup, bulk_cpu = await bench.bulk(consumer, changes)
        paced_events, paced_cpu = await bench.paced(consumer, paced_seconds, rate)
    finally:
        await consumer.stop()
        await conn.close()
    return DebeziumFigures(changes, seconds, startup, changes / seconds, bulk_cpu, paced_events, rate, paced_cpu,
                           warmup, 0.0)
