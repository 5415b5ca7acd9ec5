"""The reverse path on real Kafka and PostgreSQL: webhook → reverse topic → applier → TabuladorMax."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import TopicPartition
from pydantic import SecretStr
from starlette.applications import Starlette

from connectors.kafka.client import Admin, Consumer, Producer
from connectors.kafka.settings import KafkaSettings
from connectors.postgres.errors import SetupError
from devstack.stack import Endpoints
from schemas.debezium import decode_key
from schemas.event import ChangeEvent, SourceInfo, to_record
from streamer.applier.component import ReverseApplier
from streamer.config import Settings
from streamer.metrics import Metrics
from streamer.sections import ApplierSettings, SourceSettings, WebhookSettings
from streamer.webhook.component import WebhookBridge
from streamer.webhook.validate import Rules, accept
from tests.streamer.webhook.fakes import PATH, SECRET, auth, lead

pytestmark = pytest.mark.integration

T0, T1, T2 = "2025-01-01T08:00:00+00:00", "2025-03-01T12:00:00+00:00", "2025-03-02T12:00:00+00:00"


@pytest.fixture
def settings(services: Endpoints, unique: str) -> Settings:
    return Settings(
        source=SourceSettings(dsn=services.source_dsn),
        kafka=KafkaSettings(bootstrap_servers=services.kafka_bootstrap, partitions=3,
                            reverse_topic_prefix=f"gs_test_{unique}"),
        applier=ApplierSettings(group_id=f"applier.{unique}", poll_timeout_ms=100),
        webhook=WebhookSettings(jwt_secret=SECRET, publish_timeout_seconds=5),
    )


@pytest.fixture
async def lead_ids(source_db: asyncpg.Connection) -> AsyncIterator[list[int]]:
    """Random large ids this test owns; their rows are deleted afterwards."""
    ids = [random.randrange(10**15, 2 * 10**15) for _ in range(3)]
    yield ids
    await source_db.execute("DELETE FROM public.leads WHERE id = ANY($1::bigint[])", ids)


@pytest.fixture
async def topic(settings: Settings) -> AsyncIterator[str]:
    async with Admin(settings.kafka) as admin:
        await admin.ensure_topic(settings.kafka.reverse_topic)
    yield settings.kafka.reverse_topic
    async with Admin(settings.kafka) as admin:
        await admin.delete_topics([settings.kafka.reverse_topic])
        with contextlib.suppress(Exception):  # only the poison test makes a dead-letter topic
            await admin.delete_topics([f"{settings.kafka.reverse_topic}.dlq"])


async def eventually(check: Callable[[], Awaitable[Any]]) -> Any:
    """Poll `check` until it returns something truthy (the test's timeout bounds the wait)."""
    async with asyncio.timeout(30):
        while not (result := await check()):  # noqa: ASYNC110 - polling a database: no event to wait on
            await asyncio.sleep(0.1)
    return result


@asynccontextmanager
async def running(component: Any) -> AsyncIterator[None]:
    """Run a component in the background until the block ends, then stop it cleanly."""
    stopping = asyncio.Event()
    task = asyncio.create_task(component.run(stopping))
    try:
        yield
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)


