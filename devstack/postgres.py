"""A PostgreSQL server of the local stack, from the machine's (Debian's) binaries."""

from __future__ import annotations

import glob
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import asyncpg

from devstack.process import as_user, chown_to, port_open, run, service_user, wait_until
from streamer.errors import PrerequisiteError

SETTINGS = """
# --- streamer local stack ---
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
wal_level = logical
max_replication_slots = 32
max_wal_senders = 32
max_connections = 200
shared_buffers = 256MB
log_min_messages = warning
"""


def find_bindir() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian layout), or say what to install."""
    override = os.environ.get("STREAMER_PG_BINDIR")
    candidates = [override] if override else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2])
    )
    for candidate in reversed(candidates):
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise PrerequisiteError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
    )


@dataclass(frozen=True)
class PostgresNode:
    name: str
    root: Path
    port: int
    password: str
    database: str

    @property
    def data_dir(self) -> Path:
        return self.root / self.name

    @property
    def log(self) -> Path:
        return self.data_dir / "server.log"

    def dsn(self, database: str | None = None) -> str:
        return (f"postgresql://postgres:{quote(self.password, safe='')}@127.0.0.1:{self.port}/"
                f"{database or self.database}")

    def is_running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists() and port_open("127.0.0.1", self.port)

    def init(self) -> bool:
        """initdb once (scram passwords, wal_level=logical); False if it was already there."""
        if (self.data_dir / "PG_VERSION").exists():
            return False
        bindir, user = find_bindir(), service_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user and subprocess.run(["runuser", "-u", user, "--", "test", "-x", str(self.root)],
                                   check=False).returncode != 0:
            raise PrerequisiteError(f"PostgreSQL runs as {user!r}, which cannot enter {self.root}: "
                                    "set STREAMER_DEV__DIR to a folder every user can traverse")
        self.data_dir.chmod(0o700)
        chown_to(self.data_dir, user)
        pwfile = self.root / f".{self.name}.pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        chown_to(pwfile, user)
        run(as_user([str(bindir / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                     "--auth-host=scram-sha-256", "--auth-local=trust", f"--pwfile={pwfile}",
                     "-E", "UTF8", "--locale=C.UTF-8"], user), what=f"initdb of {self.name}")
        pwfile.unlink()
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(SETTINGS.format(port=self.port, socket_dir=self.data_dir))
        return True

    def start(self) -> float:
        if self.is_running():
            return 0.0
        if port_open("127.0.0.1", self.port):
            raise PrerequisiteError(f"port {self.port} is taken by another program; "
                                    f"set STREAMER_DEV__{self.name.upper()}_PORT to a free port")
        run(as_user([str(find_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log),
                     "-w", "-t", "60", "start"], service_user()), what=f"starting {self.name} PostgreSQL")
        return wait_until(self.is_running, timeout=30, what=f"{self.name} PostgreSQL", log=self.log)

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            run(as_user([str(find_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast",
                         "-w", "stop"], service_user()), what=f"stopping {self.name} PostgreSQL")

    async def ensure_database(self) -> None:
        conn = await asyncpg.connect(self.dsn("postgres"))
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", self.database)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await conn.close()
