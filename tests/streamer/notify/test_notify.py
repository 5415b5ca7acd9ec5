"""The notify component against real state and a real SMTP server: a job that failed for real,
error rows above the threshold, the sink unable to reach its destination; rate-limited, and an
SMTP relay that is down never stops the service (the notice is mailed once it is back).

Every e-mail is checked for what it must never carry: a secret of the settings (the SMTP
password, the service key, a DSN and its password) or a lead's data."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import orjson
import pytest
from structlog.testing import capture_logs

from connectors.kafka.settings import KafkaSettings
from connectors.postgres.migrations import apply_to
from connectors.postgrest.settings import DestinationSettings
from devstack.stack import Endpoints
from schemas.sql_files import migration_files
from streamer.cli.components import readiness_of
from streamer.config import Settings
from streamer.history.component import ExporterComponent
from streamer.metrics import Metrics
from streamer.monitor.app import sample_sum
from streamer.notify.component import NotifyComponent
from streamer.sections import HistorySettings, NotifySettings, SinkSettings, SourceSettings
from streamer.sink.component import SinkComponent
from streamer.state import store
from tests.streamer.notify.conftest import PASSWORD, SmtpServer, free_port, smtp_server_on, text
from tests.wait import until

pytestmark = pytest.mark.integration

# A lead's data, put where a careless e-mail could pick it up: an error row's snapshot, its response
# body and message, and (standing in for a row's value quoted by an error) the failed job's error.
LEAD_NAME, LEAD_PHONE, LEAD_EMAIL = "Maria Piiteste Souza", "11987654321", "maria.piiteste@example.com"


@pytest.fixture(scope="module")
async def migrated(services: Endpoints) -> None:
    await apply_to(services.source_dsn, migration_files("source"))


def settings_for(services: Endpoints, unique: str, notify: NotifySettings, **source: Any) -> Settings:
    return Settings(
        source=SourceSettings(dsn=services.source_dsn, **source),
        kafka=KafkaSettings(bootstrap_servers=services.kafka_bootstrap, topic_prefix=f"t{unique}", partitions=1),
        destination=DestinationSettings(url=services.destination_url, service_key=services.service_key,
                                        dsn=services.destination_dsn),
        history=HistorySettings(operator="pytest", poll_seconds=0.2),
        notify=notify,
    )


def secrets_of(settings: Settings) -> list[str]:
    """Every secret the settings hold, and the password inside each DSN."""
    found = [*settings.secrets(), PASSWORD]
    for dsn in (settings.source.dsn, settings.destination.dsn):
        if dsn is not None and urlsplit(dsn.get_secret_value()).password:
            found.append(str(urlsplit(dsn.get_secret_value()).password))
    return found


def assert_clean(body: str, settings: Settings) -> None:
    leaked = [s for s in secrets_of(settings) if s in body]
    assert leaked == [], "a secret reached an e-mail"
    for pii in (LEAD_NAME, LEAD_PHONE, LEAD_EMAIL, "Piiteste", "piiteste"):
        assert pii not in body


async def no_such_table_job(source_db: asyncpg.Connection, jobs: list[str]) -> store.Job:
    job = await store.create_job(source_db, kind="export", actor="pytest", start_date=date(1999, 1, 1),
                                 end_date=date(1999, 1, 31))
    assert job is not None
    jobs.append(job.id)
    return job


async def fail_for_real(settings: Settings, job: store.Job, source_db: asyncpg.Connection) -> None:
    """Run the job as the exporter does (`_run_one`): the source table does not exist, a permanent
    error, so the exporter marks it failed."""

    async def no_replay(*_: Any, **__: Any) -> None:
        raise AssertionError("an export job lands nothing itself")

    await ExporterComponent(settings, Metrics(), land=no_replay)._run_one(job, asyncio.Event())
    assert (await store.get_job(source_db, job.id)).status == "failed"


class Running:
    """The notifier running in this test's loop until the block ends."""

    def __init__(self, notifier: NotifyComponent) -> None:
        self.notifier, self.stopping = notifier, asyncio.Event()

    async def __aenter__(self) -> NotifyComponent:
        self.task = asyncio.create_task(self.notifier.run(self.stopping))
        await until(lambda: self.notifier.ticks >= 1 or self.task.done(), seconds=30)
        if self.task.done():
            self.task.result()
        return self.notifier

    async def __aexit__(self, *_: object) -> None:
        self.stopping.set()
        await asyncio.wait_for(self.task, 30)

    async def rounds(self, n: int) -> None:
        """Let `n` more rounds pass (to see that nothing more comes)."""
        target = self.notifier.ticks + n
        await until(lambda: self.notifier.ticks >= target or self.task.done(), seconds=30)


