"""Land one plan at the destination: 50-lead upserts and deletes, retried, bisected.

    transient (network, timeout, 5xx, 429)  -> back off (Retry-After honoured) and retry, forever
    auth (401/403), schema drift (PGRST204)  -> blocked: retry slowly, file nothing as failed
    permanent 4xx                            -> bisect; culprits go to the error table + DLQ

A stop request during a retry abandons the batch (`Abandoned`): its offsets are not committed,
so the next owner of the partition lands it. Nothing is ever skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from connectors.postgrest.client import PostgrestClient
from connectors.postgrest.errors import PostgrestError
from schemas.event import HEADER_JOB_ID, header
from streamer.metrics import Metrics
from streamer.sink.batch import Plan, RecordLike, Upsert
from streamer.sink.bisect import Bisection
from streamer.sink.failures import FailedLead
from streamer.sink.health import AUTH_FIX, DRIFT_FIX, SinkHealth
from streamer.sink.mapping import IDENTITY
from streamer.sink.ratelimit import RateLimiter
from streamer.sink.retry import Disposition, RetryPolicy, classify
from streamer.validation.drift import destination_drift

BLOCKED_RECHECK_SECONDS = 5.0


class Abandoned(Exception):
    """The sink is stopping while this batch still waits on the destination."""


@dataclass
class Landed:
    upserts: int = 0
    deletes: int = 0
    source_ts_ms: list[int] = field(default_factory=list)
    by_job: dict[str, list[int]] = field(default_factory=dict)
    failed: list[FailedLead] = field(default_factory=list)


class Lander:
    def __init__(self, client: PostgrestClient, table: str, *, policy: RetryPolicy, limiter: RateLimiter,
                 metrics: Metrics, health: SinkHealth, stopping: asyncio.Event, max_rows: int = 50,
                 blocked_recheck: float = BLOCKED_RECHECK_SECONDS) -> None:
        self.client, self.table, self.policy, self.limiter = client, table, policy, limiter
        self.metrics, self.health, self.stopping, self.max_rows = metrics, health, stopping, max_rows
        self.blocked_recheck = blocked_recheck
        self._columns: tuple[str, ...] = ()

    async def land(self, plan: Plan, records: Mapping[int, RecordLike]) -> Landed:
        """Upsert and delete what `plan` says; return what landed and what failed."""
        out = Landed()
        for poison in plan.poison:
            out.failed.append(FailedLead(_int_key(poison.key), _job(records, (poison.offset,)), None,
                                         f"undecodable event: {poison.reason}", None,
                                         ((poison.offset, poison.key, poison.value),)))
        for request in plan.requests(self.max_rows):
            rows, columns = request.rows, request.columns
            error = await self._call(self._upsert(rows, columns, plan.key_column))
            landed, culprits = (rows, []) if error is None else await self._bisect(rows, columns, plan, error)
            for upsert in landed:
                self._count_landed(out, upsert.lead_id, upsert.source_ts_ms, upsert.offsets, records)
            out.upserts += len(landed)
            for upsert, err in culprits:
                out.failed.append(_failed(upsert.lead_id, upsert.offsets, records, err, dict(upsert.row)))
        if plan.deletes:
            ids = plan.delete_ids()
            error = await self._call(lambda: self.client.delete(self.table, ids, key=plan.key_column))
            for delete in plan.deletes:
                if error is None:
                    self._count_landed(out, delete.lead_id, delete.source_ts_ms, delete.offsets, records)
                else:
                    out.failed.append(_failed(delete.lead_id, delete.offsets, records, error, None))
            out.deletes += 0 if error else len(ids)
        return out

    async def _bisect(self, rows: Sequence[Upsert], columns: Sequence[str], plan: Plan,
                      error: PostgrestError) -> tuple[tuple[Upsert, ...], list[tuple[Upsert, PostgrestError]]]:
        bisection: Bisection[Upsert, PostgrestError] = Bisection(tuple(rows), error)
        while (chunk := bisection.next()) is not None:
            failure = await self._call(self._upsert(chunk, columns, plan.key_column))
            if failure is None:
                bisection.landed()
            else:
                bisection.rejected(failure)
        result = bisection.result
        return result.landed, [(c.item, c.error) for c in result.culprits]

    def _upsert(self, rows: Sequence[Upsert], columns: Sequence[str], key: str) -> Callable[[], Awaitable[None]]:
        payload = [dict(u.row) for u in rows]

        async def send() -> None:
            self._columns = tuple(columns)  # for the drift report, should the destination refuse one
            await self.client.upsert(self.table, payload, on_conflict=key, columns=columns)
        return send

    async def _call(self, send: Callable[[], Awaitable[None]]) -> PostgrestError | None:
        """Send until it lands (None) or is refused for its data (the error)."""
        attempt = 0
        while True:
            if self.stopping.is_set() and attempt:
                raise Abandoned()
            await self.limiter.acquire()
            try:
                await send()
            except PostgrestError as exc:
                disposition = classify(exc)
                if disposition is Disposition.PERMANENT:
                    self.metrics.sink_request("rejected")
                    return exc
                attempt += 1
                await self._wait_after(exc, disposition, attempt)
                continue
            self.metrics.sink_request("ok")
            if self.health.state != "ok":
                self.health.ok()
            return None

    async def _wait_after(self, exc: PostgrestError, disposition: Disposition, attempt: int) -> None:
        if disposition is Disposition.TRANSIENT:
            reason = str(exc.status) if exc.status else "network"
            self.metrics.sink_request("transient")
            self.metrics.sink_retry(reason)
            if self.policy.exhausted(attempt):
                self.health.degraded(f"destination unavailable ({reason})", str(exc))
            delay = self.policy.delay(attempt, exc.retry_after)
        elif disposition is Disposition.SCHEMA_DRIFT:
            self.metrics.sink_request("schema_drift")
            self.health.blocked("schema_drift", await self._drift_detail(exc))
            delay = self.blocked_recheck
        else:  # auth, or a client that cannot work as configured
            self.metrics.sink_request("auth" if disposition is Disposition.AUTH else "fatal")
            self.health.blocked("auth" if disposition is Disposition.AUTH else "fatal", f"{exc} — {AUTH_FIX}")
            delay = self.blocked_recheck
        try:
            await asyncio.wait_for(self.stopping.wait(), delay)
        except TimeoutError:
            return
        raise Abandoned()

    async def _drift_detail(self, exc: PostgrestError) -> str:
        """The exact fix (validate-schema's SQL) when the destination can tell us what it lacks."""
        if self.health.is_blocked and self.health.reason == "schema_drift":
            return self.health.detail
        try:
            report = await destination_drift(self.client, IDENTITY, self._columns, table=self.table)
        except PostgrestError:
            report = None
        return report.message if report is not None else f"{exc} — {DRIFT_FIX}"

    @staticmethod
    def _count_landed(out: Landed, lead_id: int, source_ts_ms: int, offsets: Sequence[int],
                      records: Mapping[int, RecordLike]) -> None:
        out.source_ts_ms.append(source_ts_ms)
        for job_id in _jobs(records, offsets):
            out.by_job.setdefault(job_id, []).append(lead_id)


def _jobs(records: Mapping[int, RecordLike], offsets: Sequence[int]) -> set[str]:
    found = {header(list(records[o].headers), HEADER_JOB_ID) for o in offsets if o in records}
    return {j for j in found if j}


def _job(records: Mapping[int, RecordLike], offsets: Sequence[int]) -> str | None:
    jobs = sorted(_jobs(records, offsets))
    return jobs[-1] if jobs else None


def _failed(lead_id: int, offsets: Sequence[int], records: Mapping[int, RecordLike], error: PostgrestError,
            row: dict[str, object] | None) -> FailedLead:
    originals = tuple((o, records[o].key, records[o].value) for o in offsets if o in records)
    reason = f"{error.status} {error.code or ''}: {error.message}".strip()
    return FailedLead(lead_id, _job(records, offsets), error, reason, row, originals)


def _int_key(key: bytes | None) -> int:
    try:
        return int(key or b"0")
    except ValueError:
        return 0
