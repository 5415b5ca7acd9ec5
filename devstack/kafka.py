"""A one-node Apache Kafka 4.x (KRaft, broker+controller) from Maven Central jars.

Facts checked on this machine (README "Local stack"): kafka_2.13 4.1.1's POM closure plus the
log4j SLF4J 1.x binding is 46 jars, about 43 MB; `StorageTool format --standalone` then
`kafka.Kafka server.properties` is ready (port open, broker unfenced) in about 2 s warm.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
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
    stop_pid,
    wait_until,
)
from streamer.errors import PrerequisiteError

FILES = resources.files("devstack") / "files"

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data_dir}
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=33554432
"""


def check_java() -> str:
    java = require_program("java", "install a JDK 17 or newer (apt-get install openjdk-17-jdk-headless)")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)', out)
    if not match or int(match.group(1)) < 17:
        raise PrerequisiteError(f"Kafka 4.x needs Java 17 or newer; found: {out.splitlines()[:1]}")
    return java


@dataclass(frozen=True)
class KafkaNode:
    root: Path
    port: int
    controller_port: int
    heap_mb: int

    @property
    def home(self) -> Path:
        return self.root / "kafka"

    @property
    def libs(self) -> Path:
        return self.home / "libs"

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
        return copy_dependencies((FILES / "kafka-pom.xml").read_bytes(), self.home, self.libs,
                                 what="resolving Kafka's jars with Maven")

    def _java(self, *args: str, heap: str = "-Xmx256m") -> list[str]:
        log4j = self.home / "log4j2.properties"
        return [check_java(), heap, f"-Dlog4j2.configurationFile={log4j}",
                f"-Dkafka.logs.dir={self.home}", "-cp", f"{self.libs}/*", *args]

    def format(self) -> bool:
        """Write the config and format the log dir once; False if already formatted."""
        data = self.home / "data"
        props = self.home / "server.properties"
        props.write_text(SERVER_PROPERTIES.format(port=self.port, controller_port=self.controller_port,
                                                  data_dir=data))
        (self.home / "log4j2.properties").write_bytes((FILES / "kafka-log4j2.properties").read_bytes())
        if (data / "meta.properties").exists():
            return False
        cluster_id = run(self._java("kafka.tools.StorageTool", "random-uuid"),
                         what="generating a Kafka cluster id").strip().splitlines()[-1]
        run(self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props),
                       "--standalone"), what="formatting Kafka's storage")
        return True

    def is_running(self) -> bool:
        return pid_alive(read_pid(self.pid_file)) and port_open("127.0.0.1", self.port)

    def start(self) -> float:
        if self.is_running():
            return 0.0
        if port_open("127.0.0.1", self.port):
            raise PrerequisiteError(f"port {self.port} is taken by another program; "
                                    "set STREAMER_DEV__KAFKA_PORT to a free port")
        heap = f"{self.heap_mb}m"
        cmd = self._java("-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
                         "kafka.Kafka", str(self.home / "server.properties"), heap=f"-Xmx{heap}")
        cmd.insert(1, f"-Xms{heap}")
        pid = spawn(cmd, log=self.log)
        self.pid_file.write_text(str(pid))
        # The broker opens its client port only once unfenced (SocketServer.scala), so an open
        # port means it serves requests.
        return wait_until(lambda: port_open("127.0.0.1", self.port), timeout=90, what="Kafka",
                          log=self.log, alive=lambda: pid_alive(pid))

    async def ready_for_groups(self, within_seconds: float = 60) -> None:
        """Have the broker create `__consumer_offsets` now: a FindCoordinator request does.

        Otherwise the first consumer group (the demo's sink, a test's) asks while the broker
        creates it, and aiokafka logs a GroupCoordinatorNotAvailable *error* line meanwhile:
        harmless, but the first thing a newcomer's first run would show."""
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka.errors import KafkaError

        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
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
        pid = read_pid(self.pid_file)
        if pid and pid_alive(pid):
            stop_pid(pid, timeout=30)
        self.pid_file.unlink(missing_ok=True)