def mails_naming(server: SmtpServer, kind: str, needle: str) -> Callable[[], list[str]]:
    return lambda: [text(m) for m in server.inbox.messages(kind) if needle in text(m)]


async def test_a_job_that_failed_for_real_is_mailed_once_with_no_secret_and_no_pii(
        services: Endpoints, source_db: asyncpg.Connection, migrated: None, jobs: list[str],
        smtp_server: SmtpServer, unique: str) -> None:
    """The issue's done-when: an export job fails (its source table is missing; the table's name
    carries a lead's phone, as a refused row's value would); one e-mail arrives, over STARTTLS
    with AUTH, naming the job and its error class and nothing else of the error."""
    # No rate limit here: a job another test fails meanwhile (shared database) gets an e-mail of
    # its own rather than holding this one back.
    settings = settings_for(services, unique, smtp_server.settings(events=("job_failed",), min_interval_seconds=0),
                            table=f"leads_{LEAD_PHONE}_piiteste")
    metrics = Metrics()
    running = Running(NotifyComponent(settings, metrics))
    async with running:
        job = await no_such_table_job(source_db, jobs)
        await fail_for_real(settings, job, source_db)
        assert LEAD_PHONE in ((await store.get_job(source_db, job.id)).error_message or "")
        mine = mails_naming(smtp_server, "job_failed", job.id)
        await until(mine, seconds=30)
        await running.rounds(3)
    [body] = mine()
    assert f"Job de exportação falhou: {job.id[:8]}" in body
    assert "Período: 01/01/1999 a 31/01/1999" in body and "Erro: SetupError" in body
    assert "To: ops@example.com, oncall@example.com" in body
    assert_clean(body, settings)
    assert all(ok for _, ok in smtp_server.inbox.logins)


async def test_a_burst_of_failed_jobs_gives_one_mail_then_one_with_the_rest_and_the_suppressed_count(
        services: Endpoints, source_db: asyncpg.Connection, migrated: None, jobs: list[str],
        smtp_server: SmtpServer, unique: str) -> None:
    """Three jobs fail within the rate limit's interval: the first is mailed at once, the next two
    wait; once the interval has passed (the component's clock moved on) one e-mail lists both
    and says one notice was folded in."""
    now = [0.0]
    settings = settings_for(services, unique, smtp_server.settings(events=("job_failed",), min_interval_seconds=900),
                            table="no_such_table_notify")
    metrics = Metrics()
    notifier = NotifyComponent(settings, metrics, clock=lambda: now[0])
    running = Running(notifier)
    async with running:
        first, second, third = [await no_such_table_job(source_db, jobs) for _ in range(3)]
        await fail_for_real(settings, first, source_db)
        await until(mails_naming(smtp_server, "job_failed", first.id), seconds=30)
        await fail_for_real(settings, second, source_db)
        await until(lambda: notifier.outbox.waiting("job_failed") == 1, seconds=30)
        await fail_for_real(settings, third, source_db)
        await until(lambda: notifier.outbox.waiting("job_failed") == 2, seconds=30)
        await running.rounds(2)
        assert mails_naming(smtp_server, "job_failed", second.id)() == []  # held by the limit
        now[0] += 900
        later = mails_naming(smtp_server, "job_failed", second.id)
        await until(later, seconds=30)
    [body] = later()
    assert third.id in body and first.id not in body
    assert "1 aviso(s) deste tipo foram agrupados" in body
    assert sample_sum(metrics.registry, "streamer_notify_emails_total", kind="job_failed", outcome="suppressed") == 1
    assert sample_sum(metrics.registry, "streamer_notify_emails_total", kind="job_failed", outcome="sent") == 2


