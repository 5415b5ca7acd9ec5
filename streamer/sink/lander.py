"""Land one plan at the destination: 50-lead upserts and deletes, retried, bisected.

    transient (network, timeout, 5xx, 429)      -> back off (Retry-After honoured) and retry, forever
    auth (401/403), schema drift (PGRST204),     -> blocked: re-check every few seconds, file nothing
      a fault of the whole destination
    permanent (a 4xx, or a 5xx the rows cause)   -> bisect; culprits go to the error table + DLQ,
                                                    unless every lead failed alike (then blocked)

Upserts and deletes go the same way: a delete refused for one lead (409 23503, still referenced)
files that lead only. A stop request during a retry abandons the batch (`Abandoned`): its offsets
are not committed, so the next owner of the partition lands it. Nothing is ever skipped.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from connectors.postgrest.client import PostgrestClient
from connectors.postgrest.errors import PostgrestError
from schemas.debezium import decode_key
from schemas.event import HEADER_JOB_GENERATION, HEADER_JOB_ID
from schemas.mapping import IDENTITY
from streamer.destination.drift import destination_drift
from streamer.logging import get_logger
from streamer.metrics import Metrics
from streamer.sink.batch import Delete, Plan, RecordLike, Upsert
from streamer.sink.bisect import Bisection, BisectResult, uniform_failure
from streamer.sink.concurrency import is_congestion
from streamer.sink.failures import FailedLead, JobRun, job_uuid
from streamer.sink.health import AUTH_FIX, DRIFT_FIX, FATAL_FIX, SinkHealth
from streamer.sink.ratelimit import RateLimiter
from streamer.sink.retry import Disposition, RetryPolicy, classify, destination_fix, everyone_refused_fix

BLOCKED_RECHECK_SECONDS = 5.0
# A batch refused lead by lead, all alike, blocks the sink only from this many leads up: fewer
# are filed as usual (docs/design.md, Failure: a permanent failure of one lead is recorded, the rest go on).
BLOCK_WHEN_ALIKE = 5

log = get_logger(__name__)
Item = TypeVar("Item", Upsert, Delete)


class Abandoned(Exception):
    """The sink is stopping while this batch still waits on the destination."""


@dataclass
class Landed:
    upserts: int = 0
    deletes: int = 0
    source_ts_ms: list[int] = field(default_factory=list)
    by_job: dict[JobRun, list[int]] = field(default_factory=dict)
    failed: list[FailedLead] = field(default_factory=list)


class Lander:
    def __init__(self, client: PostgrestClient, table: str, *, policy: RetryPolicy, limiter: RateLimiter,
                 metrics: Metrics, health: SinkHealth, stopping: asyncio.Event, max_rows: int = 50,
                 blocked_recheck: float = BLOCKED_RECHECK_SECONDS,
                 on_congestion: Callable[[], None] | None = None) -> None:
        self.client, self.table, self.policy, self.limiter = client, table, policy, limiter
        self.on_congestion = on_congestion  # told of each 429, 503 and timeout (concurrency.py)
        self.metrics, self.health, self.stopping, self.max_rows = metrics, health, stopping, max_rows
        self.blocked_recheck = blocked_recheck
        self._columns: tuple[str, ...] = ()

    async def land(self, plan: Plan, records: Mapping[int, RecordLike]) -> Landed:
        """Upsert and delete what `plan` says; return what landed and what failed."""
        out = Landed()
        jobs = self._jobs(plan, records)
        for poison in plan.poison:
            out.failed.append(_filed(_int_key(poison.key), _job(jobs, (poison.offset,)), None,
                                     f"undecodable event: {poison.reason}", None,
                                     ((poison.offset, poison.key, poison.value),)))
        for request in plan.requests(self.max_rows):
            upserted, refused = await self._land_rows(request.rows, self._upsert(request.columns, plan.key_column))
            for upsert in upserted:
                _count_landed(out, upsert.lead_id, upsert.source_ts_ms, upsert.offsets, jobs)
            out.upserts += len(upserted)
            for upsert, err in refused:
                out.failed.append(_failed(upsert.lead_id, upsert.offsets, records, jobs, err, dict(upsert.row)))
        for start in range(0, len(plan.deletes), self.max_rows):
            chunk = plan.deletes[start:start + self.max_rows]
            deleted, undeleted = await self._land_rows(chunk, self._delete(plan.key_column))
            for delete in deleted:
                _count_landed(out, delete.lead_id, delete.source_ts_ms, delete.offsets, jobs)
            out.deletes += len(deleted)
            for delete, err in undeleted:
                out.failed.append(_failed(delete.lead_id, delete.offsets, records, jobs, err, None))
        return out

    async def _land_rows(self, rows: Sequence[Item], send: Callable[[Sequence[Item]], Awaitable[None]]
                         ) -> tuple[tuple[Item, ...], list[tuple[Item, PostgrestError]]]:
        """Send `rows` until they land or the leads at fault are known (bisection).

        When every lead was then refused alone with the same answer, that is taken for the
        destination's fault, not theirs (bisect.uniform_failure): block until it answers
        otherwise, then start over with the whole request."""
        while True:
            error = await self._call(partial(send, rows))
            if error is None:
                return tuple(rows), []
            result = await self._bisect(rows, send, error)
            shared = uniform_failure(result, _answer, at_least=BLOCK_WHEN_ALIKE)
            if shared is None:
                self._answered()
                return result.landed, [(c.item, c.error) for c in result.culprits]
            await self._hold(rows, send, shared)

    async def _bisect(self, rows: Sequence[Item], send: Callable[[Sequence[Item]], Awaitable[None]],
                      error: PostgrestError) -> BisectResult[Item, PostgrestError]:
        bisection: Bisection[Item, PostgrestError] = Bisection(tuple(rows), error)
        while (chunk := bisection.next()) is not None:
            failure = await self._call(partial(send, chunk))
            if failure is None:
                bisection.landed()
            else:
                bisection.rejected(failure)
        return bisection.result

    async def _hold(self, rows: Sequence[Item], send: Callable[[Sequence[Item]], Awaitable[None]],
                    shared: PostgrestError) -> None:
        """Blocked on rows that were all refused alike: every `blocked_recheck` seconds send one of
        them, each in turn (one request per check, not a whole bisection), until one lands or gets
        another answer; a lead that really is bad cannot keep the others waiting that way."""
        detail = everyone_refused_fix(len(rows), shared)
        for row in itertools.cycle(rows):
            self.health.blocked("destination", detail)
            await self._pause(self.blocked_recheck)
            answer = await self._call(partial(send, (row,)))
            if answer is None or _answer(answer) != _answer(shared):
                self._answered()
                return

    def _upsert(self, columns: Sequence[str], key: str) -> Callable[[Sequence[Upsert]], Awaitable[None]]:
        async def send(rows: Sequence[Upsert]) -> None:
            self._columns = tuple(columns)  # for the drift report, should the destination refuse one
            # The plan's rows are dicts already (batch.py `_emit`): no copy of 50 rows per request.
            await self.client.upsert(self.table, [u.row if type(u.row) is dict else dict(u.row) for u in rows],
                                     on_conflict=key, columns=columns)
        return send

    def _delete(self, key: str) -> Callable[[Sequence[Delete]], Awaitable[None]]:
        async def send(rows: Sequence[Delete]) -> None:
            await self.client.delete(self.table, [d.lead_id for d in rows], key=key)
        return send

    async def _call(self, send: Callable[[], Awaitable[None]]) -> PostgrestError | None:
        """Send until it lands (None) or is refused for its data (the error)."""
        attempt = 0
        while True:
            if self.stopping.is_set() and attempt:
                raise Abandoned()
            await self.limiter.acquire()
            try:
                with self.health.awaiting_answer():
                    await send()
            except PostgrestError as exc:
                disposition = classify(exc)
                if disposition is Disposition.PERMANENT:
                    self.metrics.sink_request("rejected")
                    return exc
                attempt += 1
                if disposition is Disposition.TRANSIENT and self.on_congestion is not None and is_congestion(exc):
                    self.on_congestion()
                await self._wait_after(exc, disposition, attempt)
                continue
            self.metrics.sink_request("ok")
            self._answered()
            return None

    def _answered(self) -> None:
        """The destination took a request or refused it for its data: whatever blocked or
        degraded the sink is over (a refusal counts too, or a batch whose every lead is filed
        after an outage would leave the sink blocked with nothing left to re-check)."""
        if self.health.state != "ok":
            self.health.ok()

    async def _wait_after(self, exc: PostgrestError, disposition: Disposition, attempt: int) -> None:
        if disposition is Disposition.TRANSIENT:
            reason = str(exc.status) if exc.status else "network"
            self.metrics.sink_request("transient")
            self.metrics.sink_retry(reason)
            if self.policy.exhausted(attempt):
                self.health.degraded(f"destination unavailable ({reason})", str(exc))
            await self._pause(self.policy.delay(attempt, exc.retry_after))
            return
        if disposition is Disposition.SCHEMA_DRIFT:
            self.metrics.sink_request("schema_drift")
            self.health.blocked("schema_drift", await self._drift_detail(exc))
        elif disposition is Disposition.DESTINATION:
            self.metrics.sink_request("destination")
            self.health.blocked("destination", destination_fix(exc))
        elif disposition is Disposition.AUTH:
            self.metrics.sink_request("auth")
            self.health.blocked("auth", f"{exc} — {AUTH_FIX}")
        else:  # a client that cannot work as configured
            self.metrics.sink_request("fatal")
            self.health.blocked("fatal", f"{exc} — {FATAL_FIX}")
        await self._pause(self.blocked_recheck)

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds`, or raise `Abandoned` as soon as the sink is stopping."""
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
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
    def _jobs(plan: Plan, records: Mapping[int, RecordLike]) -> dict[int, JobRun]:
        jobs, problems = record_jobs(records)
        if problems:
            log.warning("job_id header ignored: the leads still land or are filed, but count toward no job",
                        topic=plan.topic, partition=plan.partition, records=len(problems),
                        first_offset=min(problems), problems=sorted(set(problems.values())))
        return jobs


