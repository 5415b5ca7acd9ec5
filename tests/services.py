"""How the test session finds its real services, in this order:

1. connection settings given in the environment (what `eval "$(python -m devstack env)"` exports);
2. testcontainers, when a Docker engine answers (official postgres and apache/kafka images; the
   PostgREST-compatible server runs as a local process over the destination container);
3. otherwise the local stack (`python -m devstack up`), started once per test session and stopped at
   the end if this session started it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from devstack.settings import DevStackSettings
from devstack.stack import Endpoints, Stack

REPO = Path(__file__).resolve().parents[1]
ENV_KEYS = {
    "source_dsn": "STREAMER_SOURCE__DSN",
    "destination_dsn": "STREAMER_DESTINATION__DSN",
    "destination_url": "STREAMER_DESTINATION__URL",
    "service_key": "STREAMER_DESTINATION__SERVICE_KEY",
    "kafka_bootstrap": "STREAMER_KAFKA__BOOTSTRAP_SERVERS",
    "jwt_secret": "STACK_JWT_SECRET",
    "anon_key": "STACK_ANON_KEY",
}


def from_environment() -> Endpoints | None:
    values = {name: os.environ.get(key) for name, key in ENV_KEYS.items()}
    if not all(values.values()):
        return None
    url = values.pop("destination_url")
    return Endpoints(postgrest_url=f"{url}/rest/v1", prometheus_url=os.environ.get("STACK_PROMETHEUS_URL", ""),
                     **values)  # type: ignore[arg-type]


def docker_answers() -> bool:
    """A Docker engine answers `GET /_ping` on its socket (probed with a plain socket, which is
    closed whatever happens: the docker client library leaks one when no engine listens)."""
    if os.environ.get("STREAMER_TEST_NO_DOCKER"):
        return False
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(3)
                sock.connect(host.removeprefix("unix://"))
                return _pinged(sock)
        address = host.removeprefix("tcp://").split(":")
        with socket.create_connection((address[0], int(address[1])), timeout=3) as sock:
            return _pinged(sock)
    except (OSError, ValueError, IndexError):
        return False


def _pinged(sock: socket.socket) -> bool:
    sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
    status_line = sock.recv(1024).split(b"\r\n", 1)[0]
    return status_line.startswith(b"HTTP/1.") and b" 200" in status_line


@contextmanager
def from_testcontainers() -> Iterator[Endpoints]:  # pragma: no cover - needs a Docker engine
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    from connectors.postgrest.keys import issue_key
    from devserver.launch import launched
    from devstack.stack import StackSecrets

    secrets = StackSecrets.generate()
    with ExitStack() as stack:
        pgs = []
        for name in ("tabuladormax", "gestao_scouter"):
            pg = PostgresContainer("postgres:16", dbname=name, password=secrets.pg_password, driver=None)
            pg.with_command("postgres -c wal_level=logical -c max_replication_slots=32")
            pgs.append(stack.enter_context(pg))
        kafka = stack.enter_context(KafkaContainer("apache/kafka:4.1.1").with_kraft())
        source_dsn, destination_dsn = (pg.get_connection_url() for pg in pgs)
        asyncio.run(_migrate(source_dsn, destination_dsn))
        server = stack.enter_context(launched(db_uri=destination_dsn, jwt_secret=secrets.jwt_secret, timeout=30))
        yield Endpoints(source_dsn, destination_dsn, kafka.get_bootstrap_server(),
                        server.rest_url, secrets.jwt_secret,
                        issue_key(secrets.jwt_secret, "anon"), secrets.service_key, "")


async def _migrate(source_dsn: str, destination_dsn: str) -> None:  # pragma: no cover
    from connectors.postgres.migrations import apply_to
    from schemas.sql_files import migration_files

    await apply_to(source_dsn, migration_files("source"))
    await apply_to(destination_dsn, migration_files("destination"))


@contextmanager
def from_local_stack() -> Iterator[Endpoints]:
    settings = DevStackSettings(dir=Path(os.environ.get("STREAMER_DEV__DIR", REPO / ".stack")))
    stack = Stack(settings)
    was_running = bool(stack.status()) and all(stack.status().values())
    stack.up(lambda msg: print(f"[stack] {msg}", file=sys.stderr))
    endpoints = stack.endpoints()
    assert endpoints is not None
    try:
        yield endpoints
    finally:
        if not was_running and not os.environ.get("STREAMER_TEST_KEEP_STACK"):
            stack.down()


@contextmanager
def find_services() -> Iterator[Endpoints]:
    given = from_environment()
    if given is not None:
        yield given
    elif docker_answers():
        with from_testcontainers() as endpoints:
            yield endpoints
    else:
        with from_local_stack() as endpoints:
            yield endpoints
