"""When the applier must stop and wait for a human: which database errors, what to tell them.

docs/design.md, Failure: an auth or configuration failure stops the component and says why, filing
no lead. For the applier that is every error TabuladorMax reports that is neither transient nor
the fault of one row: a missing privilege (42501), table (42P01) or column (42703), a refused
login (28*), a database or schema that does not exist (3D*, 3F*)... Writing the leads one at a
time would only meet the same error on each and file every one of them as refused.

So the applier stops consuming without committing, says once what is wrong and how to fix it,
and tries the same batch again every `RECHECK_SECONDS`, resuming by itself once it goes through
(like the sink's blocked state). Only `RowRejected` errors (22*, 23*: a value out of range, a
constraint) are one lead's fault, and only they send a batch into one-lead-at-a-time writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.postgres.errors import PostgresError, RowRejected
from streamer.logging import get_logger

RECHECK_SECONDS = 5.0

MIGRATE = "run `streamer db migrate --target source` (or check STREAMER_SOURCE__SCHEMA_NAME / __TABLE)"

# SQLSTATE (exact, then its two-character class) → what to do about it. {table} is filled in.
_FIXES: dict[str, str] = {
    "42501": "grant the role in STREAMER_SOURCE__DSN SELECT, INSERT and UPDATE on {table} "
             "(GRANT SELECT, INSERT, UPDATE ON {table} TO <role>)",
    "42P01": "the table {table} does not exist: " + MIGRATE,
    "42703": "{table} lacks a column the applier writes: " + MIGRATE,
    "3F000": "the schema of {table} does not exist: " + MIGRATE,
    "28": "TabuladorMax refused the login: check the user and password in STREAMER_SOURCE__DSN "
          "(percent-encoded) and the server's pg_hba.conf",
    "3D": "the database named in STREAMER_SOURCE__DSN does not exist on TabuladorMax's server",
    "42": "the statement does not fit {table} as it is: " + MIGRATE + ", then `streamer validate schema`",
}
_DEFAULT_FIX = "fix the cause above on TabuladorMax"

log = get_logger(__name__)


def is_blocking(exc: PostgresError) -> bool:
    """Whether `exc` should stop the applier until fixed: reported by the server (it has a
    SQLSTATE), not retriable, and not one row's fault. An error without a SQLSTATE (a DSN
    asyncpg cannot parse, a programming error) cannot be fixed from outside: it stays fatal."""
    return not exc.retriable and not isinstance(exc, RowRejected) and exc.sqlstate is not None


def fix_for(sqlstate: str | None, table: str) -> str:
    """What an operator should do about `sqlstate` on `table`, in one sentence.

    >>> fix_for("42P01", "public.leads").startswith("the table public.leads does not exist")
    True
    """
    code = sqlstate or ""
    fix = _FIXES.get(code) or _FIXES.get(code[:2]) or _DEFAULT_FIX
    return f"{fix.format(table=table)}; the applier retries by itself and resumes once this is fixed"


@dataclass
class Blocked:
    """The applier's blocked state: the error it waits on, and `during` which step ("connect",
    "write"). Transitions are logged once each, so an outage of any length gives two lines, not
    one per retry."""

    table: str
    sqlstate: str | None = None
    cause: str = ""
    during: str = ""

    @property
    def is_blocked(self) -> bool:
        return bool(self.during)

    def block(self, exc: PostgresError, during: str) -> None:
        if (exc.sqlstate, during) == (self.sqlstate, self.during):
            return
        self.sqlstate, self.cause, self.during = exc.sqlstate, str(exc), during
        log.error("applier blocked: consuming stopped, nothing committed", cause=self.cause,
                  sqlstate=exc.sqlstate, fix=fix_for(exc.sqlstate, self.table))

    def clear(self) -> None:
        if self.is_blocked:
            log.info("applier unblocked: consuming again", was=self.sqlstate)
        self.sqlstate, self.cause, self.during = None, "", ""
