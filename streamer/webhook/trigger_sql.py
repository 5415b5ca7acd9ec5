"""The SQL Gestão Scouter installs so its changed leads reach the webhook (`streamer reverse
trigger-sql --url URL`): an AFTER INSERT OR UPDATE trigger calling `net.http_post` (pg_net), and
a BEFORE INSERT OR UPDATE trigger that tags who wrote the row.

The tag is what keeps loop prevention from swallowing edits (docs/design.md, Loop prevention). The
sink stamps the rows it writes `sync_source = 'tabuladormax'`, and the seed's reverse trigger skips
rows so tagged; without a tagging trigger, an analyst who edits a synced lead leaves that stamp
in place and the edit is never sent. So, as on the source, every write is tagged: the sink says
it is the sync in its `X-Sync-Source` header, which PostgREST hands to SQL as
`request.headers`; a session may say so with `streamer.sync_source`; every other write is
Gestão Scouter's own (`gestao_scouter`) and is sent.

Unlike the seed, the TabuladorMax key is not written into the function body (where anyone who
can read the catalog could see it): it is read from Supabase Vault at call time, by name.

    print(trigger_sql("https://streamer.example.com/functions/v1/sync-from-gestao-scouter"))
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from connectors.net import is_loopback

DEFAULT_SECRET_NAME = "tabuladormax_webhook_key"
# The seed's loop check: rows written by the TabuladorMax sync (or Supabase's tooling) are echoes.
SKIP_SOURCES = ("tabuladormax", "supabase")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

_TAGGING = """\
-- Who wrote the row: the lead sync says so in its X-Sync-Source header (PostgREST's
-- request.headers) or a session setting; any other write is Gestão Scouter's own and is sent,
-- even when the row still carries the tag of the sync that last wrote it.
create or replace function {schema}.tag_gestao_scouter_write()
returns trigger
language plpgsql
set search_path = ''
as $tag_gestao_scouter_write$
declare
  request_headers text := current_setting('request.headers', true);
  origin text := nullif(current_setting('streamer.sync_source', true), '');
begin
  if coalesce(request_headers, '') <> '' then
    origin := coalesce(nullif(request_headers::jsonb ->> 'x-sync-source', ''), origin);
  end if;
  new.sync_source := coalesce(origin, 'gestao_scouter');
  return new;
end
$tag_gestao_scouter_write$;

drop trigger if exists tag_gestao_scouter_write on {schema}.{table};
create trigger tag_gestao_scouter_write
  before insert or update on {schema}.{table}
  for each row execute function {schema}.tag_gestao_scouter_write();
"""

_TEMPLATE = """\
-- Reverse sync, Gestão Scouter -> TabuladorMax, through the lead sync streamer's webhook.
-- Run in Gestão Scouter's SQL editor. Needs pg_net and Supabase Vault, and the key stored once:
--   select vault.create_secret('<TabuladorMax service_role key>', {secret_literal});
create extension if not exists pg_net;

create or replace function {schema}.notify_tabuladormax()
returns trigger
language plpgsql
security definer
set search_path = ''
as $notify_tabuladormax$
declare
  webhook_url constant text := {url_literal};
  webhook_key text;
begin
  -- Loop prevention: a row TabuladorMax (or Supabase) wrote is an echo; never send it back.
  if new.sync_source in ({skip_list}) then
    return new;
  end if;

  select decrypted_secret into webhook_key
    from vault.decrypted_secrets
   where name = {secret_literal}
   limit 1;
  if webhook_key is null then
    -- Do not block the write; say why nothing was sent.
    raise warning 'notify_tabuladormax: Vault secret % not found; lead % not sent', {secret_literal}, new.id;
    return new;
  end if;

  perform net.http_post(
    url := webhook_url,
    headers := jsonb_build_object(
      'Content-Type', 'application/json',
      'Authorization', 'Bearer ' || webhook_key
    ),
    body := jsonb_build_object(
      'lead', to_jsonb(new),
      'source', 'gestao_scouter',
      'type', tg_op
    ),
    timeout_milliseconds := {timeout_ms}
  );
  return new;
end
$notify_tabuladormax$;

{tagging}
drop trigger if exists sync_to_tabuladormax on {schema}.{table};
create trigger sync_to_tabuladormax
  after insert or update on {schema}.{table}
  for each row execute function {schema}.notify_tabuladormax();
"""


def sql_literal(value: str) -> str:
    """A standard SQL string literal ('' doubles a quote; standard_conforming_strings is on)."""
    if "\x00" in value:
        raise ValueError("a SQL literal cannot hold a NUL character")
    return "'" + value.replace("'", "''") + "'"


def check_url(url: str) -> str:
    """The webhook URL, which must be https (plain http only to loopback, for tests)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"expected an https:// URL of the webhook, got {url!r}")
    if "$" in url or any(c in url for c in "\r\n"):
        raise ValueError("the webhook URL must not hold '$' or line breaks (it is quoted into a function body)")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError("the webhook URL must be https:// (the key travels in its Authorization header)")
    return url


def trigger_sql(url: str, *, secret_name: str = DEFAULT_SECRET_NAME, schema: str = "public", table: str = "leads",
                timeout_ms: int = 5000) -> str:
    """The trigger and its function, with `url` filled in and the key read from Vault."""
    _check_names(("secret name", secret_name), ("schema", schema), ("table", table))
    if not 100 <= timeout_ms <= 60_000:
        raise ValueError("timeout_ms must be between 100 and 60000")
    return _TEMPLATE.format(
        url_literal=sql_literal(check_url(url)), secret_literal=sql_literal(secret_name), schema=schema,
        table=table, skip_list=", ".join(sql_literal(s) for s in SKIP_SOURCES), timeout_ms=timeout_ms,
        tagging=tagging_sql(schema=schema, table=table),
    )


def tagging_sql(*, schema: str = "public", table: str = "leads") -> str:
    """The tagging trigger alone (part of `trigger_sql`): who wrote each row of `table`."""
    _check_names(("schema", schema), ("table", table))
    return _TAGGING.format(schema=schema, table=table)


def _check_names(*named: tuple[str, str]) -> None:
    for label, name in named:
        if not _NAME.match(name):
            raise ValueError(f"{label} must be a plain SQL identifier, got {name!r}")
