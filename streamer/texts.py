"""What the service tells an operator, as a stable code with parameters, and its English words.

The console (streamer/monitor) shows these texts in the operator's language: every JSON answer
that carries an English sentence for a person (a schema finding, a `validate config` line, the
cache reload's outcome, a refusal) carries its code and parameters beside it, and the page
renders them through its catalogue (`msg.<code>` in streamer/monitor/static/i18n/*.json), falling
back to the English sentence for a code it does not know. The CLI and API users keep reading the
English `message` / `detail` / `error` fields, made from the templates below.

    >>> found = said("schema.missing_column", column="instagram")
    >>> found.english
    "the destination has no column 'instagram': writes fail with PGRST204"
    >>> found.json()["params"]
    {'column': 'instagram'}

A parameter may itself be a `Said` (a reason inside a sentence), rendered in the same language.
`ENGLISH` is the one list of codes: tests/streamer/monitor/test_catalogue.py requires a pt-BR and
an English entry for each, with the same placeholders, and every `said("...")` in streamer/ to
name one of them. Placeholders are `{name}`; templates hold no other braces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

_FIX_URL = ("set STREAMER_DESTINATION__URL to Gestão Scouter's project URL, e.g. https://<project>.supabase.co "
            "(without /rest/v1; the seed's Config > Integrações > project_url)")
_FIX_KEY = ("set STREAMER_DESTINATION__SERVICE_KEY to Gestão Scouter's service_role key (Supabase: Project "
            "Settings > API > service_role secret), not the public anon key")

ENGLISH: dict[str, str] = {
    # streamer/destination/types.py: why values of one column type may not land in another
    "type.array_stored_as": "an array stored as {dest}",
    "type.scalar_stored_as": "a scalar stored as {dest}",
    "type.cannot_write_into": "{source} cannot be written into {dest}",
    "type.array_elements": "array elements: {reason}",
    "type.stored_as_text": "{source} values will be stored as text",
    "type.values_cannot_write_into": "{source} values cannot be written into {dest}",
    "type.longer_refused_by": "values longer than {limit} characters are refused by {dest} (source is {source})",
    "type.less_precision": "{dest} keeps less precision than {source}",
    "type.unconstrained_numeric": "unconstrained numeric into {dest}: large values are refused, digits past "
                                  "{scale} decimals rounded",
    "type.numeric_narrower_digits": "{dest} is narrower than {source}: values above {digits} integer digits are "
                                    "refused",
    "type.numeric_narrower_decimals": "{dest} is narrower than {source}: decimals past {scale} are rounded",
    "type.numeric_narrower_both": "{dest} is narrower than {source}: values above {digits} integer digits are "
                                  "refused and decimals past {scale} are rounded",
    "type.may_overflow": "{source} values may overflow {dest}",
    "type.integer_digits": "{dest} holds {room} integer digits; large {source} values are refused",
    "type.not_exact": "{dest} cannot hold every {source} value exactly",
    "type.decimals_refused": "{source} values with decimals are refused by {dest}",
    "type.may_round": "{dest} may round or refuse {source} values",
    "type.string_longer_refused": "{source} values longer than {limit} characters are refused by {dest}",
    "type.zone_dropped": "timestamptz into timestamp: the time zone is dropped (stored as the destination "
                         "session's local time)",
    "type.zone_assumed": "timestamp into timestamptz: values are read in the destination session's time zone "
                         "(UTC on Supabase)",
    "type.dates_midnight": "dates become midnight {dest}",
    "type.time_dropped": "the time of day is dropped",
    "type.stored_as_json": "{source} values stored as JSON",
    # streamer/validation/schema.py: the schema findings
    "schema.missing_column": "the destination has no column '{column}': writes fail with PGRST204",
    "schema.missing_renamed_column": "the destination has no column '{column}' (from source column '{source}'): "
                                     "writes fail with PGRST204",
    "schema.unknown_source_column": "the mapping names source column '{source}', which the source table lacks: "
                                    "'{column}' would never be filled (fix the mapping file)",
    "schema.values_exceed": "{exceeded}: {reason}",
    "schema.exceeds_length": "the source holds values of {length} characters, which {dest} refuses (22001)",
    "schema.exceeds_digits": "the source holds values of {digits} integer digits, which {dest} refuses (22003)",
    "schema.exceeds_scale": "the source holds values with {decimals} decimals, which {dest} rounds to {scale}",
    "schema.null_into_not_null": "source '{source}' may be NULL; the destination refuses NULL (23502) and such "
                                 "leads land in the error table",
    "schema.not_null_unfilled": "NOT NULL without a default, and the sync never fills it: every new lead fails "
                                "(23502)",
    "schema.not_null_maybe_default": "NOT NULL and the sync never fills it; the OpenAPI document cannot show "
                                     "whether it has a default (configure STREAMER_DESTINATION__DSN to know)",
    # streamer/validation/config_check.py and rls.py: the lines of `validate config` ("Testar Conexão")
    "check.url_not_http": "'{url}' is not an http(s) URL",
    "check.url_doubled_path": "the URL already ends in {path}; requests would go to {path}{path}",
    "check.url_query": "{url}: a query string or fragment in the URL breaks every API path appended to it",
    "check.url_credentials": "{url}: the URL carries user credentials, which the API ignores",
    "check.url_http_allowed": "plain HTTP to {host} (STREAMER_DESTINATION__ALLOW_HTTP=true): the service key "
                              "travels unencrypted",
    "check.url_http": "plain HTTP to {host}: the key would travel unencrypted",
    "check.url_ok": "{url}",
    "check.key_none": "no service key configured",
    "check.key_sb_secret": "an sb_secret_ key (the gateway turns it into a service_role token)",
    "check.key_publishable": "this is a publishable key (the new anon key), which RLS and grants restrict: the "
                             "seed's most common mistake",
    "check.key_not_jwt": "the key is not a JWT (nor an sb_secret_ key)",
    "check.key_anon": "the key's role is 'anon': this is the public anon key, not the service_role key (the "
                      "seed's most common mistake)",
    "check.key_role": "the key's role is '{role}', expected 'service_role'",
    "check.key_expired": "the service_role key has expired",
    "check.key_ok": "a JWT with role service_role",
    "check.dns_fail": "{host} does not resolve ({reason})",
    "check.dns_ok": "{host} → {addresses}",
    "check.no_answer": "no answer: {reason}",
    "check.answered": "HTTP {status} in {ms} ms",
    "check.host_silent": "the host did not answer",
    "check.key_refused": "HTTP {status}: the key was refused ({reason})",
    "check.not_openapi": "HTTP {status}: not an OpenAPI document ({reason})",
    "check.openapi_ok": "{n} table(s) visible to this key",
    "check.no_openapi": "no OpenAPI document",
    "check.table_missing": "table {table} is not in the API (missing, no grant to this key's role, or a stale "
                           "schema cache)",
    "check.table_ok": "public.{table} is in the API",
    "check.write_refused": "HTTP {status} {code}: writing to {table} is refused ({reason})",
    "check.write_schema": "{code}: {reason}",
    "check.write_failed": "HTTP {status} {code}: {reason}",
    "check.write_ok": "INSERT, UPDATE (upsert) and DELETE permitted; no row written",
    "check.rls_no_dsn": "no STREAMER_DESTINATION__DSN: policies not read (service_role bypasses RLS on Supabase)",
    "check.rls_unreadable": "cannot read the destination catalog: {reason}",
    "check.rls_no_table": "table public.{table} does not exist at the destination",
    "check.rls_disabled": "RLS is disabled on public.{table}: anyone with the anon key may read it",
    "check.rls_bypass": "RLS on; {role} has BYPASSRLS",
    "check.rls_lacking": "RLS on and no policy lets {role} {commands} (SELECT * FROM pg_policies WHERE tablename "
                         "= '{table}')",
    "check.rls_ok": "RLS on; policies for {role}: {commands}",
    # ...and their fixes
    "fix.url": _FIX_URL,
    "fix.url_query": _FIX_URL + "; the key goes in STREAMER_DESTINATION__SERVICE_KEY",
    "fix.url_credentials": "remove them from STREAMER_DESTINATION__URL; the key goes in "
                           "STREAMER_DESTINATION__SERVICE_KEY",
    "fix.use_https": "use https:// unless this is a private network",
    "fix.url_network": _FIX_URL + "; check the network (firewall, proxy) between here and the project",
    "fix.key": _FIX_KEY,
    "fix.key_project": _FIX_KEY + "; and check the project URL: a key of another project is refused too",
    "fix.bare_postgrest": _FIX_URL + "; on a bare PostgREST set STREAMER_DESTINATION__REST_PATH=''",
    "fix.grant": "in Gestão Scouter's SQL editor: GRANT SELECT, INSERT, UPDATE, DELETE ON public.{table} TO "
                 "service_role; check its policies with SELECT * FROM pg_policies WHERE tablename = '{table}'; "
                 "the seed's policy is {policy}",
    "fix.table_missing": "run `streamer db migrate --target destination`; or {grant}; then `streamer schema "
                         "reload-cache`",
    "fix.validate_schema": "run `streamer validate schema` and apply the SQL it prints",
    "fix.destination_dsn": "check STREAMER_DESTINATION__DSN (Supabase: the project's connection string)",
    "fix.migrate_destination": "run `streamer db migrate --target destination`",
    "fix.enable_rls": "ALTER TABLE public.{table} ENABLE ROW LEVEL SECURITY; {policy}",
    "fix.add_policy": "in Gestão Scouter's SQL editor: {policy}",
    "fix.service_key": "set STREAMER_DESTINATION__SERVICE_KEY",
    "fix.reload_rpc": "install the reload function: paste schemas/sql/destination/020_reload_rpc.sql into Gestão "
                      "Scouter's SQL editor (or `streamer db migrate --target destination`), or set "
                      "STREAMER_DESTINATION__DSN so the reload goes through the database",
    "fix.api_down": "check STREAMER_DESTINATION__URL and that the API is up (`streamer validate config` says more)",
    # streamer/validation/reload.py: "Recarregar Cache"
    "reload.via_dsn": "sent NOTIFY pgrst, 'reload schema' on the destination database",
    "reload.via_rpc": "called /rpc/{function}",
    "reload.no_service_key": "no service key",
    "reload.api_silent": "the destination's API does not answer: {reason}",
    "reload.no_rpc": "the destination has no /rpc/{function} ({code}: {reason})",
    "reload.rpc_failed": "/rpc/{function} answered {status} {code}: {reason}",
    # streamer/verify/repair.py: the error rows a repair files
    "verify.missing_row": "verify: missing at the destination",
    "verify.different_row": "verify: different at the destination",
    # streamer/monitor: the console's refusals
    "console.not_connected": "the monitor is not connected to the source database yet",
    "console.no_such_job": "no such job",
    "console.no_such_error": "no such error row",
    "console.source_silent": "the source database did not answer",
    "console.actions_disabled": "actions are disabled: set STREAMER_MONITOR__ADMIN_TOKEN",
    "console.token_required": "a valid admin token is required",
    "console.unknown_action": "unknown action '{action}' ({actions})",
    "console.nothing_to_retry": "no error row matches: nothing to retry",
    "console.unknown_check": "unknown check (schema, reload-cache, connection)",
    "console.mapping_not_wired": "the mapping is not wired in this process",
    "console.not_wired": "this action is not wired in this process (run it with `streamer run`)",
    "console.cannot_act": "cannot {action} a job that is {status}",
    "console.changed_meanwhile": "job {job} changed while the {action} was being applied: look again",
    # streamer/monitor/actions.py: a job's actions and statuses inside those sentences
    "job.action.claim": "claim", "job.action.pause": "pause", "job.action.resume": "resume",
    "job.action.reset": "reset", "job.action.cancel": "cancel", "job.action.complete": "complete",
    "job.action.fail": "fail",
    "job.status.pending": "pending", "job.status.running": "running", "job.status.paused": "paused",
    "job.status.completed": "completed", "job.status.failed": "failed", "job.status.cancelled": "cancelled",
    "form.not_json": "the request body is not JSON",
    "form.date_required": "{field}: a date such as 2025-01-31 is required",
    "form.date_invalid": "{field}: expected a date such as 2025-01-31, got '{value}'",
    "form.export_not_object": "expected a JSON object with start, end, date_field and an optional mapping",
    "form.end_before_start": "end ({end}) is before start ({start})",
    "form.date_field": "date_field must be one of {choices}, not '{value}'",
    "form.mapping_not_object": "mapping: expected the seed's JSON object, e.g. {example}",
    "form.purge_days": "older_than_days: a whole number of days from 1 to {max} is required",
    "form.time_invalid": "{field}: expected a time such as 2025-01-31T12:00:00Z, got '{value}'",
    "form.status_invalid": "status: expected an HTTP status such as 409 (or 0 for none), got '{value}'",
}

PLACEHOLDER = re.compile(r"\{(\w+)\}")
Param = Union[str, int, float, None, "Said"]


@dataclass(frozen=True)
class Said:
    """One text: its code, its parameters, and (derived) its English words."""

    code: str
    params: Mapping[str, Param] = field(default_factory=dict)

    def __post_init__(self) -> None:
        template = ENGLISH.get(self.code)
        if template is None:
            raise KeyError(f"no English text for code {self.code!r} (add it to streamer/texts.py ENGLISH)")
        wanted, given = set(PLACEHOLDER.findall(template)), set(self.params)
        if wanted != given:
            raise KeyError(f"text {self.code!r} takes {sorted(wanted)}, given {sorted(given)}")

    @property
    def english(self) -> str:
        values = {k: v.english if isinstance(v, Said) else ("" if v is None else str(v))
                  for k, v in self.params.items()}
        return PLACEHOLDER.sub(lambda m: values[m.group(1)], ENGLISH[self.code])

    def json(self) -> dict[str, Any]:
        """{"code", "params", "message"}: nested texts as objects of the same form."""
        params = {k: v.json() if isinstance(v, Said) else v for k, v in self.params.items()}
        return {"code": self.code, "params": params, "message": self.english}

    def __str__(self) -> str:
        return self.english


def said(code: str, /, **params: Param) -> Said:
    """The text `code` with `params` (KeyError for an unknown code or the wrong parameters)."""
    return Said(code, params)


# The texts without parameters, by their English words: a stored English sentence (an error row's
# message) is given its code back when it is one of them.
_BY_ENGLISH = {text: code for code, text in ENGLISH.items() if not PLACEHOLDER.search(text)}


def code_of(english: str | None) -> str | None:
    """The code of a text without parameters whose English words are `english`, else None."""
    return _BY_ENGLISH.get(english) if english else None