@asynccontextmanager
async def bridge_client(bridge: WebhookBridge, *, wait_ready: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    async with running(bridge):
        if wait_ready:
            await eventually(lambda: asyncio.sleep(0, bridge.ready()))
        transport = httpx.ASGITransport(app=Starlette(routes=bridge.http_routes()))
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge.test") as client:
            yield client


def stale(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("streamer_applier_leads_stale_total") or 0.0


async def row(db: asyncpg.Connection, lead_id: int) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT name, cidade, sync_source, updated_at, xmin::text AS xmin FROM public.leads "
                             "WHERE id = $1", lead_id)


async def post(client: httpx.AsyncClient, *leads: dict[str, Any], type: str = "UPDATE") -> httpx.Response:
    """What Gestão Scouter's trigger posts: `type` is its TG_OP (a lead new there is an INSERT)."""
    return await client.post(PATH, content=orjson.dumps({"leads": list(leads), "source": "gestao_scouter",
                                                         "type": type}), headers=auth())


async def letters_in(settings: Settings, topic: str) -> int:
    """How many records `topic` holds (the sum of its partitions' end offsets)."""
    async with Consumer(settings.kafka, group_id=f"count.{topic}") as consumer:
        partitions = await consumer.partitions_for_topic(topic)
        assert partitions is not None
        ends = await consumer.raw.end_offsets([TopicPartition(topic, p) for p in partitions])
    return sum(ends.values())


async def dead_letters(settings: Settings, topic: str, n: int) -> list[Any]:
    """The first `n` records of `<topic>.dlq` (the test's timeout bounds the wait)."""
    async with Consumer(settings.kafka, f"{topic}.dlq", group_id=f"dlq.{topic}") as consumer:
        letters: list[Any] = []
        async with asyncio.timeout(30):
            while len(letters) < n:
                letters += [r for rs in (await consumer.getmany(timeout_ms=300)).values() for r in rs]
    return letters


async def test_a_webhook_call_is_applied_tagged_gestao_scouter_keeping_updated_at(
    settings: Settings, topic: str, lead_ids: list[int], source_db: asyncpg.Connection,
) -> None:
    """A new lead is inserted and an existing one updated, both tagged gestao_scouter, with the
    incoming updated_at kept and a column the event lacks left as it was."""
    new_id, old_id, _ = lead_ids
    # A TabuladorMax row first (the trigger tags it tabuladormax).
    await source_db.execute("INSERT INTO public.leads (id, name, cidade, updated_at) "
                            "VALUES ($1, 'x', 'Recife', $2::text::timestamptz)", old_id, T0)
    metrics = Metrics()
    async with bridge_client(WebhookBridge(settings, metrics)) as client, running(ReverseApplier(settings, metrics)):
        response = await post(client, lead(new_id, name="Nova", updated_at=T1), type="INSERT")
        assert response.status_code == 202, response.text
        response = await post(client, {"id": old_id, "name": "Editada", "updated_at": T1})
        assert response.status_code == 202, response.text
        inserted = await eventually(lambda: row(source_db, new_id))
        updated = await eventually(lambda: _named(source_db, old_id, "Editada"))
    assert (inserted["name"], inserted["sync_source"]) == ("Nova", "gestao_scouter")
    assert (updated["cidade"], updated["sync_source"]) == ("Recife", "gestao_scouter")
    assert inserted["updated_at"].isoformat() == updated["updated_at"].isoformat() == T1


async def _named(db: asyncpg.Connection, lead_id: int, name: str) -> asyncpg.Record | None:
    found = await row(db, lead_id)
    return found if found is not None and found["name"] == name else None


async def test_an_older_update_after_a_newer_one_and_a_duplicate_change_nothing(
    settings: Settings, topic: str, lead_ids: list[int], source_db: asyncpg.Connection,
) -> None:
    """Last writer wins: an older version and a second delivery of the newest leave the row as it
    was (same values, same xmin: not even rewritten)."""
    lead_id = lead_ids[0]
    metrics = Metrics()
    async with bridge_client(WebhookBridge(settings, metrics)) as client, running(ReverseApplier(settings, metrics)):
        assert (await post(client, lead(lead_id, name="newer", updated_at=T2), type="INSERT")).status_code == 202
        before = await eventually(lambda: row(source_db, lead_id))
        assert (await post(client, lead(lead_id, name="older", updated_at=T1))).status_code == 202
        await eventually(lambda: asyncio.sleep(0, stale(metrics) >= 1))
        assert (await post(client, lead(lead_id, name="newer", updated_at=T2))).status_code == 202
        await eventually(lambda: asyncio.sleep(0, stale(metrics) >= 2))
    after = await row(source_db, lead_id)
    assert after == before and after is not None and after["name"] == "newer"


async def test_kafka_down_answers_503_then_a_retry_lands_exactly_once(
    settings: Settings, topic: str, lead_ids: list[int], source_db: asyncpg.Connection,
) -> None:
    """With the producer pointed at a dead port the call gets 503 + Retry-After and publishes
    nothing; the same call against the real broker gets 202 and one record, which is applied."""
    lead_id = lead_ids[0]
    dead = settings.model_copy(update={"kafka": settings.kafka.model_copy(
        update={"bootstrap_servers": "127.0.0.1:1", "request_timeout_ms": 1000})})
    body = lead(lead_id, name="retried", updated_at=T1)
    async with bridge_client(WebhookBridge(dead, Metrics()), wait_ready=False) as client:
        refused = await post(client, body, type="INSERT")
    assert refused.status_code == 503 and int(refused.headers["retry-after"]) > 0
    metrics = Metrics()
    async with bridge_client(WebhookBridge(settings, metrics)) as client:
        assert (await post(client, body, type="INSERT")).status_code == 202
    async with Consumer(settings.kafka, topic, group_id=f"count.{topic}") as consumer:
        records: list[Any] = []
        for _ in range(10):
            records += [r for rs in (await consumer.getmany(timeout_ms=300)).values() for r in rs]
    assert [decode_key(r.key) for r in records] == [lead_id]
    async with running(ReverseApplier(settings, metrics)):
        applied = await eventually(lambda: row(source_db, lead_id))
    assert (applied["name"], applied["sync_source"]) == ("retried", "gestao_scouter")


async def test_poison_goes_to_the_dead_letter_topic_and_the_rest_is_applied(
    settings: Settings, topic: str, lead_ids: list[int], source_db: asyncpg.Connection,
) -> None:
    """An undecodable record and a lead the database refuses (integer out of range) go to
    `<topic>.dlq` with their reason; the good lead of the same batch is written. A tombstone (what
    the debezium format writes after a delete) before the good lead, in its partition, is skipped:
    neither applied nor dead-lettered."""
    good, refused, _ = lead_ids
    events = [to_record(accept({"lead": lead(good, name="good"), "type": "INSERT"}, Rules()).events[0]),
              to_record(ChangeEvent(op="c", after={"id": refused, "updated_at": T1, "tentativas_contato": 2**40},
                                    source=SourceInfo(connector="webhook", db="gestao_scouter", schema_="public",
                                                      table="leads", ts_ms=1, sync_source="gestao_scouter")))]
    tombstone = (events[0][0], None, [])  # the good lead's key: its partition, before it
    async with Producer(settings.kafka) as producer:
        await producer.send_batch(topic, [(b"0", b"not json", []), tombstone, *events])
    metrics = Metrics()
    async with running(ReverseApplier(settings, metrics)):
        applied = await eventually(lambda: row(source_db, good))
        letters = await dead_letters(settings, topic, 2)
    assert applied["name"] == "good" and await row(source_db, refused) is None
    reasons = sorted(dict(r.headers)["error"] for r in letters)
    assert reasons == [b"refused", b"undecodable"]
    assert await letters_in(settings, f"{topic}.dlq") == 2  # the applier has stopped: none for the tombstone
    assert metrics.registry.get_sample_value("streamer_applier_leads_rejected_total", {"reason": "refused"}) == 1


async def produce(settings: Settings, *afters: dict[str, Any]) -> None:
    """Put reverse inserts straight on the topic, as the webhook would (without its checks)."""
    source = SourceInfo(connector="webhook", db="gestao_scouter", schema_="public", table="leads", ts_ms=1,
                        sync_source="gestao_scouter")
    async with Producer(settings.kafka) as producer:
        await producer.send_batch(settings.kafka.reverse_topic,
                                  [to_record(ChangeEvent(op="c", after=after, source=source)) for after in afters])


async def test_a_missing_table_blocks_the_applier_until_it_exists_then_it_resumes_by_itself(
    settings: Settings, topic: str, lead_ids: list[int], source_db: asyncpg.Connection, unique: str,
) -> None:
    """42P01 on the batch: no lead refused or dead-lettered, /healthz and /readyz report the
    applier, and once the table is created the same event is applied without a restart."""
    table = f"leads_missing_{unique}"
    blocked = settings.model_copy(update={"source": settings.source.model_copy(update={"table": table})})
    await produce(blocked, {"id": lead_ids[0], "name": "waited", "updated_at": T1})
    metrics = Metrics()
    applier = ReverseApplier(blocked, metrics, recheck_seconds=0.2)
    try:
        async with running(applier):
            await eventually(lambda: asyncio.sleep(0, not applier.healthy()))
            assert not applier.ready()
            await source_db.execute(f"CREATE TABLE public.{table} (LIKE public.leads INCLUDING ALL)")
            applied = await eventually(lambda: source_db.fetchrow(
                f"SELECT name FROM public.{table} WHERE id = $1", lead_ids[0]))
            await eventually(lambda: asyncio.sleep(0, applier.healthy() and applier.ready()))
    finally:
        await source_db.execute(f"DROP TABLE IF EXISTS public.{table}")
    assert applied["name"] == "waited"
    assert metrics.registry.get_sample_value("streamer_applier_leads_rejected_total", {"reason": "refused"}) is None


async def test_a_dsn_with_an_unencoded_slash_in_the_password_fails_naming_the_setting_only(
    settings: Settings, topic: str,
) -> None:
    """The settings refuse such a DSN at load (tests/streamer/test_config.py); one that reaches
    the applier anyway (built without validation here) stops it with a configuration error that
    names STREAMER_SOURCE__DSN and holds no fragment of the password (asyncpg's ValueError does)."""
    bad = settings.model_copy(update={"source": SourceSettings.model_construct(
        dsn=SecretStr("postgresql://streamer:s3cr/etPW@127.0.0.1:54321/tabuladormax"))})
    with pytest.raises(SetupError) as caught:
        await asyncio.wait_for(ReverseApplier(bad, Metrics()).run(asyncio.Event()), 30)
    assert "STREAMER_SOURCE__DSN" in str(caught.value) and "percent-encode" in str(caught.value)
    assert not any(fragment in repr(caught.value) for fragment in ("s3cr", "etPW"))


async def test_a_naive_updated_at_is_stored_as_utc_whatever_the_servers_zone(
    settings: Settings, topic: str, lead_ids: list[int], source_db: asyncpg.Connection,
) -> None:
    """The applier's session pins TimeZone=UTC: with a connection default of São Paulo (set
    through the DSN, as a server's or role's setting would), 12:00 without offset is 12:00 UTC."""
    dsn = settings.source.dsn.get_secret_value()
    elsewhere = settings.model_copy(update={"source": SourceSettings(
        dsn=f"{dsn}{'&' if '?' in dsn else '?'}TimeZone=America/Sao_Paulo")})
    await produce(elsewhere, {"id": lead_ids[0], "name": "naive", "updated_at": "2025-03-01T12:00:00"})
    async with running(ReverseApplier(elsewhere, Metrics())):
        applied = await eventually(lambda: row(source_db, lead_ids[0]))
    assert applied["updated_at"] == datetime(2025, 3, 1, 12, tzinfo=UTC)


async def test_a_partial_update_of_a_lead_deleted_in_tabuladormax_is_dead_lettered_not_recreated(
    settings: Settings, topic: str, lead_ids: list[int], source_db: asyncpg.Connection,
) -> None:
    """Gestão Scouter updates, with only the columns it changed, a lead TabuladorMax has deleted:
    the lead is not re-created as a half lead; the update goes to `<topic>.dlq` with reason
    `missing_lead`, while a reverse insert of a new lead in the same run is applied."""
    gone, new, _ = lead_ids
    await source_db.execute("INSERT INTO public.leads (id, name, cidade, updated_at) "
                            "VALUES ($1, 'x', 'Recife', $2::text::timestamptz)", gone, T0)
    await source_db.execute("DELETE FROM public.leads WHERE id = $1", gone)
    metrics = Metrics()
    async with bridge_client(WebhookBridge(settings, metrics)) as client, running(ReverseApplier(settings, metrics)):
        assert (await post(client, {"id": gone, "cidade": "Olinda", "updated_at": T1})).status_code == 202
        assert (await post(client, lead(new, name="Nova", updated_at=T1), type="INSERT")).status_code == 202
        inserted = await eventually(lambda: row(source_db, new))
        (letter,) = await dead_letters(settings, topic, 1)
    assert await row(source_db, gone) is None and inserted["name"] == "Nova"
    assert decode_key(letter.key) == gone and dict(letter.headers)["error"] == b"missing_lead"
    assert b"TabuladorMax does not have" in dict(letter.headers)["detail"]
    assert orjson.loads(letter.value)["cidade"] == "Olinda"
    assert metrics.registry.get_sample_value("streamer_applier_leads_rejected_total", {"reason": "missing_lead"}) == 1
