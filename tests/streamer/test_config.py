"""The settings model: defaults, environment, TOML file, and errors that name the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from streamer.cli.app import app
from streamer.config import Settings, load_settings
from streamer.errors import ConfigError
from streamer.sections import SourceSettings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("STREAMER_"):
            monkeypatch.delenv(key)


def test_defaults_point_at_the_local_stack() -> None:
    """With nothing configured, the settings target the local stack's ports and the seed's batch size."""
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == "127.0.0.1:19092"
    assert settings.destination.rest_url == "http://127.0.0.1:54330/rest/v1"
    assert settings.sink.batch_size == 50
    assert settings.kafka.leads_topic == "tabuladormax.public.leads"


def test_environment_variables_fill_nested_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    """`STREAMER_SECTION__FIELD` sets one field of one section, typed."""
    monkeypatch.setenv("STREAMER_SINK__BATCH_SIZE", "20")
    monkeypatch.setenv("STREAMER_KAFKA__TOPIC_PREFIX", "tm")
    monkeypatch.setenv("STREAMER_DESTINATION__URL", "https://abc.supabase.co/")
    settings = load_settings()
    assert settings.sink.batch_size == 20
    assert settings.kafka.leads_topic == "tm.public.leads"
    assert settings.destination.rest_url == "https://abc.supabase.co/rest/v1"


def test_toml_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A TOML file supplies values; an environment variable overrides the same key."""
    path = tmp_path / "streamer.toml"
    path.write_text('[sink]\nbatch_size = 25\nlinger_ms = 10\n[kafka]\ntopic_prefix = "file"\n')
    monkeypatch.setenv("STREAMER_SINK__BATCH_SIZE", "30")
    settings = load_settings(path)
    assert (settings.sink.batch_size, settings.sink.linger_ms) == (30, 10)
    assert settings.kafka.topic_prefix == "file"


