"""Landing a plan at a fake destination (`httpx.MockTransport`): what lands, which leads are
filed, and when the sink blocks instead of blaming the leads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
from structlog.testing import capture_logs

from connectors.postgrest.client import PostgrestClient
from streamer.metrics import Metrics
from streamer.sink.batch import ConsumedRecord, build_plan
from streamer.sink.failures import JobRun
from streamer.sink.health import SinkHealth
from streamer.sink.lander import Landed, Lander, record_job
from streamer.sink.ratelimit import RateLimiter
from streamer.sink.retry import RetryPolicy

TOPIC = "tabuladormax.public.leads"
JOB = "6f1c2b8e-8d3a-4a53-9a7e-3c1f0b1e2d4a"
BLOCKED = "sink blocked: consuming stopped"

# The answer to a request, given its method and the lead ids it carries; None means success.
Answer = Callable[[str, list[int]], httpx.Response | None]


def _event(op: str, lead_id: int, **columns: Any) -> bytes:
    image = {"id": lead_id, "name": f"lead {lead_id}", **columns}
    return orjson.dumps({
        "op": op, "before": image if op == "d" else None, "after": None if op == "d" else image,
        "source": {"connector": "postgresql", "db": "tabuladormax", "schema": "public", "table": "leads",
                   "ts_ms": 1_000},
        "ts_ms": 1_005,
    })


def _records(*values: bytes, headers: tuple[tuple[str, bytes], ...] = ()) -> dict[int, ConsumedRecord]:
    return {100 + i: ConsumedRecord(TOPIC, 0, 100 + i, str(i).encode(), v, headers) for i, v in enumerate(values)}


def _upserts(*ids: int, **columns: Any) -> dict[int, ConsumedRecord]:
    return _records(*(_event("c", i, **columns) for i in ids))


def _refusal(status: int, code: str | None = None, message: str = "refused") -> httpx.Response:
    return httpx.Response(status, json={"code": code, "details": None, "hint": None, "message": message})


class Destination:
    """A fake PostgREST that answers each request with `answer(method, ids)`, and logs them."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answer(request.method, _ids(request))
        return answer or httpx.Response(201 if request.method == "POST" else 204)


def _ids(request: httpx.Request) -> list[int]:
    if request.method == "DELETE":
        return [int(i) for i in request.url.params["id"].removeprefix("in.(").removesuffix(")").split(",")]
    return [row["id"] for row in orjson.loads(request.content)]


def _first(n: int, answer: Answer) -> Answer:
    """`answer` for the first `n` requests, success after: a destination that recovers."""
    count = 0

    def first(method: str, ids: list[int]) -> httpx.Response | None:
        nonlocal count
        count += 1
        return answer(method, ids) if count <= n else None

    return first


def _refusing(ids: set[int], response: Callable[[], httpx.Response]) -> Answer:
    """Refuse any request that carries one of `ids`."""
    return lambda method, sent: response() if ids & set(sent) else None


@pytest.fixture
async def make_lander() -> AsyncIterator[Callable[[Destination], Lander]]:
    clients: list[PostgrestClient] = []

    def make(destination: Destination) -> Lander:
        client = PostgrestClient("http://127.0.0.1:9/rest/v1", "key", transport=httpx.MockTransport(destination))
        clients.append(client)
        return Lander(client, "leads", policy=RetryPolicy(initial=0.001, max=0.001), limiter=RateLimiter(None),
                      metrics=Metrics(), health=SinkHealth(), stopping=asyncio.Event(), blocked_recheck=0.0)

    yield make
    for client in clients:
        await client.aclose()


async def _land(lander: Lander, records: dict[int, ConsumedRecord]) -> Landed:
    """Land `records` as one batch; a lander still retrying after 5 s fails the test."""
    return await asyncio.wait_for(lander.land(build_plan(list(records.values())), records), 5)


def _blocked(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == BLOCKED]