async def test_errors_above_the_threshold_are_mailed_as_counts_without_the_leads(
        services: Endpoints, source_db: asyncpg.Connection, migrated: None, smtp_server: SmtpServer,
        unique: str) -> None:
    """Error rows carrying a lead's name, phone and e-mail (snapshot, fields sent, response body,
    message), as the sink files them: the e-mail gives their count by HTTP status, none of the lead."""
    settings = settings_for(services, unique, smtp_server.settings(events=("errors",), error_threshold=5))
    snapshot = orjson.dumps({"name": LEAD_NAME, "telefone": LEAD_PHONE, "email": LEAD_EMAIL}).decode()
    first = random.randrange(10**12, 10**15)
    running = Running(NotifyComponent(settings, Metrics()))
    async with running:
        await source_db.execute(
            "INSERT INTO gestao_scouter_export_errors (lead_id, error_message, response_status, response_body, "
            "lead_snapshot, fields_sent) SELECT $1::bigint + g, $2, 409, $3, $4::jsonb, $4::jsonb "
            "FROM generate_series(0, 5) g", first, f"duplicate key (email)=({LEAD_EMAIL})",
            orjson.dumps({"message": f"conflict on {LEAD_NAME} {LEAD_PHONE}"}).decode(), snapshot)
        try:
            await until(lambda: smtp_server.inbox.messages("errors"), seconds=30)
        finally:
            await source_db.execute("DELETE FROM gestao_scouter_export_errors WHERE lead_id BETWEEN $1 AND $1 + 5",
                                    first)
    bodies = [text(m) for m in smtp_server.inbox.messages("errors")]
    assert any("- 409:" in b for b in bodies)
    for body in bodies:
        assert_clean(body, settings)
        assert str(first) not in body  # not even the lead's id


async def test_a_sink_that_cannot_reach_its_destination_is_mailed_once(
        services: Endpoints, smtp_server: SmtpServer, unique: str) -> None:
    """The destination is down (nothing listens at its URL): the sink waits for it, not ready;
    past `sink_blocked_after_seconds` one e-mail says so, and no other while it stays down."""
    base = settings_for(services, unique, smtp_server.settings(events=("sink_blocked",),
                                                               sink_blocked_after_seconds=0.5))
    settings = base.model_copy(update={
        "destination": DestinationSettings(url=f"http://127.0.0.1:{free_port()}", service_key=services.service_key),
        "sink": SinkSettings(unready_after_seconds=0.2)})
    metrics, stopping = Metrics(), asyncio.Event()
    sink = SinkComponent(settings, metrics)
    sink_task = asyncio.create_task(sink.run(stopping))
    running = Running(NotifyComponent(settings, metrics, readiness=readiness_of([sink])))
    try:
        async with running:
            await until(lambda: smtp_server.inbox.messages("sink_blocked"), seconds=30)
            await running.rounds(5)
            assert sink.healthy()
    finally:
        stopping.set()
        await asyncio.wait_for(sink_task, 30)
    [mail] = smtp_server.inbox.messages("sink_blocked")
    body = text(mail)
    assert "Sink parado" in body and "destino indisponível" in body
    assert_clean(body, settings)


async def test_a_relay_that_is_down_is_logged_counted_and_tried_again_without_stopping_the_service(
        services: Endpoints, tmp_path: Path, unique: str) -> None:
    """Nothing listens at the relay's port: the send fails, is logged without the password and
    counted, the component keeps running; once a server listens there (and `retry_seconds` have
    passed on the component's clock) the notice goes out."""
    port, now = free_port(), [0.0]
    with smtp_server_on(tmp_path, port) as probe:  # the CA file of the server started later
        ca_file = probe.ca_file
    notify = NotifySettings(smtp_host="localhost", smtp_port=port, smtp_ca_file=ca_file, smtp_username="notifier",
                            smtp_password=PASSWORD, recipients=("ops@example.com",), events=("sink_blocked",),
                            sink_blocked_after_seconds=1, retry_seconds=60, poll_seconds=0.1,
                            smtp_timeout_seconds=5)
    settings = settings_for(services, unique, notify)
    metrics = Metrics()
    notifier = NotifyComponent(settings, metrics, readiness=lambda: {"sink": (False, False)}, clock=lambda: now[0])
    running = Running(notifier)
    with capture_logs() as logs:
        async with running:
            now[0] = 5.0
            failed = {"kind": "sink_blocked", "outcome": "failed"}
            await until(lambda: sample_sum(metrics.registry, "streamer_notify_emails_total", **failed), seconds=30)
            await running.rounds(3)
            assert not running.task.done()
            assert sample_sum(metrics.registry, "streamer_notify_emails_total", **failed) == 1  # waits 60 s
            with smtp_server_on(tmp_path, port) as server:
                now[0] = 70.0
                await until(lambda: server.inbox.messages("sink_blocked"), seconds=30)
    [warning] = [e for e in logs if e["event"] == "notification not sent, will try again"]
    assert "unreachable" in warning["error"]
    assert PASSWORD not in repr(logs)
    body = text(server.inbox.messages("sink_blocked")[0])
    assert "bloqueado" in body
    assert_clean(body, settings)
