"""The kill loop on a Kafka cluster (issue 18, docs/cluster.md): `streamer run` processes (three
sinks in one consumer group, a capture leader and a standby) on a scratch pair of leads tables,
a steady workload of inserts, updates and deletes at the source, and kills with SIGKILL, one at a
time: a broker (started again), a sink (a new one started), the capture leader (a new standby
started). After each kill the loop measures how long until the pipeline lands changes again;
after the last one it waits until `streamer verify` finds source and destination equal.

Used by `scripts/kill_loop.py` (the full run, printing the table) and by
`tests/cluster/test_kill_loop.py` (a shorter run on a cluster of the test's own). The processes
are started with the monitoring tests' helpers (tests/streamer/monitor/processes.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import asyncpg
import httpx
import orjson

from connectors.kafka.client import Admin
from devstack.demo.generator import INSERT, leads
from devstack.kafka import KafkaCluster, KafkaNode, cluster_replication
from devstack.scratch import ScratchPair
from devstack.stack import Endpoints
from streamer.config import Settings
from streamer.verify.run import verify
from tests.streamer.monitor.processes import REPO, STREAMER, Service, free_port, streamer_env, streamer_run, wait_ready

KINDS = ("broker", "sink", "capture")
PROBES = 40  # leads written at each kill: with 6 partitions, every partition gets one (p > 0.99)
PARTITIONS = 6


@dataclass(frozen=True)
class Resume:
    """One kill: what was killed, seconds from the kill until every probe lead written at the
    kill landed at the destination, and until the killed part was replaced (a broker back in
    every ISR, a new sink ready, a new capture standby up)."""

    number: int
    kind: str
    victim: str
    resumed: float
    replaced: float
    under_replicated: int | None = None  # a broker kill: what the sinks' gauge showed while it was down


def table(rows: list[Resume], load: str = "") -> str:
    """The resume times as a Markdown table (what the README shows).

    >>> print(table([Resume(1, "broker", "kafka-2", 9.84, 31.2)]))
    | # | killed | which | changes land again after | replaced after |
    |---|---|---|---|---|
    | 1 | broker | kafka-2 | 9.8 s | 31.2 s |
    """
    lines = ["| # | killed | which | changes land again after | replaced after |", "|---|---|---|---|---|"]
    lines += [f"| {r.number} | {r.kind} | {r.victim} | {r.resumed:.1f} s | {r.replaced:.1f} s |" for r in rows]
    if load:
        lines.append(f"\nload average during the run: {load}")
    return "\n".join(lines)


def kill_plan(kills: int) -> list[str]:
    """broker, sink, capture, broker, ...

    >>> kill_plan(4)
    ['broker', 'sink', 'capture', 'broker']
    """
    return [KINDS[i % len(KINDS)] for i in range(kills)]


class Workload:
    """Inserts, updates and deletes at a steady rate on the scratch source table."""

    def __init__(self, conn: asyncpg.Connection, table: str, rate: float, *, first_id: int = 1) -> None:
        self.conn, self.table, self.rate = conn, table, rate
        self.next_id = first_id
        self.live: list[int] = []
        self.rng = random.Random(18)
        self.counts = {"insert": 0, "update": 0, "delete": 0}
        self.lock = asyncio.Lock()  # one connection: the probes write through it too

    async def insert(self, count: int, *, probe: bool = False) -> list[int]:
        """Insert `count` new leads; probes are left alone by the workload's updates and deletes
        (a deleted probe would never land)."""
        async with self.lock:
            rows = leads(self.next_id, count, seed=self.next_id)
            self.next_id += count
            await self.conn.execute(INSERT.format(table=self.table), orjson.dumps(rows).decode())
        ids = [r["id"] for r in rows]
        if not probe:
            self.live.extend(ids)
        self.counts["insert"] += count
        return ids

    async def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.5 or len(self.live) < 20:
            await self.insert(1)
        elif roll < 0.85:
            lead_id = self.rng.choice(self.live)
            async with self.lock:
                await self.conn.execute(f"UPDATE {self.table} SET tentativas_contato = tentativas_contato + 1, "
                                        "updated_at = clock_timestamp() WHERE id = $1", lead_id)
            self.counts["update"] += 1
        else:
            lead_id = self.live.pop(self.rng.randrange(len(self.live)))
            async with self.lock:
                await self.conn.execute(f"DELETE FROM {self.table} WHERE id = $1", lead_id)
            self.counts["delete"] += 1

    async def run(self, stopping: asyncio.Event) -> None:
        began, done = time.monotonic(), 0
        while not stopping.is_set():
            await self.step()
            done += 1
            ahead = began + done / self.rate - time.monotonic()
            if ahead > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), ahead)


@dataclass
class Fleet:
    """The `streamer run` processes: sinks and captures, started with processes.py's helpers."""

    services: Endpoints
    unique: str
    table: str
    logs: Path
    stack: ExitStack
    sinks: list[Service] = field(default_factory=list)
    captures: list[Service] = field(default_factory=list)
    started: int = 0

    def env(self, components: list[str]) -> dict[str, str]:
        replicas, min_isr = cluster_replication(len(self.services.kafka_bootstrap.split(",")))
        return streamer_env(
            self.services, self.unique, self.table, free_port(), components,
            STREAMER_KAFKA__PARTITIONS=str(PARTITIONS),
            STREAMER_KAFKA__REPLICATION_FACTOR=str(replicas),
            STREAMER_KAFKA__MIN_INSYNC_REPLICAS=str(min_isr),
            STREAMER_DESTINATION__URL=self.services.destination_url,
            STREAMER_DESTINATION__SERVICE_KEY=self.services.service_key,
            STREAMER_DESTINATION__TABLE=self.table,
            STREAMER_SINK__GROUP_ID=f"g{self.unique}",
            STREAMER_SINK__LINGER_MS="50",
            STREAMER_SINK__BACKOFF_MAX_MS="2000",
            PYTHONPATH=str(REPO),  # this checkout's code, whichever checkout the venv was installed from
        )

    def start(self, component: str) -> Service:
        self.started += 1
        log = self.logs / f"{component}-{self.started}.log"
        service = self.stack.enter_context(streamer_run(self.env([component]), log))
        (self.sinks if component == "sink" else self.captures).append(service)
        return service

    @staticmethod
    def kill(service: Service) -> None:
        service.process.kill()  # SIGKILL: no goodbye to the group, the lock or the slot
        service.process.wait(10)


