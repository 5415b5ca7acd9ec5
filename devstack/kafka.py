"""Apache Kafka 4.x (KRaft) from Maven Central jars: one node, or a cluster of combined
broker+controller nodes (`python -m devstack up --brokers 3`, docs/cluster.md).

Facts checked on this machine (README "Local stack"): kafka_2.13 4.1.1's POM closure plus the
log4j SLF4J 1.x binding is 46 jars, about 43 MB; `StorageTool format --standalone` then
`kafka.Kafka server.properties` is ready (port open, broker unfenced) in about 2 s warm.

A cluster's nodes share the jars (in the first node's `kafka/libs`) and one cluster id; each
has its own directory (`kafka`, `kafka-2`, `kafka-3`), ports, log and data. The controllers form
a static quorum (`controller.quorum.voters`), so formatting needs no directory ids. Every node
is both broker and controller: on 2 cores three JVMs instead of six, and a quorum of three
survives the loss of any one node.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from devstack.maven import copy_dependencies
from devstack.process import (
    pid_alive,
    port_open,
    read_pid,
    require_program,
    run,
    spawn,
    stop_pid_file,
    wait_until,
)
from streamer.errors import PrerequisiteError

FILES = resources.files("devstack") / "files"

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id={node_id}
{quorum}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data_dir}
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor={replicas}
offsets.topic.num.partitions=1
transaction.state.log.replication.factor={replicas}
transaction.state.log.min.isr={min_isr}
share.coordinator.state.topic.replication.factor={replicas}
share.coordinator.state.topic.min.isr={min_isr}
default.replication.factor={replicas}
min.insync.replicas={min_isr}
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=33554432
"""


def cluster_replication(brokers: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) for a cluster of `brokers`: up to 3 copies, and
    writes acknowledged by all but one of them, so one broker may be lost without stopping them.

    >>> cluster_replication(1), cluster_replication(2), cluster_replication(3), cluster_replication(5)
    ((1, 1), (2, 1), (3, 2), (3, 2))
    """
    replicas = min(brokers, 3)
    return replicas, max(1, replicas - 1)


def check_java() -> str:
    java = require_program("java", "install a JDK 17 or newer (apt-get install openjdk-17-jdk-headless)")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)', out)
    if not match or int(match.group(1)) < 17:
        raise PrerequisiteError(f"Kafka 4.x needs Java 17 or newer; found: {out.splitlines()[:1]}")
    return java


@dataclass(frozen=True)
class KafkaNode:
    """Node `node_id` (1-based) of a cluster of `voters` (controller id → port); a one-node stack
    is node 1 with no voters, formatted `--standalone` as before."""

    root: Path
    port: int
    controller_port: int
    heap_mb: int
    node_id: int = 1
    voters: tuple[tuple[int, int], ...] = ()

    @property
    def name(self) -> str:
        return "kafka" if self.node_id == 1 else f"kafka-{self.node_id}"

    @property
    def home(self) -> Path:
        return self.root / self.name

    @property
    def libs(self) -> Path:
        return self.root / "kafka" / "libs"

    @property
    def log(self) -> Path:
        return self.home / "broker.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def resolve_jars(self) -> bool:
        """Copy the broker's jars from Maven (cached in ~/.m2 and here); True if Maven ran."""
        return copy_dependencies((FILES / "kafka-pom.xml").read_bytes(), self.libs.parent, self.libs,
                                 what="resolving Kafka's jars with Maven")

    def _java(self, *args: str, heap: str = "-Xmx256m") -> list[str]:
        log4j = self.home / "log4j2.properties"
        return [check_java(), heap, f"-Dlog4j2.configurationFile={log4j}",
                f"-Dkafka.logs.dir={self.home}", "-cp", f"{self.libs}/*", *args]

    def properties(self) -> str:
        if self.voters:
            quorum = "controller.quorum.voters=" + ",".join(f"{n}@127.0.0.1:{p}" for n, p in self.voters)
        else:
            quorum = f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}"
        replicas, min_isr = cluster_replication(len(self.voters) or 1)
        return SERVER_PROPERTIES.format(node_id=self.node_id, quorum=quorum, port=self.port,
                                        controller_port=self.controller_port, data_dir=self.home / "data",
                                        replicas=replicas, min_isr=min_isr)

    def new_cluster_id(self) -> str:
        return run(self._java("kafka.tools.StorageTool", "random-uuid"),
                   what="generating a Kafka cluster id").strip().splitlines()[-1]

    def format(self, cluster_id: str | None = None) -> bool:
        """Write the config and format the log dir once; False if already formatted. The nodes of
        a cluster are formatted with one `cluster_id`."""
        data = self.home / "data"
        props = self.home / "server.properties"
        self.home.mkdir(parents=True, exist_ok=True)
        props.write_text(self.properties())
        (self.home / "log4j2.properties").write_bytes((FILES / "kafka-log4j2.properties").read_bytes())
        if (data / "meta.properties").exists():
            return False
        quorum = [] if self.voters else ["--standalone"]
        run(self._java("kafka.tools.StorageTool", "format", "-t", cluster_id or self.new_cluster_id(),
                       "-c", str(props), *quorum), what=f"formatting Kafka's storage ({self.name})")
        return True

    def is_running(self) -> bool:
        return pid_alive(read_pid(self.pid_file)) and port_open("127.0.0.1", self.port)

    def start(self) -> float:
        if self.is_running():
            return 0.0
        self._check_port_free()
        pid = self.spawn()
        return self.wait_serving(pid)

    def spawn(self) -> int:
        """Start the JVM and return its pid, without waiting (a cluster starts its nodes together:
        a node's broker waits for a controller quorum, which needs a majority of the nodes)."""
        heap = f"{self.heap_mb}m"
        cmd = self._java("-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
                         "kafka.Kafka", str(self.home / "server.properties"), heap=f"-Xmx{heap}")
        cmd.insert(1, f"-Xms{heap}")
        pid = spawn(cmd, log=self.log)
        self.pid_file.write_text(str(pid))
        return pid

    def wait_serving(self, pid: int, timeout: float = 90) -> float:
        # The broker opens its client port only once unfenced (SocketServer.scala), so an open
        # port means it serves requests.
        return wait_until(lambda: port_open("127.0.0.1", self.port), timeout=timeout, what=f"Kafka ({self.name})",
                          log=self.log, alive=lambda: pid_alive(pid))

    def _check_port_free(self) -> None:
        if port_open("127.0.0.1", self.port):
            raise PrerequisiteError(f"port {self.port} ({self.name}) is taken by another program; "
                                    "set STREAMER_DEV__KAFKA_PORT to a free port")

    async def ready_for_groups(self, within_seconds: float = 60, bootstrap: str | None = None) -> None:
        """Have the broker create `__consumer_offsets` now: a FindCoordinator request does.

        Otherwise the first consumer group (the demo's sink, a test's) asks while the broker
        creates it, and aiokafka logs a GroupCoordinatorNotAvailable *error* line meanwhile:
        harmless, but the first thing a newcomer's first run would show."""
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka.errors import KafkaError

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap or self.bootstrap)
        await admin.start()
        try:
            deadline = time.monotonic() + within_seconds
            while True:
                try:
                    await admin.find_coordinator("streamer-dev-warmup")
                    return
                except KafkaError as exc:
                    if time.monotonic() > deadline:
                        raise PrerequisiteError(f"Kafka has no group coordinator after {within_seconds:.0f} s "
                                                f"({type(exc).__name__}); see {self.log}") from None
                    await asyncio.sleep(0.2)
        finally:
            await admin.close()

    def stop(self) -> None:
        stop_pid_file(self.pid_file, timeout=30)


