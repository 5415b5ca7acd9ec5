"""API-key and JWT checks."""

from __future__ import annotations

import jwt
import pytest

from connectors.postgrest.keys import issue_key
from devserver.auth import JwtVerifier, authenticate
from devserver.errors import ApiError

SECRET = "unit-test-secret-of-at-least-32-characters"
NOW = 2_000_000_000.0


def verifier() -> JwtVerifier:
    return JwtVerifier(SECRET, clock=lambda: NOW)


def token(**claims: object) -> str:
    return jwt.encode(claims, SECRET, "HS256")


def test_apikey_role_is_used_without_a_user_jwt() -> None:
    """Only `apikey`: the request runs as the key's role."""
    identity = authenticate(token(role="service_role"), None, verifier(), "anon")
    assert (identity.role, identity.key_role) == ("service_role", "service_role")


def test_user_jwt_wins_over_the_apikey() -> None:
    """A bearer JWT decides the role; the claims get `role` injected."""
    user = token(role="authenticated", sub="u1")
    identity = authenticate(token(role="anon"), f"bearer {user}", verifier(), "anon")
    assert identity.role == "authenticated"
    assert identity.claims["sub"] == "u1"
    assert identity.key_role == "anon"


def test_token_without_role_is_anon() -> None:
    """No role claim means the anon role."""
    assert authenticate(token(sub="x"), None, verifier(), "anon").role == "anon"


def test_missing_and_invalid_apikeys() -> None:
    """No key and a bad key are distinct gateway 401s."""
    with pytest.raises(ApiError) as missing:
        authenticate(None, None, verifier(), "anon")
    with pytest.raises(ApiError) as invalid:
        authenticate("nope", None, verifier(), "anon")
    assert missing.value.message == "No API key found in request"
    assert invalid.value.message == "Invalid API key"


def test_wrong_signature_is_pgrst301() -> None:
    """A token signed with another secret is PGRST301 with the invalid_token challenge."""
    forged = jwt.encode({"role": "x"}, "another-secret-that-is-long-enough-too", "HS256")
    with pytest.raises(ApiError) as caught:
        verifier().decode(forged)
    assert (caught.value.status, caught.value.code) == (401, "PGRST301")
    assert caught.value.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_wrong_part_count_is_pgrst301() -> None:
    """A non-JWT bearer reports the part count."""
    with pytest.raises(ApiError) as caught:
        verifier().decode("sb_secret_abc")
    assert caught.value.message == "Expected 3 parts in JWT; got 1"


def test_expiry_has_thirty_seconds_of_skew() -> None:
    """exp 20 s ago passes; 40 s ago is PGRST303 "JWT expired"."""
    verifier().decode(token(exp=NOW - 20))
    with pytest.raises(ApiError) as caught:
        verifier().decode(token(exp=NOW - 40))
    assert (caught.value.code, caught.value.message) == ("PGRST303", "JWT expired")


def test_issued_keys_verify() -> None:
    """Keys from `issue_key` are accepted."""
    claims = JwtVerifier(SECRET).decode(issue_key(SECRET, "anon"))
    assert claims["role"] == "anon"
