"""The local stack: two PostgreSQL servers, Kafka (one node, or a cluster: `up --brokers 3`), the
PostgREST-compatible server and Prometheus, all on loopback, with their state in one directory
(`STREAMER_DEV__DIR`, default `.stack/`).

`up()` is idempotent: what runs is left alone, what is missing is initialised and started, and
every part is waited on until it answers. Secrets are generated once and kept in `stack.json`
(mode 0600), so keys stay valid across restarts. Kafka's node count is fixed when it is first
formatted and kept in `kafka-brokers`, so `status`, `env` and `down` find every node.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from connectors.postgres.migrations import apply_to
from connectors.postgrest.keys import issue_key
from devstack.kafka import KafkaCluster, cluster_replication
from devstack.postgres import PostgresNode
from devstack.services import PostgrestServer, Prometheus
from devstack.settings import DevStackSettings
from schemas.sql_files import migration_files
from streamer.errors import PrerequisiteError

Progress = Callable[[str], None]


@dataclass(frozen=True)
class StackSecrets:
    pg_password: str
    jwt_secret: str
    anon_key: str
    service_key: str

    @classmethod
    def generate(cls) -> StackSecrets:
        jwt_secret = secrets.token_urlsafe(48)
        return cls(secrets.token_urlsafe(18), jwt_secret, issue_key(jwt_secret, "anon"),
                   issue_key(jwt_secret, "service_role"))


@dataclass(frozen=True)
class Endpoints:
    """Where the stack's services answer: what tests and benchmarks connect to."""

    source_dsn: str
    destination_dsn: str
    kafka_bootstrap: str
    postgrest_url: str  # including /rest/v1
    jwt_secret: str
    anon_key: str
    service_key: str
    prometheus_url: str

    @property
    def destination_url(self) -> str:
        return self.postgrest_url.removesuffix("/rest/v1")