@dataclass(frozen=True)
class KafkaCluster:
    """The stack's Kafka: one node, or `len(nodes)` combined nodes started together."""

    nodes: tuple[KafkaNode, ...]

    @classmethod
    def of(cls, root: Path, brokers: int, *, port: int, controller_port: int, step: int,
           heap_mb: int) -> KafkaCluster:
        """Node i (0-based) listens on `port + i*step` and `controller_port + i*step`."""
        if brokers == 1:
            return cls((KafkaNode(root, port, controller_port, heap_mb),))
        voters = tuple((i + 1, controller_port + i * step) for i in range(brokers))
        return cls(tuple(KafkaNode(root, port + i * step, controller_port + i * step, heap_mb, i + 1, voters)
                         for i in range(brokers)))

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def prepare(self) -> None:
        """Jars, configs and formatted storage (one cluster id for every node)."""
        first = self.nodes[0]
        first.resolve_jars()
        if len(self.nodes) == 1:
            first.format()
            return
        id_file = first.root / "kafka-cluster-id"
        if not id_file.exists():
            id_file.write_text(first.new_cluster_id())
        for node in self.nodes:
            node.format(id_file.read_text().strip())

    def start(self) -> float:
        began = time.monotonic()
        starting = []
        for node in self.nodes:
            if not node.is_running():
                node._check_port_free()
                starting.append((node, node.spawn()))
        for node, pid in starting:
            node.wait_serving(pid)
        return time.monotonic() - began

    async def ready_for_groups(self) -> None:
        await self.nodes[0].ready_for_groups(bootstrap=self.bootstrap)

    def is_running(self) -> bool:
        return all(node.is_running() for node in self.nodes)

    def stop(self) -> None:
        """Stop the nodes together: one at a time, the last ones wait for a quorum that is gone."""
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(KafkaNode.stop, self.nodes))