async def capture_leader(captures: list[Service]) -> Service:
    """The capture process whose /metrics says it holds the slot's lock (streamer/capture/leader.py)."""
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(300):
            for service in captures:
                with contextlib.suppress(httpx.HTTPError):
                    text = (await client.get(f"{service.url}/metrics")).text
                    if re.search(r"^streamer_capture_leader 1\.0$", text, re.MULTILINE):
                        return service
            await asyncio.sleep(0.2)
    raise AssertionError("no capture process reports streamer_capture_leader 1")


async def wait_up(service: Service, seconds: float = 120) -> None:
    """The process answers /healthz (a capture standby is alive but not ready until it leads)."""
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            assert service.process.poll() is None, f"streamer exited:\n{service.output()}"
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{service.url}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise AssertionError(f"{service.url} not up after {seconds} s\n{service.output()}")


async def sinks_report(sinks: list[Service], topic: str, *, down: bool, seconds: float = 120) -> int:
    """Wait until the sinks' `streamer_kafka_under_replicated_partitions` for `topic` shows the
    broker down (some sink above 0) or back (every sink at 0); return the highest value seen."""
    pattern = re.compile(rf'^streamer_kafka_under_replicated_partitions\{{topic="{re.escape(topic)}"\}} (\S+)$',
                         re.MULTILINE)
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            values = []
            for service in sinks:
                with contextlib.suppress(httpx.HTTPError):
                    found = pattern.search((await client.get(f"{service.url}/metrics")).text)
                    values.append(int(float(found.group(1))) if found else None)
            known = [v for v in values if v is not None]
            if down and known and max(known) > 0:
                return max(known)
            if not down and len(known) == len(sinks) and max(known) == 0:
                return 0
            if time.monotonic() > deadline:
                raise AssertionError(f"sinks' under-replicated gauges {values} after {seconds} s "
                                     f"(waiting for the broker {'down' if down else 'back'})")
            await asyncio.sleep(0.5)