@pytest.mark.parametrize(("response", "fix"), [
    pytest.param(lambda: _refusal(405, "25006", "cannot execute INSERT in a read-only transaction"),
                 "read-only", id="read-only-25006"),
    pytest.param(lambda: httpx.Response(404, json={}), "STREAMER_DESTINATION__TABLE", id="404-empty-body"),
    pytest.param(lambda: _refusal(404, "42P01", 'relation "public.leads" does not exist'),
                 "STREAMER_DESTINATION__TABLE", id="undefined-table-42P01"),
    pytest.param(lambda: _refusal(404, "42883", "function public.touch() does not exist"),
                 "function", id="undefined-function-42883"),
    pytest.param(lambda: httpx.Response(301, headers={"Location": "https://elsewhere.example"}),
                 "redirect", id="redirect-301"),
    pytest.param(lambda: httpx.Response(414, text="URI Too Long"), "form of our requests", id="uri-too-long-414"),
    pytest.param(lambda: _refusal(400, "PGRST100", '"failed to parse columns parameter"'),
                 "form of our requests", id="request-shape-PGRST100"),
])
async def test_a_fault_of_the_whole_destination_blocks_and_files_no_lead(
    make_lander: Callable[[Destination], Lander], response: Callable[[], httpx.Response], fix: str,
) -> None:
    """A destination that refuses every write (read-only, no such table or function, a redirect,
    our request's shape) blocks the sink with the cause and the fix; no lead is filed, and the
    batch lands by itself once the destination takes writes again."""
    lander = make_lander(Destination(_first(3, lambda method, ids: response())))
    with capture_logs() as logs:
        landed = await _land(lander, _upserts(1, 2, 3, 4))
    assert landed.failed == [] and landed.upserts == 4
    (blocked,) = _blocked(logs)
    assert blocked["reason"] == "destination"
    assert fix in blocked["fix"] and "resumes by itself" in blocked["fix"]
    assert lander.health.state == "ok"


async def test_every_lead_refused_alike_blocks_instead_of_filing_them_all(
    make_lander: Callable[[Destination], Lander],
) -> None:
    """When each lead of a batch of five or more is refused alone with the same answer (a trigger
    that refuses every row: the destination's fault, not theirs), none is filed: the sink blocks,
    re-checks one lead at a time, and lands the batch once the destination takes them."""
    destination = Destination(_first(11, lambda method, ids: _refusal(400, "P0001", "writes are paused")))
    lander = make_lander(destination)
    with capture_logs() as logs:
        landed = await _land(lander, _upserts(1, 2, 3, 4, 5))
    assert landed.failed == [] and landed.upserts == 5
    (blocked,) = _blocked(logs)
    assert blocked["reason"] == "destination"
    assert "all 5 leads" in blocked["fix"] and "STREAMER_SINK__BATCH_SIZE=1" in blocked["fix"]
    # 9 requests bisect 5 rows to single leads; after that, each re-check sends a single lead.
    assert [len(_ids(r)) for r in destination.requests[9:11]] == [1, 1]


async def test_a_few_leads_refused_in_the_same_words_are_filed_not_waited_on(
    make_lander: Callable[[Destination], Lander],
) -> None:
    """Below five leads the safety net stays out of the way: three long names refused alike
    (22001 quotes no row) are the leads' own fault, filed, and the sink goes on."""
    lander = make_lander(Destination(lambda method, ids: _refusal(400, "22001", "value too long for type "
                                                                              "character varying(20)")))
    with capture_logs() as logs:
        landed = await _land(lander, _upserts(1, 2, 3))
    assert sorted(f.lead_id for f in landed.failed) == [1, 2, 3]
    assert _blocked(logs) == [] and lander.health.state == "ok"


