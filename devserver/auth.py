"""Gateway API keys and PostgREST JWT verification (docs/postgrest.md §3).

    identity = authenticate(headers_apikey, query_apikey, authorization, verifier)
    identity.role, identity.claims, identity.key_role

Pure apart from the clock, which `JwtVerifier` takes as an argument for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from devserver.errors import ApiError, jwt_error

NO_API_KEY = ApiError(
    401,
    None,
    "No API key found in request",
    hint="No `apikey` request header or url param was found.",
)
INVALID_API_KEY = ApiError(
    401,
    None,
    "Invalid API key",
    hint="Double check your Supabase `anon` or `service_role` API key.",
)


@dataclass(frozen=True)
class Identity:
    """Who the request runs as: `role` (after JWT), its `claims`, and the API key's own role."""

    role: str
    claims: dict[str, Any]
    key_role: str


class JwtVerifier:
    """HS256 verification with PostgREST's v13+ error codes and messages."""

    def __init__(self, secret: str, *, leeway: int = 30, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._leeway = leeway
        self._clock = clock

    def decode(self, token: str) -> dict[str, Any]:
        """The verified claims, or ApiError PGRST301/PGRST303."""
        if not token:
            raise jwt_error("PGRST301", "Empty JWT is sent in Authorization header")
        parts = token.count(".") + 1
        if parts != 3:
            raise jwt_error("PGRST301", f"Expected 3 parts in JWT; got {parts}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
            )
        except jwt.InvalidAlgorithmError:
            raise jwt_error("PGRST301", "Wrong or unsupported encoding algorithm") from None
        except jwt.InvalidSignatureError:
            raise jwt_error(
                "PGRST301",
                "No suitable key or wrong key type",
                "None of the keys was able to decode the JWT",
            ) from None
        except jwt.PyJWTError:
            raise jwt_error("PGRST301", "JWT couldn't be decoded") from None
        self._check_times(claims)
        return claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        """exp/nbf/iat with 30 s skew, PostgREST wording (PGRST303)."""
        now = self._clock()
        for name in ("exp", "nbf", "iat"):
            if name in claims and not isinstance(claims[name], int | float):
                raise jwt_error("PGRST303", f"The JWT '{name}' claim must be a number")
        if "exp" in claims and now - self._leeway > claims["exp"]:
            raise jwt_error("PGRST303", "JWT expired")
        if "nbf" in claims and now + self._leeway < claims["nbf"]:
            raise jwt_error("PGRST303", "JWT not yet valid")
        if "iat" in claims and now + self._leeway < claims["iat"]:
            raise jwt_error("PGRST303", "JWT issued at future")


def authenticate(
    apikey: str | None,
    authorization: str | None,
    verifier: JwtVerifier,
    anon_role: str,
) -> Identity:
    """The gateway's API-key check, then PostgREST's JWT check.

    A user JWT in `Authorization: Bearer` wins; otherwise the gateway forwards the API key itself
    as the bearer token, so the request runs as the key's role. A token without `role` → anon.
    """
    if not apikey:
        raise NO_API_KEY
    try:
        key_claims = verifier.decode(apikey)
    except ApiError:
        raise INVALID_API_KEY from None
    key_role = _role(key_claims, anon_role)
    token = _bearer(authorization)
    if token is None or token == apikey or token.startswith("sb_"):
        claims = key_claims
    else:
        claims = verifier.decode(token)
    role = _role(claims, anon_role)
    return Identity(role=role, claims={**claims, "role": role}, key_role=key_role)


def _bearer(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def _role(claims: dict[str, Any], anon_role: str) -> str:
    role = claims.get("role")
    return role if isinstance(role, str) and role else anon_role
