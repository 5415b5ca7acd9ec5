"""The audit log: who did what to which job (or mapping), when, with what parameters.

    await audit.record(conn, actor="ana", action="job.pause", job_id=job.id)
    await audit.record(conn, actor="ana", action="mapping.import",
                       parameters={"file": "mapping.json", "sha256": "..."})

Write it in the same transaction as the action it describes, so one never exists without the other.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from connectors.postgres.errors import translate_errors


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime
    actor: str
    action: str
    job_id: str | None
    parameters: dict[str, Any]


def default_operator() -> str:
    """The OS user, the operator's name when `history.operator` is not configured."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers) and no LOGNAME/USER
        return "unknown"


async def record(conn: asyncpg.Connection, *, actor: str, action: str, job_id: str | None = None,
                 parameters: Mapping[str, Any] | None = None) -> None:
    """Append one entry; `parameters` must be JSON-serialisable (dates become ISO strings)."""
    payload = orjson.dumps(dict(parameters or {}), default=str).decode()
    with translate_errors("write the audit log"):
        await conn.execute(
            "INSERT INTO public.streamer_audit_log (actor, action, job_id, parameters) "
            "VALUES ($1, $2, $3::uuid, $4::jsonb)", actor, action, job_id, payload)


async def entries(conn: asyncpg.Connection, *, job_id: str | None = None, limit: int = 50) -> list[Entry]:
    """The newest entries first, for one job or for all."""
    with translate_errors("read the audit log"):
        rows = await conn.fetch(
            "SELECT at, actor, action, job_id::text AS job_id, parameters::text AS parameters "
            "FROM public.streamer_audit_log WHERE $1::uuid IS NULL OR job_id = $1::uuid "
            "ORDER BY at DESC, id DESC LIMIT $2", job_id, limit)
    return [Entry(r["at"], r["actor"], r["action"], r["job_id"], orjson.loads(r["parameters"])) for r in rows]