async def test_a_real_culprit_among_alike_refusals_is_filed_once_the_destination_recovers(
    make_lander: Callable[[Destination], Lander],
) -> None:
    """A batch held as the destination's fault is re-checked with each lead in turn, so one lead
    that really is bad (refused the same way) does not hold the others: they land, it is filed."""
    paused = _first(9, lambda method, ids: _refusal(400, "P0001", "writes are paused"))
    bad_lead = _refusing({1}, lambda: _refusal(400, "P0001", "writes are paused"))
    lander = make_lander(Destination(lambda method, ids: paused(method, ids) or bad_lead(method, ids)))
    landed = await _land(lander, _upserts(1, 2, 3, 4, 5))
    assert [f.lead_id for f in landed.failed] == [1]
    assert landed.upserts == 4
    assert lander.health.state == "ok"


async def test_a_lone_refused_lead_is_still_filed(make_lander: Callable[[Destination], Lander]) -> None:
    """The safety net needs two leads or more: a batch of one refused lead is filed as usual."""
    lander = make_lander(Destination(lambda method, ids: _refusal(400, "P0001", "bad lead")))
    with capture_logs() as logs:
        landed = await _land(lander, _upserts(7))
    assert [(f.lead_id, f.reason) for f in landed.failed] == [(7, "400 P0001: upserting 1 rows into leads: "
                                                                  "HTTP 400 P0001: bad lead")]
    assert _blocked(logs) == []


async def test_leads_refused_for_different_reasons_are_each_filed(
    make_lander: Callable[[Destination], Lander],
) -> None:
    """Two leads refused with different codes are the leads' own faults: both are filed."""
    check = _refusing({1}, lambda: _refusal(400, "23514", "violates check constraint"))
    not_null = _refusing({2}, lambda: _refusal(400, "23502", "violates not-null constraint"))
    lander = make_lander(Destination(lambda method, ids: check(method, ids) or not_null(method, ids)))
    landed = await _land(lander, _upserts(1, 2))
    assert sorted((f.lead_id, f.error.code if f.error else None) for f in landed.failed) == [
        (1, "23514"), (2, "23502")]


async def test_leads_refused_by_one_constraint_quoting_their_own_rows_are_filed(
    make_lander: Callable[[Destination], Lander],
) -> None:
    """A batch of leads that all break the same CHECK (say, a bulk update at the source) is
    refused with the same code, but PostgreSQL quotes each failing row: their own fault, filed."""

    def check(method: str, ids: list[int]) -> httpx.Response:
        return httpx.Response(400, json={"code": "23514", "hint": None, "details": f"Failing row contains ({ids[0]}).",
                                         "message": 'new row for relation "leads" violates check constraint "c"'})

    lander = make_lander(Destination(check))
    with capture_logs() as logs:
        landed = await _land(lander, _upserts(1, 2, 3))
    assert sorted(f.lead_id for f in landed.failed) == [1, 2, 3]
    assert _blocked(logs) == []


async def test_a_delete_refused_for_one_lead_files_only_that_lead(
    make_lander: Callable[[Destination], Lander],
) -> None:
    """Deletes are bisected like upserts: a lead still referenced by a foreign key (409 23503)
    is filed, and the batch's other deletes land."""
    referenced = _refusing({3}, lambda: _refusal(409, "23503", "still referenced from table visits"))
    lander = make_lander(Destination(referenced))
    landed = await _land(lander, _records(*(_event("d", i) for i in (1, 2, 3, 4))))
    assert [(f.lead_id, f.row) for f in landed.failed] == [(3, None)]
    assert landed.deletes == 3


@pytest.mark.parametrize(("status", "code"), [
    (500, "54000"), (400, "P0001"), (500, "P0002"), (500, "P0003"), (500, "P0004"), (500, "42P17"),
])
async def test_a_server_error_the_lead_causes_is_filed_not_retried_forever(
    make_lander: Callable[[Destination], Lander], status: int, code: str,
) -> None:
    """An error the lead's own data sets off (an over-long indexed value, a trigger's RAISE or
    assertion, a recursive policy) is deterministic: the lead is filed, the others land."""
    lander = make_lander(Destination(_refusing({2}, lambda: _refusal(status, code))))
    landed = await _land(lander, _upserts(1, 2, 3))
    assert [(f.lead_id, f.error.status if f.error else None) for f in landed.failed] == [(2, status)]
    assert landed.upserts == 2
    assert lander.metrics.registry.get_sample_value("streamer_sink_retries_total", {"reason": str(status)}) is None


