"""A PostgREST-compatible server for development and tests (Supabase's `/rest/v1/` behaviour).

The pure parts (Prefer parsing, query-string parsing, SQL building, error mapping, the OpenAPI
document) live in their own modules and take literal inputs; `app.py` wires them to asyncpg and
Starlette. The behaviour follows `docs/postgrest.md`.

    from connectors.postgrest.server import ServerConfig, create_app
"""

from connectors.postgrest.server.app import create_app
from connectors.postgrest.server.config import ServerConfig

__all__ = ["ServerConfig", "create_app"]
