"""`python -m devserver`: configured by PostgREST's `PGRST_*` variables.

Required: `PGRST_DB_URI`, `PGRST_JWT_SECRET`. Optional: `PGRST_DB_ANON_ROLE` (anon),
`PGRST_DB_SCHEMAS` (public), `PGRST_DB_MAX_ROWS` (1000), `PGRST_SERVER_HOST` (127.0.0.1),
`PGRST_SERVER_PORT` (3000), `PGRST_DB_POOL` (10), `PGRST_DB_POOL_ACQUISITION_TIMEOUT` (10).
"""

from __future__ import annotations

import os
import sys

import uvicorn

from devserver import logs
from devserver.app import create_app
from devserver.config import ConfigError, ServerConfig


def main() -> int:
    try:
        config = ServerConfig.from_env(os.environ)
    except ConfigError as exc:
        print(f"devserver: {exc}", file=sys.stderr)
        return 2
    level = os.environ.get("PGRST_LOG_LEVEL", "warning")
    logs.configure(db_uri=config.db_uri.get_secret_value(), jwt_secret=config.jwt_secret.get_secret_value(),
                   level=level)
    uvicorn.run(
        create_app(config),
        host=config.server_host,
        port=config.server_port,
        log_level=level,
        log_config=None,  # keep the handlers logs.configure installed (scrubbed, no locals)
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
