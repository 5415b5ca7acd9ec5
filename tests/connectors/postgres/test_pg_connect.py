"""`connect()` facing a DSN asyncpg cannot parse: a configuration error that names the setting
and holds no fragment of the DSN (asyncpg parses before opening any socket: no server needed)."""

from __future__ import annotations

import traceback

import pytest

from connectors.postgres.errors import ConfigurationError
from connectors.postgres.slot import connect

# Passwords with an unencoded '/', '?' or '#': asyncpg's own ValueError quotes what follows.
BAD_DSNS = [
    ("postgresql://streamer:s3cr/etPW@127.0.0.1:54321/tabuladormax", ("s3cr", "etPW")),
    ("postgresql://streamer:s3cr?etPW@127.0.0.1:54321/tabuladormax", ("s3cr", "etPW")),
    ("postgresql://streamer:s3cr#etPW@127.0.0.1/tabuladormax", ("s3cr", "etPW")),
]


@pytest.mark.parametrize(("dsn", "fragments"), BAD_DSNS)
async def test_an_unparsable_dsn_is_a_configuration_error_naming_the_setting_not_the_password(
    dsn: str, fragments: tuple[str, ...],
) -> None:
    """The message names STREAMER_SOURCE__DSN and says to percent-encode; neither it, its repr,
    nor its printed traceback holds any piece of the password or of the host part after it."""
    with pytest.raises(ConfigurationError) as caught:
        async with connect(dsn, connect_timeout=2, setting="STREAMER_SOURCE__DSN"):
            pass
    error = caught.value
    assert str(error).startswith("STREAMER_SOURCE__DSN is not a valid PostgreSQL URL")
    assert "percent-encode" in str(error) and not error.retriable and error.sqlstate is None
    printed = "".join(traceback.format_exception(error)) + repr(error)
    for fragment in (*fragments, "54321", "tabuladormax"):
        assert fragment not in printed
    assert error.__cause__ is None and error.__context__ is None


async def test_without_a_setting_name_it_points_at_both_dsn_settings() -> None:
    """Callers that do not say which setting the DSN came from get both names."""
    with pytest.raises(ConfigurationError, match="STREAMER_SOURCE__DSN .or STREAMER_DESTINATION__DSN."):
        async with connect(BAD_DSNS[0][0], connect_timeout=2):
            pass
