"""The applier facing database errors, on an in-process store: a privilege, login or schema
error blocks it (nothing filed, nothing committed, retried until fixed); only a row's own data
error sends a batch into one-lead-at-a-time writes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest
from structlog.testing import capture_logs

from connectors.postgres.errors import (
    ConnectionLost,
    PermissionDenied,
    PostgresError,
    TransientError,
    from_sqlstate,
)
from schemas.debezium import Encoder, EncoderOptions
from schemas.event import ChangeEvent, SourceInfo
from streamer.applier.blocked import fix_for, is_blocking
from streamer.applier.component import ReverseApplier, Stopped
from streamer.applier.plan import Row
from streamer.applier.store import Written
from streamer.config import Settings
from streamer.metrics import Metrics

T1 = "2025-03-01T12:00:00Z"


@dataclass
class Record:
    value: bytes
    key: bytes
    partition: int = 0
    offset: int = 0
    headers: tuple[tuple[str, bytes], ...] = ()


def records(*ids: int) -> list[Record]:
    source = SourceInfo(connector="webhook", db="gestao_scouter", schema_="public", table="leads", ts_ms=1,
                        sync_source="gestao_scouter")
    return [Record(ChangeEvent(op="u", after={"id": i, "name": f"n{i}", "updated_at": T1}, source=source).to_bytes(),
                   str(i).encode(), offset=n) for n, i in enumerate(ids)]


@dataclass
class FakeStore:
    """Stands in for LeadStore: `fail(rows, call)` returns the error to raise for a write, or None
    to accept it; every write is recorded with whether the applier looked healthy then."""

    fail: Callable[[Sequence[Row], int], PostgresError | None]
    applier: ReverseApplier | None = None
    calls: list[tuple[list[int], bool]] = field(default_factory=list)

    async def write(self, rows: Sequence[Row], update_only: Sequence[bool] = ()) -> Written:
        healthy = self.applier.healthy() if self.applier is not None else True
        self.calls.append(([r["id"] for r in rows], healthy))
        error = self.fail(rows, len(self.calls))
        if error is not None:
            raise error
        return Written(applied=len(rows), stale=0)


@dataclass
class FakeDeadLetters:
    sent: list[tuple[str, bytes | None, list[tuple[str, bytes]]]] = field(default_factory=list)

    async def send(self, topic: str, value: bytes | None, *, key: bytes | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> None:
        self.sent.append((topic, key, headers or []))


def applier() -> ReverseApplier:
    return ReverseApplier(Settings(), Metrics(), recheck_seconds=0.01)


SETUP_ERRORS = [("42501", "permission denied for table leads"), ("42P01", 'relation "public.leads" does not exist'),
                ("42703", 'column "email" of relation "leads" does not exist'),
                ("28P01", 'password authentication failed for user "x"'), ("3D000", 'database "x" does not exist'),
                ("3F000", 'schema "x" does not exist')]


@pytest.mark.parametrize(("sqlstate", "message"), SETUP_ERRORS)
async def test_a_setup_error_blocks_files_no_lead_and_the_same_batch_lands_once_fixed(
    sqlstate: str, message: str,
) -> None:
    """The batch is retried whole (never split), the applier reports unhealthy and not ready
    while it waits, nothing goes to the dead-letter topic, and it recovers by itself."""
    component = applier()
    store = FakeStore(lambda rows, call: from_sqlstate(sqlstate, message) if call <= 3 else None, component)
    dead = FakeDeadLetters()
    written = await component.apply(records(1, 2, 3), store, dead, asyncio.Event())  # type: ignore[arg-type]
    assert written == Written(applied=3, stale=0)
    assert [ids for ids, _ in store.calls] == [[1, 2, 3]] * 4
    assert [healthy for _, healthy in store.calls] == [True, False, False, False]
    assert dead.sent == [] and component.healthy()


async def test_a_block_is_logged_once_with_its_fix_and_its_end_once() -> None:
    """However long it lasts, a block gives one error line naming cause and fix, and one line
    when it clears."""
    component = applier()
    store = FakeStore(lambda rows, call: PermissionDenied("permission denied for table leads", sqlstate="42501")
                      if call <= 5 else None)
    with capture_logs() as logs:
        await component.apply(records(1), store, FakeDeadLetters(), asyncio.Event())  # type: ignore[arg-type]
    blocked = [e for e in logs if e["event"].startswith("applier blocked")]
    assert len(blocked) == 1 and blocked[0]["log_level"] == "error"
    assert blocked[0]["sqlstate"] == "42501" and "GRANT SELECT, INSERT, UPDATE ON" in blocked[0]["fix"]
    assert len([e for e in logs if e["event"].startswith("applier unblocked")]) == 1


async def test_asked_to_stop_while_blocked_it_leaves_without_filing_so_nothing_is_committed() -> None:
    """Stopping during a block raises Stopped (the loop then skips the commit); no lead is filed."""
    component = applier()
    stopping = asyncio.Event()

    def fail(rows: Sequence[Row], call: int) -> PostgresError:
        stopping.set()
        return from_sqlstate("42P01", 'relation "public.leads" does not exist')

    dead = FakeDeadLetters()
    with pytest.raises(Stopped):
        await component.apply(records(1, 2), FakeStore(fail), dead, stopping)  # type: ignore[arg-type]
    assert dead.sent == [] and not component.healthy() and not component.ready()


async def test_a_data_error_still_finds_the_lead_at_fault_one_at_a_time() -> None:
    """A value out of range (22003) refuses the batch; each lead is then written alone and only
    the culprit goes to the dead-letter topic, with its SQLSTATE."""
    def fail(rows: Sequence[Row], call: int) -> PostgresError | None:
        bad = any(r["id"] == 2 for r in rows)
        return from_sqlstate("22003", "integer out of range") if bad else None

    store, dead = FakeStore(fail), FakeDeadLetters()
    written = await applier().apply(records(1, 2, 3), store, dead, asyncio.Event())  # type: ignore[arg-type]
    assert written == Written(applied=2, stale=0)
    assert [ids for ids, _ in store.calls] == [[1, 2, 3], [1], [2], [3]]
    assert [(key, dict(headers)) for _, key, headers in dead.sent] == [
        (b"2", {"error": b"refused", "sqlstate": b"22003"})]


@pytest.mark.parametrize(("error", "blocking"), [
    (PermissionDenied("x", sqlstate="42501"), True),
    (from_sqlstate("42703", "x"), True),
    (from_sqlstate("28000", "x"), True),
    (from_sqlstate("3D000", "x"), True),
    (from_sqlstate("XX000", "x"), True),  # unknown: wait for a human rather than file every lead
    (from_sqlstate("23505", "x"), False),
    (from_sqlstate("22P02", "x"), False),
    (TransientError("x", sqlstate="40001"), False),
    (ConnectionLost("x"), False),
    (PostgresError("no SQLSTATE: a programming error, or a DSN asyncpg cannot parse"), False),
])
def test_blocking_errors_are_the_servers_that_neither_pass_nor_belong_to_a_row(
    error: PostgresError, blocking: bool,
) -> None:
    """Row faults (22*, 23*) and transient errors do not block; setup errors do."""
    assert is_blocking(error) is blocking


@pytest.mark.parametrize(("sqlstate", "says"), [
    ("42501", "GRANT SELECT, INSERT, UPDATE ON public.leads"), ("42P01", "streamer db migrate --target source"),
    ("42703", "lacks a column"), ("28P01", "user and password in STREAMER_SOURCE__DSN"),
    ("3D000", "database named in STREAMER_SOURCE__DSN"), (None, "fix the cause above"),
])
def test_each_block_names_its_fix(sqlstate: str | None, says: str) -> None:
    """The log line tells the operator what to do, and that the applier resumes by itself."""
    fix = fix_for(sqlstate, "public.leads")
    assert says in fix and fix.endswith("resumes once this is fixed")


async def test_both_event_formats_apply_and_a_tombstone_is_skipped_not_dead_lettered() -> None:
    """The reverse topic may hold the legacy format (the release before), the debezium one, with
    or without the schema envelope, and tombstones: every event applies, nothing is filed."""
    event = ChangeEvent(op="u", after={"id": 4, "name": "n4", "updated_at": T1},
                        source=SourceInfo(connector="webhook", db="gestao_scouter", schema_="public", table="leads",
                                          ts_ms=1, sync_source="gestao_scouter"))
    plain = Encoder(EncoderOptions(name="gestao_scouter")).records(event.model_copy(update={"after": {
        "id": 5, "name": "n5", "updated_at": T1}}))
    enveloped = Encoder(EncoderOptions(name="gestao_scouter", schemas=True)).records(event)
    batch = [*records(1), Record(plain[0][1] or b"", plain[0][0], offset=1, headers=tuple(plain[0][2])),
             Record(None, b'{"id":9}', offset=2), Record(enveloped[0][1] or b"", enveloped[0][0], offset=3)]  # type: ignore[arg-type]
    store, dead = FakeStore(lambda rows, call: None), FakeDeadLetters()
    written = await applier().apply(batch, store, dead, asyncio.Event())  # type: ignore[arg-type]
    assert written == Written(applied=3, stale=0) and [ids for ids, _ in store.calls] == [[1, 5, 4]]
    assert dead.sent == []
