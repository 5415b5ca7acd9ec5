"""The bearer token check: HS256 with the secret, RS256/ES256 from a JWKS, expiry and role."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from streamer.config import Settings
from streamer.errors import ConfigError
from streamer.sections import WebhookSettings
from streamer.webhook.auth import Keys, bearer_token, verify_token
from streamer.webhook.errors import AuthFailure
from streamer.webhook.keys import key_source, parse_jwks
from tests.streamer.webhook.fakes import SECRET, ec_key, hs_token, jwk_of, rsa_key, signed_token, write_jwks

ROLES = ("service_role",)
HS = Keys(hs256_secret=SECRET)


def reason(token: str, keys: Keys = HS, roles: tuple[str, ...] = ROLES, leeway: float = 0) -> str:
    with pytest.raises(AuthFailure) as caught:
        verify_token(token, keys, allowed_roles=roles, leeway=leeway)
    return caught.value.reason


def test_hs256_token_with_the_secret_and_an_allowed_role_passes() -> None:
    """A service_role token signed with the project's secret is accepted with its claims."""
    claims = verify_token(hs_token(sub="gs"), HS, allowed_roles=ROLES)
    assert (claims.role, claims.subject, claims.issuer) == ("service_role", "gs", "supabase")


def test_hs256_token_signed_with_another_secret_is_a_bad_signature() -> None:
    """A token signed with a different secret fails as bad_signature."""
    assert reason(hs_token(secret="another-secret-that-is-also-long-enough!")) == "bad_signature"


def test_expired_token_is_refused_beyond_the_leeway_only() -> None:
    """A token expired 60 s ago fails with no leeway and passes with 120 s of leeway."""
    token = hs_token(exp_in=-60)
    assert reason(token) == "expired"
    assert verify_token(token, HS, allowed_roles=ROLES, leeway=120).role == "service_role"


def test_a_token_without_exp_is_refused() -> None:
    """`exp` is required: a token that never expires is not accepted."""
    token = jwt.encode({"role": "service_role"}, SECRET, algorithm="HS256")
    assert reason(token) == "invalid_claims"


@pytest.mark.parametrize("role", ["anon", "authenticated", ""])
def test_a_role_outside_the_allow_list_is_refused(role: str) -> None:
    """The anon key (the seed's most common mistake) and user sessions are refused."""
    assert reason(hs_token(role=role)) == "wrong_role"


def test_a_token_without_a_role_claim_is_refused() -> None:
    """No `role` claim at all is a wrong role."""
    token = jwt.encode({"exp": 2_000_000_000}, SECRET, algorithm="HS256")
    assert reason(token) == "wrong_role"


def test_the_allow_list_is_configurable() -> None:
    """A role added to the allow-list is accepted."""
    assert verify_token(hs_token(role="sync_bot"), HS, allowed_roles=("service_role", "sync_bot")).role == "sync_bot"


@pytest.mark.parametrize(("header", "expected"), [
    (None, "missing_token"), ("", "missing_token"), ("Basic abc", "malformed_token"), ("Bearer ", "malformed_token"),
])
def test_the_authorization_header_must_be_a_bearer_token(header: str | None, expected: str) -> None:
    """Missing or non-Bearer Authorization headers are refused before any decoding."""
    with pytest.raises(AuthFailure) as caught:
        bearer_token(header)
    assert caught.value.reason == expected


def test_garbage_is_a_malformed_token() -> None:
    """A string that is not a JWT is malformed."""
    assert reason("not.a.jwt") == "malformed_token"


def test_alg_none_is_refused() -> None:
    """An unsigned token (`alg: none`) is never accepted."""
    token = jwt.encode({"role": "service_role", "exp": 2_000_000_000}, None, algorithm="none")
    assert reason(token) == "unsupported_algorithm"


def test_rs256_token_verifies_against_a_jwks_file(tmp_path: Path) -> None:
    """An RS256 token whose kid is in the JWKS file (written here) is accepted."""
    private = rsa_key()
    path = write_jwks(tmp_path / "jwks.json", jwk_of(private, "k1"))
    source = key_source(WebhookSettings(jwks_file=path))
    keys = Keys(jwks=parse_jwks({"keys": [jwk_of(private, "k1")]}))
    assert verify_token(signed_token(private, "k1"), keys, allowed_roles=ROLES).role == "service_role"
    assert source.can_refresh() is False


def test_es256_token_verifies_and_a_kidless_token_tries_every_key_of_its_algorithm() -> None:
    """ES256 is accepted; without a kid, each key of the token's algorithm is tried."""
    first, second = ec_key(), ec_key()
    keys = Keys(jwks=parse_jwks({"keys": [jwk_of(first, "a"), jwk_of(second, "b")]}))
    assert verify_token(signed_token(second, None), keys, allowed_roles=ROLES).role == "service_role"


def test_rs256_token_from_an_unknown_key_is_refused() -> None:
    """A token signed by a key the JWKS lacks fails: unknown kid, or bad signature without one."""
    keys = Keys(jwks=parse_jwks({"keys": [jwk_of(rsa_key(), "k1")]}))
    assert reason(signed_token(rsa_key(), "k9"), keys) == "unknown_key"
    assert reason(signed_token(rsa_key(), None), keys) == "bad_signature"


def test_rs256_token_with_a_wrong_role_or_expired_is_refused() -> None:
    """Role and expiry are checked for asymmetric tokens as for HS256."""
    private = rsa_key()
    keys = Keys(jwks=parse_jwks({"keys": [jwk_of(private, "k1")]}))
    assert reason(signed_token(private, "k1", role="anon"), keys) == "wrong_role"
    assert reason(signed_token(private, "k1", exp_in=-600), keys) == "expired"