@pytest.mark.parametrize(("status", "code"), [
    (503, "PGRST000"), (500, "40001"), (500, "40P01"), (500, "57014"), (503, "53300"), (502, None),
])
async def test_a_passing_server_error_is_retried_and_files_nothing(
    make_lander: Callable[[Destination], Lander], status: int, code: str | None,
) -> None:
    """Connection errors, serialization failures, deadlocks, statement timeouts and resource
    shortages pass: the same request is sent again and nothing is filed."""
    lander = make_lander(Destination(_first(2, lambda method, ids: _refusal(status, code))))
    landed = await _land(lander, _upserts(1, 2, 3))
    assert landed.failed == [] and landed.upserts == 3
    assert lander.metrics.registry.get_sample_value("streamer_sink_retries_total", {"reason": str(status)}) == 2


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"not-a-uuid", b"42"])
async def test_an_unusable_job_header_is_ignored_with_a_warning(
    make_lander: Callable[[Destination], Lander], raw: bytes,
) -> None:
    """A job_id header that is not UTF-8 or not a UUID neither crashes the batch nor reaches the
    job tables: its leads land or are filed as usual, count toward no job, and one warning says
    what is wrong with the header."""
    lander = make_lander(Destination(_refusing({2}, lambda: _refusal(400, "23514"))))
    records = _records(_event("c", 1), _event("c", 2), headers=(("job_id", raw),))
    with capture_logs() as logs:
        landed = await _land(lander, records)
    assert landed.upserts == 1 and landed.by_job == {}
    assert [(f.lead_id, f.job_id) for f in landed.failed] == [(2, None)]
    (warning,) = [e for e in logs if e["log_level"] == "warning"]
    assert warning["records"] == 2 and warning["problems"] in (["the job_id header is not UTF-8"],
                                                                ["the job_id header is not a UUID"])


async def test_a_job_header_counts_its_leads_toward_the_job(make_lander: Callable[[Destination], Lander]) -> None:
    """A usable job_id header, in whatever case, counts its leads toward the job, canonically spelled."""
    lander = make_lander(Destination(_refusing({2}, lambda: _refusal(400, "23514"))))
    records = _records(_event("c", 1), _event("c", 2), headers=(("job_id", JOB.upper().encode()),))
    landed = await _land(lander, records)
    assert landed.by_job == {JobRun(JOB): [1]}
    assert [(f.lead_id, f.job_id, f.job_generation) for f in landed.failed] == [(2, JOB, None)]


async def test_a_job_generation_header_goes_with_the_job(make_lander: Callable[[Destination], Lander]) -> None:
    """The job's generation (which run produced the event) reaches the counters and the error row
    with the job id, so the sink can drop the outcomes of a run a reset replaced."""
    lander = make_lander(Destination(_refusing({2}, lambda: _refusal(400, "23514"))))
    records = _records(_event("c", 1), _event("c", 2), headers=(("job_id", JOB.encode()), ("job_generation", b"3")))
    landed = await _land(lander, records)
    assert landed.by_job == {JobRun(JOB, 3): [1]}
    assert [(f.lead_id, f.job_id, f.job_generation) for f in landed.failed] == [(2, JOB, 3)]
    assert landed.failed[0].table_row()["job_generation"] == 3


