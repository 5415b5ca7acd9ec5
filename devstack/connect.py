"""Kafka Connect in standalone mode from Maven Central jars, with Debezium's connectors as plugins.

A dev tool (docs/interop.md): the interop check runs Debezium's own JDBC sink connector over our
topic, and the capture benchmark runs Debezium's PostgreSQL source connector as its baseline. Like
the broker (devstack/kafka.py), nothing comes from a tarball or Docker:

* the worker's class path is the closure of `connect-runtime` + `connect-json` (the broker's
  Kafka version) plus the log4j SLF4J binding: `files/connect-pom.xml`;
* each connector is the closure of its Maven artifact, in its own folder under `plugin.path`, so
  Connect loads it in a class loader of its own (its Kafka and SLF4J jars are left out: the worker
  provides them, as Connect's isolation rules load them from the worker anyway):
  `files/debezium-*-pom.xml`.

The jars are kept in one cache folder (the stack's `connect/`); each worker gets a folder of its
own for its config, offsets file and log, and a REST port chosen free on loopback.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from devstack.kafka import check_java
from devstack.maven import copy_dependencies
from devstack.process import pid_alive, spawn, stop_pid, wait_until
from streamer.errors import StackError

FILES = resources.files("devstack") / "files"

# Folder under plugin.path -> (POM in files/, the connector class it must offer).
PLUGINS = {
    "debezium-postgres": ("debezium-postgres-pom.xml", "io.debezium.connector.postgresql.PostgresConnector"),
    "debezium-jdbc": ("debezium-jdbc-pom.xml", "io.debezium.connector.jdbc.JdbcSinkConnector"),
}

WORKER_PROPERTIES = """\
bootstrap.servers={bootstrap}
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
offset.storage.file.filename={offsets}
offset.flush.interval.ms=1000
plugin.path={plugins}
# Every plugin here ships ServiceLoader manifests: no reflective scan of the jars (about 30 s saved).
plugin.discovery=service_load
listeners=http://127.0.0.1:{port}
rest.advertised.host.name=127.0.0.1
"""


@dataclass(frozen=True)
class ConnectJars:
    """The worker's jars and the plugin folders, resolved once into `root`."""

    root: Path

    @property
    def runtime(self) -> Path:
        return self.root / "runtime" / "libs"

    @property
    def plugins(self) -> Path:
        return self.root / "plugins"

    def resolve(self) -> bool:
        """Copy every jar from Maven (cached in ~/.m2 and here); True if Maven ran."""
        ran = copy_dependencies((FILES / "connect-pom.xml").read_bytes(), self.root / "runtime", self.runtime,
                                what="resolving Kafka Connect's jars with Maven")
        for name, (pom, _) in PLUGINS.items():
            ran |= copy_dependencies((FILES / pom).read_bytes(), self.root / "poms" / name, self.plugins / name,
                                     what=f"resolving the {name} connector's jars with Maven")
        return ran


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ConnectWorker:
    """One standalone worker: start, add connectors over its REST API, stop."""

    jars: ConnectJars
    home: Path
    bootstrap: str
    heap_mb: int = 512
    port: int = field(default_factory=free_port)
    pid: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.home / "connect.log"

    def start(self, timeout: float = 120) -> float:
        """Start the worker; return the seconds until its REST API lists every plugin."""
        self.home.mkdir(parents=True, exist_ok=True)
        props = self.home / "worker.properties"
        props.write_text(WORKER_PROPERTIES.format(bootstrap=self.bootstrap, offsets=self.home / "offsets",
                                                  plugins=self.jars.plugins, port=self.port))
        log4j = self.home / "log4j2.properties"
        log4j.write_bytes((FILES / "connect-log4j2.properties").read_bytes())
        cmd = [check_java(), f"-Xms{self.heap_mb}m", f"-Xmx{self.heap_mb}m", "-XX:+UseG1GC",
               "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
               "-cp", f"{self.jars.runtime}/*", "org.apache.kafka.connect.cli.ConnectStandalone", str(props)]
        self.pid = spawn(cmd, log=self.log, cwd=self.home)
        pid = self.pid
        return wait_until(self._serves_plugins, timeout=timeout, what="Kafka Connect", log=self.log,
                          alive=lambda: pid_alive(pid))

    def _serves_plugins(self) -> bool:
        try:
            answer = httpx.get(f"{self.url}/connector-plugins", timeout=2)
        except httpx.HTTPError:
            return False
        if answer.status_code != 200:
            return False
        offered = {p["class"] for p in answer.json()}
        missing = {cls for _, cls in PLUGINS.values()} - offered
        if missing:
            raise StackError(f"Kafka Connect started without {sorted(missing)}: see {self.log}")
        return True

    def stop(self) -> None:
        if self.pid and pid_alive(self.pid):
            stop_pid(self.pid, timeout=30)
        self.pid = None

    # --- REST API ------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        answer = httpx.request(method, f"{self.url}{path}", json=body, timeout=60)
        if answer.status_code >= 400:
            raise StackError(f"Kafka Connect {method} {path}: HTTP {answer.status_code}: {answer.text[:500]}")
        return answer.json() if answer.content else None

    def version(self) -> str:
        """The worker's Kafka version, from its REST root."""
        return str(self._call("GET", "/")["version"])

    def put_connector(self, name: str, config: Mapping[str, str]) -> None:
        """Create (or reconfigure) a connector."""
        self._call("PUT", f"/connectors/{name}/config", {"name": name, **config})

    def status(self, name: str) -> dict[str, Any]:
        status: dict[str, Any] = self._call("GET", f"/connectors/{name}/status")
        return status

    def wait_running(self, name: str, timeout: float = 120) -> float:
        """Wait until the connector and all its tasks run; a failed task raises with its trace."""
        def running() -> bool:
            try:
                status = self.status(name)
            except StackError:
                return False
            states = [status["connector"]] + status.get("tasks", [])
            for state in states:
                if state["state"] == "FAILED":
                    trace = str(state.get("trace", "")).splitlines()[:12]
                    raise StackError(f"connector {name} failed:\n" + "\n".join(trace))
            return bool(status.get("tasks")) and all(s["state"] == "RUNNING" for s in states)

        return wait_until(running, timeout=timeout, what=f"connector {name}", log=self.log,
                          alive=lambda: pid_alive(self.pid))

    def failed_trace(self, name: str) -> str | None:
        """The first failed task's (or the connector's) trace, if any."""
        status = self.status(name)
        for state in [status["connector"]] + status.get("tasks", []):
            if state["state"] == "FAILED":
                return str(state.get("trace", ""))
        return None

    def delete_connector(self, name: str) -> None:
        with contextlib.suppress(StackError):
            self._call("DELETE", f"/connectors/{name}")


@contextlib.contextmanager
def running_worker(cache: Path, home: Path, bootstrap: str, *, heap_mb: int = 512) -> Iterator[ConnectWorker]:
    """Resolve the jars into `cache`, start a worker in `home`, stop it on the way out."""
    jars = ConnectJars(cache)
    jars.resolve()
    worker = ConnectWorker(jars, home, bootstrap, heap_mb=heap_mb)
    try:
        worker.start()
        yield worker
    finally:
        worker.stop()
