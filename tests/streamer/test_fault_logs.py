"""No secret of the stack reaches any log, error message or metric during a fault run (issue 14).

Real processes, real databases: a `streamer run` with capture, sink, applier, webhook, monitor and
notify (mailing through an SMTP relay of the test's own, STARTTLS and AUTH with a password);
the PostgREST-compatible dev server (`python -m devserver`) of the test's own over a PostgreSQL of
the test's own (`tests/own_postgres.py`), so that its database can be restarted and its password
changed. Every secret is a distinctive string: the two DSN passwords carry the characters that
must be percent-encoded, the JWT secrets, the service key, the monitor's admin token, the Kafka
SASL password (configured, unused by a PLAINTEXT broker: still a secret the logs must not show),
the SMTP password.

Faults, in order: bad webhook and monitor requests (no token, garbage, a token signed with another
secret, the destination's service key, a wrong role, an expired token, Basic credentials, a bad
body), the destination down (dev server stopped, /readyz 503, restarted), its database restarted,
its database refusing the password for a while, the source sessions (capture, applier, monitor)
cut, then their password refused (the capture stops on the auth failure and the process exits,
by design), and two `streamer run`s with bad settings (a malformed DSN, a secret put in a JSON
variable), which must exit 2 naming the variable. The destination down also mails a "sink
blocked" notice through the relay.

Then every byte the processes wrote (standard output and error of the streamer, the dev server
and the bad runs, PostgreSQL's server log) and every HTTP body they answered (/metrics, /readyz,
the webhook's and the monitor's refusals) and every e-mail the relay received is searched for
each secret in every form it could take: as written, percent-encoded (once or twice),
form-encoded, JSON-escaped, base64, and for a JWT the token and its signature.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import asyncpg
import httpx
import jwt
import orjson
import pytest

from connectors.postgrest.keys import issue_key
from devserver.launch import launched
from devstack.postgres import PostgresNode
from devstack.stack import Endpoints
from tests.own_postgres import own_postgres
from tests.streamer.monitor.processes import (
    REPO,
    STREAMER,
    free_port,
    own_leads_table,
    streamer_env,
    streamer_run,
    wait_ready,
)
from tests.streamer.notify.conftest import PASSWORD as SMTP_PASSWORD
from tests.streamer.notify.conftest import USER as SMTP_USER
from tests.streamer.notify.conftest import SmtpServer, smtp_server_on
from tests.streamer.notify.conftest import text as mail_text

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Distinctive, and with every character a URL treats specially in the two DSN passwords.
DESTINATION_PASSWORD = "Dst-p@ss:w/rd#5?&=+ %Qz9"
SOURCE_PASSWORD = "Src-p@ss:w/rd#7?&=+ %Kx3"
DEVSERVER_JWT_SECRET = "jwt-SECRET-of-the-dev-server-4f9c2e7a1b3d5f60a8"
WEBHOOK_SECRET = "webhook-SECRET-hs256-8d1e6b2c9a7f3e5d0c4b1a"
OTHER_SECRET = "another-SECRET-nobody-configured-77e3a1c9b5d2"
ADMIN_TOKEN = "monitor-ADMIN-token-5e2a9c71d4b8f036"
SASL_PASSWORD = "kafka-SASL-password-3b7d1f9e6a2c"
WEBHOOK_PATH = "/functions/v1/sync-from-gestao-scouter"


def token(secret: str, role: str = "service_role", exp_in: float = 3600) -> str:
    return jwt.encode({"role": role, "iss": "supabase", "exp": int(time.time() + exp_in)}, secret, algorithm="HS256")


SERVICE_KEY = issue_key(DEVSERVER_JWT_SECRET, "service_role")
WEBHOOK_TOKEN = token(WEBHOOK_SECRET)
TOKENS = {
    "the destination's service key": SERVICE_KEY,
    "a valid webhook token": WEBHOOK_TOKEN,
    "a webhook token for role anon": token(WEBHOOK_SECRET, "anon"),
    "an expired webhook token": token(WEBHOOK_SECRET, exp_in=-3600),
    "a token signed with another secret": token(OTHER_SECRET),
}
SECRETS = {
    "the source DSN's password": SOURCE_PASSWORD,
    "the destination DSN's password": DESTINATION_PASSWORD,
    "the dev server's JWT secret": DEVSERVER_JWT_SECRET,
    "the webhook's JWT secret": WEBHOOK_SECRET,
    "the monitor's admin token": ADMIN_TOKEN,
    "the Kafka SASL password": SASL_PASSWORD,
    "the SMTP password": SMTP_PASSWORD,
    "Basic credentials holding the webhook secret": f"svc:{WEBHOOK_SECRET}",
}


def forms(secret: str) -> dict[str, str]:
    """Every way `secret` could be written into a log. Base64 of the bytes up to the last whole
    3-byte group: those characters do not depend on what follows the secret."""
    raw = secret.encode()
    whole = raw[: len(raw) // 3 * 3]
    found = {
        "as written": secret,
        "percent-encoded": quote(secret, safe=""),
        "percent-encoded twice": quote(quote(secret, safe=""), safe=""),
        "percent-encoded, / kept": quote(secret),
        "form-encoded": quote_plus(secret),
        "JSON-escaped": json.dumps(secret)[1:-1],
        "base64": base64.b64encode(whole).decode(),
        "base64url": base64.urlsafe_b64encode(whole).decode(),
    }
    if secret.count(".") == 2 and secret.startswith("eyJ"):  # a JWT: its signature alone is one too
        found["JWT signature"] = secret.rsplit(".", 1)[1]
    return found


def leaks(texts: dict[str, str], secrets: dict[str, str]) -> list[str]:
    """'<secret> <form> in <where>' for each form of each secret found in each text. Text forms
    are compared case-insensitively (percent-encoding may be written %2f or %2F); base64 not."""
    found = []
    for where, text in texts.items():
        lowered = text.lower()
        for name, secret in secrets.items():
            for form, value in forms(secret).items():
                hit = value in text if form.startswith("base64") else value.lower() in lowered
                if hit:
                    found.append(f"{name} ({form}) in {where}")
    return found


def test_the_search_finds_each_form_it_looks_for() -> None:
    """The control of the search itself: each form planted in a text is reported."""
    for form, value in forms(DESTINATION_PASSWORD).items():
        assert leaks({"log": f"x {value.upper() if 'base64' not in form else value} y"},
                     {"pw": DESTINATION_PASSWORD}) != [], form
    for form, value in forms(SERVICE_KEY).items():
        assert leaks({"log": f"Bearer {value}"}, {"key": SERVICE_KEY}) != [], form
    embedded = base64.b64encode(f"svc:{WEBHOOK_SECRET}".encode()).decode()
    assert leaks({"log": f"Authorization: Basic {embedded}"}, SECRETS) != []
    assert leaks({"log": "postgresql://postgres:***@127.0.0.1/db"}, SECRETS) == []


# --- the run ------------------------------------------------------------------------------------

@pytest.fixture
def relay(tmp_path: Path) -> Iterator[SmtpServer]:
    """An SMTP relay of the test's own (STARTTLS, then AUTH with SMTP_PASSWORD) for `notify`."""
    (tmp_path / "relay").mkdir()
    with smtp_server_on(tmp_path / "relay", free_port()) as server:
        yield server


