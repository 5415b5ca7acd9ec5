"""`devserver.db.Database` against a real PostgreSQL: a connection the server refuses is
PostgREST's PGRST000 503 with libpq-style details, never a 500 (issue 14's fault run)."""

from __future__ import annotations

from urllib.parse import urlsplit

import asyncpg
import pytest

from devserver.db import Database, TxSettings
from devserver.errors import ApiError
from devstack.stack import Endpoints

pytestmark = pytest.mark.integration
WRONG = "not-the-password-8c1f"
TX = TxSettings(role="service_role", claims_json="{}", headers_json="{}", method="GET", path="/leads",
                search_path="public", read_only=True, authenticated=True)


async def test_a_refused_password_is_a_pgrst000_503_naming_the_user_not_the_password(services: Endpoints) -> None:
    parts = urlsplit(services.destination_dsn)
    dsn = parts._replace(netloc=f"{parts.username}:{WRONG}@{parts.hostname}:{parts.port}").geturl()
    pool = await asyncpg.create_pool(dsn, min_size=0, max_size=1)
    try:
        with pytest.raises(ApiError) as caught:
            await Database(acquisition_timeout=5, pool=pool).transact(TX, [("SELECT 1", [])])
    finally:
        await pool.close()
    error = caught.value
    assert (error.status, error.code) == (503, "PGRST000")
    assert error.details is not None and "password authentication failed" in error.details
    assert WRONG not in f"{error.message} {error.details}"