def record_job(headers: Sequence[tuple[str, bytes | None]]) -> tuple[JobRun | None, str | None]:
    """The export job run in a record's first `job_id` and `job_generation` headers, and what is
    wrong with them when they cannot be used. Such headers are ignored rather than failing their
    lead: the lead itself is fine, and only the job's counters (keyed by uuid) could not hold it.
    A record without a generation (produced before generations were carried) still counts.

    >>> record_job([("job_id", b"6F1C2B8E-8D3A-4A53-9A7E-3C1F0B1E2D4A"), ("job_generation", b"2")])
    (JobRun(job_id='6f1c2b8e-8d3a-4a53-9a7e-3c1f0b1e2d4a', generation=2), None)
    """
    job_id = _first(headers, HEADER_JOB_ID)
    if not job_id:
        return None, None
    try:
        text = job_id.decode("utf-8")
    except UnicodeDecodeError:
        return None, "the job_id header is not UTF-8"
    job = job_uuid(text)
    if job is None:
        return None, "the job_id header is not a UUID"
    raw = _first(headers, HEADER_JOB_GENERATION)
    if raw is None:
        return JobRun(job), None
    generation = _generation(raw)
    if generation is None:
        return None, "the job_generation header is not a generation (a decimal integer)"
    return JobRun(job, generation), None


