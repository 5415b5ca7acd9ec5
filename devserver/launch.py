"""The one way other programs start the dev server: `python -m devserver` as a child process.

Used by the local stack (`devstack/services.py`, a detached process that outlives the command),
and through `launched()` by the test services (`tests/services.py`), the conformance suite
(`tests/conformance/conftest.py`) and the benchmark (`scripts/bench_postgrest.py`).

    with launched(db_uri="postgresql://postgres@127.0.0.1:5544/postgres", jwt_secret=secret) as server:
        httpx.get(server.rest_url + "/", headers=...)

The dev server is not an installed package: the child finds it through `PYTHONPATH`, which
`environment()` points at this repository whatever the child's working directory.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


class LaunchError(RuntimeError):
    """The dev server exited during start-up or did not become ready in time."""


def command() -> list[str]:
    return [sys.executable, "-m", "devserver"]


def environment(*, db_uri: str, jwt_secret: str, port: int, host: str = HOST,
                extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables to add to the child's environment: its `PGRST_*` settings (`extra` holds
    more, e.g. `{"PGRST_DB_SCHEMAS": "public"}`) and a `PYTHONPATH` that reaches this repository."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {
        "PYTHONPATH": path,
        "PGRST_DB_URI": db_uri,
        "PGRST_JWT_SECRET": jwt_secret,
        "PGRST_SERVER_HOST": host,
        "PGRST_SERVER_PORT": str(port),
        **(extra or {}),
    }


def free_port(host: str = HOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def base_url(port: int, host: str = HOST) -> str:
    return f"http://{host}:{port}"


def is_ready(base: str) -> bool:
    """`GET /_admin/ready` answers 200: the server listens and its schema cache is loaded."""
    try:
        with urllib.request.urlopen(f"{base}/_admin/ready", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):  # HTTPError (503 while loading) is a URLError
        return False


def wait_ready(base: str, *, timeout: float, alive: Callable[[], bool] = lambda: True) -> float:
    """Poll until ready; return the seconds waited, or raise LaunchError."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if is_ready(base):
            return time.monotonic() - start
        if not alive():
            raise LaunchError("the dev server exited during start-up")
        time.sleep(0.1)
    raise LaunchError(f"the dev server did not become ready within {timeout:.0f} s")


@dataclass(frozen=True)
class Running:
    port: int
    host: str
    process: subprocess.Popen[bytes]

    @property
    def base_url(self) -> str:
        return base_url(self.port, self.host)

    @property
    def rest_url(self) -> str:
        return self.base_url + "/rest/v1"


@contextmanager
def launched(*, db_uri: str, jwt_secret: str, port: int | None = None, host: str = HOST,
             extra: Mapping[str, str] | None = None, timeout: float = 60,
             log: Path | None = None) -> Iterator[Running]:
    """Start the dev server on `port` (a free one by default), wait until it is ready, and stop
    it on exit (SIGTERM, then SIGKILL after 10 s). Its standard output and error go to ours, or
    are appended to `log` when given (a test that reads what the server printed)."""
    port = port or free_port(host)
    env = {**os.environ, **environment(db_uri=db_uri, jwt_secret=jwt_secret, port=port, host=host, extra=extra)}
    if log is None:
        process = subprocess.Popen(command(), env=env, cwd=REPO)
    else:
        with log.open("ab") as out:
            process = subprocess.Popen(command(), env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(base_url(port, host), timeout=timeout, alive=lambda: process.poll() is None)
        yield Running(port, host, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
