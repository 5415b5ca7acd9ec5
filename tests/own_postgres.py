"""A PostgreSQL server of a test's own (devstack's `PostgresNode`, Debian's binaries) in a
temporary folder, on a free port: for a test that must restart a database or change its
password, which the shared stack's servers must never go through."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from connectors.postgres.migrations import apply_to
from devserver.launch import free_port
from devstack.postgres import PostgresNode, find_bindir
from schemas.sql_files import Target, migration_files
from streamer.errors import PrerequisiteError


@asynccontextmanager
async def own_postgres(password: str, database: str, migrations: Target | None = None) -> AsyncIterator[PostgresNode]:
    """initdb, start, create `database` (and apply the `migrations` of that side); stopped and
    deleted at the end. The folder is under /tmp, traversable by every user: PostgreSQL runs as
    `postgres` when the tests run as root."""
    try:
        find_bindir()
    except PrerequisiteError as exc:  # services from testcontainers, no local PostgreSQL
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(str(exc))
    root = Path(tempfile.mkdtemp(prefix="streamer-pg-", dir="/tmp"))
    os.chmod(root, 0o755)
    node = PostgresNode("own", root, free_port(), password, database)
    try:
        await asyncio.to_thread(node.init)
        await asyncio.to_thread(node.start)
        await node.ensure_database()
        if migrations is not None:
            await apply_to(node.dsn(), migration_files(migrations))
        yield node
    finally:
        await asyncio.to_thread(node.stop)
        shutil.rmtree(root, ignore_errors=True)