def _first(headers: Sequence[tuple[str, bytes | None]], name: str) -> bytes | None:
    return next((value for key, value in headers if key == name), None)


def _generation(raw: bytes) -> int | None:
    """A generation as the job table holds it (a non-negative PostgreSQL integer), or None."""
    if not raw.isdigit() or len(raw) > 10:  # bytes.isdigit: ASCII digits only
        return None
    value = int(raw)
    return value if value < 2**31 else None


def record_jobs(records: Mapping[int, RecordLike]) -> tuple[dict[int, JobRun], dict[int, str]]:
    """By offset: the job run of each record that names a usable one, and the problem of each
    that names an unusable one (`record_job`)."""
    jobs: dict[int, JobRun] = {}
    problems: dict[int, str] = {}
    for offset, record in records.items():
        job, problem = record_job(list(record.headers))
        if job is not None:
            jobs[offset] = job
        if problem is not None:
            problems[offset] = problem
    return jobs, problems


def _answer(error: PostgrestError) -> tuple[int | None, str | None, str, str]:
    """What makes two refusals "the same answer" for `uniform_failure`: status and code, and the
    words too. PostgreSQL quotes the row when the row is at fault (23514 "Failing row contains
    (…)", 23505 "Key (email)=(…) already exists"), so leads refused in differing words are each
    at fault, however many; a fault of the whole destination answers every row alike."""
    return error.status, error.code, error.message, str(error.details)


def _count_landed(out: Landed, lead_id: int, source_ts_ms: int, offsets: Sequence[int],
                  jobs: Mapping[int, JobRun]) -> None:
    out.source_ts_ms.append(source_ts_ms)
    for run in {jobs[o] for o in offsets if o in jobs}:
        out.by_job.setdefault(run, []).append(lead_id)


def _job(jobs: Mapping[int, JobRun], offsets: Sequence[int]) -> JobRun | None:
    """The one job run a failed lead is filed under when its events name several: the same
    job's newest generation (the others' outcomes would be ignored anyway)."""
    found = sorted({jobs[o] for o in offsets if o in jobs},
                   key=lambda run: (run.job_id, -1 if run.generation is None else run.generation))
    return found[-1] if found else None


def _failed(lead_id: int, offsets: Sequence[int], records: Mapping[int, RecordLike], jobs: Mapping[int, JobRun],
            error: PostgrestError, row: dict[str, object] | None) -> FailedLead:
    originals = tuple((o, records[o].key, records[o].value) for o in offsets if o in records)
    label = " ".join(str(part) for part in (error.status, error.code) if part)
    reason = f"{label}: {error.message}" if label else error.message
    return _filed(lead_id, _job(jobs, offsets), error, reason, row, originals)


def _filed(lead_id: int, run: JobRun | None, error: PostgrestError | None, reason: str,
           row: dict[str, object] | None, originals: tuple[tuple[int, bytes | None, bytes | None], ...]
           ) -> FailedLead:
    if run is None:
        return FailedLead(lead_id, None, error, reason, row, originals)
    return FailedLead(lead_id, run.job_id, error, reason, row, originals, run.generation)


def _int_key(key: bytes | None) -> int:
    """The lead id a record's key names, in either event format (`7` or `{"id": 7}`); 0 if none."""
    try:
        lead_id = decode_key(key)
    except ValueError:
        return 0
    return lead_id if type(lead_id) is int else 0
