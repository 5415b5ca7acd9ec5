"""PostgREST errors, translated at the connector boundary.

    PostgrestError             root (a `connectors.errors.ConnectorError`): status, code, message,
                               details, hint, retry_after, body
    ├── PostgrestUnavailable   network error, timeout, 408, 429, 5xx: retriable
    ├── PostgrestAuthError     401/403: the key is wrong or lacks a grant; stop and say why
    ├── PostgrestSchemaDrift   the destination's schema (cache) and our rows disagree: pause
    ├── PostgrestDestinationFault  the destination as a whole takes no write (read-only, no such
    │                          table or function, a redirect, our request's shape): stop and say why
    ├── PostgrestRejected      any other 4xx, and the 5xx that rows cause: this request's data is
    │                          refused (bisect it)
    ├── PostgrestBadResponse   a 2xx whose body is not what the API promises: retriable
    └── PostgrestConfigError   the client was built wrong (e.g. plain HTTP to a remote host)

`error_class_for(status, code)` is the one place that decides which class a response gets.
No message, repr or `body` ever contains the service key: the client scrubs it out
(`connectors.redaction.scrub`).
"""

from __future__ import annotations

from typing import Any

from connectors.errors import ConnectorError

BODY_LIMIT = 2_000

# Codes that mean "the destination's columns or key are not what we send" (docs/postgrest.md §1.2,
# §2.3 and §4): unknown column in the payload or `columns=` (PGRST204), unknown table (PGRST205),
# a dropped column still cached (42703), an `on_conflict` target without a unique index (42P10).
SCHEMA_DRIFT_CODES = frozenset({"PGRST204", "PGRST205", "42703", "42P10"})
# Codes no row can cause, so bisecting would blame every lead of the batch (docs/postgrest.md §2.2):
# 25006 read-only transaction (405): Supabase's read-only mode once the disk is full; 42P01
# undefined table (404): a table dropped behind the schema cache's back; 42883 undefined function
# (404): a function the table's triggers call is gone.
DESTINATION_CODES = frozenset({"25006", "42P01", "42883"})
# PostgREST's group 1 (docs/postgrest.md §2.3) is about the request's shape (path, query string,
# headers, body framing), which the client builds the same way whatever the rows hold.
DESTINATION_CODE_PREFIX = "PGRST1"
# Statuses no row can cause (docs/postgrest.md §2.2, §2.3, §6): 404 no such table or path (v12 answers
# a POST to an unknown table 404 `{}`), 405/406 method or media type refused, 407 a proxy wants
# credentials, 410 gone, 411/415 request framing, 414 URI too long (`columns=`, `in.(…)`), 416
# range, 421/426 wrong host or protocol, 431 headers too large. Any 3xx too: a URL that is not
# PostgREST's own (httpx follows no redirect).
DESTINATION_STATUSES = frozenset({404, 405, 406, 407, 410, 411, 414, 415, 416, 421, 426, 431})
# A 5xx that the rows cause, so retrying cannot help and bisection finds them (docs/postgrest.md §2.2):
# 21000 "ON CONFLICT DO UPDATE command cannot affect row a second time" (a merge batch repeating
# a key); 42P17 infinite recursion (a recursive view, policy or trigger the row sets off).
PERMANENT_SERVER_CODES = frozenset({"21000", "42P17"})
# SQLSTATE classes of the same kind: 09 triggered action, 2D invalid transaction termination, 38
# external routine, 39 routine invocation (e.g. 39P01 trigger protocol violated), 3B savepoint, 54
# program limit (54000: an over-long value in an indexed column), P0 PL/pgSQL: P0001 RAISE (400),
# P0002 no_data_found, P0003 too_many_rows, P0004 assert_failure (500), from a trigger's checks.
# Still transient: 08 connection, 40 serialization / deadlock, 53 resources, 57 (57014 statement
# timeout, 57P01 shutdown), 58 system, XX internal.
PERMANENT_SERVER_CLASSES = frozenset({"09", "2D", "38", "39", "3B", "54", "P0"})


class PostgrestError(ConnectorError):
    """A failed PostgREST call. `status` is None when no response arrived; the class (and so
    `retriable`) follows the status and code (`error_class_for`)."""

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
        retriable: bool | None = None,
    ) -> None:
        super().__init__(message, retriable=retriable)
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


class PostgrestDestinationFault(PostgrestError):
    """The destination refuses every write, whatever the rows: blaming leads would file them all."""


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
    if status in (401, 403):
        return PostgrestAuthError
    if destination_wide(status, code):
        return PostgrestDestinationFault
    if caused_by_rows(code):
        return PostgrestRejected
    # 408 is the gateway's timeout; 429 its burst limit; 5xx incl. Supabase's 540/544 and
    # PostgREST's 503 PGRST000-002 / 504 PGRST003 (docs/postgrest.md §6): all worth retrying.
    if status in (408, 429) or status >= 500:
        return PostgrestUnavailable
    return PostgrestRejected


def destination_wide(status: int, code: str | None) -> bool:
    """True when no row can cause this answer, so the whole destination is at fault."""
    if code is not None and (code in DESTINATION_CODES or code.startswith(DESTINATION_CODE_PREFIX)):
        return True
    return 300 <= status < 400 or status in DESTINATION_STATUSES


def caused_by_rows(code: str | None) -> bool:
    """True for a server error whose SQLSTATE says the rows set it off, whatever its status."""
    return code is not None and (code in PERMANENT_SERVER_CODES or code[:2] in PERMANENT_SERVER_CLASSES)