@asynccontextmanager
async def source_role(conn: asyncpg.Connection, name: str, password: str) -> AsyncIterator[None]:
    """A login role of the test's own on the shared source, with a password the stack does not use."""
    literal = password.replace("'", "''")
    await conn.execute(f"CREATE ROLE {name} LOGIN SUPERUSER PASSWORD '{literal}'")
    try:
        yield
    finally:
        await conn.execute(f"REASSIGN OWNED BY {name} TO CURRENT_USER")
        await conn.execute(f"DROP OWNED BY {name}")
        await conn.execute(f"DROP ROLE {name}")


def with_user(dsn: str, user: str, password: str) -> str:
    parts = urlsplit(dsn)
    return parts._replace(netloc=f"{user}:{quote(password, safe='')}@{parts.hostname}:{parts.port}").geturl()


async def eventually(check: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not after {seconds} s"
        await asyncio.sleep(0.25)


class Run:
    """What the test reads and sends during the run; every HTTP body is kept for the search."""

    def __init__(self, streamer_url: str, source: asyncpg.Connection, destination: PostgresNode, table: str) -> None:
        self.http = httpx.AsyncClient(base_url=streamer_url, timeout=10)
        self.source, self.destination, self.table = source, destination, table
        self.bodies: list[str] = []
        self.next_id = 1

    async def get(self, path: str) -> httpx.Response:
        response = await self.http.get(path)
        self.bodies.append(f"GET {path} -> {response.status_code} {response.text}")
        return response

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        response = await self.http.post(path, content=body, headers={"content-type": "application/json", **headers})
        self.bodies.append(f"POST {path} -> {response.status_code} {response.text}")
        return response.status_code

    async def insert(self, count: int) -> None:
        ids = list(range(self.next_id, self.next_id + count))
        self.next_id += count
        await self.source.executemany(f"INSERT INTO {self.table} (id, name) VALUES ($1, $2)",
                                      [(i, f"lead {i}") for i in ids])

    async def landed(self) -> bool:
        """Every lead inserted so far is at the destination (a connection of the test's own)."""
        try:
            conn = await asyncpg.connect(self.destination.dsn(), timeout=5)
        except (OSError, asyncpg.PostgresError):
            return False
        try:
            count = await conn.fetchval("SELECT count(*) FROM leads WHERE id < $1", self.next_id)
        finally:
            await conn.close()
        return bool(count == self.next_id - 1)

    async def ready(self) -> bool:
        return (await self.get("/readyz")).status_code == 200

    async def not_ready(self) -> bool:
        return (await self.get("/readyz")).status_code == 503


async def bad_requests(run: Run) -> None:
    """The webhook and the monitor refuse each with a 4xx (nothing here may land in a log)."""
    now = datetime.now(UTC).isoformat()
    lead = orjson.dumps({"lead": {"id": 1, "name": "renamed", "updated_at": now, "sync_source": "gestao_scouter"}})
    expected = {
        "no token": ({}, 401),
        "garbage": ({"Authorization": "Bearer not-a-jwt"}, 401),
        "another secret": ({"Authorization": f"Bearer {TOKENS['a token signed with another secret']}"}, 401),
        "the service key": ({"Authorization": f"Bearer {SERVICE_KEY}"}, 401),
        "role anon": ({"Authorization": f"Bearer {TOKENS['a webhook token for role anon']}"}, 401),
        "expired": ({"Authorization": f"Bearer {TOKENS['an expired webhook token']}"}, 401),
        "basic": ({"Authorization": "Basic " + base64.b64encode(f"svc:{WEBHOOK_SECRET}".encode()).decode()}, 401),
        "token as apikey": ({"apikey": WEBHOOK_TOKEN}, 401),
    }
    got = {name: await run.post(WEBHOOK_PATH, lead, headers) for name, (headers, _) in expected.items()}
    assert got == {name: status for name, (_, status) in expected.items()}
    bad_body = orjson.dumps({"lead": {"id": True, "name": "x"}})
    assert await run.post(WEBHOOK_PATH, bad_body, {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}) == 422
    assert await run.post(WEBHOOK_PATH, lead, {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}) == 202, run.bodies[-1]
    assert await run.post("/monitor/api/jobs/999999999/pause", b"", {"Authorization": f"Bearer {ADMIN_TOKEN}x"}) == 401
    assert await run.post("/monitor/api/jobs/999999999/pause", b"", {"Authorization": f"Bearer {ADMIN_TOKEN}"}) == 404


def bad_settings_run(env: dict[str, str], log: Path, **bad: str) -> str:
    """`streamer run` with bad settings: exit 2 and its output (kept in `log` for the search)."""
    done = subprocess.run([str(STREAMER), "run"], env={**env, **bad}, cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=False)
    output = done.stdout + done.stderr
    log.write_text(output)
    assert done.returncode == 2, output
    return output


@pytest.mark.timeout(420)
async def test_no_secret_reaches_any_log_or_answer_in_a_fault_run(
    services: Endpoints, source_db: asyncpg.Connection, unique: str, tmp_path: Path, relay: SmtpServer,
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    async with own_postgres(DESTINATION_PASSWORD, "gestao_scouter", "destination") as database, \
            source_role(source_db, f"leak_{unique}", SOURCE_PASSWORD), \
            own_leads_table(source_db, unique) as table:
        dev_port, port = free_port(), free_port()

        def devserver(stack: ExitStack) -> None:
            stack.enter_context(launched(db_uri=database.dsn(), jwt_secret=DEVSERVER_JWT_SECRET, port=dev_port,
                                         log=logs / "devserver.log",
                                         extra={"PGRST_DB_ANON_ROLE": "anon", "PGRST_LOG_LEVEL": "info",
                                                "PGRST_DB_POOL_ACQUISITION_TIMEOUT": "2"}))

        env = streamer_env(
            services, unique, table, port, ["capture", "sink", "applier", "webhook", "monitor", "notify"],
            STREAMER_SOURCE__DSN=with_user(services.source_dsn, f"leak_{unique}", SOURCE_PASSWORD),
            STREAMER_DESTINATION__URL=f"http://127.0.0.1:{dev_port}",
            STREAMER_DESTINATION__SERVICE_KEY=SERVICE_KEY,
            STREAMER_DESTINATION__DSN=database.dsn(),
            STREAMER_DESTINATION__TIMEOUT_SECONDS="5",
            STREAMER_SINK__GROUP_ID=f"g{unique}",
            STREAMER_SINK__BACKOFF_MAX_MS="1000",
            STREAMER_SINK__UNREADY_AFTER_SECONDS="1",
            STREAMER_APPLIER__GROUP_ID=f"a{unique}",
            STREAMER_KAFKA__REVERSE_TOPIC_PREFIX=f"r{unique}",
            STREAMER_KAFKA__SASL_PASSWORD=SASL_PASSWORD,
            STREAMER_WEBHOOK__JWT_SECRET=WEBHOOK_SECRET,
            STREAMER_MONITOR__ADMIN_TOKEN=ADMIN_TOKEN,
            STREAMER_NOTIFY__SMTP_HOST="localhost",
            STREAMER_NOTIFY__SMTP_PORT=str(relay.port),
            STREAMER_NOTIFY__SMTP_CA_FILE=str(relay.ca_file),
            STREAMER_NOTIFY__SMTP_USERNAME=SMTP_USER,
            STREAMER_NOTIFY__SMTP_PASSWORD=SMTP_PASSWORD,
            STREAMER_NOTIFY__SENDER="streamer@example.com",
            STREAMER_NOTIFY__RECIPIENTS='["ops@example.com"]',
            STREAMER_NOTIFY__POLL_SECONDS="0.5",
            STREAMER_NOTIFY__SINK_BLOCKED_AFTER_SECONDS="2",
            STREAMER_NOTIFY__MIN_INTERVAL_SECONDS="0",
            STREAMER_LOG__LEVEL="DEBUG",
        )
        first, second = ExitStack(), ExitStack()
        with first, second, streamer_run(env, logs / "streamer.log") as service:
            devserver(first)
            await wait_ready(service, seconds=90)
            run = Run(service.url, source_db, database, table)
            try:
                await run.insert(20)
                await eventually(run.landed, 60, "the first leads landed")
                await bad_requests(run)
                await _unknown_role(run, f"http://127.0.0.1:{dev_port}", unique)

                # The destination down: /readyz turns 503 while the sink retries; back up, it lands.
                first.close()
                await run.insert(20)
                await eventually(run.not_ready, 30, "readyz 503 while the destination is down")

                async def mailed() -> bool:
                    return bool(relay.inbox.messages("sink_blocked"))

                await eventually(mailed, 60, "notify mailed the sink blocked (through the relay, with its password)")
                devserver(second)
                await eventually(run.landed, 90, "landed after the destination came back")

                # The destination's database restarted under the dev server. Stopped first: leads
                # inserted before it could land before the stop took effect, leaving nothing to retry.
                await asyncio.to_thread(database.stop)
                await run.insert(20)
                await eventually(run.not_ready, 30, "readyz 503 while the database is down")
                await asyncio.to_thread(database.start)
                await eventually(run.landed, 90, "landed after the database restart")

                # The destination's database refuses the dev server's password for a while.
                await _wrong_password(run, database)
                await eventually(run.landed, 90, "landed after the password came back")
                await eventually(run.ready, 60, "ready again")

                # The source side: the capture's, applier's and monitor's sessions cut, then their
                # role's password refused for a while (the shared source is never restarted).
                await _source_sessions_cut(run, f"leak_{unique}")
                await eventually(run.landed, 90, "landed after the source sessions came back")
                await run.get("/metrics")
                await run.get("/monitor/api/health")
                await run.get("/monitor/api/errors")
                # Last: a refused password is an auth failure, which stops the component and the
                # process on purpose (docs/monitoring.md, StreamerComponentDown).
                await _source_password_refused(run, f"leak_{unique}", service.process)
            finally:
                await run.http.aclose()
        assert service.process.returncode not in (None, 0), "stopped by the auth failure: a non-zero exit"

        dsn_output = bad_settings_run(
            env, logs / "bad-dsn.log",
            STREAMER_SOURCE__DSN=f"postgresql://leak_{unique}:{SOURCE_PASSWORD}@127.0.0.1:5432/tabuladormax")
        assert "STREAMER_SOURCE__DSN" in dsn_output and "percent-encode" in dsn_output
        json_output = bad_settings_run(env, logs / "bad-json.log", STREAMER_RUN__COMPONENTS=ADMIN_TOKEN)
        assert "STREAMER_RUN__COMPONENTS" in json_output and "not JSON" in json_output

        (logs / "http-answers.txt").write_text("\n".join(run.bodies))
        texts = {path.name: path.read_text(errors="replace") for path in sorted(logs.iterdir())}
        texts["postgresql server.log"] = database.log.read_text(errors="replace")
        texts["e-mails"] = "\n\n".join(mail_text(message) for message in relay.inbox.messages())

    # The run did go through the faults: the sink retried, the dev server lost its database and
    # was refused its password, the webhook refused the bad tokens.
    assert "sink degraded: retrying" in texts["streamer.log"]
    assert "webhook: request refused" in texts["streamer.log"]
    assert relay.inbox.logins and all(ok for _, ok in relay.inbox.logins)  # notify logged in with its password
    assert "the database system is shutting down" in texts["devserver.log"]
    assert f'role "ghost_{unique}" does not exist' in texts["postgresql server.log"]  # logged, with its statement
    assert "password authentication failed" in texts["devserver.log"]
    assert "PGRSTX00" not in texts["streamer.log"]  # a refused login is PostgREST's 503 PGRST000, never a 500
    assert "capture interrupted, restarting" in texts["streamer.log"]
    assert f'password authentication failed for user \\"leak_{unique}\\"' in texts["streamer.log"]
    assert leaks(texts, SECRETS | TOKENS) == []


async def _unknown_role(run: Run, devserver_url: str, unique: str) -> None:
    """A token for a role the destination lacks, sent with the service key as `apikey` (as
    Supabase's clients do): PostgreSQL fails the request's settings statement (22023, a 401) and
    writes that statement to its log, beside the request's headers, were they in its text."""
    ghost = issue_key(DEVSERVER_JWT_SECRET, f"ghost_{unique}")
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{devserver_url}/rest/v1/leads?limit=1",
                                    headers={"apikey": SERVICE_KEY, "Authorization": f"Bearer {ghost}"})
    run.bodies.append(f"GET /rest/v1/leads (role ghost) -> {response.status_code} {response.text}")
    assert response.status_code == 401, response.text


async def _wrong_password(run: Run, database: PostgresNode) -> None:
    """ALTER ROLE to another password and cut the dev server's connections: its pool reconnects
    and is refused until the password is set back."""
    admin = await asyncpg.connect(database.dsn())
    try:
        await admin.execute("ALTER ROLE postgres PASSWORD 'not-the-configured-one'")
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'")
        await run.insert(20)
        await eventually(run.not_ready, 30, "readyz 503 while the password is refused")
        literal = DESTINATION_PASSWORD.replace("'", "''")
        await admin.execute(f"ALTER ROLE postgres PASSWORD '{literal}'")
    finally:
        await admin.close()


async def _source_sessions_cut(run: Run, role: str) -> None:
    await run.source.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
    await run.insert(20)


async def _source_password_refused(run: Run, role: str, process: subprocess.Popen[bytes]) -> None:
    """Another password for the source role and its sessions cut: the capture reconnects, is
    refused, and stops with an error naming the user; the process exits. The password is set back."""
    await run.source.execute(f"ALTER ROLE {role} PASSWORD 'not-the-configured-one'")
    try:
        await run.source.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
        await run.insert(20)

        async def exited() -> bool:
            return process.poll() is not None

        await eventually(exited, 90, "streamer run stopped by the refused password")
    finally:
        literal = SOURCE_PASSWORD.replace("'", "''")
        await run.source.execute(f"ALTER ROLE {role} PASSWORD '{literal}'")