def test_hs256_is_refused_when_only_a_jwks_is_configured() -> None:
    """Without a secret, an HS256 token cannot pass (no algorithm confusion with public keys)."""
    keys = Keys(jwks=parse_jwks({"keys": [jwk_of(rsa_key(), "k1")]}))
    assert reason(hs_token(), keys) == "unsupported_algorithm"


def test_settings_without_any_key_are_a_config_error() -> None:
    """A webhook with neither secret nor JWKS refuses to start, naming the variables."""
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        key_source(WebhookSettings())


def test_an_unreadable_jwks_file_is_a_config_error(tmp_path: Path) -> None:
    """A JWKS file that is not a JWKS is named in the error."""
    path = tmp_path / "bad.json"
    path.write_text('{"nope": 1}')
    with pytest.raises(ConfigError, match="JWKS_FILE"):
        key_source(WebhookSettings(jwks_file=path))


def failure(token: str, **options: Any) -> AuthFailure:
    with pytest.raises(AuthFailure) as caught:
        verify_token(token, HS, allowed_roles=ROLES, leeway=0, **options)
    return caught.value


def raw_token(**claims: Any) -> str:
    """An HS256 token with exactly `claims` (plus the allowed role), whatever their types."""
    payload = json.dumps({"role": "service_role", **claims}).encode()
    return jwt.PyJWS().encode(payload, SECRET, algorithm="HS256")  # jwt.encode refuses a non-string iss


LATER = int(time.time()) + 3600


@pytest.mark.parametrize(("claims", "claim"), [
    ({"exp": str(LATER)}, "exp"),
    ({"exp": True}, "exp"),
    ({"exp": [LATER]}, "exp"),
    ({"exp": LATER, "nbf": "0"}, "nbf"),
    ({"exp": LATER, "iat": str(LATER - 3600)}, "iat"),
    ({"exp": LATER, "iat": False}, "iat"),
    ({"exp": LATER, "iss": 5}, "iss"),
    ({"exp": LATER, "sub": {"id": 1}}, "sub"),
    ({"exp": LATER, "aud": ["authenticated", 7]}, "aud"),
])
def test_a_registered_claim_of_the_wrong_json_type_is_refused_naming_it(claims: dict[str, Any], claim: str) -> None:
    """RFC 7519: exp/nbf/iat are JSON numbers, iss/sub strings, aud a string or strings; a
    numeric string `exp` (which PyJWT would read as a number) is refused as invalid_claims."""
    caught = failure(raw_token(**claims))
    assert (caught.reason, caught.claim) == ("invalid_claims", claim)


def test_a_fractional_numeric_date_is_a_valid_exp() -> None:
    """A NumericDate may be non-integer (RFC 7519 §2): `exp: 1.5e9 + ...` is accepted."""
    assert verify_token(raw_token(exp=LATER + 0.5), HS, allowed_roles=ROLES).role == "service_role"


def test_without_audience_or_issuer_settings_neither_claim_is_compared() -> None:
    """By default a token's `aud` and `iss` are only type-checked: Supabase's service_role key
    (`iss: supabase`, no `aud`) and a user token (`aud: authenticated`) both pass."""
    assert verify_token(hs_token(), HS, allowed_roles=ROLES).issuer == "supabase"
    assert verify_token(hs_token(aud="authenticated"), HS, allowed_roles=ROLES).role == "service_role"


AUTH_V1 = "https://abcdefgh.supabase.co/auth/v1"


def test_a_configured_audience_must_be_in_the_tokens_aud() -> None:
    """With audience=authenticated: that audience (alone or in a list) passes; another audience
    is wrong_audience; no `aud` at all is invalid_claims naming aud."""
    for aud in ("authenticated", ["other", "authenticated"]):
        assert verify_token(hs_token(aud=aud), HS, allowed_roles=ROLES, audience="authenticated")
    wrong = failure(hs_token(aud="someone-else"), audience="authenticated")
    assert (wrong.reason, wrong.claim) == ("wrong_audience", "aud")
    missing = failure(hs_token(), audience="authenticated")
    assert (missing.reason, missing.claim) == ("invalid_claims", "aud")


def test_a_configured_issuer_must_equal_the_tokens_iss() -> None:
    """With issuer set to the project's Auth URL: that issuer passes, `supabase` or none is refused."""
    assert verify_token(hs_token(iss=AUTH_V1), HS, allowed_roles=ROLES, issuer=AUTH_V1).issuer == AUTH_V1
    wrong = failure(hs_token(), issuer=AUTH_V1)
    assert (wrong.reason, wrong.claim) == ("wrong_issuer", "iss")
    missing = failure(raw_token(exp=LATER), issuer=AUTH_V1)
    assert (missing.reason, missing.claim) == ("invalid_claims", "iss")


def test_audience_and_issuer_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """STREAMER_WEBHOOK__AUDIENCE and STREAMER_WEBHOOK__ISSUER set the two checks; both default to off."""
    assert (WebhookSettings().audience, WebhookSettings().issuer) == (None, None)
    monkeypatch.setenv("STREAMER_WEBHOOK__AUDIENCE", "authenticated")
    monkeypatch.setenv("STREAMER_WEBHOOK__ISSUER", AUTH_V1)
    assert (Settings().webhook.audience, Settings().webhook.issuer) == ("authenticated", AUTH_V1)