async def landed(destination: asyncpg.Connection, table: str, ids: list[int], seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while True:
        found = await destination.fetchval(f"SELECT count(*) FROM {table} WHERE id = ANY($1::bigint[])", ids)
        if found == len(ids):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"only {found} of {len(ids)} probe leads landed after {seconds} s")
        await asyncio.sleep(0.05)


async def in_sync(settings: Settings, topic: str, seconds: float = 300) -> None:
    """Every partition of `topic` has its whole replica list in sync again."""
    deadline = time.monotonic() + seconds
    async with Admin(settings.kafka) as admin:
        while True:
            with contextlib.suppress(Exception):
                if (await admin.under_replicated([topic])).get(topic) == 0:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic} still under-replicated after {seconds} s")
            await asyncio.sleep(0.2)


@dataclass(frozen=True)
class Outcome:
    rows: list[Resume]
    differences: int  # what the last in-process verify found (0 once converged)
    verify_exit: int  # `streamer verify` run afterwards, as an operator would
    verify_output: str


@dataclass
class KillLoop:
    services: Endpoints  # kafka_bootstrap: the cluster's
    cluster: KafkaCluster
    logs: Path
    unique: str
    rate: float = 40.0  # source changes per second
    sinks: int = 3
    progress: Callable[[str], None] = lambda _: None

    @property
    def table(self) -> str:
        return f"leads_{self.unique}"

    async def run(self, kills: int) -> Outcome:
        """Kill `kills` times; then wait for source == destination and run `streamer verify`."""
        source = await asyncpg.connect(self.services.source_dsn)
        destination = await asyncpg.connect(self.services.destination_dsn)
        pair = ScratchPair(self.services, self.unique, source, destination)
        try:
            await pair.create()
            async with self._fleet(pair) as fleet:
                rows, differences = await self._loop(pair, fleet, kills)
            result = await asyncio.to_thread(verify_command, self.services, pair.table)
            return Outcome(rows, differences, result.returncode, result.stdout + result.stderr)
        finally:
            with contextlib.suppress(Exception):
                await pair.drop()
            await source.close()
            await destination.close()

    @asynccontextmanager
    async def _fleet(self, pair: ScratchPair) -> AsyncIterator[Fleet]:
        with ExitStack() as stack:
            fleet = Fleet(self.services, self.unique, pair.table, self.logs, stack)
            # Captures first: with snapshot_mode=never the slot must exist before the workload writes.
            for _ in range(2):
                await wait_up(fleet.start("capture"))
            await wait_ready(await capture_leader(fleet.captures), 120)
            for _ in range(self.sinks):
                fleet.start("sink")
            for service in fleet.sinks:
                await wait_ready(service, 120)
            yield fleet

    def settings(self, pair: ScratchPair) -> Settings:
        settings = pair.settings()
        kafka = settings.kafka.model_copy(update={"partitions": PARTITIONS})
        return settings.model_copy(update={"kafka": kafka})

    async def _loop(self, pair: ScratchPair, fleet: Fleet, kills: int) -> tuple[list[Resume], int]:
        settings = self.settings(pair)
        workload = Workload(pair.source, pair.table, self.rate)
        stopping = asyncio.Event()
        writer = asyncio.create_task(workload.run(stopping))
        rows: list[Resume] = []
        try:
            await asyncio.sleep(3)  # the workload flows before the first kill
            for number, kind in enumerate(kill_plan(kills), 1):
                row = await self._kill(number, kind, pair, fleet, workload, settings)
                under = "" if row.under_replicated is None else (
                    f" (sinks reported {row.under_replicated} under-replicated partitions, then 0)")
                self.progress(f"kill {number}: {row.kind} {row.victim}: changes land again after "
                              f"{row.resumed:.1f} s, replaced after {row.replaced:.1f} s{under}")
                rows.append(row)
                assert not writer.done(), writer
        finally:
            stopping.set()
            await writer
        self.progress(f"workload: {workload.counts}; waiting for source == destination")
        return rows, await self._converged(settings)

    async def _kill(self, number: int, kind: str, pair: ScratchPair, fleet: Fleet, workload: Workload,
                    settings: Settings) -> Resume:
        node: KafkaNode | None = None
        if kind == "broker":
            node = self.cluster.nodes[(number // len(KINDS)) % len(self.cluster.nodes)]
            victim = node.name
            pid = int(node.pid_file.read_text())
            began = time.monotonic()
            os.kill(pid, signal.SIGKILL)
        elif kind == "sink":
            service = fleet.sinks.pop(0)
            victim = f"sink pid {service.process.pid}"
            began = time.monotonic()
            fleet.kill(service)
        else:
            service = await capture_leader(fleet.captures)
            fleet.captures.remove(service)
            victim = f"capture leader pid {service.process.pid}"
            began = time.monotonic()
            fleet.kill(service)
        probes = await workload.insert(PROBES, probe=True)
        await landed(pair.destination, pair.table, probes)
        resumed = time.monotonic() - began
        under = None
        if node is not None:
            topic = settings.kafka.leads_topic
            under = await sinks_report(fleet.sinks, topic, down=True)
            await asyncio.to_thread(node.start)
            await in_sync(settings, topic)
            await sinks_report(fleet.sinks, topic, down=False)
        elif kind == "sink":
            await wait_ready(fleet.start("sink"), 120)
        else:
            await wait_up(fleet.start("capture"))
        return Resume(number, kind, victim, resumed, time.monotonic() - began, under)

    async def _converged(self, settings: Settings, seconds: float = 300) -> int:
        """Run verify until it finds no difference (the sinks still landing the tail), up to `seconds`;
        the number of differences it found last."""
        deadline = time.monotonic() + seconds
        while True:
            found = (await verify(settings)).found
            differences = found.missing + found.extra + found.different
            if differences == 0 or time.monotonic() > deadline:
                return differences
            await asyncio.sleep(2)


def verify_command(services: Endpoints, table: str) -> subprocess.CompletedProcess[str]:
    """`streamer verify` as an operator runs it, on the scratch pair."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO),
           "STREAMER_SOURCE__DSN": services.source_dsn, "STREAMER_SOURCE__TABLE": table,
           "STREAMER_DESTINATION__URL": services.destination_url,
           "STREAMER_DESTINATION__SERVICE_KEY": services.service_key,
           "STREAMER_DESTINATION__DSN": services.destination_dsn, "STREAMER_DESTINATION__TABLE": table}
    return subprocess.run([str(STREAMER), "verify"], env=env, capture_output=True, text=True, timeout=300,
                          check=False)


@contextlib.contextmanager
def own_cluster(root: Path, brokers: int = 3, heap_mb: int = 256) -> Iterator[KafkaCluster]:
    """A Kafka cluster of the caller's own on free ports, its state in `root`; stopped after.
    The jars come from the shared Maven cache (~/.m2), as the stack's do. Await
    `cluster.ready_for_groups()` before the first consumer group."""
    port, controller = free_port(), free_port()
    # Node i listens on port + i*step: pick a step that keeps every port free.
    step = 7
    while any(_taken(port + i * step) or _taken(controller + i * step) for i in range(brokers)):
        port, controller = free_port(), free_port()
    cluster = KafkaCluster.of(root, brokers, port=port, controller_port=controller, step=step, heap_mb=heap_mb)
    cluster.prepare()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def _taken(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def on_cluster(services: Endpoints, cluster: KafkaCluster) -> Endpoints:
    return replace(services, kafka_bootstrap=cluster.bootstrap)
