"""The stack's Python and Go services: the PostgREST-compatible server (started the way
`devserver/launch.py` says) and Prometheus."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from devserver import launch
from devstack.process import (
    pid_alive,
    port_open,
    read_pid,
    require_program,
    spawn,
    stop_pid_file,
    wait_until,
)
from streamer.errors import PrerequisiteError

PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 5s
  evaluation_interval: 5s
scrape_configs:
  - job_name: streamer
    static_configs:
      - targets: ['127.0.0.1:{streamer_port}']
"""


def http_ok(url: str, headers: dict[str, str] | None = None) -> bool:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(response.status < 500)
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


@dataclass(frozen=True)
class ManagedProcess:
    """A background process with a pid file and a log in the stack directory."""

    name: str
    home: Path
    port: int

    @property
    def log(self) -> Path:
        return self.home / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.home / f"{self.name}.pid"

    def is_running(self) -> bool:
        return pid_alive(read_pid(self.pid_file)) and port_open("127.0.0.1", self.port)

    def _launch(self, cmd: list[str], env: dict[str, str] | None = None) -> int:
        if port_open("127.0.0.1", self.port):
            raise PrerequisiteError(f"port {self.port} for {self.name} is taken by another program")
        self.home.mkdir(parents=True, exist_ok=True)
        pid = spawn(cmd, log=self.log, env=env, cwd=self.home)
        self.pid_file.write_text(str(pid))
        return pid

    def stop(self) -> None:
        stop_pid_file(self.pid_file, timeout=15)


@dataclass(frozen=True)
class PostgrestServer(ManagedProcess):
    def start(self, *, db_uri: str, jwt_secret: str) -> float:
        if self.is_running():
            return 0.0
        env = launch.environment(db_uri=db_uri, jwt_secret=jwt_secret, port=self.port,
                                 extra={"PGRST_DB_ANON_ROLE": "anon", "PGRST_DB_SCHEMAS": "public"})
        pid = self._launch(launch.command(), env)
        url = launch.base_url(self.port)
        return wait_until(lambda: launch.is_ready(url), timeout=60, what="PostgREST-compatible server",
                          log=self.log, alive=lambda: pid_alive(pid))

@dataclass(frozen=True)
class Prometheus(ManagedProcess):
    def start(self, *, streamer_port: int) -> float:
        if self.is_running():
            return 0.0
        binary = require_program("prometheus", "apt-get install prometheus")
        config = self.home / "prometheus.yml"
        self.home.mkdir(parents=True, exist_ok=True)
        config.write_text(PROMETHEUS_CONFIG.format(streamer_port=streamer_port))
        pid = self._launch([binary, f"--config.file={config}", f"--storage.tsdb.path={self.home / 'data'}",
                            f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"])
        url = f"http://127.0.0.1:{self.port}/-/ready"
        return wait_until(lambda: http_ok(url), timeout=60, what="Prometheus", log=self.log,
                          alive=lambda: pid_alive(pid))
