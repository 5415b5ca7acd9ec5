"""`streamer validate config`: can the sink reach Gestão Scouter and write its leads?

One line per step, each with the fix from the seed's "Unauthorized / 403 Forbidden" section:
the URL (well formed, HTTPS unless loopback), DNS, the key (a JWT whose role is service_role; an
anon key is named as such), the host answers, the OpenAPI document is readable, the table is in
it, writing is permitted, and (with a destination DSN) row-level security lets service_role in.

Writing is proven without leaving anything behind (see `probe.write_probe`): an upsert of the
empty array `[]` naming the columns the sink writes, then a DELETE matching no row.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import httpx
import jwt

from connectors.net import is_loopback
from connectors.postgres.slot import connect
from connectors.redaction import mask_url
from schemas.mapping import FieldMapping
from streamer.config import Settings
from streamer.validation.probe import Probe, ProbeResult
from streamer.validation.report import Check
from streamer.validation.rls import rls_check

URL_FIX = ("set STREAMER_DESTINATION__URL to Gestão Scouter's project URL, e.g. https://<project>.supabase.co "
           "(without /rest/v1; the seed's Config > Integrações > project_url)")
KEY_FIX = ("set STREAMER_DESTINATION__SERVICE_KEY to Gestão Scouter's service_role key (Supabase: Project "
           "Settings > API > service_role secret), not the public anon key")


def grant_fix(table: str) -> str:
    """The seed's fix for 403: the grant, the RLS policy, and how to look at the policies."""
    return (f"in Gestão Scouter's SQL editor: GRANT SELECT, INSERT, UPDATE, DELETE ON public.{table} TO service_role; "
            f"check its policies with SELECT * FROM pg_policies WHERE tablename = '{table}'; the seed's policy is "
            f"CREATE POLICY service_role_full_access_leads ON public.{table} FOR ALL TO service_role "
            "USING (true) WITH CHECK (true);")


def url_check(url: str, rest_path: str, allow_http: bool) -> Check:
    """Well formed, HTTPS unless loopback, and not already ending in the API path."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Check("url", "fail", f"{mask_url(url)!r} is not an http(s) URL", URL_FIX)
    if rest_path and parts.path.rstrip("/").endswith(rest_path.rstrip("/")):
        return Check("url", "fail", f"the URL already ends in {rest_path}; requests would go to "
                                    f"{rest_path}{rest_path}", URL_FIX)
    if parts.query or parts.fragment:
        return Check("url", "fail", f"{mask_url(url)}: a query string or fragment in the URL breaks every API path "
                                    "appended to it", f"{URL_FIX}; the key goes in STREAMER_DESTINATION__SERVICE_KEY")
    if parts.username is not None:
        return Check("url", "warn", f"{mask_url(url)}: the URL carries user credentials, which the API ignores",
                     "remove them from STREAMER_DESTINATION__URL; the key goes in STREAMER_DESTINATION__SERVICE_KEY")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        if allow_http:
            return Check("url", "warn", f"plain HTTP to {parts.hostname} (STREAMER_DESTINATION__ALLOW_HTTP=true): "
                                        "the service key travels unencrypted",
                         "use https:// unless this is a private network")
        return Check("url", "fail", f"plain HTTP to {parts.hostname}: the key would travel unencrypted", URL_FIX)
    return Check("url", "ok", mask_url(url))


def key_check(key: str | None, *, now: float | None = None) -> Check:
    """The key's kind and role, read without verifying the signature (we do not hold the secret)."""
    if not key:
        return Check("key", "fail", "no service key configured", KEY_FIX)
    if key.startswith("sb_secret_"):
        return Check("key", "ok", "an sb_secret_ key (the gateway turns it into a service_role token)")
    if key.startswith("sb_publishable_"):
        return Check("key", "fail", "this is a publishable key (the new anon key), which RLS and grants "
                                    "restrict: the seed's most common mistake", KEY_FIX)
    try:
        claims = jwt.decode(key, options={"verify_signature": False})
    except jwt.PyJWTError:
        return Check("key", "fail", "the key is not a JWT (nor an sb_secret_ key)", KEY_FIX)
    role = claims.get("role")
    if role == "anon":
        return Check("key", "fail", "the key's role is 'anon': this is the public anon key, not the service_role "
                                    "key (the seed's most common mistake)", KEY_FIX)
    if role != "service_role":
        return Check("key", "fail", f"the key's role is {role!r}, expected 'service_role'", KEY_FIX)
    exp = claims.get("exp")
    if isinstance(exp, int | float) and exp < (time.time() if now is None else now):
        return Check("key", "fail", "the service_role key has expired", KEY_FIX)
    return Check("key", "ok", "a JWT with role service_role")


