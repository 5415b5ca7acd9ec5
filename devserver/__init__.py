"""A PostgREST-compatible server for development and tests (Supabase's `/rest/v1/` behaviour).

A development tool, not part of the product: it is left out of the wheel and the image, imports
nothing from `streamer`, runs as `python -m devserver` and is started by other programs through
`devserver.launch`.

The pure parts (Prefer parsing, query-string parsing, SQL building, error mapping, the OpenAPI
document) live in their own modules and take literal inputs; `app.py` wires them to asyncpg and
Starlette. The behaviour follows `docs/postgrest.md`.

    from devserver import ServerConfig, create_app
"""

from devserver.app import create_app
from devserver.config import ServerConfig

__all__ = ["ServerConfig", "create_app"]
