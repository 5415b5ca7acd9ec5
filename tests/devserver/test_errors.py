"""SQLSTATE → status mapping and the error envelope."""

from __future__ import annotations

import pytest

from devserver.errors import ApiError, pg_error_status, postgres_error


@pytest.mark.parametrize(
    ("sqlstate", "status"),
    [
        ("23505", 409),
        ("23503", 409),
        ("23502", 400),
        ("23514", 400),
        ("22P02", 400),
        ("42703", 400),
        ("42P10", 400),
        ("42P01", 404),
        ("57014", 500),
        ("08006", 503),
        ("53300", 503),
        ("53400", 500),
        ("28000", 403),
        ("PT418", 418),
    ],
)
def test_status_by_sqlstate(sqlstate: str, status: int) -> None:
    """The table of docs/postgrest.md §2.2."""
    assert pg_error_status(sqlstate, "m", authenticated=True) == status


def test_insufficient_privilege_depends_on_the_role() -> None:
    """42501 is 401 as the anon role and 403 otherwise."""
    assert pg_error_status("42501", "m", authenticated=False) == 401
    assert pg_error_status("42501", "m", authenticated=True) == 403


def test_cardinality_violation_is_500_unless_safeupdate() -> None:
    """21000 is 500, but 400 for pg-safeupdate's message."""
    assert (
        pg_error_status("21000", "ON CONFLICT DO UPDATE command cannot affect row a second time", authenticated=True)
        == 500
    )
    assert pg_error_status("21000", "DELETE requires a WHERE clause", authenticated=True) == 400


def test_missing_role_is_401() -> None:
    """22023 for a role that does not exist is 401 (v13.0.1+)."""
    assert pg_error_status("22023", 'role "x" does not exist', authenticated=True) == 401
    assert pg_error_status("22023", "other", authenticated=True) == 400


def test_envelope_keys_are_alphabetical() -> None:
    """The body is exactly code, details, hint, message in that order."""
    error = postgres_error("23505", "dup", "Key (id)=(1) already exists.", None, authenticated=True)
    assert error.body() == b'{"code":"23505","details":"Key (id)=(1) already exists.","hint":null,"message":"dup"}'
    assert error.response_headers()["proxy-status"] == "PostgREST; error=23505"


def test_anon_permission_error_carries_a_bearer_challenge() -> None:
    """A 401 from PostgreSQL adds `WWW-Authenticate: Bearer`."""
    error = postgres_error("42501", "permission denied for table t", None, None, authenticated=False)
    assert error.headers == {"www-authenticate": "Bearer"}


def test_gateway_errors_have_no_code() -> None:
    """A gateway body is message and hint only, with no Proxy-Status."""
    error = ApiError(401, None, "Invalid API key", hint="h")
    assert error.body() == b'{"hint":"h","message":"Invalid API key"}'
    assert "proxy-status" not in error.response_headers()