def test_settings_are_frozen() -> None:
    """Settings are read once and cannot be changed afterwards."""
    settings = load_settings()
    with pytest.raises(Exception, match="frozen"):
        settings.sink.batch_size = 7  # type: ignore[misc]


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("STREAMER_SINK__BATCH_SIZE", "0", "greater than or equal to 1"),
        ("STREAMER_SINK__BATCH_SIZE", "fifty", "valid integer"),
        ("STREAMER_DESTINATION__URL", "http://gestao.example.com", "HTTPS is required"),
        ("STREAMER_DESTINATION__URL", "not a url", "http(s) URL"),
        ("STREAMER_SOURCE__DSN", "mysql://u:p@h/db", "postgresql://"),
        ("STREAMER_KAFKA__BOOTSTRAP_SERVERS", "localhost", "host:port"),
        ("STREAMER_SOURCE__CAPTURE_MODE", "polling", "'replication' or 'notify'"),
        ("STREAMER_SINK__DELETE_MODE", "sometimes", "'propagate' or 'ignore'"),
    ],
)
def test_a_bad_value_names_the_variable_and_the_problem(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    """Each bad value gives one line that starts with the variable's name and says what is wrong."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert len(caught.value.problems) == 1
    line = caught.value.problems[0]
    assert line.startswith(variable)
    assert says in line


def test_several_problems_give_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """All problems are reported at once, not only the first."""
    monkeypatch.setenv("STREAMER_SINK__BATCH_SIZE", "-1")
    monkeypatch.setenv("STREAMER_HTTP__PORT", "99999")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert sorted(p.split(" ")[0] for p in caught.value.problems) == [
        "STREAMER_HTTP__PORT", "STREAMER_SINK__BATCH_SIZE"]


def test_an_unknown_key_in_the_file_is_an_error(tmp_path: Path) -> None:
    """A misspelt key in the TOML file is reported rather than silently ignored."""
    path = tmp_path / "streamer.toml"
    path.write_text("[sink]\nbatchsize = 25\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == [
        "STREAMER_SINK__BATCHSIZE (or sink.batchsize in the config file): unknown setting"]


def test_a_dsn_error_never_echoes_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """The error for a malformed DSN does not repeat the DSN, which may hold a password."""
    monkeypatch.setenv("STREAMER_SOURCE__DSN", "mysql://user:hunter2secret@db/x")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "hunter2secret" not in str(caught.value)


@pytest.mark.parametrize("password", ["s3cr/et", "s3cr?et", "s3cr#et", "s3cr@et:x/y"])
@pytest.mark.parametrize("variable", ["STREAMER_SOURCE__DSN", "STREAMER_DESTINATION__DSN"])
def test_a_password_with_unencoded_special_characters_is_refused_at_load_without_a_fragment(
    monkeypatch: pytest.MonkeyPatch, variable: str, password: str,
) -> None:
    """asyncpg would fail later quoting a piece of the password; the settings refuse the DSN at
    load, naming the variable and how to encode it, and no piece of the password."""
    monkeypatch.setenv(variable, f"postgresql://lead_sync:{password}@db.example.com:5432/tabuladormax")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    [problem] = caught.value.problems
    assert problem.startswith(variable) and "percent-encode" in problem
    assert not any(piece in problem for piece in ("s3cr", "et@", "x/y"))


def test_a_validation_error_printed_anywhere_holds_no_piece_of_the_value() -> None:
    """Built directly (tests, tools), a refused DSN's ValidationError does not quote its input."""
    with pytest.raises(ValidationError) as caught:
        SourceSettings(dsn="postgresql://lead_sync:hunter2/x@db.example.com:5432/t")  # type: ignore[arg-type]
    assert "hunter2" not in str(caught.value) and "lead_sync" not in repr(caught.value)


def test_a_percent_encoded_password_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMER_SOURCE__DSN", "postgresql://lead_sync:s3cr%2Fet%3F%23%40@db.example.com:5432/t")
    assert load_settings().source.dsn.get_secret_value().endswith("@db.example.com:5432/t")


def test_bad_config_exits_2_with_one_line_per_problem_and_no_traceback() -> None:
    """The CLI prints `config: <VARIABLE>: <problem>` lines, exits 2, and shows no traceback."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("STREAMER_")},
           "STREAMER_SINK__BATCH_SIZE": "0", "STREAMER_DESTINATION__URL": "http://x.example.com"}
    proc = subprocess.run([sys.executable, "-m", "streamer", "config", "show"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2
    assert all(line.startswith("config: STREAMER_") for line in lines)
    assert "Traceback" not in proc.stderr + proc.stdout


def test_config_show_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """`config show` prints the effective settings with every secret masked."""
    monkeypatch.setenv("STREAMER_DESTINATION__SERVICE_KEY", "eyJ-service-key-value")
    monkeypatch.setenv("STREAMER_SOURCE__DSN", "postgresql://u:pa55word-xyz@h:5432/db")
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "eyJ-service-key-value" not in result.output
    assert "pa55word-xyz" not in result.output
    assert '"batch_size": 50' in result.output


def test_secrets_lists_every_configured_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """`Settings.secrets()` returns what the log redactor must mask."""
    monkeypatch.setenv("STREAMER_DESTINATION__SERVICE_KEY", "k-123456")
    monkeypatch.setenv("STREAMER_KAFKA__SASL_PASSWORD", "sasl-pw-99")
    assert {"k-123456", "sasl-pw-99"} <= set(Settings().secrets())


@pytest.mark.parametrize(("variable", "value", "example"), [
    ("STREAMER_SINK__SKIP_SYNC_SOURCES", "notjson", '["gestao_scouter","supabase"]'),
    ("STREAMER_RUN__COMPONENTS", "capture,sink", '["capture","sink"]'),
])
def test_a_list_that_is_not_json_names_the_variable_and_the_expected_form(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, example: str,
) -> None:
    """A list setting given as plain text is refused naming the variable and a JSON example, not
    pydantic-settings' `error parsing value for field "sink" from source "EnvSettingsSource"`."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.problems == [f"{variable}: expected a JSON list such as '{example}'; the value is not JSON"]


def test_config_show_masks_credentials_in_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    """A password in the destination URL's user info and its query values are masked in `config show`."""
    monkeypatch.setenv("STREAMER_DESTINATION__URL", "https://lead-sync:url-pa55-q9@abc.supabase.co/?apikey=qk-777")
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "url-pa55-q9" not in result.output and "qk-777" not in result.output
    assert "https://lead-sync:***@abc.supabase.co/?apikey=***" in result.output
