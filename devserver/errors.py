"""The error envelope and the SQLSTATE → HTTP status mapping (docs/postgrest.md §2).

Exception tree:

    ServerError                 root of this package
    ├── ApiError                an HTTP error response: PostgREST's `{code, details, hint, message}`
    │                           or, with `code=None`, a gateway body `{message, hint}`
    └── (ConfigError lives in config.py; it never reaches HTTP)

asyncpg errors are translated by `from_postgres` at the one place SQL runs (`db.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

JSON_UTF8 = "application/json; charset=utf-8"


class ServerError(Exception):
    """Root of the dev server's exceptions."""


@dataclass
class ApiError(ServerError):
    """An error response. `code=None` marks a gateway (Kong/Envoy) error, whose body has no code."""

    status: int
    code: str | None
    message: str
    details: str | None = None
    hint: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self) -> bytes:
        """The JSON body, keys in alphabetical order as PostgREST serialises them."""
        if self.code is None:
            gateway: dict[str, str] = {"message": self.message}
            if self.hint is not None:
                gateway["hint"] = self.hint
            return orjson.dumps(gateway, option=orjson.OPT_SORT_KEYS)
        envelope = {
            "code": self.code,
            "details": self.details,
            "hint": self.hint,
            "message": self.message,
        }
        return orjson.dumps(envelope)

    def response_headers(self) -> dict[str, str]:
        """Content-Type, Proxy-Status (v13+) and any error-specific headers."""
        headers = {"content-type": JSON_UTF8}
        if self.code is not None:
            headers["proxy-status"] = f"PostgREST; error={self.code}"
        headers.update(self.headers)
        return headers


def pg_error_status(sqlstate: str, message: str, *, authenticated: bool) -> int:
    """HTTP status for a PostgreSQL error, as PostgREST's `pgErrorStatus` (docs/postgrest.md §2.2).

    `authenticated` is PostgREST's flag `role != db-anon-role`: it turns 42501 into 403 instead
    of 401.
    """
    exact = {
        "23503": 409,
        "23505": 409,
        "25006": 405,
        "53400": 500,
        "57P01": 503,
        "42883": 406 if message.startswith("function xmlagg(") else 404,
        "42P01": 404,
        "42P17": 500,
        "P0001": 400,
    }
    if sqlstate in exact:
        return exact[sqlstate]
    if sqlstate == "42501":
        return 403 if authenticated else 401
    if sqlstate == "21000":
        return 400 if message.endswith("requires a WHERE clause") else 500
    if sqlstate == "22023":
        is_missing_role = message.startswith("role ") and message.endswith("does not exist")
        return 401 if is_missing_role else 400
    if sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        return int(sqlstate[2:])
    return _CLASS_STATUS.get(sqlstate[:2], 400)


_CLASS_STATUS = {
    "08": 503,
    "09": 500,
    "0L": 403,
    "0P": 403,
    "25": 500,
    "28": 403,
    "2D": 500,
    "38": 500,
    "39": 500,
    "3B": 500,
    "40": 500,
    "53": 503,
    "54": 500,
    "55": 500,
    "57": 500,
    "58": 500,
    "F0": 500,
    "HV": 500,
    "P0": 500,
    "XX": 500,
}


def postgres_error(
    sqlstate: str,
    message: str,
    detail: str | None,
    hint: str | None,
    *,
    authenticated: bool,
) -> ApiError:
    """The response PostgREST gives for a PostgreSQL error: SQLSTATE, message, detail and hint verbatim."""
    status = pg_error_status(sqlstate, message, authenticated=authenticated)
    headers: dict[str, str] = {}
    if status == 401:
        headers["www-authenticate"] = "Bearer"
    if status == 503:
        headers["retry-after"] = "1"
    return ApiError(status, sqlstate, message, detail or None, hint or None, headers)


# --- PostgREST's own errors (docs/postgrest.md §2.3), named for what went wrong ---------------------


def invalid_body(reason: str) -> ApiError:
    """PGRST102: `Empty or invalid json`, `All object keys must match`, `Content-Type not acceptable`."""
    return ApiError(400, "PGRST102", reason)


def parse_error(message: str, details: str | None = None) -> ApiError:
    """PGRST100: an unparsable query-string parameter."""
    return ApiError(400, "PGRST100", message, details)


def unknown_table(schema: str, table: str) -> ApiError:
    """PGRST205 (v13+): the table is not in the schema cache."""
    return ApiError(404, "PGRST205", f"Could not find the table '{schema}.{table}' in the schema cache")


def unknown_column(column: str, table: str) -> ApiError:
    """PGRST204: an insert/update column is not in the schema cache."""
    return ApiError(400, "PGRST204", f"Could not find the '{column}' column of '{table}' in the schema cache")


def invalid_preferences(invalid: list[str]) -> ApiError:
    """PGRST122: unknown preferences under `handling=strict`."""
    return ApiError(
        400,
        "PGRST122",
        "Invalid preferences given with handling=strict",
        "Invalid preferences: " + ", ".join(invalid),
    )


def invalid_schema(schema: str, exposed: tuple[str, ...]) -> ApiError:
    """PGRST106 (v13.0.7+): a Profile header names a schema that is not exposed."""
    return ApiError(
        406,
        "PGRST106",
        f"Invalid schema: {schema}",
        hint="Only the following schemas are exposed: " + ", ".join(exposed),
    )


def jwt_error(code: str, message: str, details: str | None = None) -> ApiError:
    """PGRST301/PGRST303: a bad or expired JWT, with the RFC 6750 challenge header."""
    challenge = f'Bearer error="invalid_token", error_description="{message}"'
    return ApiError(401, code, message, details, headers={"www-authenticate": challenge})


def schema_cache_not_loaded() -> ApiError:
    """PGRST002: no schema cache yet; PostgREST adds Retry-After to every 503."""
    return ApiError(
        503,
        "PGRST002",
        "Could not query the database for the schema cache. Retrying.",
        headers={"retry-after": "1"},
    )


def pool_timeout() -> ApiError:
    """PGRST003: no pooled connection within db-pool-acquisition-timeout."""
    return ApiError(504, "PGRST003", "Timed out acquiring connection from connection pool.")


def connection_error(details: str) -> ApiError:
    """PGRST000: the database is unreachable."""
    return ApiError(
        503,
        "PGRST000",
        "Database connection error. Retrying the connection.",
        details,
        headers={"retry-after": "1"},
    )


def range_not_satisfiable(details: str) -> ApiError:
    """PGRST103: an offset beyond the total or a negative limit."""
    return ApiError(416, "PGRST103", "Requested range not satisfiable", details)


def invalid_path() -> ApiError:
    """PGRST125 (v13+): a path that names no resource."""
    return ApiError(404, "PGRST125", "Invalid path specified in request URL")


def where_clause_required(command: str) -> ApiError:
    """pg-safeupdate's refusal of an unfiltered `DELETE`/`UPDATE` (21000, 400 by its message)."""
    return postgres_error("21000", f"{command} requires a WHERE clause", None, None, authenticated=True)


def unsupported_method(method: str) -> ApiError:
    """PGRST117: a method this server does not implement."""
    return ApiError(405, "PGRST117", f"Unsupported HTTP method: {method}")
