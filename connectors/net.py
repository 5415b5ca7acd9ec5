"""Address rules shared by the connectors and the service: which hosts are this machine, and
whether a PostgreSQL DSN parses."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import SecretStr

LOOPBACK_HOSTS = {"localhost", "localhost.localdomain"}


def is_loopback(host: str | None) -> bool:
    """True for `localhost` and any address in 127.0.0.0/8 or ::1."""
    if not host:
        return False
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_postgres_dsn(value: SecretStr) -> SecretStr:
    """A postgresql:// URL whose parts parse. Never echo the DSN itself: it may hold a password.

    An unencoded '/', '?', '#' or '@' in the password splits the URL in the wrong place; asyncpg
    then fails later with a message quoting a piece of the password. Caught here instead, at load."""
    parts = urlsplit(value.get_secret_value())
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ValueError("expected a postgresql://user:password@host:port/database URL")
    try:
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
        malformed = bool(parts.fragment) or "@" in parts.path or "@" in parts.query
    except ValueError:
        malformed = True
    if malformed:
        raise ValueError("the URL does not parse as postgresql://user:password@host:port/database: "
                         "percent-encode special characters in the user name and password "
                         "('/' as %2F, '?' as %3F, '#' as %23, '@' as %40, ':' as %3A, '%' as %25)")
    return value
