"""The SQL Gestão Scouter installs: URL filled in, key from Vault, the seed's loop check."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from streamer.cli.app import app
from streamer.webhook.trigger_sql import sql_literal, trigger_sql

URL = "https://streamer.example.com/functions/v1/sync-from-gestao-scouter"


def test_the_sql_posts_to_the_url_with_the_key_read_from_vault() -> None:
    """The function holds the URL literal, reads the key from vault.decrypted_secrets, and no key."""
    sql = trigger_sql(URL)
    assert f"webhook_url constant text := '{URL}';" in sql
    assert "from vault.decrypted_secrets" in sql and "where name = 'tabuladormax_webhook_key'" in sql
    assert "net.http_post(" in sql and "'Bearer ' || webhook_key" in sql
    assert "SERVICE_KEY" not in sql.upper().replace("SERVICE_ROLE KEY", "")


def test_the_sql_skips_rows_written_by_tabuladormax_or_supabase() -> None:
    """The loop check of the seed is there, before any call."""
    sql = trigger_sql(URL)
    check = sql.index("if new.sync_source in ('tabuladormax', 'supabase') then")
    assert check < sql.index("net.http_post(")


def test_the_trigger_fires_after_insert_or_update_and_sends_the_seed_body() -> None:
    """AFTER INSERT OR UPDATE, body {lead, source: gestao_scouter, type: TG_OP}."""
    sql = trigger_sql(URL, secret_name="my_key")
    assert "after insert or update on public.leads" in sql
    assert "'lead', to_jsonb(new)" in sql and "'source', 'gestao_scouter'" in sql and "'type', tg_op" in sql
    assert "where name = 'my_key'" in sql


@pytest.mark.parametrize("url", ["http://example.com/hook", "ftp://x/y", "not a url",
                                 "https://x.com/a$notify_tabuladormax$;drop table leads;"])
def test_unsafe_urls_are_refused(url: str) -> None:
    """Plain http off loopback, other schemes and dollar quotes are refused."""
    with pytest.raises(ValueError):
        trigger_sql(url)


def test_quotes_are_escaped_and_names_checked() -> None:
    """A quote in the URL is doubled; a secret name must be an identifier."""
    assert sql_literal("a'b") == "'a''b'"
    assert "'https://x.com/it''s'" in trigger_sql("https://x.com/it's")
    with pytest.raises(ValueError):
        trigger_sql(URL, secret_name="x'; drop table leads; --")


def test_the_cli_prints_the_sql() -> None:
    """`streamer reverse trigger-sql --url URL` prints it; a bad URL exits 2."""
    runner = CliRunner()
    result = runner.invoke(app, ["reverse", "trigger-sql", "--url", URL])
    assert result.exit_code == 0 and result.stdout == trigger_sql(URL)
    assert runner.invoke(app, ["reverse", "trigger-sql", "--url", "http://example.com/x"]).exit_code == 2