class Stack:
    def __init__(self, settings: DevStackSettings, *, streamer_port: int = 18080) -> None:
        self.settings = settings
        self.root = settings.dir.resolve()
        self.streamer_port = streamer_port

    # --- parts -------------------------------------------------------------------------------
    def _secrets(self, *, create: bool) -> StackSecrets | None:
        path = self.root / "stack.json"
        if path.exists():
            return StackSecrets(**json.loads(path.read_text()))
        if not create:
            return None
        self.root.mkdir(parents=True, exist_ok=True)
        # PostgreSQL runs as `postgres` when we are root: it must be able to reach its data dir.
        self.root.chmod(0o755)
        value = StackSecrets.generate()
        path.write_text(json.dumps(asdict(value)))
        path.chmod(0o600)
        return value

    @property
    def brokers(self) -> int:
        """The node count Kafka was formatted with, else the setting's."""
        recorded = self.root / "kafka-brokers"
        if recorded.exists():
            return int(recorded.read_text())
        # A stack from before clusters: one node, already formatted.
        return 1 if (self.root / "kafka" / "data" / "meta.properties").exists() else self.settings.brokers

    def _record_brokers(self, brokers: int) -> None:
        recorded = self.root / "kafka-brokers"
        if recorded.exists() and int(recorded.read_text()) != brokers:
            raise PrerequisiteError(
                f"the stack in {self.root} runs Kafka with {recorded.read_text().strip()} broker(s), not "
                f"{brokers}: use another STREAMER_DEV__DIR (and ports) for a stack of {brokers}")
        self.root.mkdir(parents=True, exist_ok=True)
        recorded.write_text(str(brokers))

    def _parts(self, s: StackSecrets) -> tuple[PostgresNode, PostgresNode, KafkaCluster, PostgrestServer, Prometheus]:
        d = self.settings
        return (
            PostgresNode("source", self.root, d.source_port, s.pg_password, "tabuladormax"),
            PostgresNode("destination", self.root, d.destination_port, s.pg_password, "gestao_scouter"),
            KafkaCluster.of(self.root, self.brokers, port=d.kafka_port, controller_port=d.kafka_controller_port,
                            step=d.kafka_port_step, heap_mb=d.kafka_heap_mb),
            PostgrestServer("postgrest", self.root / "postgrest", d.postgrest_port),
            Prometheus("prometheus", self.root / "prometheus", d.prometheus_port),
        )

    def kafka(self) -> KafkaCluster | None:
        """The stack's Kafka nodes (pid files, ports), or None if the stack was never started."""
        s = self._secrets(create=False)
        return None if s is None else self._parts(s)[2]

    def endpoints(self) -> Endpoints | None:
        s = self._secrets(create=False)
        if s is None:
            return None
        source, destination, kafka, _, _ = self._parts(s)
        return Endpoints(
            source_dsn=source.dsn(), destination_dsn=destination.dsn(), kafka_bootstrap=kafka.bootstrap,
            postgrest_url=f"http://127.0.0.1:{self.settings.postgrest_port}/rest/v1",
            jwt_secret=s.jwt_secret, anon_key=s.anon_key, service_key=s.service_key,
            prometheus_url=f"http://127.0.0.1:{self.settings.prometheus_port}",
        )

    # --- verbs -------------------------------------------------------------------------------
    def up(self, progress: Progress = lambda _: None, *, prometheus: bool = True,
           brokers: int | None = None) -> dict[str, float]:
        """Bring every part up; return the seconds each took (0 when it was already running)."""
        self._record_brokers(brokers or self.brokers)
        s = self._secrets(create=True)
        assert s is not None
        source, destination, kafka, postgrest, prom = self._parts(s)
        timings: dict[str, float] = {}

        def step(name: str, action: Callable[[], object]) -> None:
            progress(f"{name}...")
            began = time.monotonic()
            action()
            timings[name] = round(time.monotonic() - began, 2)

        def postgres(node: PostgresNode) -> None:
            node.init()
            node.start()
            asyncio.run(node.ensure_database())

        step("source postgres", lambda: postgres(source))
        step("destination postgres", lambda: postgres(destination))
        step("migrations", lambda: asyncio.run(self._migrate(source, destination)))
        def start_kafka() -> None:
            kafka.prepare()
            kafka.start()
            asyncio.run(kafka.ready_for_groups())

        step("kafka", start_kafka)
        step("postgrest", lambda: postgrest.start(db_uri=destination.dsn(), jwt_secret=s.jwt_secret))
        if prometheus:
            step("prometheus", lambda: prom.start(streamer_port=self.streamer_port))
        return timings

    async def _migrate(self, source: PostgresNode, destination: PostgresNode) -> None:
        await apply_to(source.dsn(), migration_files("source"))
        await apply_to(destination.dsn(), migration_files("destination"))

    def down(self, progress: Progress = lambda _: None) -> None:
        s = self._secrets(create=False)
        if s is None:
            return
        for part in reversed(self._parts(s)):
            progress(f"stopping {getattr(part, 'name', 'kafka')}...")
            part.stop()

    def status(self) -> dict[str, bool]:
        s = self._secrets(create=False)
        if s is None:
            return {}
        source, destination, kafka, postgrest, prom = self._parts(s)
        return {"source postgres": source.is_running(), "destination postgres": destination.is_running(),
                **{node.name: node.is_running() for node in kafka.nodes}, "postgrest": postgrest.is_running(),
                "prometheus": prom.is_running()}


def env_exports(e: Endpoints, streamer_port: int) -> dict[str, str]:
    """The settings a process needs to use the stack, as environment variables; on a cluster
    also the replication its topics get (devstack/kafka.py cluster_replication)."""
    brokers = len(e.kafka_bootstrap.split(","))
    replication = {}
    if brokers > 1:
        replicas, min_isr = cluster_replication(brokers)
        replication = {"STREAMER_KAFKA__REPLICATION_FACTOR": str(replicas),
                       "STREAMER_KAFKA__MIN_INSYNC_REPLICAS": str(min_isr)}
    return {
        "STREAMER_SOURCE__DSN": e.source_dsn,
        "STREAMER_DESTINATION__URL": e.destination_url,
        "STREAMER_DESTINATION__SERVICE_KEY": e.service_key,
        "STREAMER_DESTINATION__DSN": e.destination_dsn,
        "STREAMER_KAFKA__BOOTSTRAP_SERVERS": e.kafka_bootstrap,
        **replication,
        "STREAMER_HTTP__PORT": str(streamer_port),
        "STACK_JWT_SECRET": e.jwt_secret,
        "STACK_ANON_KEY": e.anon_key,
        "STACK_PROMETHEUS_URL": e.prometheus_url,
    }

