"""`validate config`: each step's verdict, and the whole run against an in-process fake API."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from connectors.postgrest.keys import issue_key
from connectors.postgrest.settings import DestinationSettings
from schemas.mapping import FieldMapping
from streamer.config import Settings
from streamer.validation.config_check import key_check, url_check, validate_config

SECRET = "x" * 40
SERVICE = issue_key(SECRET, "service_role")
ANON = issue_key(SECRET, "anon")
DOC = {"swagger": "2.0", "definitions": {"leads": {"properties": {"id": {"format": "bigint"},
                                                                  "name": {"format": "text"}}}}}


@pytest.mark.parametrize(("url", "status"), [
    ("https://abc.supabase.co", "ok"), ("http://127.0.0.1:54330", "ok"), ("http://localhost:3000", "ok"),
    ("http://abc.supabase.co", "fail"), ("https://abc.supabase.co/rest/v1", "fail"), ("abc.supabase.co", "fail"),
])
def test_url_must_be_https_unless_loopback_and_without_the_api_path(url: str, status: str) -> None:
    """Plain HTTP to a remote host and a URL already ending in /rest/v1 fail with the URL fix."""
    check = url_check(url, "/rest/v1", allow_http=False)
    assert check.status == status
    if status == "fail":
        assert "STREAMER_DESTINATION__URL" in check.fix


def test_allow_http_turns_remote_plain_http_into_a_warning() -> None:
    """A private network may allow HTTP, with a warning that the key travels unencrypted."""
    assert url_check("http://postgrest:3000", "", allow_http=True).status == "warn"


def test_the_anon_key_is_named_as_the_seeds_most_common_mistake() -> None:
    """An anon key fails, says 'anon', and the fix asks for the service_role key."""
    check = key_check(ANON)
    assert check.status == "fail" and "'anon'" in check.detail and "most common mistake" in check.detail
    assert "service_role" in check.fix and ANON not in check.detail + check.fix


@pytest.mark.parametrize(("key", "status", "words"), [
    (SERVICE, "ok", "service_role"), (None, "fail", "no service key"), ("not-a-jwt", "fail", "not a JWT"),
    (issue_key(SECRET, "authenticated"), "fail", "'authenticated'"), ("sb_secret_abc", "ok", "sb_secret_"),
    ("sb_publishable_abc", "fail", "publishable"), (issue_key(SECRET, "service_role", ttl_seconds=-10), "fail",
                                                    "expired"),
])
def test_key_kinds_and_roles(key: str | None, status: str, words: str) -> None:
    """Each kind of key gets the verdict and words that identify it."""
    check = key_check(key)
    assert check.status == status and words in check.detail


def settings_with(key: str) -> Settings:
    return Settings(destination=DestinationSettings(url="http://127.0.0.1:54330", service_key=key))


Handler = Callable[[httpx.Request], httpx.Response]


def api(root: int = 200, write: int = 200, delete: int = 204, doc: dict[str, object] = DOC) -> Handler:
    """A fake PostgREST answering the root, the empty upsert and the no-match delete."""
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(root, json=doc if root == 200 else {"code": "PGRST301", "message": "JWT invalid"})
        if request.method == "POST":
            assert request.content == b"[]" and request.url.params["on_conflict"] == "id"
            assert request.url.params["columns"] == '"id","name"'
            body = {} if write < 300 else {"code": "42501", "message": "permission denied for table leads"}
            return httpx.Response(write, json=body)
        assert request.method == "DELETE" and request.url.params["id"] == "is.null"
        return httpx.Response(delete)
    return handler


async def run(handler: Handler, key: str = SERVICE) -> dict[str, tuple[str, str, str]]:
    checks = await validate_config(settings_with(key), FieldMapping(), transport=httpx.MockTransport(handler))
    return {c.name: (c.status, c.detail, c.fix) for c in checks}


async def test_a_working_destination_passes_every_step_and_rls_is_skipped_without_dsn() -> None:
    """All ok; writing is proven by the empty upsert and the delete; RLS skipped (no DSN)."""
    checks = await run(api())
    assert {k: v[0] for k, v in checks.items()} == {
        "url": "ok", "dns": "ok", "key": "ok", "reachable": "ok", "openapi": "ok", "table": "ok", "write": "ok",
        "rls": "skip"}
    assert "no row written" in checks["write"][1]


async def test_a_refused_key_names_the_401_and_the_key_fix() -> None:
    """Unauthorized at the root: the OpenAPI step fails naming the status and the service_role key."""
    checks = await run(api(root=401))
    assert checks["openapi"][0] == "fail" and "401" in checks["openapi"][1] and "service_role" in checks["openapi"][2]
    assert checks["table"][0] == "skip" and "write" not in checks


async def test_a_missing_grant_names_the_403_and_the_seeds_fix() -> None:
    """Forbidden on write: the fix grants to service_role and shows how to read pg_policies."""
    checks = await run(api(write=403))
    status, detail, fix = checks["write"]
    assert status == "fail" and "403" in detail and "permission denied" in detail
    assert "GRANT SELECT, INSERT, UPDATE, DELETE ON public.leads TO service_role" in fix
    assert "SELECT * FROM pg_policies WHERE tablename = 'leads'" in fix


async def test_a_missing_table_points_at_migrate_and_grants() -> None:
    """A document without the table fails the table step with migrate, grant and reload in the fix."""
    checks = await run(api(doc={"swagger": "2.0", "definitions": {}}))
    status, _, fix = checks["table"]
    assert status == "fail" and "streamer db migrate --target destination" in fix and "reload-cache" in fix


async def test_an_unreachable_host_fails_reachability() -> None:
    """A transport error is a failed 'reachable' line naming the network."""
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    checks = await run(handler)
    assert checks["reachable"][0] == "fail" and "connection refused" in checks["reachable"][1]
