"""Loop prevention and the reverse path, for `streamer doctor` (the seed's "sync loop" and
"reverse sync does not work" entries).

- The source must tag each write: column `sync_source` plus the enabled `leads_tag_write`
  trigger (schemas/sql/source/010_leads_capture.sql); the sink must skip `gestao_scouter`.
- The destination, if it runs the reverse trigger `sync_to_tabuladormax`, must skip rows tagged
  `tabuladormax` (else every synced lead comes back), must tag its own writes with the enabled
  `tag_gestao_scouter_write` trigger (else an edit of a lead the sync wrote keeps the sync's tag
  and is never sent), and the webhook must have a key to verify the trigger's calls with.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import asyncpg

from connectors.postgres.errors import translate_errors
from schemas.lead import SYNC_SOURCE_LOCAL, SYNC_SOURCE_REMOTE
from streamer.config import Settings
from streamer.validation.report import Check

TAG_TRIGGER = "leads_tag_write"
REVERSE_TRIGGER = "sync_to_tabuladormax"
DESTINATION_TAG_TRIGGER = "tag_gestao_scouter_write"
TRIGGER_SQL = """
SELECT t.tgenabled::text AS enabled, p.prosrc AS body
FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
WHERE t.tgrelid = to_regclass(format('%I.%I', $1::text, $2::text)) AND t.tgname = $3 AND NOT t.tgisinternal
"""
HAS_COLUMN_SQL = """
SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(format('%I.%I', $1::text, $2::text))
               AND attname = $3 AND attnum > 0 AND NOT attisdropped)
"""


@dataclass(frozen=True)
class Trigger:
    enabled: str  # pg_trigger.tgenabled: O (origin), D (disabled), R (replica), A (always)
    body: str


def tagging_verdict(has_column: bool, trigger: Trigger | None, skip_sources: Collection[str], table: str) -> Check:
    """The source side of loop prevention, and the sink's filter."""
    fix = "run `streamer db migrate --target source` (installs sync_source and the leads_tag_write trigger)"
    if not has_column:
        return Check("loop: source tag", "fail", f"source table {table} has no sync_source column", fix)
    if trigger is None:
        return Check("loop: source tag", "fail", f"trigger {TAG_TRIGGER} is missing on source table {table}: "
                                                 "the reverse applier's writes would look like local edits", fix)
    if trigger.enabled == "D":
        return Check("loop: source tag", "fail", f"trigger {TAG_TRIGGER} is disabled on {table}",
                     f"ALTER TABLE public.{table} ENABLE TRIGGER {TAG_TRIGGER};")
    if SYNC_SOURCE_REMOTE not in skip_sources:
        return Check("loop: source tag", "fail", f"the sink does not skip {SYNC_SOURCE_REMOTE!r} "
                                                 f"(STREAMER_SINK__SKIP_SYNC_SOURCES={list(skip_sources)})",
                     'STREAMER_SINK__SKIP_SYNC_SOURCES=\'["gestao_scouter","supabase"]\'')
    return Check("loop: source tag", "ok", f"{TAG_TRIGGER} tags every write; the sink skips {SYNC_SOURCE_REMOTE!r}")


def reverse_verdict(has_column: bool, trigger: Trigger | None, webhook_key: bool, table: str, *,
                    tagger: Trigger | None) -> list[Check]:
    """The destination side: its sync_source column, its reverse and tagging triggers, and the
    webhook's key."""
    checks = []
    if not has_column:
        checks.append(Check("loop: destination tag", "fail", f"destination table {table} has no sync_source column",
                            f'ALTER TABLE public.{table} ADD COLUMN IF NOT EXISTS "sync_source" text;'))
    else:
        checks.append(Check("loop: destination tag", "ok", "sync_source present"))
    trigger_fix = ("`streamer reverse trigger-sql --url https://<streamer>/functions/v1/sync-from-gestao-scouter` "
                   "and run its output in Gestão Scouter's SQL editor")
    if trigger is None:
        checks.append(Check("reverse sync", "skip", f"no trigger {REVERSE_TRIGGER} on the destination's {table} "
                                                    "(reverse sync is optional)",
                            f"to enable it: {trigger_fix}"))
        return checks
    if SYNC_SOURCE_LOCAL not in trigger.body or "sync_source" not in trigger.body:
        checks.append(Check("reverse sync", "fail", f"trigger {REVERSE_TRIGGER} does not skip rows tagged "
                                                    f"{SYNC_SOURCE_LOCAL!r}: every synced lead is sent back (a loop)",
                            f"replace it: {trigger_fix} (its function returns early when sync_source is "
                            "'tabuladormax' or 'supabase'); meanwhile ALTER TABLE public."
                            f"{table} DISABLE TRIGGER {REVERSE_TRIGGER};"))
    elif trigger.enabled == "D":
        checks.append(Check("reverse sync", "warn", f"trigger {REVERSE_TRIGGER} is disabled",
                            f"ALTER TABLE public.{table} ENABLE TRIGGER {REVERSE_TRIGGER};"))
    elif tagger is None or tagger.enabled == "D":
        state = "is disabled" if tagger is not None else "is missing"
        checks.append(Check("reverse sync", "fail", f"trigger {DESTINATION_TAG_TRIGGER} {state} on the destination's "
                                                    f"{table}: an edit of a lead the sync wrote keeps sync_source "
                                                    f"{SYNC_SOURCE_LOCAL!r} and is never sent to TabuladorMax",
                            f"reinstall: {trigger_fix} (it adds the tagging trigger beside {REVERSE_TRIGGER})"))
    elif not webhook_key:
        checks.append(Check("reverse sync", "fail", f"trigger {REVERSE_TRIGGER} posts to the webhook, but the "
                                                    "webhook has no key to verify its calls with",
                            "set STREAMER_WEBHOOK__JWT_SECRET (TabuladorMax's JWT secret) or "
                            "STREAMER_WEBHOOK__JWKS_URL, and run the webhook component"))
    else:
        checks.append(Check("reverse sync", "ok", f"trigger {REVERSE_TRIGGER} installed, skips echoes; webhook "
                                                  "key configured"))
    return checks


def webhook_key_configured(settings: Settings) -> bool:
    hook = settings.webhook
    return bool(hook.jwt_secret or hook.jwks_file or hook.jwks_url)


async def read_trigger(conn: asyncpg.Connection, schema: str, table: str, name: str) -> Trigger | None:
    with translate_errors(f"reading trigger {name}"):
        row = await conn.fetchrow(TRIGGER_SQL, schema, table, name)
    return None if row is None else Trigger(row["enabled"], row["body"] or "")


async def has_column(conn: asyncpg.Connection, schema: str, table: str, column: str) -> bool:
    with translate_errors(f"reading the columns of {table}"):
        return bool(await conn.fetchval(HAS_COLUMN_SQL, schema, table, column))
