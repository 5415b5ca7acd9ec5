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
from streamer.texts import Said, said
from streamer.validation.probe import Probe, ProbeResult
from streamer.validation.report import Check
from streamer.validation.rls import policy_sql, rls_check


def grant_said(table: str) -> Said:
    """The seed's fix for 403: the grant, the RLS policy, and how to look at the policies."""
    return said("fix.grant", table=table, policy=policy_sql(table))


def url_check(url: str, rest_path: str, allow_http: bool) -> Check:
    """Well formed, HTTPS unless loopback, and not already ending in the API path."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Check.of("url", "fail", said("check.url_not_http", url=mask_url(url)), said("fix.url"))
    if rest_path and parts.path.rstrip("/").endswith(rest_path.rstrip("/")):
        return Check.of("url", "fail", said("check.url_doubled_path", path=rest_path), said("fix.url"))
    if parts.query or parts.fragment:
        return Check.of("url", "fail", said("check.url_query", url=mask_url(url)), said("fix.url_query"))
    if parts.username is not None:
        return Check.of("url", "warn", said("check.url_credentials", url=mask_url(url)), said("fix.url_credentials"))
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        if allow_http:
            return Check.of("url", "warn", said("check.url_http_allowed", host=parts.hostname), said("fix.use_https"))
        return Check.of("url", "fail", said("check.url_http", host=parts.hostname), said("fix.url"))
    return Check.of("url", "ok", said("check.url_ok", url=mask_url(url)))


def key_check(key: str | None, *, now: float | None = None) -> Check:
    """The key's kind and role, read without verifying the signature (we do not hold the secret)."""
    if not key:
        return Check.of("key", "fail", said("check.key_none"), said("fix.key"))
    if key.startswith("sb_secret_"):
        return Check.of("key", "ok", said("check.key_sb_secret"))
    if key.startswith("sb_publishable_"):
        return Check.of("key", "fail", said("check.key_publishable"), said("fix.key"))
    try:
        claims = jwt.decode(key, options={"verify_signature": False})
    except jwt.PyJWTError:
        return Check.of("key", "fail", said("check.key_not_jwt"), said("fix.key"))
    role = claims.get("role")
    if role == "anon":
        return Check.of("key", "fail", said("check.key_anon"), said("fix.key"))
    if role != "service_role":
        return Check.of("key", "fail", said("check.key_role", role=str(role)), said("fix.key"))
    exp = claims.get("exp")
    if isinstance(exp, int | float) and exp < (time.time() if now is None else now):
        return Check.of("key", "fail", said("check.key_expired"), said("fix.key"))
    return Check.of("key", "ok", said("check.key_ok"))


async def dns_check(host: str) -> Check:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, None), timeout=10)
    except (OSError, TimeoutError) as exc:
        return Check.of("dns", "fail", said("check.dns_fail", host=host, reason=str(exc)), said("fix.url"))
    addresses = sorted({str(info[4][0]) for info in infos})
    return Check.of("dns", "ok", said("check.dns_ok", host=host, addresses=", ".join(addresses[:3])))


def answer_check(result: ProbeResult) -> Check:
    if result.status is None:
        return Check.of("reachable", "fail", said("check.no_answer", reason=result.error), said("fix.url_network"))
    return Check.of("reachable", "ok", said("check.answered", status=result.status, ms=f"{result.seconds * 1000:.0f}"))


def openapi_check(result: ProbeResult) -> Check:
    if result.status is None:
        return Check.of("openapi", "skip", said("check.host_silent"))
    if result.status in (401, 403):
        return Check.of("openapi", "fail", said("check.key_refused", status=result.status, reason=result.message),
                        said("fix.key_project"))
    if result.status != 200 or not isinstance(result.json, dict) or "definitions" not in result.json:
        return Check.of("openapi", "fail", said("check.not_openapi", status=result.status, reason=result.message),
                        said("fix.bare_postgrest"))
    return Check.of("openapi", "ok", said("check.openapi_ok", n=len(result.json["definitions"])))


def table_check(result: ProbeResult, table: str) -> Check:
    if result.status != 200 or not isinstance(result.json, dict):
        return Check.of("table", "skip", said("check.no_openapi"))
    if table not in (result.json.get("definitions") or {}):
        return Check.of("table", "fail", said("check.table_missing", table=table),
                        said("fix.table_missing", grant=grant_said(table)))
    return Check.of("table", "ok", said("check.table_ok", table=table))


def write_check(result: ProbeResult, table: str) -> Check:
    if result.status is None:
        return Check.of("write", "fail", said("check.no_answer", reason=result.error), said("fix.url"))
    if result.status in (401, 403):
        text = said("check.write_refused", status=result.status, code=result.code or "", table=table,
                    reason=result.message)
        # Without a code the English reads "HTTP 403 : ..." once formatted: close the gap as before.
        grant = grant_said(table)
        return Check("write", "fail", text.english.replace("  ", " "), grant.english, text, grant)
    if result.code in ("PGRST204", "PGRST205"):
        return Check.of("write", "fail", said("check.write_schema", code=result.code, reason=result.message),
                        said("fix.validate_schema"))
    if not 200 <= result.status < 300:
        return Check.of("write", "fail", said("check.write_failed", status=result.status, code=result.code or "",
                                              reason=result.message))
    return Check.of("write", "ok", said("check.write_ok"))


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
        return Check.of("rls", "skip", said("check.rls_no_dsn"))
    try:
        async with connect(dsn.get_secret_value()) as conn:
            return await rls_check(conn, "public", settings.destination.table)
    except Exception as exc:  # a DSN that does not work is its own finding, not a crash
        return Check.of("rls", "fail", said("check.rls_unreadable", reason=str(exc)), said("fix.destination_dsn"))