@pytest.mark.parametrize(("headers", "run", "problem"), [
    ((("job_id", JOB.encode()),), JobRun(JOB), None),
    ((("job_id", JOB.encode()), ("job_generation", b"0")), JobRun(JOB, 0), None),
    ((("job_generation", b"7"), ("job_id", JOB.upper().encode())), JobRun(JOB, 7), None),
    ((("job_id", JOB.encode()), ("job_generation", b"2"), ("job_generation", b"9")), JobRun(JOB, 2), None),
    ((("job_id", JOB.encode()), ("job_generation", None)), JobRun(JOB), None),
    ((("job_generation", b"2"),), None, None),
    ((("job_id", b""), ("job_generation", b"2")), None, None),
    ((("job_id", JOB.encode()), ("job_generation", b"")), None, "not a generation"),
    ((("job_id", JOB.encode()), ("job_generation", b"-1")), None, "not a generation"),
    ((("job_id", JOB.encode()), ("job_generation", b"+1")), None, "not a generation"),
    ((("job_id", JOB.encode()), ("job_generation", b" 1")), None, "not a generation"),
    ((("job_id", JOB.encode()), ("job_generation", "\u0663".encode())), None, "not a generation"),
    ((("job_id", JOB.encode()), ("job_generation", b"2147483648")), None, "not a generation"),
    ((("job_id", b"not-a-uuid"), ("job_generation", b"1")), None, "not a UUID"),
])
def test_record_job_reads_the_job_and_its_generation(
    headers: tuple[tuple[str, bytes | None], ...], run: JobRun | None, problem: str | None,
) -> None:
    """A job_id header names the job; a job_generation header, when there is one, the run (a
    non-negative decimal integer PostgreSQL can hold). Without it the event still counts (it was
    produced before generations were carried); with an unusable one it counts toward no job,
    since it cannot be told from a run a reset replaced."""
    found, said = record_job(headers)
    assert found == run
    assert (said is None) if problem is None else (said is not None and problem in said)


async def test_a_column_name_columns_cannot_hold_still_lands(make_lander: Callable[[Destination], Lander]) -> None:
    """A column named with a double quote or a comma cannot be written in `columns=`: the upsert
    leaves the parameter out (the body's keys say the same) instead of crashing the sink."""
    destination = Destination(lambda method, ids: None)
    lander = make_lander(destination)
    landed = await _land(lander, _upserts(1, 2, **{'apelido "x"': "a", "cidade,uf": "b"}))
    assert landed.failed == [] and landed.upserts == 2
    (request,) = destination.requests
    assert "columns" not in request.url.params
    assert {tuple(sorted(row)) for row in orjson.loads(request.content)} == {
        ('apelido "x"', "cidade,uf", "id", "name", "sync_source")}


async def test_429_503_and_timeouts_tell_the_concurrency_window_but_a_deadlock_does_not(
    make_lander: Callable[[Destination], Lander],
) -> None:
    """The destination pushing back (429, 503, no answer) is reported to `on_congestion`, once
    per answer; a deadlock (500 40P01) is retried without being taken for overload."""
    answers = iter([_refusal(429), _refusal(503), _refusal(500, "40P01"), None])

    def answer(method: str, ids: list[int]) -> httpx.Response | None:
        response = next(answers)
        if response is None:
            return None
        return response

    lander = make_lander(Destination(answer))
    signals: list[str] = []
    lander.on_congestion = lambda: signals.append("congested")
    landed = await _land(lander, _upserts(1, 2))
    assert landed.upserts == 2 and signals == ["congested", "congested"]

    timeouts = iter([True, False])

    def unanswered(request: httpx.Request) -> httpx.Response:
        if next(timeouts):
            raise httpx.ReadTimeout("no answer", request=request)
        return httpx.Response(201)

    client = PostgrestClient("http://127.0.0.1:9/rest/v1", "key", transport=httpx.MockTransport(unanswered))
    try:
        timing_out = Lander(client, "leads", policy=RetryPolicy(initial=0.001, max=0.001), limiter=RateLimiter(None),
                            metrics=Metrics(), health=SinkHealth(), stopping=asyncio.Event(),
                            on_congestion=lambda: signals.append("timeout"))
        assert (await _land(timing_out, _upserts(3))).upserts == 1
    finally:
        await client.aclose()
    assert signals[-1] == "timeout"