async def dns_check(host: str) -> Check:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, None), timeout=10)
    except (OSError, TimeoutError) as exc:
        return Check("dns", "fail", f"{host} does not resolve ({exc})", URL_FIX)
    addresses = sorted({str(info[4][0]) for info in infos})
    return Check("dns", "ok", f"{host} → {', '.join(addresses[:3])}")


def answer_check(result: ProbeResult) -> Check:
    if result.status is None:
        return Check("reachable", "fail", f"no answer: {result.error}",
                     f"{URL_FIX}; check the network (firewall, proxy) between here and the project")
    return Check("reachable", "ok", f"HTTP {result.status} in {result.seconds * 1000:.0f} ms")


def openapi_check(result: ProbeResult) -> Check:
    if result.status is None:
        return Check("openapi", "skip", "the host did not answer")
    if result.status in (401, 403):
        return Check("openapi", "fail", f"HTTP {result.status}: the key was refused ({result.message})",
                     f"{KEY_FIX}; and check the project URL: a key of another project is refused too")
    if result.status != 200 or not isinstance(result.json, dict) or "definitions" not in result.json:
        return Check("openapi", "fail", f"HTTP {result.status}: not an OpenAPI document ({result.message})",
                     f"{URL_FIX}; on a bare PostgREST set STREAMER_DESTINATION__REST_PATH=''")
    return Check("openapi", "ok", f"{len(result.json['definitions'])} table(s) visible to this key")


def table_check(result: ProbeResult, table: str) -> Check:
    if result.status != 200 or not isinstance(result.json, dict):
        return Check("table", "skip", "no OpenAPI document")
    if table not in (result.json.get("definitions") or {}):
        return Check("table", "fail", f"table {table} is not in the API (missing, no grant to this key's role, or "
                                      "a stale schema cache)",
                     f"run `streamer db migrate --target destination`; or {grant_fix(table)}; then "
                     "`streamer schema reload-cache`")
    return Check("table", "ok", f"public.{table} is in the API")


def write_check(result: ProbeResult, table: str) -> Check:
    if result.status is None:
        return Check("write", "fail", f"no answer: {result.error}", URL_FIX)
    if result.status in (401, 403):
        return Check("write", "fail", f"HTTP {result.status} {result.code or ''}: writing to {table} is refused "
                                      f"({result.message})".replace("  ", " "), grant_fix(table))
    if result.code in ("PGRST204", "PGRST205"):
        return Check("write", "fail", f"{result.code}: {result.message}",
                     "run `streamer validate schema` and apply the SQL it prints")
    if not 200 <= result.status < 300:
        return Check("write", "fail", f"HTTP {result.status} {result.code or ''}: {result.message}")
    return Check("write", "ok", "INSERT, UPDATE (upsert) and DELETE permitted; no row written")


async def validate_config(
    settings: Settings, mapping: FieldMapping, *, transport: httpx.AsyncBaseTransport | None = None,
) -> list[Check]:
    """Every step in order; a step whose prerequisite failed is reported as skipped."""
    dest = settings.destination
    key = dest.service_key.get_secret_value() if dest.service_key else None
    checks = [url_check(dest.url, dest.rest_path, dest.allow_http)]
    if checks[0].failed:
        return checks
    checks.append(await dns_check(urlsplit(dest.url).hostname or ""))
    checks.append(key_check(key))
    if checks[1].failed or not key:
        return checks
    async with Probe.from_settings(dest, transport=transport) as probe:
        root = await probe.openapi()
        checks += [answer_check(root), openapi_check(root), table_check(root, dest.table)]
        if checks[-1].status == "ok":
            assert isinstance(root.json, dict)
            properties = root.json["definitions"][dest.table].get("properties", {})
            written = [c for c in mapping.destination_columns() if c in properties] or ["id"]
            checks.append(write_check(await probe.write(dest.table, written), dest.table))
    checks.append(await _rls(settings))
    return checks


async def _rls(settings: Settings) -> Check:
    dsn = settings.destination.dsn
    if dsn is None:
        return Check("rls", "skip", "no STREAMER_DESTINATION__DSN: policies not read (service_role bypasses RLS "
                                    "on Supabase)")
    try:
        async with connect(dsn.get_secret_value()) as conn:
            return await rls_check(conn, "public", settings.destination.table)
    except Exception as exc:  # a DSN that does not work is its own finding, not a crash
        return Check("rls", "fail", f"cannot read the destination catalog: {exc}",
                     "check STREAMER_DESTINATION__DSN (Supabase: the project's connection string)")
