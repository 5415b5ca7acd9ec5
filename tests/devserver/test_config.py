"""Configuration from PGRST_* variables."""

from __future__ import annotations

import pytest

from devserver.config import ConfigError, ServerConfig


def test_defaults_match_postgrest_and_supabase() -> None:
    """Only the DSN and secret are required; the rest has PostgREST's defaults."""
    config = ServerConfig.from_env({"PGRST_DB_URI": "postgresql://x", "PGRST_JWT_SECRET": "s"})
    assert (config.db_anon_role, config.db_schemas, config.db_max_rows) == ("anon", ("public",), 1000)
    assert (config.server_host, config.server_port, config.db_pool) == ("127.0.0.1", 3000, 10)


def test_schemas_are_a_comma_list() -> None:
    """PGRST_DB_SCHEMAS is split on commas."""
    config = ServerConfig.from_env(
        {"PGRST_DB_URI": "x", "PGRST_JWT_SECRET": "s", "PGRST_DB_SCHEMAS": "public, storage"}
    )
    assert config.db_schemas == ("public", "storage")


def test_missing_variable_is_named() -> None:
    """A missing required variable gives a one-line error naming it."""
    with pytest.raises(ConfigError, match="PGRST_JWT_SECRET is required"):
        ServerConfig.from_env({"PGRST_DB_URI": "x"})


def test_invalid_value_does_not_echo_the_input() -> None:
    """A bad value is named without repeating what was given."""
    with pytest.raises(ConfigError) as caught:
        ServerConfig.from_env({"PGRST_DB_URI": "x", "PGRST_JWT_SECRET": "s", "PGRST_SERVER_PORT": "abc"})
    assert "PGRST_SERVER_PORT" in str(caught.value)
    assert "abc" not in str(caught.value)


def test_supabase_extras_are_on_by_default() -> None:
    """Hosted Supabase's extra search path and pg-safeupdate are the defaults; both can be changed."""
    base = {"PGRST_DB_URI": "x", "PGRST_JWT_SECRET": "s"}
    default = ServerConfig.from_env(base)
    assert (default.db_extra_search_path, default.safeupdate) == (("public", "extensions"), True)
    plain = ServerConfig.from_env({**base, "PGRST_DB_EXTRA_SEARCH_PATH": "", "PGRST_SAFEUPDATE": "false"})
    assert (plain.db_extra_search_path, plain.safeupdate) == ((), False)
