"""PostgREST errors, translated at the connector boundary.

    PostgrestError             root: status, code, message, details, hint, retry_after, body
    ├── PostgrestUnavailable   network error, timeout, 408, 429, 5xx: retriable
    ├── PostgrestAuthError     401/403: the key is wrong or lacks a grant; stop and say why
    ├── PostgrestSchemaDrift   the destination's schema (cache) and our rows disagree: pause
    ├── PostgrestRejected      any other 4xx: this request's data is refused (bisect it)
    ├── PostgrestBadResponse   a 2xx whose body is not what the API promises: retriable
    └── PostgrestConfigError   the client was built wrong (e.g. plain HTTP to a remote host)

`error_class_for(status, code)` is the one place that decides which class a response gets.
No message, repr or `body` ever contains the service key: `scrub()` removes it.
"""

from __future__ import annotations

from typing import Any

BODY_LIMIT = 2_000

# Codes that mean "the destination's columns or key are not what we send" (postgrest.md §1.2,
# §2.3 and §4): unknown column in the payload or `columns=` (PGRST204), unknown table (PGRST205),
# a dropped column still cached (42703), an `on_conflict` target without a unique index (42P10).
SCHEMA_DRIFT_CODES = frozenset({"PGRST204", "PGRST205", "42703", "42P10"})
# A 500 that is deterministic, so retrying cannot help (postgrest.md §2.2): 21000 is "ON CONFLICT
# DO UPDATE command cannot affect row a second time", a merge batch repeating a key.
PERMANENT_SERVER_CODES = frozenset({"21000"})


class PostgrestError(Exception):
    """A failed PostgREST call. `status` is None when no response arrived."""

    retriable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: Any = None,
        hint: str | None = None,
        retry_after: float | None = None,
        body: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = details
        self.hint = hint
        self.retry_after = retry_after
        self.body = body[:BODY_LIMIT]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class PostgrestUnavailable(PostgrestError):
    retriable = True


class PostgrestAuthError(PostgrestError):
    pass


class PostgrestSchemaDrift(PostgrestError):
    pass


class PostgrestRejected(PostgrestError):
    pass


class PostgrestBadResponse(PostgrestError):
    retriable = True  # a proxy's garbled 2xx; the next try may reach PostgREST


class PostgrestConfigError(PostgrestError):
    pass


def error_class_for(status: int, code: str | None) -> type[PostgrestError]:
    """The class for an error response, from its HTTP status and PostgREST/SQLSTATE code."""
    if code in SCHEMA_DRIFT_CODES:
        return PostgrestSchemaDrift
    if code in PERMANENT_SERVER_CODES:
        return PostgrestRejected
    if status in (401, 403):
        return PostgrestAuthError
    # 408 is the gateway's timeout; 429 its burst limit; 5xx incl. Supabase's 540/544 and
    # PostgREST's 503 PGRST000-002 / 504 PGRST003 (postgrest.md §6): all worth retrying.
    if status in (408, 429) or status >= 500:
        return PostgrestUnavailable
    return PostgrestRejected


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every non-empty secret replaced by `***`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
